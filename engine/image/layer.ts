// Layer unpacking: one layer tar (plain, gzip or zstd) becomes one directory usable as an overlayfs
// lowerdir. Layers come from archives and registries that peapod does not trust, so every entry
// is checked before anything is written, and nothing is ever written through a symlink:
//   - entry paths must be relative and must not contain ".." (anything else could land outside);
//   - the parents of an entry are checked component by component with lstat: a symlink there is
//     refused (the "x -> /etc, then x/passwd" escape), a missing parent is created (0755);
//   - hard link targets must name an earlier entry of this same layer, by a relative path that
//     does not cross a symlink;
//   - relative symlink targets must not climb above the layer root (absolute ones are fine: the
//     runtime resolves them inside the container's root);
//   - device nodes are refused; the only ones created are overlayfs whiteouts, by us; a whiteout
//     that names no file (".wh.", ".wh..", ".wh...") is a malformed layer;
//   - the uncompressed stream is bounded in size and in its ratio to the compressed one
//     (decompression bombs; util.ts DecompressionLimit).
// Work happens in a temporary directory next to `dest` that is renamed into place only when the
// whole layer is unpacked and verified, so a partial layer is never visible; on any failure the
// temporary directory is removed.

import { randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import type { ExtractEvents, Header } from 'tar-stream';
import { PeapodError } from '../errors.js';
import { TarSplitter, writeTarSplit } from './tarsplit.js';
import {
  CountingStream, DecompressionLimit, HashingStream, decompressionLimits, exists, peek, run, sniffCompression, zstdDecoder,
  type Decoder, type DecompressionLimits,
} from './util.js';

export interface UnpackResult {
  /** "sha256:<hex>" of the uncompressed tar stream (the layer's diff ID). */
  diffId: string;
  /** Size in bytes of the uncompressed tar stream (what Podman reports as the layer size). */
  size: number;
}

export interface UnpackOptions {
  /** Expected diff ID; a mismatch fails (PeapodError 'invalid') before the layer becomes visible. */
  expectedDiffId?: string;
  /**
   * Called once the whole stream has been read and unpacked, before the layer is renamed into
   * place; throwing aborts (used to verify the digest of the compressed blob).
   */
  beforeCommit?: (result: UnpackResult) => void | Promise<void>;
  /** Where to record the layer's tar-split (tarsplit.ts), written once the layer is verified. */
  tarSplitFile?: string | ((diffId: string) => string);
  /** Decompression bounds; default from PEAPOD_MAX_LAYER_SIZE and PEAPOD_MAX_LAYER_RATIO. */
  limits?: DecompressionLimits;
}

// tar-stream's header with what its typings leave loose: the raw PAX records, and a null type
// for typeflags it does not know (sparse files, volume headers, ...).
type TarHeader = Omit<Header, 'type' | 'pax' | 'linkname'> & {
  type: Header['type'] | null;
  linkname: string | null;
  pax?: Record<string, string> | null;
};
/** One entry's data (a streamx Readable, not a Node one). */
type EntryStream = ExtractEvents['entry'][1];

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

function unsafe(entry: string, why: string): PeapodError {
  return new PeapodError('unsafe-layer', `layer entry "${entry}": ${why}`);
}

function malformed(entry: string, why: string): PeapodError {
  return new PeapodError('invalid', `layer entry "${entry}": ${why}`);
}

/**
 * The components of a layer entry path, "." and empty components removed. Refuses absolute paths
 * and ".." anywhere. An empty array is the layer root itself ("./").
 */
function entryParts(name: string, entry: string, what = 'path'): string[] {
  if (name.includes('\0')) throw unsafe(entry, `${what} contains a NUL byte`);
  if (name.startsWith('/')) throw unsafe(entry, `${what} "${name}" is absolute`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw unsafe(entry, what === 'path' ? 'path escapes the layer root' : `${what} "${name}" escapes the layer root`);
  }
  return parts;
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Read an entry's data to its end (entries must be drained before the next one comes). */
function drain(stream: EntryStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.on('end', () => resolve());
    stream.on('error', reject);
    stream.resume();
  });
}

interface DirMeta { mode: number; uid: number; gid: number; mtime: Date }

/** Writes the entries of one layer into `root`, checking each (see the file comment). */
class LayerWriter {
  /** Relative paths known to be real directories (not symlinks) inside root; '' is root. */
  private readonly knownDirs = new Set<string>(['']);
  /** Directory metadata applied at the end: writing children would change mtimes, and a 0555
   * directory must stay writable until its children exist. */
  private readonly dirMeta = new Map<string, DirMeta>();
  private readonly chownAllowed = process.getuid?.() === 0;

