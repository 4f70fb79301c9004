import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PeapodError } from '../../../engine/errors.js';
import { unpackLayer } from '../../../engine/image/layer.js';
import { RATIO_FLOOR, decompressionLimits, formatBytes, parseByteSize } from '../../../engine/image/util.js';
import { gzipSync } from 'node:zlib';
import { makeTar, streamOf, type FixtureEntry } from './tar-fixtures.js';

let work: string;
let dest: string;
let outside: string;
let outsideBefore: string[];

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { recursive: true })) out.push(String(e));
  return out.sort();
}

beforeEach(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-layer-test-'));
  dest = path.join(work, 'layers', 'layer');
  outside = path.join(work, 'outside');
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, 'secret'), 'host data\n');
  outsideBefore = await listTree(outside);
});

afterEach(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

function sha256(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** Unpack and expect PeapodError(code) with a message matching `message`; nothing may be left behind. */
async function expectRejected(entries: FixtureEntry[], code: string, message: RegExp | string): Promise<void> {
  const tar = await makeTar(entries);
  let error: unknown;
  try {
    await unpackLayer(streamOf(tar), dest);
  } catch (e) {
    error = e;
  }
  expect(error, 'the layer should have been rejected').toBeInstanceOf(PeapodError);
  expect((error as PeapodError).code).toBe(code);
  expect((error as PeapodError).message).toMatch(message);
  // Nothing outside dest changed, dest does not exist and no partial directory is left.
  expect(await listTree(outside)).toEqual(outsideBefore);
  expect(await fs.readFile(path.join(outside, 'secret'), 'utf8')).toBe('host data\n');
  expect(await fs.readdir(path.dirname(dest))).toEqual([]);
  expect(await fs.readdir(work)).toEqual(['layers', 'outside']);
}

describe('unpackLayer refuses unsafe entries', () => {
  it('an entry path with ".."', async () => {
    await expectRejected([{ name: '../evil', body: 'x' }], 'unsafe-layer', /^layer entry "\.\.\/evil": path escapes the layer root$/);
    await expectRejected([{ name: 'a/', type: 'directory' }, { name: 'a/../../outside/evil', body: 'x' }], 'unsafe-layer', /path escapes the layer root/);
  });

  it('an absolute entry path', async () => {
    const abs = path.join(outside, 'abs');
    await expectRejected([{ name: abs, body: 'x' }], 'unsafe-layer', new RegExp(`layer entry "${abs}": path "${abs}" is absolute`));
  });

  it('a hard link to a path outside the layer', async () => {
    await expectRejected([{ name: 'x', type: 'link', linkname: '../../x' }], 'unsafe-layer', /layer entry "x": hard link target "\.\.\/\.\.\/x" escapes the layer root/);
    await expectRejected([{ name: 'x', type: 'link', linkname: path.join(outside, 'secret') }], 'unsafe-layer', /hard link target ".*secret" is absolute/);
  });

  it('a hard link through a symlink of the layer', async () => {
    await expectRejected([
      { name: 'x', type: 'symlink', linkname: outside },
      { name: 'h', type: 'link', linkname: 'x/secret' },
    ], 'unsafe-layer', /layer entry "h": hard link target "x\/secret" goes through symlink "x"/);
  });

  it('a symlink then an entry below it (symlink-then-write)', async () => {
    await expectRejected([
      { name: 'x', type: 'symlink', linkname: outside },
      { name: 'x/pwned', body: 'owned\n' },
    ], 'unsafe-layer', /^layer entry "x\/pwned": parent "x" is a symlink$/);
    await expectRejected([
      { name: 'x', type: 'symlink', linkname: outside },
      { name: 'x/sub/', type: 'directory' },
    ], 'unsafe-layer', /parent "x" is a symlink/);
    await expectRejected([
      { name: 'x', type: 'symlink', linkname: outside },
      { name: 'x/.wh.secret', body: '' },
    ], 'unsafe-layer', /parent "x" is a symlink/);
    await expectRejected([
      { name: 'x', type: 'symlink', linkname: '.' },
      { name: 'y', type: 'symlink', linkname: outside },
      { name: 'x/y/pwned', body: 'owned\n' },
    ], 'unsafe-layer', /parent "x" is a symlink/);
  });

  it('a directory replaced by a symlink, then written through', async () => {
    await expectRejected([
      { name: 'd/', type: 'directory' },
      { name: 'd/f', body: 'ok' },
      { name: 'd', type: 'symlink', linkname: outside },
      { name: 'd/pwned', body: 'owned' },
    ], 'unsafe-layer', /layer entry "d\/pwned": parent "d" is a symlink/);
  });

  it('a hard link to a symlink links the symlink itself, never what it points to', async () => {
    const tar = await makeTar([
      { name: 'x', type: 'symlink', linkname: path.join(outside, 'secret') },
      { name: 'h', type: 'link', linkname: 'x' },
    ]);
    await unpackLayer(streamOf(tar), dest);
    expect((await fs.lstat(path.join(dest, 'h'))).isSymbolicLink()).toBe(true);
    expect((await fs.stat(path.join(outside, 'secret'))).nlink).toBe(1);
    expect(await listTree(outside)).toEqual(outsideBefore);
  });

  it('a relative symlink climbing above the layer root', async () => {
    await expectRejected([
      { name: 'a/', type: 'directory' },
      { name: 'a/b', type: 'symlink', linkname: '../../../etc' },
    ], 'unsafe-layer', /layer entry "a\/b": symlink target "\.\.\/\.\.\/\.\.\/etc" escapes the layer root/);
    await expectRejected([{ name: 'up', type: 'symlink', linkname: '..' }], 'unsafe-layer', /escapes the layer root/);
  });

  it('character and block devices', async () => {
    await expectRejected([{ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 }], 'unsafe-layer', /layer entry "dev\/null": character device entries are not allowed/);
    await expectRejected([{ name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }], 'unsafe-layer', /block device entries are not allowed/);
    // Even 0:0 (an overlayfs whiteout in another tool's format): only .wh. files are accepted.
    await expectRejected([{ name: 'gone', type: 'character-device', devmajor: 0, devminor: 0 }], 'unsafe-layer', /character device/);
  });

  it('a later unsafe entry removes what earlier entries wrote', async () => {
    await expectRejected([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/ok', body: 'fine' },
      { name: '../evil', body: 'x' },
    ], 'unsafe-layer', /path escapes/);
  });
});

describe('unpackLayer writes layers faithfully', () => {
  it('files, directories, symlinks, hard links and fifos with owner, mode and mtime', async () => {
    const mtime = new Date('2021-05-06T07:08:09Z');
    const entries: FixtureEntry[] = [
      { name: './', type: 'directory', mode: 0o755 },
      { name: './bin/', type: 'directory', mode: 0o555, mtime },
      { name: './bin/tool', body: '#!/bin/sh\necho hi\n', mode: 0o4755, uid: 0, gid: 0, mtime },
      { name: './bin/link', type: 'link', linkname: './bin/tool' },
      { name: './bin/sh', type: 'symlink', linkname: 'tool', mtime },
      { name: './bin/abs', type: 'symlink', linkname: '/bin/tool' },
      { name: './etc/deep/file', body: 'implicit parents', mode: 0o640, uid: 1000, gid: 1001, mtime },
      { name: 'etc/up', type: 'symlink', linkname: '../bin/tool' },
      { name: 'run/fifo', type: 'fifo', mode: 0o620, uid: 1000, gid: 1000 },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ];
    const tar = await makeTar(entries);
    const result = await unpackLayer(streamOf(tar), dest);
    expect(result).toEqual({ diffId: sha256(tar), size: tar.length });

    const tool = await fs.lstat(path.join(dest, 'bin/tool'));
    expect(tool.mode & 0o7777).toBe(0o4755);
    expect(tool.mtime.toISOString()).toBe(mtime.toISOString());
    expect(tool.nlink).toBe(2);
    expect((await fs.lstat(path.join(dest, 'bin/link'))).ino).toBe(tool.ino);
    expect(await fs.readlink(path.join(dest, 'bin/sh'))).toBe('tool');
    expect(await fs.readlink(path.join(dest, 'bin/abs'))).toBe('/bin/tool');
    expect((await fs.lstat(path.join(dest, 'bin/sh'))).mtime.toISOString()).toBe(mtime.toISOString());
    const bin = await fs.lstat(path.join(dest, 'bin'));
    expect(bin.mode & 0o7777).toBe(0o555);
    expect(bin.mtime.toISOString()).toBe(mtime.toISOString()); // set after its children were written
    const file = await fs.lstat(path.join(dest, 'etc/deep/file'));
    expect([file.mode & 0o7777, file.uid, file.gid]).toEqual([0o640, 1000, 1001]);
    expect((await fs.lstat(path.join(dest, 'etc/deep'))).mode & 0o7777).toBe(0o755); // implicit parent
    const fifo = await fs.lstat(path.join(dest, 'run/fifo'));
    expect(fifo.isFIFO()).toBe(true);
    expect([fifo.mode & 0o7777, fifo.uid]).toEqual([0o620, 1000]);
    expect((await fs.lstat(path.join(dest, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect((await fs.readdir(path.dirname(dest)))).toEqual(['layer']);
  });

  it('computes the diff ID of the uncompressed stream, gzip or not', async () => {
    const entries: FixtureEntry[] = [{ name: 'a', body: 'x'.repeat(100_000) }, { name: 'b/', type: 'directory' }];
    const tar = await makeTar(entries);
    const gz = await makeTar(entries, { gzip: true });
    const plain = await unpackLayer(streamOf(tar), dest);
    const viaGzip = await unpackLayer(streamOf(gz, 1000), `${dest}2`);
    expect(viaGzip).toEqual(plain);
    expect(plain.diffId).toBe(sha256(tar));
    expect(await fs.readFile(path.join(`${dest}2`, 'a'), 'utf8')).toBe('x'.repeat(100_000));
  });

  it('replaces earlier entries of the same path, keeping directories', async () => {
    const tar = await makeTar([
      { name: 'f', body: 'first' },
      { name: 'f', body: 'second' },
      { name: 'd/', type: 'directory' },
      { name: 'd/child', body: 'c' },
      { name: 'd/', type: 'directory', mode: 0o700 },
      { name: 'g/', type: 'directory' },
      { name: 'g', body: 'now a file' },
    ]);
    await unpackLayer(streamOf(tar), dest);
    expect(await fs.readFile(path.join(dest, 'f'), 'utf8')).toBe('second');
    expect(await fs.readFile(path.join(dest, 'd/child'), 'utf8')).toBe('c');
    expect((await fs.lstat(path.join(dest, 'd'))).mode & 0o777).toBe(0o700);
    expect(await fs.readFile(path.join(dest, 'g'), 'utf8')).toBe('now a file');
  });

  it('refuses a diff ID mismatch before the layer appears', async () => {
    const tar = await makeTar([{ name: 'a', body: 'a' }]);
    await expect(unpackLayer(streamOf(tar), dest, { expectedDiffId: `sha256:${'0'.repeat(64)}` }))
      .rejects.toMatchObject({ code: 'invalid', message: expect.stringMatching(/does not match its diff ID/) });
    expect(await fs.readdir(path.dirname(dest))).toEqual([]);
  });

  it('runs beforeCommit before the rename, and aborts when it throws', async () => {
    const tar = await makeTar([{ name: 'a', body: 'a' }]);
    await expect(unpackLayer(streamOf(tar), dest, { beforeCommit: () => { throw new PeapodError('invalid', 'blob digest mismatch'); } }))
      .rejects.toThrow('blob digest mismatch');
    expect(await fs.readdir(path.dirname(dest))).toEqual([]);
  });

  it('refuses truncated and non-tar input, leaving nothing', async () => {
    const tar = await makeTar([{ name: 'big', body: 'y'.repeat(50_000) }]);
    await expect(unpackLayer(streamOf(tar.subarray(0, 20_000)), dest)).rejects.toMatchObject({ code: 'invalid' });
    await expect(unpackLayer(streamOf(Buffer.from('this is not a tar archive at all'.repeat(40))), dest)).rejects.toMatchObject({ code: 'invalid' });
    expect(await fs.readdir(path.dirname(dest))).toEqual([]);
  });

  it('refuses a destination that exists', async () => {
    await fs.mkdir(dest, { recursive: true });
    const tar = await makeTar([{ name: 'a', body: 'a' }]);
    await expect(unpackLayer(streamOf(tar), dest)).rejects.toMatchObject({ code: 'exists' });
  });
});

describe('unpackLayer converts whiteouts to overlayfs format', () => {
  it('.wh.NAME -> character device 0:0, .wh..wh..opq -> trusted.overlay.opaque=y', async () => {
    if (process.getuid?.() !== 0) {
      throw new Error('this test needs root: overlayfs whiteouts are made with mknod and trusted.* xattrs (run the tests as root)');
    }
    const tar = await makeTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.removed.conf', body: '' },
      { name: 'var/cache/', type: 'directory' },
      { name: 'var/cache/.wh..wh..opq', body: '' },
      { name: 'var/cache/new', body: 'n' },
      { name: 'opq-implicit/.wh..wh..opq', body: '' },
      { name: '.wh..wh.plnk/123', body: '' }, // AUFS hard-link directory: ignored
    ]);
    await unpackLayer(streamOf(tar), dest);
    const wh = await fs.lstat(path.join(dest, 'etc/removed.conf'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(await fs.readdir(path.join(dest, 'etc'))).toEqual(['removed.conf']);
    const xattr = (p: string): string => execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', p], { encoding: 'utf8' });
    expect(xattr(path.join(dest, 'var/cache'))).toBe('y');
    expect(xattr(path.join(dest, 'opq-implicit'))).toBe('y');
    expect(await fs.readdir(path.join(dest, 'var/cache'))).toEqual(['new']);
  });
});

describe('unpackLayer refuses a whiteout that names no file', () => {
  // ".wh." alone would make the parent directory itself (at the top, the layer root) a whiteout.
  for (const name of ['.wh.', 'etc/.wh.', '.wh..', 'etc/.wh..', '.wh...', 'etc/.wh...']) {
    it(`"${name}" is a malformed layer`, async () => {
      await expectRejected([{ name: 'etc/', type: 'directory' }, { name: 'etc/keep', body: 'k' }, { name, body: '' }],
        'invalid', new RegExp(`^layer entry "${name.replace(/\./g, '\\.')}": whiteout names no file \\(malformed layer\\)$`));
    });
  }
});

describe('unpackLayer bounds decompression (bombs)', () => {
  /** Unpack `data` with `limits`, expecting PeapodError('invalid') matching `message` and nothing left. */
  async function expectBomb(data: Buffer, limits: { maxSize: number; maxRatio: number }, message: RegExp): Promise<void> {
    const err = await unpackLayer(streamOf(data, 64 * 1024), dest, { limits }).then(() => undefined, (e: unknown) => e);
    expect(err, 'the layer should have been refused').toBeInstanceOf(PeapodError);
    expect((err as PeapodError).code).toBe('invalid');
    expect((err as PeapodError).message).toMatch(message);
    expect(await fs.readdir(path.dirname(dest))).toEqual([]);
    expect(await fs.readdir(work)).toEqual(['layers', 'outside']);
  }

  it('an uncompressed size above the limit, gzip or plain tar', async () => {
    const tar = await makeTar([{ name: 'zeros', body: '\0'.repeat(3 * 1024 * 1024) }]);
    const limits = { maxSize: 1024 * 1024, maxRatio: 1000 };
    const msg = /^layer too large: more than 1 MiB uncompressed, the limit \(PEAPOD_MAX_LAYER_SIZE; raise it to accept this\)$/;
    await expectBomb(gzipSync(tar), limits, msg);
    await expectBomb(tar, limits, msg);
  });

  it('a ratio above the limit once past 64 MiB, but not a small layer of zeros', async () => {
    const small = gzipSync(await makeTar([{ name: 'zeros', body: Buffer.alloc(8 * 1024 * 1024).toString('latin1') }]), { level: 9 });
    // 8 MiB of zeros compress far beyond 10:1, but stay under the 64 MiB floor: accepted.
    expect((8 * 1024 * 1024) / small.length).toBeGreaterThan(10);
    const ok = await unpackLayer(streamOf(small), dest, { limits: { maxSize: 1024 ** 3, maxRatio: 10 } });
    expect(ok.size).toBeGreaterThan(8 * 1024 * 1024);
    await fs.rm(dest, { recursive: true });
    const big = gzipSync(await makeTar([{ name: 'zeros', body: Buffer.alloc(RATIO_FLOOR + 1024 * 1024).toString('latin1') }]), { level: 9 });
    await expectBomb(big, { maxSize: 1024 ** 3, maxRatio: 10 }, /^layer too large: it expands more than 10 times, the limit \(.* compressed so far: a decompression bomb\?\) \(PEAPOD_MAX_LAYER_RATIO; raise it to accept this\)$/);
  });
});

describe('decompression limits from the environment', () => {
  it('defaults: 32 GiB and 1000:1', () => {
    expect(decompressionLimits({})).toEqual({ maxSize: 32 * 1024 ** 3, maxRatio: 1000 });
  });

  it('PEAPOD_MAX_LAYER_SIZE takes bytes or binary units; PEAPOD_MAX_LAYER_RATIO a number', () => {
    expect(decompressionLimits({ PEAPOD_MAX_LAYER_SIZE: '1048576', PEAPOD_MAX_LAYER_RATIO: '50' })).toEqual({ maxSize: 1048576, maxRatio: 50 });
    expect(parseByteSize('512k')).toBe(512 * 1024);
    expect(parseByteSize('64M')).toBe(64 * 1024 ** 2);
    expect(parseByteSize('32GiB')).toBe(32 * 1024 ** 3);
    expect(parseByteSize('1.5g')).toBe(1.5 * 1024 ** 3);
    for (const bad of ['', 'x', '-1', '0', '10 apples']) expect(parseByteSize(bad)).toBeUndefined();
    expect(formatBytes(32 * 1024 ** 3)).toBe('32 GiB');
    expect(formatBytes(1536 * 1024)).toBe('1.5 MiB');
  });

  it('a malformed value is an error naming the variable', () => {
    expect(() => decompressionLimits({ PEAPOD_MAX_LAYER_SIZE: 'lots' })).toThrow(/PEAPOD_MAX_LAYER_SIZE="lots"/);
    expect(() => decompressionLimits({ PEAPOD_MAX_LAYER_RATIO: '0' })).toThrow(/PEAPOD_MAX_LAYER_RATIO="0"/);
  });
});
