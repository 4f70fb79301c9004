// Random access to the members of an image archive (a tar file, possibly gzip-compressed).
//
// An archive is indexed once (names, data offsets, sizes); members are then read directly from
// the file by offset, so a layer is read exactly once more when it is unpacked, never copied.
// A compressed archive is first decompressed into a scratch file: tar members cannot be reached
// by offset inside a gzip stream. That decompression is bounded like a layer's (size and ratio,
// PEAPOD_MAX_LAYER_SIZE and PEAPOD_MAX_LAYER_RATIO): a gzip bomb stops with a clear error and the
// scratch file goes with the caller's scratch directory.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import type { Header } from 'tar-stream';
import { PeapodError } from '../errors.js';
import { CountingStream, DecompressionLimit, decompressionLimits, peek, sniffCompression } from './util.js';

interface Member {
  name: string;
  type: Header['type'] | null;
  offset: number;   // of the data, in the (uncompressed) tar file
  size: number;
  linkname?: string;
}

/** Small JSON members (manifests, configs, indexes) are read into memory, up to this size. */
const SMALL_MEMBER_MAX = 64 * 1024 * 1024;
const MAX_LINK_HOPS = 16;

/** Normalise a member name: no leading "./" or "/", no "." components, no trailing "/". */
function memberName(name: string): string {
  return path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
}

export class TarArchive {
  private constructor(
    /** The archive as given, for messages. */
    readonly source: string,
    /** The uncompressed tar file the offsets refer to. */
    private readonly file: string,
    private readonly members: Map<string, Member>,
  ) {}

  /**
   * Index an archive. `input` is a path, or '-' for stdin (copied to `scratchDir` first: stdin
   * cannot be read twice). A compressed archive is decompressed into `scratchDir`, which the
   * caller removes afterwards.
   */
  static async open(input: string, scratchDir: string): Promise<TarArchive> {
    const shown = input === '-' ? 'stdin' : input;
    let file = input;
    if (input === '-') {
      file = path.join(scratchDir, `stdin-${randomBytes(4).toString('hex')}.tar`);
      await pipeline(process.stdin, createWriteStream(file, { mode: 0o600 }));
    } else {
      try {
        const st = await fs.stat(input);
        if (!st.isFile()) throw new PeapodError('invalid', `${input}: not a regular file`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PeapodError('not-found', `${input}: no such file`);
        throw err;
      }
    }
    const limits = decompressionLimits();
    const { head, stream } = await peek(createReadStream(file), 6);
    const compression = sniffCompression(head);
    if (compression === 'gzip') {
      const plain = path.join(scratchDir, `archive-${randomBytes(4).toString('hex')}.tar`);
      const counter = new CountingStream();
      const limiter = new DecompressionLimit(limits, shown, () => counter.bytes);
      try {
        await pipeline(stream, counter, createGunzip(), limiter, createWriteStream(plain, { mode: 0o600 }));
      } catch (err) {
        await fs.rm(plain, { force: true });
        if (err instanceof PeapodError) throw err;
        throw new PeapodError('invalid', `${shown}: corrupt gzip data: ${(err as Error).message}`, { cause: err });
      }
      file = plain;
    } else {
      stream.destroy();
      if (compression !== 'none') {
        throw new PeapodError('invalid', `${shown}: ${compression}-compressed archives are not supported; decompress it first`);
      }
    }
    return new TarArchive(shown, file, await indexTar(file, shown));
  }

  /** The member `name` after following symlinks and hard links inside the archive, or undefined. */
  private lookup(name: string): Member | undefined {
    let cur = memberName(name);
    for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
      const m = this.members.get(cur);
      if (!m) return undefined;
      if (m.type === 'symlink' && m.linkname) {
        // Relative to the link's directory; an absolute target means the archive root.
        cur = m.linkname.startsWith('/')
          ? memberName(m.linkname)
          : memberName(path.posix.join(path.posix.dirname(m.name), m.linkname));
        continue;
      }
      if (m.type === 'link' && m.linkname) {
        cur = memberName(m.linkname);
        continue;
      }
      return m;
    }
    throw new PeapodError('invalid', `${this.source}: too many levels of links resolving "${name}"`);
  }

