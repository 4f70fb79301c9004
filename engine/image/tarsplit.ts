// Layer tars, reproduced byte for byte from the unpacked layer (for save and push): while a layer
// is unpacked, everything of its uncompressed tar stream except the regular files' contents is
// recorded (headers, PAX and GNU long-name records, padding, the end blocks), with a reference
// (path, size) where a file's content goes. Reassembling reads those contents back from the
// layer directory; the result is checked against the diff ID, so a layer whose directory no
// longer matches (or a tar that wrote one path twice) fails instead of producing another layer.
// This is what containers/storage does with tar-split. The record is small (about 1 KiB per
// entry before gzip) and lives at storage/tar-split/<diff-id hex>.gz.

import { createHash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PeapodError } from '../errors.js';
import { writeFileAtomic } from '../state/atomic.js';

type Frame = { r: string } | { f: string; s: number };

const BLOCK = 512;

function octal(buf: Buffer, off: number, len: number): number {
  if (buf[off]! & 0x80) {
    // Base-256 (GNU) for large values.
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + buf[i]!;
    return v;
  }
  const s = buf.subarray(off, off + len).toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

function cstring(buf: Buffer, off: number, len: number): string {
  const b = buf.subarray(off, off + len);
  const z = b.indexOf(0);
  return (z === -1 ? b : b.subarray(0, z)).toString('utf8');
}

function paxPath(data: Buffer): string | undefined {
  let found: string | undefined;
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = parseInt(data.subarray(i, sp).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq !== -1 && rec.slice(0, eq) === 'path') found = rec.slice(eq + 1);
    i += len;
  }
  return found;
}

/** The layer-relative path a tar entry name means (as the unpacker resolves it). */
function relPath(name: string): string {
  return name.split('/').filter((p) => p !== '' && p !== '.').join('/');
}

/**
 * A pass-through Transform that records the tar-split of the stream flowing through it. Parsing
 * is tolerant: what cannot be parsed is recorded raw (the unpacker decides what is valid).
 */
export class TarSplitter extends Transform {
  private readonly frames: Frame[] = [];
  private raw: Buffer[] = [];
  private rawLen = 0;
  private header = Buffer.alloc(0);
  /** Bytes of the current entry's payload still to come, and whether they are file content. */
  private remaining = 0;
  private padding = 0;
  private content = false;
  private meta: Buffer[] | undefined;
  private metaKind = '';
  private nextName: string | undefined;
  private entrySize = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (!this.content) this.addRaw(part);
        if (this.meta) this.meta.push(Buffer.from(part));
        this.remaining -= n;
        off += n;
        if (this.remaining === 0) this.endPayload();
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, chunk.length - off);
        this.addRaw(chunk.subarray(off, off + n));
        this.padding -= n;
        off += n;
        continue;
      }
      const need = BLOCK - this.header.length;
      const n = Math.min(need, chunk.length - off);
      this.header = Buffer.concat([this.header, chunk.subarray(off, off + n)]);
      off += n;
      if (this.header.length === BLOCK) this.onHeader();
    }
    cb(null, chunk);
  }

  private addRaw(b: Buffer): void {
    if (b.length === 0) return;
    this.raw.push(Buffer.from(b));
    this.rawLen += b.length;
  }

  private flushRaw(): void {
    if (this.rawLen === 0) return;
    this.frames.push({ r: Buffer.concat(this.raw).toString('base64') });
    this.raw = [];
    this.rawLen = 0;
  }

  private onHeader(): void {
    const h = this.header;
    this.header = Buffer.alloc(0);
    this.addRaw(h);
    if (h.every((b) => b === 0)) return;
    const type = String.fromCharCode(h[156]!);
    const size = octal(h, 124, 12);
    const ustar = h.subarray(257, 262).toString('latin1') === 'ustar';
    let name = cstring(h, 0, 100);
    if (ustar && h[345] !== 0) name = `${cstring(h, 345, 155)}/${name}`;
    this.padding = 0;
    this.entrySize = size;
    this.remaining = size;
    this.content = false;
    this.meta = undefined;
    if (type === 'x' || type === 'L') {
      this.meta = [];
      this.metaKind = type;
    } else if (type === '0' || type === '\0' || type === '7') {
      const full = this.nextName ?? name;
      this.nextName = undefined;
      if (size > 0) {
        this.flushRaw();
        this.frames.push({ f: relPath(full), s: size });
        this.content = true;
      }
    } else if (type !== 'g' && type !== 'K') {
      this.nextName = undefined;
    }
    if (size === 0) this.endPayload();
  }

  private endPayload(): void {
    if (this.meta) {
      const data = Buffer.concat(this.meta);
      if (this.metaKind === 'x') this.nextName = paxPath(data) ?? this.nextName;
      else this.nextName = cstring(data, 0, data.length);
      this.meta = undefined;
    }
    this.content = false;
    this.padding = (BLOCK - (this.entrySize % BLOCK)) % BLOCK;
  }

  /** The recorded split, gzip-compressed (call after the stream ended). */
  result(): Buffer {
    this.flushRaw();
    return gzipSync(this.frames.map((f) => JSON.stringify(f)).join('\n'));
  }
}

