import { promises as fs } from 'node:fs';
import path from 'node:path';
import { runProgram } from '../spawn.js';
import { PeapodError } from '../errors.js';
import { warn } from '../log.js';
import type { PodRecord, PodVolume, VolumeFile } from '../types.js';
import { isMountPoint } from '../runtime/mounts.js';
import type { Secrets } from './secrets.js';
import type { Volumes } from './volumes.js';
import { writePayload, type PayloadFile } from './atomic-writer.js';

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

/**
 * The files of a configMap, secret or downwardAPI volume (see atomic-writer.ts) on a tmpfs of their
 * own: its root is 0700 (no other host user gets past it), the files live in its `data` directory,
 * which is what containers mount (read-only), so a non-root container user can read them as in
 * Kubernetes. Returns that directory.
 */
async function fileVolume(v: Extract<PodVolume, { type: 'configMap' | 'secret' | 'downwardAPI' }>, dir: string, secrets: Secrets, podIP: string | undefined, gid: number | undefined): Promise<string> {
  await mountTmpfs(dir, 'nosuid,nodev,noexec,mode=0700,size=16m');
  const data = path.join(dir, 'data');
  await fs.mkdir(data, { mode: 0o755 }).catch((err) => { if (err?.code !== 'EEXIST') throw err; });
  await fs.chmod(data, 0o755);
  let files: VolumeFile[] = v.files;
  if (v.type === 'secret') {
    const s = v.source ? await secrets.get(v.source) : undefined;
    if (!s) {
      if (v.optional) return data;
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
  const payload = new Map<string, PayloadFile>();
  for (const f of files) {
    if (f.content === undefined && f.fieldPath === undefined) continue;
    const content = f.fieldPath === 'status.podIP' ? Buffer.from(podIP ?? '') : Buffer.from(f.content ?? '', 'base64');
    payload.set(f.path, { data: content, mode: f.mode ?? v.defaultMode ?? 0o644 });
  }
  // Every member start prepares the pod's volumes again while other members may read them: the
  // payload is switched whole, and only when it changed.
  writePayload(v.name, data, payload, gid);
  return data;
}

/**
 * Makes every volume of a pod ready before its containers start; returns the host path of each.
 * Secret values are written only to tmpfs.
 */
export async function preparePodVolumes(pod: PodRecord, dirs: PodVolumeDirs, secrets: Secrets, volumes: Volumes, podIP?: string): Promise<Record<string, string>> {
  const out: Record<string, string> = await prepare(pod, dirs, secrets, volumes, podIP);
  const g = pod.spec.fsGroup;
  if (g !== undefined) {
    // fsGroup: the group owns every writable volume (setgid, so new files inherit it); the file
    // volumes were written with it already.
    for (const v of pod.spec.volumes ?? []) {
      if (v.type !== 'emptyDir' && v.type !== 'persistentVolumeClaim') continue;
      const dir = out[v.name];
      const st = await fs.stat(dir);
      await fs.chown(dir, st.uid, g);
      await fs.chmod(dir, (st.mode & 0o777) | 0o2070);
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
        out[v.name] = await fileVolume(v, path.join(dirs.runDir, 'volumes', v.name), secrets, podIP, pod.spec.fsGroup);
      }
    }
  }
  return out;
}

/**
 * Rewrites the files of a running pod's configMap, secret and downwardAPI volumes from its record
 * (the kubelet's update of a changed ConfigMap): each volume's payload is switched whole by the
 * atomic writer, so a container sees the old files or the new ones, never a mix. Volumes that were
 * never mounted (the pod has not run) are left to the next start.
 */
export async function refreshFileVolumes(pod: PodRecord, runDir: string, secrets: Secrets, podIP?: string): Promise<string[]> {
  const done: string[] = [];
  for (const v of pod.spec.volumes ?? []) {
    if (v.type !== 'configMap' && v.type !== 'secret' && v.type !== 'downwardAPI') continue;
    const dir = path.join(runDir, 'volumes', v.name);
    if (!isMountPoint(dir)) continue;
    await fileVolume(v, dir, secrets, podIP, pod.spec.fsGroup);
    done.push(v.name);
  }
  return done;
}
