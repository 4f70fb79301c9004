// A volumeMount's subPath, the kubelet's way after CVE-2017-1002101 / CVE-2021-25741: resolved inside
// the volume one component at a time (a symlink that leaves the volume is an error, not followed),
// then the object found is bind-mounted from its held fd onto a staging path of the container under
// the run root, and runc mounts that. runc cannot take /proc/<pid>/fd/N itself (the fd is not its
// own), and a path string would be resolved again later, when a container may have swapped a symlink in.
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import { debug } from '../log.js';
import { holdInRoot, fdPath, PathRefused } from '../runtime/resolve.js';
import { unmountAll } from '../runtime/mounts.js';

/** Who asks, for the error message of a refused subPath. */
export interface SubPathOwner { pod?: string; container: string; volume: string }

/**
 * Resolves `subPath` inside the volume at `base` (missing directories are made, as the kubelet does)
 * and bind-mounts the result at `stagingDir/<index>`; returns that path for the container's mount.
 */
export async function stageSubPath(base: string, subPath: string, stagingDir: string, index: number, who: SubPathOwner, bind: (fdPath: string, target: string) => Promise<void>): Promise<string> {
  const where = `${who.pod ? `pod ${who.pod}, ` : ''}container ${who.container}, volume ${who.volume}`;
  let held;
  try {
    held = holdInRoot(base, subPath, { mode: 'contained', create: true });
  } catch (err) {
    if (err instanceof PathRefused) throw new PeapodError('invalid', `${where}: subPath "${subPath}" leaves the volume: ${err.reason}`);
    throw new PeapodError('runtime', `${where}: resolving subPath "${subPath}": ${(err as Error).message}`, { cause: err });
  }
  if (!held) throw new PeapodError('internal', `${where}: subPath "${subPath}" could not be made`);
  try {
    await fs.mkdir(stagingDir, { recursive: true, mode: 0o700 });
    const target = path.join(stagingDir, String(index));
    await unmountAll([target]); // left by a start that crashed
    await fs.rmdir(target).catch(() => fs.unlink(target)).catch(() => undefined);
    if (held.stat.isDirectory()) await fs.mkdir(target, { mode: 0o700 });
    else await (await fs.open(target, 'wx', 0o600)).close();
    await bind(fdPath(held.fd), target).catch((err) => { throw new PeapodError('runtime', `${where}: mounting subPath "${subPath}": ${(err as Error).message}`); });
    return target;
  } finally {
    held.close();
  }
}

/** Unmounts and removes a container's staged subPaths; never recurses into a mount it failed to undo. */
export async function releaseSubPaths(stagingDir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(stagingDir);
  } catch {
    return;
  }
  const prefix = `${stagingDir}/`;
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(prefix));
  await unmountAll(mounted.sort().reverse());
  for (const n of names) {
    const p = path.join(stagingDir, n);
    // rmdir/unlink only: a staging path still mounted fails (EBUSY) instead of emptying the volume
    await fs.rmdir(p).catch(() => fs.unlink(p)).catch((err) => debug(`removing subPath staging ${p}: ${err}`));
  }
  await fs.rmdir(stagingDir).catch((err) => debug(`removing ${stagingDir}: ${err}`));
}
