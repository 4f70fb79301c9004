// Names and label rules, in one place: Podman's rule for the names of containers, pods, networks,
// volumes and secrets, and Kubernetes' DNS-1123/1035 names, label keys and values, config keys.
// A leaf: imports only the error catalogue.
import { PeapodError } from './errors.js';

/** The label that names the systemd unit a container was made under (Podman's PODMAN_SYSTEMD_UNIT). */
export const SYSTEMD_UNIT_LABEL = 'PEAPOD_SYSTEMD_UNIT';
/** Which manager runs that unit: `system` or `user` (so that auto-update asks the right one). */
export const SYSTEMD_MANAGER_LABEL = 'io.peapod.systemd.manager';

/** Podman's names (containers, pods, networks, volumes, secrets). */
export const OBJECT_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Kubernetes: a lower-case RFC 1123 label (at most 63 characters: check the length too). */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kubernetes: a lower-case RFC 1123 subdomain (at most 253 characters). */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kubernetes: a lower-case RFC 1035 label (Service names). */
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** The name part of a label or annotation key. */
export const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
/** A label value (may be empty). */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** A ConfigMap or Secret key. */
export const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/** Refuses a name Podman would refuse: `<what> name "<name>": names must match ...`. */
export function checkObjectName(what: string, name: string): void {
  if (!OBJECT_NAME.test(name)) throw new PeapodError('invalid', `${what} name "${name}": names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
}
