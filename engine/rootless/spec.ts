// What changes in a container's OCI spec when peapod runs rootless (inside the user's namespace,
// see userns.ts): cgroups only where the user was delegated a cgroup v2 subtree, the cgroup
// filesystem bound from the host rather than mounted, sysfs bound where the container has no
// network namespace of the user's, and the id mappings of --userns=keep-id.

import { existsSync, readFileSync, accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { OciMount, OciSpec } from '../runtime/spec.js';
import type { EngineConfig } from '../config.js';
import { PeapodError } from '../errors.js';
import { rootlessGid } from './userns.js';

export interface RootlessCgroups {
  /** true: limits are applied under `parent`; false: no cgroup is made and `reason` says why */
  usable: boolean;
  parent?: string;
  reason: string;
}

export interface CgroupFs {
  read(file: string): string;
  writable(dir: string): boolean;
  exists(file: string): boolean;
}

const realCgroupFs: CgroupFs = {
  read: (f) => readFileSync(f, 'utf8'),
  writable: (d) => { try { accessSync(d, constants.W_OK); return true; } catch { return false; } },
  exists: (f) => existsSync(f),
};

/**
 * Whether a rootless peapod can apply resource limits: only on a cgroup v2 (unified) host where a
 * cgroup was delegated to the user (writable, with the cpu, memory and pids controllers). The
 * containers' cgroups go under the nearest cgroup at or above this process's own that is delegated
 * and holds no process itself (cgroup v2 enables controllers for children only in such a cgroup),
 * e.g. app.slice of the user's systemd. cgroup v1 has no safe delegation to normal users.
 */
export function rootlessCgroups(fsx: CgroupFs = realCgroupFs): RootlessCgroups {
  const base = '/sys/fs/cgroup';
  if (!fsx.exists(`${base}/cgroup.controllers`)) {
    return { usable: false, reason: 'this host uses cgroups v1 (or hybrid), which cannot be delegated to a normal user' };
  }
  let own = '/';
  try {
    own = fsx.read('/proc/self/cgroup').split('\n').find((l) => l.startsWith('0::'))?.slice(3).trim() || '/';
  } catch { /* unknown: the root */ }
  const want = ['cpu', 'memory', 'pids'];
  let why = `cgroup ${own} of this user is not delegated to it (not writable)`;
  for (let c = own; c !== '/' && c !== '.'; c = path.posix.dirname(c)) {
    const dir = path.posix.join(base, c);
    if (!fsx.writable(dir)) break; // above the delegated subtree
    let procs = '';
    let controllers: string[] = [];
    try { procs = fsx.read(`${dir}/cgroup.procs`).trim(); } catch { /* unreadable */ }
    try { controllers = fsx.read(`${dir}/cgroup.controllers`).trim().split(/\s+/); } catch { /* none */ }
    const missing = want.filter((x) => !controllers.includes(x));
    if (missing.length) { why = `cgroup ${c} of this user lacks the ${missing.join(', ')} controller${missing.length > 1 ? 's' : ''} (not delegated)`; break; }
    if (!procs) return { usable: true, parent: c, reason: `delegated cgroup ${c}` };
    why = `no delegated cgroup without processes at or above ${own}`;
  }
  return { usable: false, reason: why };
}

/** The cgroup hierarchy roots a rootless peapod may touch: the delegated base on v2, none otherwise. */
export function rootlessCgroupRoots(fsx: CgroupFs = realCgroupFs): string[] {
  const cg = rootlessCgroups(fsx);
  return cg.usable ? [path.posix.join('/sys/fs/cgroup', cg.parent!)] : [];
}

export interface IdMapping { containerID: number; hostID: number; size: number }

/**
 * --userns=keep-id (Podman's meaning): the user's own id is the same inside the container as on
 * the host. Inside peapod's namespace the user is 0 and its subordinate ids are 1..size-1, so the
 * container's `id` maps to 0 there, the ids below it to 1..id, and the rest above.
 */
export function keepIdMappings(id: number, size: number): IdMapping[] {
  if (id === 0) return [{ containerID: 0, hostID: 0, size }];
  const m: IdMapping[] = [
    { containerID: 0, hostID: 1, size: Math.min(id, size - 1) },
    { containerID: id, hostID: 0, size: 1 },
  ];
  if (size - 1 - id > 0) m.push({ containerID: id + 1, hostID: id + 1, size: size - 1 - id });
  return m;
}

/** How many ids this namespace maps (the sum of the counts in /proc/self/uid_map). */
export function mappedIds(file = '/proc/self/uid_map'): number {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').reduce((n, l) => n + (Number(l.trim().split(/\s+/)[2]) || 0), 0);
  } catch {
    return 1;
  }
}

/** keep-id maps the rootless user to itself: as root there is nothing to keep (Podman refuses too). */
export function checkKeepId(cfg: Pick<EngineConfig, 'rootlessUid'>): void {
  if (cfg.rootlessUid === undefined) throw new PeapodError('invalid', 'userns keep-id: only a rootless (normal user\'s) peapod can keep the user\'s id');
}

/** "uid:gid" of the rootless user, the default user of a keep-id container (as Podman's). */
export function keepIdUser(cfg: Pick<EngineConfig, 'rootlessUid'>): string {
  return `${cfg.rootlessUid}:${rootlessGid() ?? cfg.rootlessUid}`;
}

/** The user's host ids and how many ids the namespace maps: what keep-id mappings are made of. */
export function rootlessIds(cfg: Pick<EngineConfig, 'rootlessUid'>): { uid: number; gid: number; size: number } {
  return { uid: cfg.rootlessUid ?? 0, gid: rootlessGid() ?? cfg.rootlessUid ?? 0, size: Math.min(mappedIds(), mappedIds('/proc/self/gid_map')) };
}

/**
 * Rewrites a rootful spec for the rootless namespace, in place. `cgroups` from rootlessCgroups();
 * without a usable cgroup the spec carries no resources and no cgroups path, so that runc makes no
 * cgroup (it would be refused) and applies nothing.
 */
export function adaptSpecForRootless(spec: OciSpec, cgroups: RootlessCgroups, ids?: { uid: number; gid: number; size: number }): void {
  const linux = spec.linux as Partial<OciSpec['linux']> & { uidMappings?: IdMapping[]; gidMappings?: IdMapping[] };
  // A user namespace in the spec is keep-id's (the infra makes it, members join it by path).
  if (ids && spec.linux.namespaces.some((n) => n.type === 'user')) {
    linux.uidMappings = keepIdMappings(ids.uid, ids.size);
    linux.gidMappings = keepIdMappings(ids.gid, ids.size);
  }
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
