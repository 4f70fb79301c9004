import { promises as fs } from 'node:fs';
import path from 'node:path';
import { runProgram } from '../spawn.js';
import { PeapodError } from '../errors.js';
import { warn } from '../log.js';
import type { PodRecord, PodVolume, VolumeFile } from '../types.js';
import { isMountPoint } from '../runtime/mounts.js';
import type { Secrets } from './secrets.js';
import type { Volumes } from './volumes.js';

export interface PodVolumeDirs {
  /** persistent, per pod: disk-backed emptyDirs */
  persistDir: string;
  /** volatile, per pod: tmpfs-backed emptyDirs, configMap/secret/downwardAPI files */
  runDir: string;
}

async function mountTmpfs(dir: string, opts: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  if (isMountPoint(dir)) return;
  const r = await runProgram('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  if (r.exitCode !== 0) throw new PeapodError('runtime', `mounting tmpfs at ${dir}: ${r.stderr.trim()}`);
}

/** hostPath and its type's checks, as the kubelet makes them. */
async function hostPath(v: Extract<PodVolume, { type: 'hostPath' }>): Promise<string> {
  const p = v.path;
  if (!path.isAbsolute(p)) throw new PeapodError('invalid', `hostPath volume "${v.name}": path "${p}" must be absolute`);
  const st = await fs.stat(p).catch(() => undefined);
  const fail = (what: string) => new PeapodError('invalid', `hostPath volume "${v.name}": ${p} ${what} (type ${v.hostPathType})`);
  switch (v.hostPathType ?? '') {
    case '':
      // No type means no checks; a missing path is created as a directory, as containerd and CRI-O
      // do (runc alone would fail the bind mount).
      if (!st) {
        await fs.mkdir(p, { recursive: true, mode: 0o755 });
        warn(`hostPath volume "${v.name}": ${p} did not exist: created it as a directory (0755), as containerd does; type DirectoryOrCreate says so explicitly`);
      }
      return p;
    case 'DirectoryOrCreate':
      if (!st) { await fs.mkdir(p, { recursive: true, mode: 0o755 }); return p; }
      if (!st.isDirectory()) throw fail('exists and is not a directory');
      return p;
    case 'Directory':
      if (!st?.isDirectory()) throw fail(st ? 'is not a directory' : 'does not exist');
      return p;
    case 'FileOrCreate':
      if (!st) {
        await fs.mkdir(path.dirname(p), { recursive: true });
        await (await fs.open(p, 'a', 0o644)).close();
        return p;
      }
      if (!st.isFile()) throw fail('exists and is not a file');
      return p;
    case 'File':
      if (!st?.isFile()) throw fail(st ? 'is not a file' : 'does not exist');
      return p;
    case 'Socket':
      if (!st?.isSocket()) throw fail(st ? 'is not a socket' : 'does not exist');
      return p;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw fail(st ? 'is not a character device' : 'does not exist');
      return p;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw fail(st ? 'is not a block device' : 'does not exist');
      return p;
    default:
      throw new PeapodError('invalid', `hostPath volume "${v.name}": unknown type "${v.hostPathType}"`);
  }
}

/** Writes the files of a configMap, secret or downwardAPI volume into a fresh tmpfs. */
async function fileVolume(v: Extract<PodVolume, { type: 'configMap' | 'secret' | 'downwardAPI' }>, dir: string, secrets: Secrets, podIP: string | undefined): Promise<void> {
  await mountTmpfs(dir, 'nosuid,nodev,noexec,mode=0755,size=16m');
  let files: VolumeFile[] = v.files;
  if (v.type === 'secret') {
    const s = v.source ? await secrets.get(v.source) : undefined;
    if (!s) {
      if (v.optional) return;
      throw new PeapodError('not-found', `secret volume "${v.name}": secret "${v.source}" not found`);
    }
    // No items: every key of the secret as it is now.
    if (!files.length) files = Object.keys(s.data).sort().map((k) => ({ path: k, secretKey: k }));
    for (const f of files) {
      if (f.secretKey !== undefined && s.data[f.secretKey] === undefined && !v.optional) {
        throw new PeapodError('not-found', `secret volume "${v.name}": secret "${v.source}" has no key "${f.secretKey}"`);
      }
    }
    files = files.map((f) => ({ ...f, content: f.secretKey !== undefined ? s.data[f.secretKey] : f.content }));
  }
  for (const f of files) {
    if (f.content === undefined && f.fieldPath === undefined) continue;
    const rel = path.normalize(f.path);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new PeapodError('invalid', `volume "${v.name}": item path "${f.path}" must stay inside the volume`);
    const target = path.join(dir, rel);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const data = f.fieldPath === 'status.podIP' ? Buffer.from(podIP ?? '') : Buffer.from(f.content ?? '', 'base64');
    const mode = f.mode ?? v.defaultMode ?? 0o644;
    // Every member start prepares the pod's volumes again while other members may be reading
    // them: a file is replaced whole (written aside, renamed over), and only when it changed.
    const same = await fs.readFile(target).then((old) => old.equals(data), () => false);
    if (same) {
      if (((await fs.stat(target)).mode & 0o7777) !== mode) await fs.chmod(target, mode);
      continue;
    }
    const tmp = `${target}.peapod-tmp`;
    await fs.writeFile(tmp, data, { mode });
    await fs.chmod(tmp, mode);
    await fs.rename(tmp, target);
  }
}

/**
 * Makes every volume of a pod ready before its containers start; returns the host path of each.
 * Secret values are written only to tmpfs.
 */
export async function preparePodVolumes(pod: PodRecord, dirs: PodVolumeDirs, secrets: Secrets, volumes: Volumes, podIP?: string): Promise<Record<string, string>> {
  const out: Record<string, string> = await prepare(pod, dirs, secrets, volumes, podIP);
  const g = pod.spec.fsGroup;
  if (g !== undefined) {
    // fsGroup: the group owns every writable volume (setgid, so new files inherit it) and can read the files of the others.
    for (const v of pod.spec.volumes ?? []) {
      if (v.type === 'hostPath') continue;
      const dir = out[v.name];
      if (v.type === 'emptyDir' || v.type === 'persistentVolumeClaim') {
        const st = await fs.stat(dir);
        await fs.chown(dir, st.uid, g);
        await fs.chmod(dir, (st.mode & 0o777) | 0o2070);
      } else {
        for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
          const p = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
          const st = await fs.lstat(p);
          await fs.lchown(p, st.uid, g);
          if (!e.isSymbolicLink()) await fs.chmod(p, (st.mode & 0o7777) | (e.isDirectory() ? 0o2050 : 0o040));
        }
      }
    }
  }
  return out;
}

async function prepare(pod: PodRecord, dirs: PodVolumeDirs, secrets: Secrets, volumes: Volumes, podIP?: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const v of pod.spec.volumes ?? []) {
    switch (v.type) {
      case 'hostPath':
        out[v.name] = await hostPath(v);
        break;
      case 'emptyDir': {
        if (v.medium === 'Memory') {
          const dir = path.join(dirs.runDir, 'volumes', v.name);
          await mountTmpfs(dir, `nosuid,nodev,mode=1777${v.sizeLimit ? `,size=${Math.ceil(v.sizeLimit)}` : ''}`);
          out[v.name] = dir;
        } else {
          const dir = path.join(dirs.persistDir, 'volumes', v.name);
          await fs.mkdir(dir, { recursive: true });
          await fs.chmod(dir, 0o777);
          out[v.name] = dir;
        }
        break;
      }
      case 'persistentVolumeClaim':
        await volumes.ensure(v.claimName, { claim: true });
        out[v.name] = volumes.dataDir(v.claimName);
        break;
      default: {
        const dir = path.join(dirs.runDir, 'volumes', v.name);
        await fileVolume(v, dir, secrets, podIP);
        out[v.name] = dir;
      }
    }
  }
  return out;
}
