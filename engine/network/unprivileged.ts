// The lowest host port a normal user may bind: a leaf (doctor reads it without loading pasta's module).
import { readFileSync } from 'node:fs';

export const SYSCTL = 'net.ipv4.ip_unprivileged_port_start';

/** The lowest port a normal user may bind (the sysctl, 1024 when it cannot be read). */
export function unprivilegedPortStart(read = (f: string) => readFileSync(f, 'utf8')): number {
  try {
    const n = Number(read(`/proc/sys/${SYSCTL.replace(/\./g, '/')}`).trim());
    return Number.isInteger(n) && n >= 0 ? n : 1024;
  } catch {
    return 1024;
  }
}
