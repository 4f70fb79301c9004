import { it, expect } from 'vitest';
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { busyboxRootfsTar } from '../../helpers/busybox.js';
import { unpackLayer } from '../../../engine/image/layer.js';

it('smoke', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pp-smoke-'));
  const tar = await busyboxRootfsTar(dir);
  const t0 = Date.now();
  const r = await unpackLayer(createReadStream(tar), path.join(dir, 'layer'));
  console.log(Date.now() - t0, r, createHash('sha256').update(await fs.readFile(tar)).digest('hex'));
  console.log((await fs.readdir(path.join(dir, 'layer'))).join(' '));
  console.log(await fs.readlink(path.join(dir, 'layer/bin/sh')));
  const st = await fs.stat(path.join(dir, 'layer/tmp')); console.log(st.mode.toString(8), (await fs.stat(path.join(dir,'layer/bin'))).mtime);
  await fs.rm(dir, { recursive: true });
  expect(r.size).toBe((await fs.stat(tar)).size);
});
