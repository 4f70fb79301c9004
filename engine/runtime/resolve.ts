// Paths inside a root that someone else controls (an image's rootfs, a volume a container writes):
// resolved one component at a time under a held directory fd, never by handing the kernel a path
// string it would resolve itself. Node has no openat(2), so each step opens
// /proc/self/fd/<dirfd>/<name> with O_PATH|O_NOFOLLOW: the magic link pins the directory already
// resolved, and only <name> is looked up in it. The result is an O_PATH fd of what was found; a
// symlink swapped in afterwards cannot redirect it (mount it through /proc/<pid>/fd/<fd>).
import { closeSync, constants as fsc, fstatSync, mkdirSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';

/** O_PATH on Linux (Node does not export it). */
export const O_PATH = 0o10000000;
const MAX_SYMLINKS = 40;

export interface Held {
  /** O_PATH fd of the object found; close() releases it */
  fd: number;
  /** the host path it had when it was resolved (for messages and for reading it again through fdPath) */
  hostPath: string;
  /** the path inside the root, without symlinks */
  inRoot: string;
  stat: Stats;
  close(): void;
}

export interface ResolveOptions {
  /**
   * 'chroot': the root is "/" of what it holds (an image): absolute symlinks restart at it and ".."
   * stops at it. 'contained': the root is a volume: an absolute symlink or a ".." above the root is
   * an escape, refused.
   */
  mode: 'chroot' | 'contained';
  /** make missing directories on the way (0755), as the kubelet does for a subPath */
  create?: boolean;
}

/** Why a path was refused: it would leave its root, or names a symlink loop. */
export class PathRefused extends PeapodError {
  constructor(readonly reason: string) {
    super('invalid', reason);
  }
}

/** The path of an fd of this process that another process (mount, runc) can open. */
export function fdPath(fd: number): string {
  return `/proc/${process.pid}/fd/${fd}`;
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Resolves `p` inside `root` and holds the result. Undefined when a component is missing (and
 * `create` is not set). A component that exists but is not a directory while more follow counts as
 * missing (ENOTDIR), as for the kernel.
 */
export function holdInRoot(root: string, p: string, opts: ResolveOptions): Held | undefined {
  const rootFd = openSync(root, O_PATH | fsc.O_DIRECTORY);
  const fds: number[] = [rootFd];
  const names: string[] = [];
  const release = () => { for (const fd of fds.splice(0)) closeSync(fd); };
  try {
    const todo = p.split('/');
    let links = 0;
    while (todo.length > 0) {
      const c = todo.shift() as string;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (fds.length === 1) {
          if (opts.mode === 'contained') throw new PathRefused(`"${p}" goes above the root with ".." (through a symbolic link)`);
          continue;
        }
        closeSync(fds.pop() as number);
        names.pop();
        continue;
      }
      const dir = fds[fds.length - 1];
      const at = `/proc/self/fd/${dir}/${c}`;
      let fd: number;
      try {
        fd = openSync(at, O_PATH | fsc.O_NOFOLLOW);
      } catch (err) {
        if (code(err) !== 'ENOENT') throw err;
        if (!opts.create) { release(); return undefined; }
        try { mkdirSync(at, 0o755); } catch (e) { if (code(e) !== 'EEXIST') throw e; }
        todo.unshift(c); // open what is there now (ours, or what appeared meanwhile) and check it again
        continue;
      }
      const st = fstatSync(fd);
      if (st.isSymbolicLink()) {
        closeSync(fd);
        if (++links > MAX_SYMLINKS) throw new PathRefused(`"${p}": too many levels of symbolic links (a loop?) at ${path.posix.join('/', ...names, c)}`);
        // readlink does not follow the last component; `dir` is still the directory held above.
        const target = readlinkSync(at);
        if (target.startsWith('/')) {
          if (opts.mode === 'contained') throw new PathRefused(`"${p}": ${path.posix.join(...names, c)} is a symbolic link to the absolute path ${target}`);
          for (const f of fds.splice(1)) closeSync(f);
          names.length = 0;
        }
        todo.unshift(...target.split('/'));
        continue;
      }
      if (!st.isDirectory() && todo.some((t) => t !== '' && t !== '.')) {
        closeSync(fd);
        if (!opts.create) { release(); return undefined; }
        throw new PathRefused(`"${p}": ${path.posix.join(...names, c)} is not a directory`);
      }
      fds.push(fd);
      names.push(c);
    }
  } catch (err) {
    release();
    throw err;
  }
  const fd = fds.pop() as number;
  release();
  return {
    fd,
    hostPath: path.join(root, ...names),
    inRoot: path.posix.join('/', ...names),
    stat: fstatSync(fd),
    close: () => closeSync(fd),
  };
}

/**
 * The contents of a regular file at `p` inside a container's rootfs, or undefined when there is none.
 * Read through the held fd: what was resolved is what is read.
 */
export function readFileInRoot(root: string, p: string, maxBytes = 16 << 20): Buffer | undefined {
  const h = holdInRoot(root, p, { mode: 'chroot' });
  if (!h) return undefined;
  try {
    if (!h.stat.isFile()) throw new PeapodError('invalid', `${p} in the container is not a regular file`);
    if (h.stat.size > maxBytes) throw new PeapodError('invalid', `${p} in the container is larger than ${maxBytes} bytes`);
    // Opening the magic link reopens the very inode held (O_PATH fds cannot be read).
    const fd = openSync(`/proc/self/fd/${h.fd}`, fsc.O_RDONLY | fsc.O_NOCTTY);
    try {
      const buf = Buffer.alloc(h.stat.size);
      let n = 0;
      while (n < buf.length) {
        const r = readSync(fd, buf, n, buf.length - n, null);
        if (r <= 0) break;
        n += r;
      }
      return buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } finally {
    h.close();
  }
}

