// Small helpers shared by the image modules.

import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { Duplex, Readable, Transform, type TransformCallback } from 'node:stream';
import { PeapodError } from '../errors.js';

export const SHA256_HEX_RE = /^[a-f0-9]{64}$/;
export const SHA256_DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${sha256Hex(data)}`;
}

/** The hex part of a "sha256:<hex>" digest; PeapodError('invalid') for any other algorithm or form. */
export function digestHex(digest: string, what: string): string {
  if (!SHA256_DIGEST_RE.test(digest)) {
    throw new PeapodError('invalid', `${what}: unsupported or malformed digest "${digest}" (only sha256 is supported)`);
  }
  return digest.slice('sha256:'.length);
}

/** A pass-through stream that hashes (sha256) and counts what flows through it. */
export class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** "sha256:<hex>" of everything that passed; call once, after the stream ended. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** A pass-through stream that only counts what flows through it (the compressed side of a decoder). */
export class CountingStream extends Transform {
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/** Bounds on what a compressed layer or archive may expand to (decompression bombs). */
export interface DecompressionLimits {
  /** Most uncompressed bytes accepted (PEAPOD_MAX_LAYER_SIZE). */
  maxSize: number;
  /** Most uncompressed bytes per compressed byte (PEAPOD_MAX_LAYER_RATIO), checked past RATIO_FLOOR. */
  maxRatio: number;
}

export const DEFAULT_MAX_LAYER_SIZE = 32 * 1024 ** 3;
export const DEFAULT_MAX_LAYER_RATIO = 1000;
/** The ratio is only looked at past this many uncompressed bytes: a small layer of zeros is fine. */
export const RATIO_FLOOR = 64 * 1024 * 1024;

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "1048576", "512k", "64M", "32GiB", "1g" -> bytes (binary units); undefined when malformed. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const n = Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A byte count for messages: "32 GiB", "1.5 MiB", "512 bytes". */
export function formatBytes(n: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${Number((n / size).toFixed(1))} ${unit}`;
  }
  return `${n} bytes`;
}

/** The decompression limits from PEAPOD_MAX_LAYER_SIZE and PEAPOD_MAX_LAYER_RATIO (a malformed value is an error). */
export function decompressionLimits(env: NodeJS.ProcessEnv = process.env): DecompressionLimits {
  let maxSize = DEFAULT_MAX_LAYER_SIZE;
  let maxRatio = DEFAULT_MAX_LAYER_RATIO;
  const size = env.PEAPOD_MAX_LAYER_SIZE;
  if (size !== undefined && size !== '') {
    const n = parseByteSize(size);
    if (n === undefined) throw new PeapodError('invalid', `PEAPOD_MAX_LAYER_SIZE="${size}": expected a size in bytes such as 34359738368, 512M or 32G`);
    maxSize = n;
  }
  const ratio = env.PEAPOD_MAX_LAYER_RATIO;
  if (ratio !== undefined && ratio !== '') {
    const n = Number(ratio);
    if (!/^\s*\d+(\.\d+)?\s*$/.test(ratio) || !(n >= 1)) throw new PeapodError('invalid', `PEAPOD_MAX_LAYER_RATIO="${ratio}": expected a number of at least 1, such as 1000`);
    maxRatio = n;
  }
  return { maxSize, maxRatio };
}

/**
 * A pass-through stream on the uncompressed side of a decoder that fails (PeapodError 'invalid')
 * as soon as more than `limits.maxSize` bytes came out, or, past RATIO_FLOOR, more than
 * `limits.maxRatio` times what went in (`compressed()`, the bytes read so far from the compressed
 * side; undefined for an uncompressed input, where only the size counts). `what` starts the
 * message ("layer", "x.tar.gz": "<what> too large: ...").
 */
export class DecompressionLimit extends Transform {
  bytes = 0;

  constructor(
    private readonly limits: DecompressionLimits,
    private readonly what: string,
    private readonly compressed?: () => number,
  ) {
    super();
  }

  /** Why `bytes` uncompressed bytes (from `compressedBytes`) break the limits, or undefined. */
  static check(limits: DecompressionLimits, what: string, bytes: number, compressedBytes?: number): string | undefined {
    if (bytes > limits.maxSize) {
      return `${what} too large: more than ${formatBytes(limits.maxSize)} uncompressed, the limit (PEAPOD_MAX_LAYER_SIZE; raise it to accept this)`;
    }
    if (compressedBytes !== undefined && bytes > RATIO_FLOOR && bytes > limits.maxRatio * Math.max(compressedBytes, 1)) {
      return `${what} too large: it expands more than ${limits.maxRatio} times, the limit (${formatBytes(bytes)} from ${formatBytes(compressedBytes)} compressed so far: a decompression bomb?) (PEAPOD_MAX_LAYER_RATIO; raise it to accept this)`;
    }
    return undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    const why = DecompressionLimit.check(this.limits, this.what, this.bytes, this.compressed?.());
    if (why) { cb(new PeapodError('invalid', why)); return; }
    cb(null, chunk);
  }
}

