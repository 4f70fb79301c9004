// The files of a configMap, secret or downwardAPI volume, written the kubelet's way (AtomicWriter):
// a fresh timestamped data directory holds the whole payload, `..data` is one symlink switched to it
// with a rename, and each user-visible top-level name is a symlink into `..data`. Readers see the old
// set or the new one, never a mix. Every step works under a held directory fd (through
// /proc/self/fd/N/<name>, Node having no *at calls) and creates with O_EXCL|O_NOFOLLOW, so a link
// planted in the directory is never followed by a write of peapod's.
import { chmodSync, chownSync, closeSync, constants as fsc, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { PeapodError } from '../errors.js';
import { O_PATH } from '../runtime/resolve.js';

export interface PayloadFile { data: Buffer; mode: number }

const DATA = '..data';

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Refuses item paths that are absolute, contain "..", or start with ".." (the kubelet's names). */
export function checkItemPath(volume: string, p: string): string[] {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (p.startsWith('/') || !parts.length || parts.includes('..') || parts[0].startsWith('..')) {
    throw new PeapodError('invalid', `volume "${volume}": item path "${p}" must be a relative path inside the volume without ".." (and not starting with "..")`);
  }
  return parts;
}

function at(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

/** Opens an existing directory `name` under dirFd, refusing a symlink. */
function openDir(dirFd: number, name: string): number {
  return openSync(at(dirFd, name), O_PATH | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
}

/** True when the current `..data` holds exactly this payload (content and mode). */
function unchanged(dirFd: number, payload: Map<string, PayloadFile>, gid: number | undefined): boolean {
  let cur: string;
  try {
    cur = readlinkSync(at(dirFd, DATA));
  } catch {
    return false;
  }
  if (cur.includes('/') || !cur.startsWith('..')) return false;
  let dataFd: number;
  try { dataFd = openDir(dirFd, cur); } catch { return false; }
  try {
    let count = 0;
    const walk = (fd: number, rel: string): boolean => {
      for (const e of readdirSync(at(fd, '.'), { withFileTypes: true })) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          const sub = openDir(fd, e.name);
          try { if (!walk(sub, p)) return false; } finally { closeSync(sub); }
          continue;
        }
        const want = payload.get(p);
        if (!want || !e.isFile()) return false;
        const f = openSync(at(fd, e.name), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
        try {
          const st = fstatSync(f);
          if ((st.mode & 0o7777) !== (gid !== undefined ? want.mode | 0o040 : want.mode) || (gid !== undefined && st.gid !== gid)) return false;
          if (!readFileSync(f).equals(want.data)) return false;
        } finally {
          closeSync(f);
        }
        count++;
      }
      return true;
    };
    return walk(dataFd, '') && count === payload.size;
  } catch {
    return false;
  } finally {
    closeSync(dataFd);
  }
}

/**
 * Makes `dir` (a directory peapod made; its own path is trusted) hold exactly `payload`, keyed by
 * relative path. `gid`: fsGroup, which owns every file and directory and may read them. Returns
 * false when the payload was there already (nothing is rewritten then).
 */
export function writePayload(volume: string, dir: string, payload: Map<string, PayloadFile>, gid?: number): boolean {
  const parts = new Map([...payload.keys()].map((p) => [p, checkItemPath(volume, p)]));
  const rootFd = openSync(dir, O_PATH | fsc.O_DIRECTORY);
  try {
    if (unchanged(rootFd, payload, gid)) return false;
    const stamp = new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '');
    const tsName = `..${stamp}.${randomBytes(4).toString('hex')}`;
    mkdirSync(at(rootFd, tsName), 0o755);
    const tsFd = openDir(rootFd, tsName);
    try {
      // through the magic link: O_PATH fds refuse fchmod/fchown, the link names the very inode held
      const own = (fd: number, mode: number) => {
        if (gid !== undefined) chownSync(`/proc/self/fd/${fd}`, 0, gid);
        chmodSync(`/proc/self/fd/${fd}`, mode);
      };
      own(tsFd, gid !== undefined ? 0o2755 : 0o755);
      for (const [rel, file] of payload) {
        const comps = parts.get(rel) as string[];
        let dirFd = tsFd;
        const opened: number[] = [];
        try {
          for (const c of comps.slice(0, -1)) {
            try { mkdirSync(at(dirFd, c), 0o755); } catch (err) { if (code(err) !== 'EEXIST') throw err; }
            dirFd = openDir(dirFd, c);
            opened.push(dirFd);
            const st = fstatSync(dirFd);
            if (gid !== undefined && st.gid !== gid) own(dirFd, 0o2755);
          }
          const f = openSync(at(dirFd, comps[comps.length - 1]), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
          try {
            for (let n = 0; n < file.data.length;) n += writeSync(f, file.data, n);
            own(f, gid !== undefined ? file.mode | 0o040 : file.mode);
          } finally {
            closeSync(f);
          }
        } finally {
          for (const fd of opened) closeSync(fd);
        }
      }
    } finally {
      closeSync(tsFd);
    }
    // ..data switches in one rename; a leftover ..data_tmp (a crash) is replaced, never followed.
    try { unlinkSync(at(rootFd, '..data_tmp')); } catch (err) { if (code(err) !== 'ENOENT') throw err; }
    symlinkSync(tsName, at(rootFd, '..data_tmp'));
    renameSync(at(rootFd, '..data_tmp'), at(rootFd, DATA));
    // User-visible names: a symlink into ..data for each top-level name of the payload.
    const visible = new Set([...parts.values()].map((c) => c[0]));
    for (const name of visible) {
      const want = `${DATA}/${name}`;
      let have: string | undefined;
      try { have = readlinkSync(at(rootFd, name)); } catch { /* missing, or not a link */ }
      if (have === want) continue;
      const tmp = `..${name}.${randomBytes(4).toString('hex')}.tmp`;
      symlinkSync(want, at(rootFd, tmp));
      try {
        renameSync(at(rootFd, tmp), at(rootFd, name));
      } catch (err) {
        // a directory of an older layout in the way: removed (never followed), then the link
        if (code(err) !== 'EISDIR' && code(err) !== 'ENOTEMPTY' && code(err) !== 'EEXIST') throw err;
        rmSync(at(rootFd, name), { recursive: true, force: true });
        renameSync(at(rootFd, tmp), at(rootFd, name));
      }
    }
    // What the payload no longer has: old top-level names, old data directories, leftovers of a crash.
    for (const name of readdirSync(at(rootFd, '.'))) {
      if (name === DATA || name === tsName || visible.has(name)) continue;
      if (lstatSync(at(rootFd, name)).isDirectory()) rmSync(at(rootFd, name), { recursive: true, force: true });
      else unlinkSync(at(rootFd, name));
    }
    return true;
  } finally {
    closeSync(rootFd);
  }
}