export function tarSplitPath(storageRoot: string, diffHex: string): string {
  return path.join(storageRoot, 'tar-split', `${diffHex}.gz`);
}

export async function writeTarSplit(file: string, data: Buffer): Promise<void> {
  await writeFileAtomic(file, data, 0o600);
}

/** Open a file of the layer for reading without following a symlink anywhere on its path. */
async function openInLayer(layerDir: string, rel: string, size: number): Promise<fs.FileHandle> {
  const parts = rel.split('/');
  if (parts.some((p) => p === '..' || p === '')) throw new PeapodError('invalid', `layer file "${rel}": invalid path`);
  let cur = layerDir;
  for (const p of parts.slice(0, -1)) {
    cur = path.join(cur, p);
    const st = await fs.lstat(cur);
    if (!st.isDirectory()) throw new PeapodError('invalid', `layer file "${rel}": ${p} is not a directory in the layer`);
  }
  const h = await fs.open(path.join(layerDir, ...parts), constants.O_RDONLY | constants.O_NOFOLLOW);
  const st = await h.stat();
  if (!st.isFile() || st.size !== size) {
    await h.close();
    throw new PeapodError('invalid', `layer file "${rel}" is not the regular file of ${size} bytes its tar header describes`);
  }
  return h;
}

/**
 * The layer's tar, reassembled, as chunks. Throws PeapodError when a recorded file does not
 * match, and at the end when the whole does not have `diffId`.
 */
export async function* layerTar(layerDir: string, splitFile: string, diffId: string): AsyncGenerator<Buffer> {
  let data: Buffer;
  try {
    data = gunzipSync(await fs.readFile(splitFile));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PeapodError('not-found', `layer ${diffId} was stored before peapod kept what is needed to write it out again: remove the image and pull or load it again`);
    }
    throw err;
  }
  const hash = createHash('sha256');
  for (const line of data.toString('utf8').split('\n')) {
    if (!line) continue;
    const f = JSON.parse(line) as Frame;
    if ('r' in f) {
      const b = Buffer.from(f.r, 'base64');
      hash.update(b);
      yield b;
      continue;
    }
    const h = await openInLayer(layerDir, f.f, f.s);
    try {
      let left = f.s;
      const buf = Buffer.alloc(Math.min(1 << 20, Math.max(1, left)));
      while (left > 0) {
        const { bytesRead } = await h.read(buf, 0, Math.min(buf.length, left), null);
        if (bytesRead === 0) throw new PeapodError('invalid', `layer file "${f.f}" ended early`);
        const out = Buffer.from(buf.subarray(0, bytesRead));
        hash.update(out);
        left -= bytesRead;
        yield out;
      }
    } finally {
      await h.close();
    }
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== diffId) throw new PeapodError('invalid', `layer ${diffId} cannot be reproduced from its unpacked files (got ${actual})`);
}
