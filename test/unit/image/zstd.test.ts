// zstd-compressed layers: unpacked through Debian's zstd program, verified like any other layer.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unpackLayer } from '../../../engine/image/layer.js';
import { makeTar, streamOf } from './tar-fixtures.js';

let work: string;
beforeEach(async () => { work = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-zstd-test-')); });
afterEach(async () => { await fs.rm(work, { recursive: true, force: true }); });

const zstd = (data: Buffer): Buffer => execFileSync('zstd', ['-q', '-c', '-3'], { input: data });

describe('zstd layers', () => {
  it('unpack, and the diff ID is the sha256 of the uncompressed tar', async () => {
    const tar = await makeTar([{ name: 'etc/', type: 'directory', mode: 0o755 }, { name: 'etc/hello', body: 'zstd works\n' }]);
    const dest = path.join(work, 'layer');
    const r = await unpackLayer(streamOf(zstd(tar)), dest, { expectedDiffId: `sha256:${createHash('sha256').update(tar).digest('hex')}` });
    expect(r.size).toBe(tar.length);
    expect(await fs.readFile(path.join(dest, 'etc/hello'), 'utf8')).toBe('zstd works\n');
  });

  it.each([
    ['truncated', (z: Buffer) => z.subarray(0, z.length - 8)],
    ['corrupted', (z: Buffer) => { const c = Buffer.from(z); c.fill(0x55, 12, 40); return c; }],
  ])('a %s stream is an error and leaves nothing behind', async (_what, damage) => {
    const tar = await makeTar([{ name: 'f', body: 'x'.repeat(100_000) }, { name: 'g', body: 'y'.repeat(50_000) }]);
    const dest = path.join(work, 'layer');
    await expect(unpackLayer(streamOf(damage(zstd(tar))), dest)).rejects.toThrow(/zstd|layer|tar|diff ID|unexpected end/i);
    expect(await fs.readdir(work)).toEqual([]);
  });
});
