import { promises as fs, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import { debug } from '../log.js';
import { runProgram } from '../spawn.js';
import { rootlessUid } from '../rootless/userns.js';
import { rootlessCgroupRoots } from '../rootless/spec.js';

/** Mounts an overlay rootfs: lowers top-first, a private upper/work pair, at `target`. */
export async function mountOverlay(lowers: string[], upper: string, work: string, target: string): Promise<void> {
  await Promise.all([upper, work, target].map((d) => fs.mkdir(d, { recursive: true })));
  if (isMountPoint(target)) return;
  let lower = lowers;
  if (lower.length === 0) {
    // An image without layers: overlay needs at least one lower dir.
    const empty = path.join(path.dirname(upper), 'empty');
    await fs.mkdir(empty, { recursive: true });
    lower = [empty];
  }
  const opts = `lowerdir=${lower.join(':')},upperdir=${upper},workdir=${work}`;
  debug(`mount -t overlay overlay -o ${opts} ${target}`);
  const r = await runProgram('mount', ['-t', 'overlay', 'overlay', '-o', opts, target]);
  if (r.exitCode !== 0) throw new PeapodError('runtime', `mounting overlay rootfs at ${target}: ${r.stderr.trim()}`);
}

export function isMountPoint(p: string): boolean {
  const target = path.resolve(p);
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => unescapeMount(l.split(' ')[4] ?? '') === target);
  } catch {
    return false;
  }
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Unmounts if mounted; falls back to a lazy unmount when busy. */
export async function unmount(target: string): Promise<void> {
  if (!existsSync(target) || !isMountPoint(target)) return;
  const r = await runProgram('umount', [target]);
  if (r.exitCode !== 0 && isMountPoint(target)) {
    const l = await runProgram('umount', ['-l', target]);
    if (l.exitCode !== 0 && isMountPoint(target)) throw new PeapodError('runtime', `unmounting ${target}: ${l.stderr.trim()}`);
  }
}

/**
 * Unmounts several targets, in the order given (deepest first), with one umount process for all
 * of them; whatever stays mounted goes through unmount() one by one (lazy when busy).
 */
export async function unmountAll(targets: string[]): Promise<void> {
  const mounted = targets.filter((t) => existsSync(t) && isMountPoint(t));
  if (mounted.length > 1) await runProgram('umount', mounted);
  for (const t of mounted) await unmount(t);
}

/** Every cgroup hierarchy root on this host (v1 controllers, the unified one, or the v2 root). */
export function cgroupRoots(): string[] {
  // rootless: only the delegated cgroup (the containers' cgroups are made under it), if any
  if (rootlessUid() !== undefined) return rootlessCgroupRoots();
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return ['/sys/fs/cgroup'];
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .map((l) => l.split(' '))
      .filter((f) => { const i = f.indexOf('-'); return i > 0 && (f[i + 1] === 'cgroup' || f[i + 1] === 'cgroup2'); })
      .map((f) => f[4]);
  } catch {
    return [];
  }
}

/**
 * runc delete removes only the leaf cgroup: remove it and then each parent up to (and including)
 * `/peapod` when they are empty, in every hierarchy.
 */
export async function removeCgroup(cgroupsPath: string): Promise<void> {
  const parts = cgroupsPath.split('/').filter(Boolean);
  await Promise.all(cgroupRoots().map(async (root) => {
    for (let i = parts.length; i > 0; i--) {
      const dir = path.join(root, ...parts.slice(0, i));
      try {
        await fs.rmdir(dir);
      } catch (err: any) {
        if (err?.code === 'ENOENT') continue;
        if (err?.code === 'EBUSY' || err?.code === 'ENOTEMPTY') break; // still in use by a sibling
        throw err;
      }
    }
  }));
}

/** Current hard RLIMIT_NOFILE of this process (runc cannot raise limits above it). */
export function hostNofileHard(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard && hard !== 'unlimited') return Number(hard);
  } catch { /* fall through */ }
  return 1048576;
}

/** cgroup limits of a pod (Kubernetes pod-level resources): memory in bytes, cpu quota/period in µs. */
export interface CgroupLimits { memoryLimit?: number; memoryReservation?: number; cpuQuota?: number; cpuPeriod?: number; cpuShares?: number; pidsLimit?: number }

/**
 * Writes limits into the cgroup `cgroupsPath` (made if missing) before its containers start: the
 * kernel then bounds all of them together. v1: memory.*, cpu.cfs_*, cpu.shares, pids.max under
 * each controller's hierarchy; v2: memory.max/low, cpu.max, cpu.weight, pids.max, with the
 * controllers enabled in every parent's cgroup.subtree_control.
 */
export async function applyCgroupLimits(cgroupsPath: string, l: CgroupLimits, roots = cgroupRoots()): Promise<void> {
  const parts = cgroupsPath.split('/').filter(Boolean);
  const write = async (file: string, value: string | number) => {
    debug(`cgroup: ${value} > ${file}`);
    await fs.writeFile(file, String(value));
  };
  const v2 = roots.length === 1 && existsSync(path.join(roots[0], 'cgroup.controllers'));
  if (v2) {
    const root = roots[0];
    for (let i = 0; i < parts.length; i++) {
      const dir = path.join(root, ...parts.slice(0, i));
      await fs.mkdir(path.join(root, ...parts.slice(0, i + 1)), { recursive: true });
      await write(path.join(dir, 'cgroup.subtree_control'), '+cpu +memory +pids').catch((e) => debug(`cgroup.subtree_control in ${dir}: ${e}`));
    }
    const dir = path.join(root, ...parts);
    if (l.memoryLimit !== undefined) await write(path.join(dir, 'memory.max'), l.memoryLimit);
    if (l.memoryReservation !== undefined) await write(path.join(dir, 'memory.low'), l.memoryReservation);
    if (l.cpuQuota !== undefined) await write(path.join(dir, 'cpu.max'), `${l.cpuQuota} ${l.cpuPeriod ?? 100_000}`);
    if (l.cpuShares !== undefined) await write(path.join(dir, 'cpu.weight'), Math.round(1 + ((l.cpuShares - 2) * 9999) / 262142));
    if (l.pidsLimit !== undefined) await write(path.join(dir, 'pids.max'), l.pidsLimit > 0 ? l.pidsLimit : 'max');
    return;
  }
  const under = (controller: string) => roots.find((r) => path.basename(r).split(',').includes(controller));
  const at = async (controller: string, entries: Array<[string, number | undefined]>) => {
    const todo = entries.filter(([, v]) => v !== undefined);
    if (!todo.length) return;
    const root = under(controller);
    if (!root) throw new PeapodError('prerequisite', `the ${controller} cgroup controller is not mounted: pod-level ${controller} limits cannot be applied`);
    const dir = path.join(root, ...parts);
    await fs.mkdir(dir, { recursive: true });
    for (const [file, v] of todo) await write(path.join(dir, file), v!);
  };
  await at('memory', [['memory.limit_in_bytes', l.memoryLimit], ['memory.soft_limit_in_bytes', l.memoryReservation]]);
  await at('cpu', [['cpu.cfs_period_us', l.cpuQuota !== undefined ? l.cpuPeriod ?? 100_000 : undefined], ['cpu.cfs_quota_us', l.cpuQuota], ['cpu.shares', l.cpuShares]]);
  await at('pids', [['pids.max', l.pidsLimit]]);
}
