import { promises as fs, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { PeapodError } from '../errors.js';
import { debug } from '../log.js';
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
  const r = await execa('mount', ['-t', 'overlay', 'overlay', '-o', opts, target], { reject: false });
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
  const r = await execa('umount', [target], { reject: false });
  if (r.exitCode !== 0 && isMountPoint(target)) {
    const l = await execa('umount', ['-l', target], { reject: false });
    if (l.exitCode !== 0 && isMountPoint(target)) throw new PeapodError('runtime', `unmounting ${target}: ${l.stderr.trim()}`);
  }
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
