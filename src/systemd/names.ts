// Unit names that peapod reads back from records (a container's PEAPOD_SYSTEMD_UNIT label) before it
// hands them to systemctl: a record may have been written by anyone who could create a container
// (`run --label PEAPOD_SYSTEMD_UNIT=...`), so only what systemd itself calls a valid service name
// passes (unit_name_is_valid: [A-Za-z0-9:_.\\-], one `@` before a non-empty instance, at most 255
// characters), and never one that starts with `-` (it would read as an option).
import { PeapodError } from '../../engine/errors.js';

const SERVICE_NAME = /^[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\-]*(@[A-Za-z0-9:_.\\-]+)?\.service$/;

/** Whether `name` is a valid systemd service unit name that cannot be taken for an option. */
export function isServiceName(name: string): boolean {
  return name.length <= 255 && SERVICE_NAME.test(name);
}

/** Throws naming `where` and the value (quoted, cut short) unless `name` is a valid service name. */
export function checkUnitName(name: string, where: string): void {
  if (!isServiceName(name)) {
    throw new PeapodError('invalid', `${where}: ${JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}...` : name)} is not a valid systemd service unit name`);
  }
}