/**
 * Read the first `n` bytes of a stream without consuming them: returns those bytes and a stream
 * that yields the whole content (the original one with the bytes pushed back, or a fresh one when
 * the source already ended).
 */
export function peek(src: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let len = 0;
    const cleanup = (): void => {
      src.off('readable', onReadable);
      src.off('end', onEnd);
      src.off('error', onError);
    };
    const onError = (err: Error): void => { cleanup(); reject(err); };
    const onEnd = (): void => {
      cleanup();
      const all = Buffer.concat(chunks);
      resolve({ head: all.subarray(0, n), stream: Readable.from(all.length ? [all] : []) });
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = src.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        len += chunk.length;
        if (len >= n) {
          cleanup();
          const all = Buffer.concat(chunks);
          src.unshift(all);
          resolve({ head: all.subarray(0, n), stream: src });
          return;
        }
      }
    };
    src.on('readable', onReadable);
    src.on('end', onEnd);
    src.on('error', onError);
  });
}

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

/** Recognise a compressed stream by its magic bytes (layers and archives are not labelled reliably). */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return 'none';
}

// Debian packages of the helper programs, for the error when one is missing.
const HELPER_PACKAGES: Record<string, string> = { setfattr: 'attr', mknod: 'coreutils', mkfifo: 'coreutils', sync: 'coreutils', zstd: 'zstd' };

/** A decompressing stream, and a promise that settles when the decompressor has really finished. */
export interface Decoder {
  stream: Duplex;
  /** Resolves once the input was complete and valid; rejects otherwise. Never an unhandled rejection. */
  done: Promise<void>;
}

/**
 * A zstd decompressor: Debian's `zstd` program (Node 20's zlib has no zstd). A child process
 * rather than a JavaScript decoder: it is several times faster on big layers and handles every
 * frame format the reference implementation writes. Its exit status is the verdict (`done`).
 */
export function zstdDecoder(): Decoder {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stream = Duplex.from({ writable: child.stdin, readable: child.stdout });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      const e = err.code === 'ENOENT'
        ? new PeapodError('prerequisite', 'zstd: command not found (needed for zstd-compressed layers)', { hint: 'install it: apt-get install zstd', cause: err })
        : err;
      stream.destroy(e);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (code === 0) { resolve(); return; }
      const e = new PeapodError('invalid', `corrupt zstd data: ${stderr.trim().split('\n').pop() || (signal ? `zstd killed by ${signal}` : `zstd exited with ${code}`)}`);
      stream.destroy(e);
      reject(e);
    });
  });
  done.catch(() => undefined);
  // Whoever gives up on the stream (an error further down) also ends the child; after the whole
  // output was read, zstd is exiting by itself and its status must not be spoilt.
  stream.on('close', () => {
    if (!stream.readableEnded && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  // EPIPE on stdin when zstd gave up early is reported through `done`, not as a stray error.
  child.stdin.on('error', () => undefined);
  return { stream, done };
}

/** Run a helper program; a failure becomes an Error carrying its stderr. */
export function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) { resolve(); return; }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        const pkg = HELPER_PACKAGES[cmd];
        reject(new PeapodError('prerequisite', `${cmd}: command not found`, {
          hint: pkg ? `install it: apt-get install ${pkg}` : undefined, cause: err,
        }));
        return;
      }
      const detail = stderr.trim() || err.message;
      const e = new Error(`${cmd} ${args.join(' ')}: ${detail}`, { cause: err });
      (e as Error & { code?: unknown }).code = (err as Error & { code?: unknown }).code;
      reject(e);
    });
  });
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Whether process `pid` is alive (signal 0); EPERM means it exists but is not ours. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** OCI platform of this host, from Node's names (Go's GOARCH names are what images use). */
export function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch: Record<string, string> = {
    x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x',
    riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle',
  };
  const architecture = arch[process.arch] ?? process.arch;
  const variant = architecture === 'arm64' ? 'v8' : architecture === 'arm' ? 'v7' : undefined;
  return { os: 'linux', architecture, variant };
}
