// Scope 6 of issue 14: inputs with limits. Crafted layers and archives (decompression bombs, a
// whiteout naming no file) go through the real CLI into a real image store under a temporary
// --root; each refusal must say which limit (and which variable raises it) and leave the store
// exactly as it was.
import { describe, it, expect } from 'vitest';
import { mkdirSync, readdirSync, lstatSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { gzipSync } from 'node:zlib';
import { useSandbox } from '../helpers/e2e.js';
import { ociLayoutFromTar } from '../helpers/busybox.js';
import { makeTar } from '../unit/image/tar-fixtures.js';

const e2e = useSandbox('peapod-sec-inputs', { images: [] });

const MiB = 1024 * 1024;

/** Every path under `dir` with its type and size (directories without size), sorted. */
function snapshot(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = lstatSync(p);
      out.push(`${path.relative(dir, p)} ${st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.size}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

const STORE_SKELETON = new Set(['storage', 'storage/blobs', 'storage/blobs/sha256', 'storage/images', 'storage/layers', 'storage/tmp', 'storage/tar-split'].map((d) => `${d} dir`));

let n = 0;
function scratch(): string {
  const d = path.join(e2e.sb.dir, `case-${++n}`);
  mkdirSync(d);
  return d;
}

/** A layer tar holding one file of `size` zero bytes. */
function zerosTar(size: number): Promise<Buffer> {
  return makeTar([{ name: 'zeros', body: Buffer.alloc(size).toString('latin1') }]);
}

/** An OCI archive (tar of an OCI layout) whose only layer is `layerTar`, gzip-compressed when asked. */
async function ociArchive(layerTar: Buffer, opts: { gzipLayer?: boolean; gzipArchive?: boolean } = {}): Promise<{ file: string; layerDigest: string }> {
  const dir = scratch();
  writeFileSync(path.join(dir, 'layer.tar'), layerTar);
  const layout = path.join(dir, 'layout');
  const r = await ociLayoutFromTar(path.join(dir, 'layer.tar'), layout, { gzip: opts.gzipLayer });
  const file = path.join(dir, opts.gzipArchive ? 'img.tar.gz' : 'img.tar');
  await execa('tar', ['-C', layout, '-cf', path.join(dir, 'img.tar'), '.']);
  if (opts.gzipArchive) await execa('gzip', ['-1', path.join(dir, 'img.tar')]);
  return { file, layerDigest: r.layerDigest };
}

/** Runs `args`, expects a refusal whose stderr matches every pattern, and the store unchanged. */
async function expectRefused(args: string[], env: Record<string, string>, patterns: RegExp[]): Promise<string> {
  const before = snapshot(e2e.sb.root);
  const r = await e2e.sb.run(args, { env, timeout: 120_000 });
  const stderr = String(r.stderr);
  expect(r.exitCode, `peapod ${args.join(' ')} should have failed; stderr: ${stderr}`).not.toBe(0);
  for (const p of patterns) expect(stderr).toMatch(p);
  // Nothing left behind: no layer directory, no tar-split, no blob, no scratch, no record (the
  // store's empty directories, made by the first command, aside).
  const skeleton = (l: string[]) => l.filter((x) => !STORE_SKELETON.has(x));
  expect(skeleton(snapshot(e2e.sb.root))).toEqual(skeleton(before));
  expect(String((await e2e.sb.ok(['images', '--format', '{{.ID}}'])).stdout).trim()).toBe('');
  return stderr;
}

describe('decompression bombs', () => {
  it('import: a gzip layer past PEAPOD_MAX_LAYER_SIZE is refused, naming the limit and the variable', async () => {
    const dir = scratch();
    const bomb = path.join(dir, 'bomb.tar.gz');
    writeFileSync(bomb, gzipSync(await zerosTar(8 * MiB), { level: 9 }));
    await expectRefused(['import', bomb, 'bomb'], { PEAPOD_MAX_LAYER_SIZE: '1M' }, [
      /importing .*bomb\.tar\.gz: layer too large: more than 1 MiB uncompressed, the limit \(PEAPOD_MAX_LAYER_SIZE; raise it to accept this\)/,
    ]);
    // The same file under the default limits is an ordinary small layer.
    await e2e.sb.ok(['import', bomb, 'fine']);
    await e2e.sb.ok(['rmi', 'fine']);
  });

  it('load: a layer past PEAPOD_MAX_LAYER_SIZE is refused naming the layer digest', async () => {
    const { file } = await ociArchive(await zerosTar(8 * MiB), { gzipLayer: true });
    await expectRefused(['load', '-i', file], { PEAPOD_MAX_LAYER_SIZE: '2M' }, [
      /layer sha256:[a-f0-9]{64} .*layer too large: more than 2 MiB uncompressed, the limit \(PEAPOD_MAX_LAYER_SIZE; raise it/,
    ]);
  });

  it('load: a layer expanding more than PEAPOD_MAX_LAYER_RATIO times past 64 MiB is refused; a small one of zeros is not', async () => {
    const { file } = await ociArchive(await zerosTar(80 * MiB), { gzipLayer: true });
    await expectRefused(['load', '-i', file], { PEAPOD_MAX_LAYER_RATIO: '100' }, [
      /layer sha256:[a-f0-9]{64} .*layer too large: it expands more than 100 times, the limit \(.*a decompression bomb\?\) \(PEAPOD_MAX_LAYER_RATIO; raise it/,
    ]);
    // 4 MiB of zeros expand far more than 100:1 too, but stay under the 64 MiB floor.
    const small = await ociArchive(await zerosTar(4 * MiB), { gzipLayer: true });
    await e2e.sb.ok(['load', '-i', small.file], { env: { PEAPOD_MAX_LAYER_RATIO: '100' } });
    const ids = String((await e2e.sb.ok(['images', '-q'])).stdout).trim().split('\n');
    for (const id of ids) await e2e.sb.ok(['rmi', id]);
  });

  it('load: a gzip-compressed archive past the size limit is refused before any layer is read', async () => {
    const { file } = await ociArchive(await zerosTar(8 * MiB), { gzipArchive: true });
    await expectRefused(['load', '-i', file], { PEAPOD_MAX_LAYER_SIZE: '2M' }, [
      /img\.tar\.gz too large: more than 2 MiB uncompressed, the limit \(PEAPOD_MAX_LAYER_SIZE; raise it to accept this\)/,
    ]);
  });

  it('a malformed limit is an error naming the variable', async () => {
    const dir = scratch();
    const tar = path.join(dir, 'l.tar');
    writeFileSync(tar, await makeTar([{ name: 'a', body: 'a' }]));
    await expectRefused(['import', tar, 'x'], { PEAPOD_MAX_LAYER_SIZE: 'lots' }, [/PEAPOD_MAX_LAYER_SIZE="lots"/]);
  });
});

describe('malformed whiteouts', () => {
  for (const wh of ['.wh.', '.wh..', '.wh...', 'etc/.wh.']) {
    it(`import: a whiteout named "${wh}" is refused as a malformed layer, nothing written`, async () => {
      const dir = scratch();
      const tar = path.join(dir, 'wh.tar');
      writeFileSync(tar, await makeTar([
        { name: 'etc/', type: 'directory' },
        { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n' },
        { name: wh, body: '' },
        { name: 'after', body: 'x' },
      ]));
      await expectRefused(['import', tar, 'wh'], {}, [
        new RegExp(`layer entry "${wh.replace(/\./g, '\\.')}": whiteout names no file \\(malformed layer\\)`),
      ]);
    });
  }
});
