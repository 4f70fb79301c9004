// Layers written out again (save, push) must be the very tar they were unpacked from: the
// tar-split recorded at unpack time plus the unpacked files give back the same bytes (PAX and GNU
// long names, hard links, empty files, whiteouts, gzip), and a layer whose files changed, or
// whose file became a symlink, is refused instead of producing another layer.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackLayer } from '../../../engine/image/layer.js';
import { layerTar } from '../../../engine/image/tarsplit.js';

let dir: string;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (layers keep owners and whiteouts are device nodes)');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-tarsplit-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function tar(entries: Array<[Partial<tarStream.Header> & { name: string }, Buffer?]>, format?: 'gnu' | 'pax'): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => { chunks.push(c as Buffer); });
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const [h, body] of entries) pack.entry({ ...h, mtime: new Date('2024-05-06T07:08:09Z'), ...(format === 'pax' ? { pax: { comment: 'x' } } : {}) } as tarStream.Header, body ?? Buffer.alloc(0));
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function roundTrip(name: string, raw: Buffer, compressed?: Buffer): Promise<{ layer: string; split: string; out: Buffer }> {
  const layer = path.join(dir, name);
  const split = path.join(dir, `${name}.split.gz`);
  const r = await unpackLayer(Readable.from([compressed ?? raw]), layer, { tarSplitFile: split });
  expect(r.diffId).toBe(digest(raw));
  const parts: Buffer[] = [];
  for await (const c of layerTar(layer, split, r.diffId)) parts.push(c);
  return { layer, split, out: Buffer.concat(parts) };
}

describe('tar-split', () => {
  it('gives back the same bytes: long names (PAX), hard links, empty files, whiteouts, odd sizes, gzip', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}.txt`;
    const raw = await tar([
      [{ name: 'etc/', type: 'directory', mode: 0o755 }],
      [{ name: 'etc/a', mode: 0o644, uid: 1000, gid: 1000 }, Buffer.from('hello\n')],
      [{ name: 'etc/empty', mode: 0o600 }, Buffer.alloc(0)],
      [{ name: 'etc/b', type: 'link', linkname: 'etc/a' }],
      [{ name: 'etc/s', type: 'symlink', linkname: '/etc/a' }],
      [{ name: `${long.split('/')[0]}/`, type: 'directory', mode: 0o755 }],
      [{ name: long, mode: 0o644 }, Buffer.alloc(1537, 7)],
      [{ name: 'etc/.wh.gone', mode: 0o644 }, Buffer.alloc(0)],
      [{ name: 'big', mode: 0o755 }, Buffer.alloc(3 * 512, 1)],
    ], 'pax');
    const plain = await roundTrip('plain', raw);
    expect(plain.out.equals(raw)).toBe(true);
    const gz = await roundTrip('gz', raw, gzipSync(raw));
    expect(gz.out.equals(raw)).toBe(true);
  });

  it('gives back what GNU tar wrote (GNU long names and links, sparse-free)', async () => {
    const src = path.join(dir, 'gnu-src');
    const deep = path.join(src, 'a'.repeat(90), 'b'.repeat(90));
    await fs.mkdir(deep, { recursive: true });
    await fs.writeFile(path.join(deep, 'c'.repeat(99)), 'long\n');
    await fs.symlink('c'.repeat(99), path.join(deep, 'l'.repeat(110)));
    const { execFileSync } = await import('node:child_process');
    const raw = execFileSync('tar', ['--format=gnu', '-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 24 });
    const r = await roundTrip('gnu', raw);
    expect(r.out.equals(raw)).toBe(true);
  });

  it('refuses a layer whose file changed, or became a symlink (never followed)', async () => {
    const raw = await tar([[{ name: 'x/', type: 'directory', mode: 0o755 }], [{ name: 'x/secret', mode: 0o644 }, Buffer.from('0123456789')]]);
    const a = await roundTrip('changed', raw);
    await fs.writeFile(path.join(a.layer, 'x/secret'), '9876543210');
    const read = async () => { for await (const c of layerTar(a.layer, a.split, digest(raw))) void c; };
    await expect(read()).rejects.toThrow(/cannot be reproduced from its unpacked files/);
    await fs.writeFile(path.join(dir, 'outside'), '0123456789');
    await fs.rm(path.join(a.layer, 'x/secret'));
    await fs.symlink(path.join(dir, 'outside'), path.join(a.layer, 'x/secret'));
    await expect(read()).rejects.toThrow(/ELOOP|symbolic link|not the regular file/);
    await fs.rm(path.join(a.layer, 'x'), { recursive: true });
    await fs.symlink(dir, path.join(a.layer, 'x'));
    await expect(read()).rejects.toThrow(/x is not a directory in the layer/);
  });
});