  constructor(private readonly root: string) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  /** Forget cached knowledge about `rel` and everything below it (it was removed or replaced). */
  private forget(rel: string): void {
    const under = `${rel}/`;
    for (const k of this.knownDirs) if (k === rel || k.startsWith(under)) this.knownDirs.delete(k);
    for (const k of this.dirMeta.keys()) if (k === rel || k.startsWith(under)) this.dirMeta.delete(k);
  }

  /** Make sure every component of `parts` is a real directory, creating missing ones (0755). */
  private async ensureDirs(parts: string[], entry: string): Promise<void> {
    let rel = '';
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.knownDirs.has(rel)) continue;
      const abs = this.abs(rel);
      const st = await lstatOrUndefined(abs);
      if (!st) {
        await fs.mkdir(abs, { mode: 0o755 });
        await fs.chmod(abs, 0o755); // mkdir's mode is filtered by the umask
      } else if (st.isSymbolicLink()) {
        throw unsafe(entry, `parent "${rel}" is a symlink`);
      } else if (!st.isDirectory()) {
        throw malformed(entry, `parent "${rel}" is not a directory`);
      }
      this.knownDirs.add(rel);
    }
  }

  /** Check, without creating anything, that the parents of an existing path are real directories. */
  private async checkDirs(parts: string[], entry: string, what: string): Promise<void> {
    let rel = '';
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.knownDirs.has(rel)) continue;
      const st = await lstatOrUndefined(this.abs(rel));
      if (!st) throw malformed(entry, `${what}: "${rel}" does not exist in this layer`);
      if (st.isSymbolicLink()) throw unsafe(entry, `${what} goes through symlink "${rel}"`);
      if (!st.isDirectory()) throw malformed(entry, `${what}: "${rel}" is not a directory`);
      this.knownDirs.add(rel);
    }
  }

  /** Remove whatever exists at `rel` (never following a symlink), unless it is a directory and
   * `keepDir` is set. Returns whether a directory was kept. */
  private async clear(rel: string, keepDir: boolean): Promise<boolean> {
    const abs = this.abs(rel);
    const st = await lstatOrUndefined(abs);
    if (!st) return false;
    if (keepDir && st.isDirectory()) return true;
    // fs.rm uses lstat and does not follow symlinks, neither at the top nor inside directories.
    await fs.rm(abs, { recursive: true, force: true });
    this.forget(rel);
    return false;
  }

  private async setOwnerModeTime(abs: string, h: TarHeader, opts: { symlink?: boolean } = {}): Promise<void> {
    const { uid, gid, mtime, mode } = headerMeta(h);
    if (this.chownAllowed) await fs.lchown(abs, uid, gid);
    // chmod after chown: chown clears setuid/setgid bits. Symlinks have no mode of their own.
    if (!opts.symlink) await fs.chmod(abs, mode);
    await fs.lutimes(abs, mtime, mtime);
  }

  async handle(h: TarHeader, data: EntryStream): Promise<void> {
    const entry = h.name;
    const parts = entryParts(entry, entry);
    const rel = parts.join('/');
    const base = parts[parts.length - 1] ?? '';
    const parentParts = parts.slice(0, -1);

    // Whiteouts are markers whatever their type: convert them to overlayfs' format.
    if (base.startsWith(WHITEOUT_PREFIX)) {
      await drain(data);
      if (base === OPAQUE_MARKER) {
        await this.ensureDirs(parentParts, entry);
        await run('setfattr', ['-n', OVERLAY_OPAQUE_XATTR, '-v', 'y', this.abs(parentParts.join('/'))]);
        return;
      }
      if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return; // other AUFS metadata: meaningless here
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      // ".wh." alone would white out the parent directory itself (at the top: the layer root).
      if (hidden === '' || hidden === '.' || hidden === '..') throw malformed(entry, 'whiteout names no file (malformed layer)');
      await this.ensureDirs(parentParts, entry);
      const hiddenRel = [...parentParts, hidden].join('/');
      await this.clear(hiddenRel, false);
      // Node has no mknod(2); an overlayfs whiteout is a character device 0:0.
      await run('mknod', [this.abs(hiddenRel), 'c', '0', '0']);
      return;
    }

    switch (h.type) {
      case 'directory': {
        await drain(data);
        if (parts.length > 0) {
          await this.ensureDirs(parentParts, entry);
          const kept = await this.clear(rel, true);
          if (!kept) await fs.mkdir(this.abs(rel), { mode: 0o700 });
          this.knownDirs.add(rel);
        }
        this.dirMeta.set(rel, headerMeta(h));
        return;
      }
      case 'file':
      case 'contiguous-file': {
        if (parts.length === 0) throw malformed(entry, 'a file cannot replace the layer root');
        await this.ensureDirs(parentParts, entry);
        await this.clear(rel, false);
        await this.writeFile(this.abs(rel), h, data);
        return;
      }
      case 'symlink': {
        await drain(data);
        if (parts.length === 0) throw malformed(entry, 'a symlink cannot replace the layer root');
        const target = h.linkname ?? '';
        if (target === '') throw malformed(entry, 'symlink has an empty target');
        if (target.includes('\0')) throw unsafe(entry, 'symlink target contains a NUL byte');
        if (!target.startsWith('/')) {
          const resolved = path.posix.normalize(path.posix.join(parentParts.join('/') || '.', target));
          if (resolved === '..' || resolved.startsWith('../')) {
            throw unsafe(entry, `symlink target "${target}" escapes the layer root`);
          }
        }
        await this.ensureDirs(parentParts, entry);
        await this.clear(rel, false);
        const abs = this.abs(rel);
        await fs.symlink(target, abs);
        await this.setOwnerModeTime(abs, h, { symlink: true });
        return;
      }
      case 'link': {
        await drain(data);
        if (parts.length === 0) throw malformed(entry, 'a hard link cannot replace the layer root');
        const targetName = h.linkname ?? '';
        const targetParts = entryParts(targetName, entry, 'hard link target');
        if (targetParts.length === 0) throw unsafe(entry, `hard link target "${targetName}" is the layer root`);
        const targetRel = targetParts.join('/');
        if (targetRel === rel) return; // a link to itself: nothing to do
        await this.checkDirs(targetParts.slice(0, -1), entry, `hard link target "${targetName}"`);
        const st = await lstatOrUndefined(this.abs(targetRel));
        if (!st) throw malformed(entry, `hard link target "${targetName}" is not in this layer`);
        if (st.isDirectory()) throw malformed(entry, `hard link target "${targetName}" is a directory`);
        await this.ensureDirs(parentParts, entry);
        await this.clear(rel, false);
        // link(2) does not follow a symlink target on Linux: the link is to the entry itself.
        await fs.link(this.abs(targetRel), this.abs(rel));
        return;
      }
      case 'fifo': {
        await drain(data);
        if (parts.length === 0) throw malformed(entry, 'a fifo cannot replace the layer root');
        await this.ensureDirs(parentParts, entry);
        await this.clear(rel, false);
        const abs = this.abs(rel);
        await run('mkfifo', ['-m', '0600', abs]); // Node has no mkfifo(3)
        await this.setOwnerModeTime(abs, h);
        return;
      }
      case 'character-device':
      case 'block-device':
        await drain(data);
        throw unsafe(entry, `${h.type === 'block-device' ? 'block' : 'character'} device entries are not allowed in layers`);
      default:
        await drain(data);
        throw malformed(entry, `unsupported tar entry type ${h.type === null || h.type === undefined ? '(unknown)' : `"${h.type}"`}`);
    }
  }

  private async writeFile(abs: string, h: TarHeader, data: EntryStream): Promise<void> {
    // "wx" = O_CREAT|O_EXCL: fails instead of following a symlink that might have appeared.
    const fh = await fs.open(abs, 'wx', 0o600);
    try {
      for await (const chunk of data as AsyncIterable<Buffer>) {
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
      }
      const { uid, gid, mtime, mode } = headerMeta(h);
      if (this.chownAllowed) await fh.chown(uid, gid);
      await fh.chmod(mode);
      await fh.utimes(mtime, mtime);
    } finally {
      await fh.close();
    }
  }

  /** Apply directory metadata, deepest first, re-checking that each is still a real directory. */
  async finish(): Promise<void> {
    const dirs = [...this.dirMeta.entries()].sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, meta] of dirs) {
      const abs = this.abs(rel);
      if (!(await this.isRealDir(rel))) continue;
      if (this.chownAllowed) await fs.lchown(abs, meta.uid, meta.gid);
      await fs.chmod(abs, meta.mode);
      await fs.lutimes(abs, meta.mtime, meta.mtime);
    }
  }

  private async isRealDir(rel: string): Promise<boolean> {
    let cur = '';
    for (const part of rel === '' ? [] : rel.split('/')) {
      cur = cur ? `${cur}/${part}` : part;
      const st = await lstatOrUndefined(this.abs(cur));
      if (!st || !st.isDirectory()) return false;
    }
    return true;
  }
}