  has(name: string): boolean {
    const m = this.lookup(name);
    return m !== undefined && (m.type === 'file' || m.type === 'contiguous-file');
  }

  private file_(name: string): Member {
    const m = this.lookup(name);
    if (!m) throw new PeapodError('invalid', `${this.source}: "${name}" is missing from the archive`);
    if (m.type !== 'file' && m.type !== 'contiguous-file') {
      throw new PeapodError('invalid', `${this.source}: "${name}" is not a regular file in the archive`);
    }
    return m;
  }

  size(name: string): number {
    return this.file_(name).size;
  }

  /** Read a small member into memory. */
  async read(name: string): Promise<Buffer> {
    const m = this.file_(name);
    if (m.size > SMALL_MEMBER_MAX) {
      throw new PeapodError('invalid', `${this.source}: "${name}" is too large (${m.size} bytes) for a manifest or config`);
    }
    const fh = await fs.open(this.file, 'r');
    try {
      const buf = Buffer.alloc(m.size);
      let off = 0;
      while (off < m.size) {
        const { bytesRead } = await fh.read(buf, off, m.size - off, m.offset + off);
        if (bytesRead === 0) throw new PeapodError('invalid', `${this.source}: "${name}" is truncated`);
        off += bytesRead;
      }
      return buf;
    } finally {
      await fh.close();
    }
  }

  /** Read a small member and check it against "sha256:<hex>" (and its size when known). */
  async readVerified(name: string, digest: string, size?: number): Promise<Buffer> {
    const data = await this.read(name);
    if (size !== undefined && data.length !== size) {
      throw new PeapodError('invalid', `${this.source}: "${name}" has ${data.length} bytes, its descriptor says ${size}`);
    }
    const actual = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (actual !== digest) throw new PeapodError('invalid', `${this.source}: "${name}" does not match its digest ${digest} (got ${actual})`);
    return data;
  }

  async readJson(name: string, digest?: string, size?: number): Promise<{ bytes: Buffer; value: unknown }> {
    const bytes = digest ? await this.readVerified(name, digest, size) : await this.read(name);
    try {
      return { bytes, value: JSON.parse(bytes.toString('utf8')) as unknown };
    } catch (err) {
      throw new PeapodError('invalid', `${this.source}: "${name}" is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Stream a member (e.g. a layer). */
  open(name: string): Readable {
    const m = this.file_(name);
    if (m.size === 0) return Readable.from([]);
    return createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1 });
  }
}

/** Read the headers of a tar file: member name -> data offset and size. */
async function indexTar(file: string, shown: string): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  const extractor = tarStream.extract();
  const src = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    const fail = (err: PeapodError): void => {
      src.destroy();
      extractor.destroy();
      reject(err);
    };
    extractor.on('entry', (header, data, next) => {
      // byteOffset (where the data starts) is set by tar-stream but missing from its typings.
      const offset = (header as Header & { byteOffset?: number }).byteOffset;
      if (typeof offset !== 'number') {
        fail(new PeapodError('internal', `${shown}: the tar reader gave no data offset for "${header.name}"`));
        return;
      }
      const name = memberName(header.name);
      const type = header.type as Header['type'] | null;
      members.set(name, { name, type, offset, size: header.size, linkname: header.linkname || undefined });
      data.on('end', () => next());
      data.resume();
    });
    extractor.on('finish', () => resolve());
    extractor.on('error', (err: Error) => fail(new PeapodError('invalid', `${shown}: not a valid tar archive: ${err.message}`, { cause: err })));
    src.on('error', (err) => fail(new PeapodError('internal', `reading ${shown}: ${err.message}`, { cause: err })));
    src.pipe(extractor);
  });
  if (members.size === 0) throw new PeapodError('invalid', `${shown}: empty archive`);
  return members;
}
