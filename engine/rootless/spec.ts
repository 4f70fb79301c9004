// What changes in a container's OCI spec when peapod runs rootless (inside the user's namespace,
// see userns.ts): cgroups only where the user was delegated a cgroup v2 subtree, the cgroup
// filesystem bound from the host rather than mounted, sysfs bound where the container has no
// network namespace of the user's.

import { existsSync, readFileSync, accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { OciMount, OciSpec } from '../runtime/spec.js';

export interface RootlessCgroups {
  /** true: limits are applied under `parent`; false: no cgroup is made and `reason` says why */
  usable: boolean;
  parent?: string;
  reason: string;
}

/**
 * Whether a rootless peapod can apply resource limits: only on a cgroup v2 (unified) host where
 * this user's cgroup was delegated to it (writable, with the cpu, memory and pids controllers
 * available). cgroup v1 has no safe delegation to normal users.
 */
export function rootlessCgroups(read = (f: string) => readFileSync(f, 'utf8')): RootlessCgroups {
  if (!existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    return { usable: false, reason: 'this host uses cgroups v1 (or hybrid), which cannot be delegated to a normal user' };
  }
  let own = '';
  try {
    own = read('/proc/self/cgroup').split('\n').find((l) => l.startsWith('0::'))?.slice(3).trim() ?? '';
  } catch { /* unknown */ }
  const dir = path.join('/sys/fs/cgroup', own);
  let controllers: string[] = [];
  try { controllers = read(path.join(dir, 'cgroup.controllers')).trim().split(/\s+/); } catch { /* none */ }
  const missing = ['cpu', 'memory', 'pids'].filter((c) => !controllers.includes(c));
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return { usable: false, reason: `cgroup ${own || '/'} of this user is not delegated to it (not writable)` };
  }
  if (missing.length) return { usable: false, reason: `cgroup ${own || '/'} of this user lacks the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''} (not delegated)` };
  return { usable: true, parent: own || '/', reason: `delegated cgroup ${own}` };
}

/**
 * Rewrites a rootful spec for the rootless namespace, in place. `cgroups` from rootlessCgroups();
 * without a usable cgroup the spec carries no resources and no cgroups path, so that runc makes no
 * cgroup (it would be refused) and applies nothing.
 */
export function adaptSpecForRootless(spec: OciSpec, cgroups: RootlessCgroups): void {
  const linux = spec.linux as Partial<OciSpec['linux']>;
  if (!cgroups.usable) {
    delete linux.resources;
    delete linux.cgroupsPath;
  } else if (linux.cgroupsPath) {
    linux.cgroupsPath = path.posix.join(cgroups.parent!, linux.cgroupsPath);
    if (linux.resources) linux.resources.devices = [];
  }
  const netNs = spec.linux.namespaces.find((n) => n.type === 'network');
  const bind = (m: OciMount, ro: boolean): OciMount => ({ destination: m.destination, type: 'bind', source: m.destination, options: ['rbind', 'rprivate', 'nosuid', 'noexec', 'nodev', ro ? 'ro' : 'rw'] });
  spec.mounts = spec.mounts.map((m) => {
    // A cgroup (v1) filesystem cannot be mounted in a user namespace: the host's, read-only.
    if (m.type === 'cgroup' || m.type === 'cgroup2') return bind(m, true);
    // sysfs needs a network namespace that belongs to the user's namespace; the host's is not.
    if (m.type === 'sysfs' && !netNs) return bind(m, !m.options.includes('rw'));
    return m;
  });
}