function depth(rel: string): number {
  return rel === '' ? 0 : rel.split('/').length;
}

/** Owner, permission bits and mtime of an entry, PAX records taking precedence (big ids, sub-second times). */
function headerMeta(h: TarHeader): DirMeta {
  const pax = h.pax ?? {};
  const num = (v: string | undefined, fallback: number): number => {
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : fallback;
  };
  const uid = num(pax.uid, h.uid ?? 0);
  const gid = num(pax.gid, h.gid ?? 0);
  const mtime = pax.mtime !== undefined && Number.isFinite(Number(pax.mtime))
    ? new Date(Number(pax.mtime) * 1000)
    : h.mtime ?? new Date(0);
  return { uid, gid, mtime, mode: (h.mode ?? 0o644) & 0o7777 };
}

/**
 * Unpack a layer tar stream (plain, gzip or zstd, recognised by its magic bytes) into the new
 * directory `dest`, which must not exist yet. Returns the diff ID (sha256 of the uncompressed
 * tar) and the uncompressed size. Throws PeapodError 'unsafe-layer' for an entry that could
 * write outside `dest`, 'invalid' for a malformed layer; either way nothing is left behind.
 */
export async function unpackLayer(stream: Readable, dest: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const target = path.resolve(dest);
  const limits = opts.limits ?? decompressionLimits();
  if (await exists(target)) throw new PeapodError('exists', `layer directory ${target} already exists`);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp, { mode: 0o755 });
  try {
    await fs.chmod(tmp, 0o755);
    const { head, stream: src } = await peek(stream, 6);
    const compression = sniffCompression(head);
    if (compression !== 'none' && compression !== 'gzip' && compression !== 'zstd') {
      throw new PeapodError('invalid', `${compression}-compressed layers are not supported (only gzip and zstd)`);
    }
    const hasher = new HashingStream();
    const writer = new LayerWriter(tmp);
    const splitter = new TarSplitter();
    const decoder: Decoder | undefined = compression === 'gzip' ? { stream: createGunzip(), done: Promise.resolve() }
      : compression === 'zstd' ? zstdDecoder() : undefined;
    const counter = decoder ? new CountingStream() : undefined;
    const limiter = new DecompressionLimit(limits, 'layer', counter && (() => counter.bytes));
    await extract(src, decoder, counter, limiter, hasher, splitter, writer);
    // zstd runs as a child process: its exit status, not only the end of its output, says whether
    // the stream was complete and valid.
    await decoder?.done;
    await writer.finish();
    const result: UnpackResult = { diffId: hasher.digest(), size: hasher.bytes };
    if (opts.expectedDiffId !== undefined && opts.expectedDiffId !== result.diffId) {
      throw new PeapodError('invalid', `layer content does not match its diff ID: expected ${opts.expectedDiffId}, got ${result.diffId}`);
    }
    await opts.beforeCommit?.(result);
    if (opts.tarSplitFile) {
      await writeTarSplit(typeof opts.tarSplitFile === 'string' ? opts.tarSplitFile : opts.tarSplitFile(result.diffId), splitter.result());
    }
    // Flush the new files before the rename publishes them: after a crash the layer directory
    // must be either absent or complete. syncfs(2) via sync -f: one call instead of fsync per file.
    await run('sync', ['-f', tmp]);
    await fs.rename(tmp, target);
    return result;
  } catch (err) {
    stream.destroy();
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Feed src (through the decoder when compressed, then the hasher) into a tar extractor, one entry at a time. */
function extract(
  src: Readable, decoder: Decoder | undefined, counter: CountingStream | undefined, limiter: DecompressionLimit,
  hasher: HashingStream, splitter: TarSplitter, writer: LayerWriter,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // allowUnknownFormat: old (v7) tars without the ustar magic are still valid layers.
    const extractor = tarStream.extract({ allowUnknownFormat: true } as Parameters<typeof tarStream.extract>[0]);
    const gunzip = decoder?.stream;
    let current: Promise<void> = Promise.resolve();
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      src.unpipe();
      src.destroy();
      gunzip?.destroy();
      counter?.destroy();
      limiter.destroy();
      hasher.destroy();
      splitter.destroy();
      extractor.destroy();
      const e = err instanceof PeapodError ? err
        : isFsError(err) ? new PeapodError('internal', `unpacking layer: ${(err as Error).message}`, { cause: err })
          : new PeapodError('invalid', `reading layer: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      // Wait for the entry being written so that the caller's cleanup does not race with it.
      void current.finally(() => reject(e));
    };
    extractor.on('entry', (header, data, next) => {
      current = writer.handle(header as unknown as TarHeader, data).then(
        () => { if (!failed) next(); },
        (err: unknown) => { data.resume(); fail(err); },
      );
    });
    extractor.on('error', fail);
    extractor.on('finish', () => {
      void current.then(() => { if (!failed) resolve(); }, fail);
    });
    src.on('error', fail);
    limiter.on('error', fail);
    hasher.on('error', fail);
    splitter.on('error', fail);
    if (gunzip && counter) {
      gunzip.on('error', fail);
      counter.on('error', fail);
      src.pipe(counter).pipe(gunzip).pipe(limiter).pipe(hasher).pipe(splitter).pipe(extractor);
    } else {
      src.pipe(limiter).pipe(hasher).pipe(splitter).pipe(extractor);
    }
  });
}

function isFsError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}
