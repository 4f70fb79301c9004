// Issue 8 acceptance, engine side: pulls through ImageStore.pull from Debian's docker-registry on
// 127.0.0.1 (started here, random port, temporary storage), filled with images built here and
// pushed with skopeo (a test tool only).

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ImageStore, type PullProgress } from '../../../engine/image/store.js';
import { RegistryError } from '../../../engine/image/registry/client.js';
import { loadRegistriesConf } from '../../../engine/image/registry/registries-conf.js';
import { FileLock } from '../../../engine/state/lock.js';
import { busyboxRootfsTar } from '../../helpers/busybox.js';
import { fileLayer, requireRegistryTools, startRegistry, writeLayout, writeRegistriesConf, type Registry } from '../../helpers/registry.js';

let work: string;
let reg: Registry;
let busybox: Buffer;
let root: string;
let store: ImageStore;
/** No registries.conf of this host is read: every pull here names its registry, insecure (plain HTTP). */
let conf: ReturnType<typeof loadRegistriesConf>;

async function ls(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((e) => !e.startsWith('.')).sort();
}

beforeAll(async () => {
  await requireRegistryTools(['docker-registry', 'skopeo', 'zstd']);
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-registry-it-'));
  busybox = await fs.readFile(await busyboxRootfsTar(work));
  reg = await startRegistry({ dir: path.join(work, 'registry') });
  conf = loadRegistriesConf([await writeRegistriesConf(work, `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`)]);
});

afterAll(async () => {
  await reg?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-registry-root-'));
  store = new ImageStore({ root: path.join(root, 'storage'), lock: new FileLock(path.join(root, 'lock')) });
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('pull from a registry', () => {
  it('pulls by tag and by digest, fills Digest and RepoDigests, and runs nothing twice', async () => {
    const layout = await writeLayout(path.join(work, 'simple'), 'v1', [{ layers: [busybox], cmd: ['echo', 'simple'] }]);
    await reg.push(`${layout.dir}:v1`, 'test/simple:v1');
    const img = await store.pull(`${reg.host}/test/simple:v1`, { registriesConf: conf });
    const m = layout.images[0]!;
    expect(img.id).toBe(m.imageId);
    expect(img.names).toEqual([`${reg.host}/test/simple:v1`]);
    expect(img.layers).toEqual(m.diffIds);
    expect(img.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.repoDigests).toEqual([`${reg.host}/test/simple@${img.digest}`]);
    expect(img.config.config?.Cmd).toEqual(['echo', 'simple']);
    expect(await fs.readdir(store.layerPaths(img)[0]!)).toContain('bin');

    // Again: policy missing finds it locally; always goes to the registry but skips the layer.
    const events: PullProgress[] = [];
    expect((await store.pull(`${reg.host}/test/simple:v1`, { registriesConf: conf, progress: (e) => events.push(e) })).id).toBe(img.id);
    expect(events).toEqual([]);
    await store.pull(`${reg.host}/test/simple:v1`, { registriesConf: conf, policy: 'always', progress: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'layer').map((e) => (e as { status: string }).status)).toEqual(['present']);

    // By digest, into an empty store: the name is the digested reference (as in Podman).
    const other = new ImageStore({ root: path.join(root, 'other'), lock: new FileLock(path.join(root, 'other-lock')) });
    const byDigest = await other.pull(`${reg.host}/test/simple@${img.digest}`, { registriesConf: conf });
    expect(byDigest.id).toBe(img.id);
    expect(byDigest.names).toEqual([`${reg.host}/test/simple@${img.digest}`]);
    expect(byDigest.repoDigests).toEqual([`${reg.host}/test/simple@${img.digest}`]);
    expect((await other.get(`${reg.host}/test/simple@${img.digest}`))?.id).toBe(img.id);
  });

  it('a multi-platform index gives the amd64 image, or the platform asked for', async () => {
    const layout = await writeLayout(path.join(work, 'multi'), 'multi', [
      { layers: [busybox], architecture: 'arm64', variant: 'v8', cmd: ['echo', 'arm64'], compression: 'gzip' },
      { layers: [busybox], architecture: 'amd64', cmd: ['echo', 'amd64'], compression: 'gzip' },
    ]);
    await reg.push(`${layout.dir}:multi`, 'test/multi:1', { all: true });
    const amd64 = layout.images[1]!;
    const arm64 = layout.images[0]!;
    expect(amd64.imageId).not.toBe(arm64.imageId);
    const img = await store.pull(`${reg.host}/test/multi:1`, { registriesConf: conf, platform: { os: 'linux', architecture: 'amd64' } });
    expect(img.id).toBe(amd64.imageId);
    expect(img.config.architecture).toBe('amd64');
    // Digest is the index's (what a user pulls by); the instance's digest is known too.
    expect(img.digests).toHaveLength(2);
    expect(img.digests).toContain(amd64.manifestDigest);
    expect(img.digest).toBe(layout.indexDigest);
    expect(img.repoDigests).toEqual([...img.digests!.map((d) => `${reg.host}/test/multi@${d}`)].sort());
    if (process.arch === 'x64') expect((await store.pull(`${reg.host}/test/multi:1`, { registriesConf: conf, policy: 'always' })).id).toBe(amd64.imageId);

    const arm = await store.pull(`${reg.host}/test/multi:1`, { registriesConf: conf, policy: 'always', platform: { os: 'linux', architecture: 'arm64' } });
    expect(arm.id).toBe(arm64.imageId);
    await expect(store.pull(`${reg.host}/test/multi:1`, { registriesConf: conf, policy: 'always', platform: { os: 'linux', architecture: 's390x' } }))
      .rejects.toThrow(/no image for linux\/s390x \(the index has: linux\/arm64\/v8, linux\/amd64\)/);
  });

  // skopeo 1.9 recompresses uncompressed layers with gzip and keeps compressed ones as they are.
  type Push = { format: 'oci' | 'v2s2'; compress: 'none' | 'gzip' | 'zstd' };
  it.each<[string, Push, string, RegExp]>([
    ['Docker schema 2, gzip layers', { format: 'v2s2', compress: 'none' }, 'application/vnd.docker.distribution.manifest.v2+json', /^application\/vnd\.docker\.image\.rootfs\.diff\.tar\.gzip$/],
    ['OCI, zstd layers', { format: 'oci', compress: 'zstd' }, 'application/vnd.oci.image.manifest.v1+json', /^application\/vnd\.oci\.image\.layer\.v1\.tar\+zstd$/],
    ['OCI, gzip layers', { format: 'oci', compress: 'gzip' }, 'application/vnd.oci.image.manifest.v1+json', /^application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip$/],
  ])('pulls %s', async (_what, push, manifestType, layerType) => {
    const tag = `${push.format}-${push.compress}`;
    const layout = await writeLayout(path.join(work, `fmt-${tag}`), tag, [
      { layers: [busybox, await fileLayer('etc/format', tag)], cmd: ['cat', '/etc/format'], compression: push.compress },
    ]);
    await reg.push(`${layout.dir}:${tag}`, `test/formats:${tag}`, { format: push.format });
    const img = await store.pull(`${reg.host}/test/formats:${tag}`, { registriesConf: conf });
    expect(img.manifestType).toBe(manifestType);
    const manifest = JSON.parse(await fs.readFile(path.join(root, 'storage', 'blobs', 'sha256', img.digest.slice(7)), 'utf8'));
    for (const l of manifest.layers) expect(l.mediaType).toMatch(layerType);
    expect(img.layers).toEqual(layout.images[0]!.diffIds);
    expect(await fs.readFile(path.join(store.layerPaths(img)[0]!, 'etc/format'), 'utf8')).toBe(tag);
  });

  it('pulls a 5-layer image with concurrent layer fetches (time logged, never asserted)', async () => {
    const layers = [busybox];
    for (let i = 1; i < 5; i++) layers.push(await fileLayer(`data/layer${i}.bin`, randomBytes(2 * 1024 * 1024)));
    const layout = await writeLayout(path.join(work, 'five'), 'five', [{ layers }]);
    await reg.push(`${layout.dir}:five`, 'test/five:1');
    const seen = new Set<string>();
    let maxActive = 0;
    const active = new Set<string>();
    const started = performance.now();
    const img = await store.pull(`${reg.host}/test/five:1`, {
      registriesConf: conf,
      progress: (e) => {
        if (e.type !== 'layer') return;
        seen.add(e.digest);
        if (e.status === 'downloading') active.add(e.digest);
        if (e.status === 'done') active.delete(e.digest);
        maxActive = Math.max(maxActive, active.size);
      },
    });
    const ms = performance.now() - started;
    console.log(`pull of a 5-layer image (${(layers.reduce((a, l) => a + l.length, 0) / 1048576).toFixed(1)} MiB) from the local registry: ${ms.toFixed(0)} ms`);
    expect(img.layers).toHaveLength(5);
    expect(seen.size).toBe(5);
    expect(maxActive).toBeGreaterThan(1);
  });

  it('a blob tampered in the registry storage is rejected with a digest mismatch, and nothing is stored', async () => {
    const layout = await writeLayout(path.join(work, 'tamper'), 'tamper', [{ layers: [busybox, await fileLayer('etc/x', 'original')], compression: 'gzip' }]);
    await reg.push(`${layout.dir}:tamper`, 'test/tamper:1');
    const victim = layout.images[0]!.layerDigests[1]!;
    const file = reg.blobPath(victim);
    const data = await fs.readFile(file);
    data[Math.floor(data.length / 2)] ^= 0xff; // same size, other content
    await fs.writeFile(file, data);
    const err = await store.pull(`${reg.host}/test/tamper:1`, { registriesConf: conf }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toMatch(new RegExp(`^pulling ${reg.host}/test/tamper:1: digest mismatch: blob ${victim} from ${reg.host} has digest sha256:[0-9a-f]{64}; nothing was stored$`));
    expect(await store.list()).toEqual([]);
    expect(await ls(path.join(root, 'storage', 'images'))).toEqual([]);
    expect(await ls(path.join(root, 'storage', 'blobs', 'sha256'))).toEqual([]);
    // The intact layer may be staged for a retry; the tampered one is neither staged nor kept.
    const staged = await ls(path.join(root, 'storage', 'staging', 'layers'));
    expect(staged.filter((e) => !e.endsWith('.json'))).not.toContain(layout.images[0]!.diffIds[1]!.slice(7));
    expect((await ls(path.join(root, 'storage', 'staging', 'blobs'))).filter((e) => e.startsWith(victim.slice(7)))).toEqual([]);
  });

  it('follows the pull policy: never and missing stay local, newer asks the registry', async () => {
    const layout = await writeLayout(path.join(work, 'policy'), 'p', [{ layers: [busybox], cmd: ['echo', '1'] }]);
    await reg.push(`${layout.dir}:p`, 'test/policy:1');
    await expect(store.pull(`${reg.host}/test/policy:1`, { registriesConf: conf, policy: 'never' })).rejects.toThrow(`${reg.host}/test/policy:1: image not known`);
    const first = await store.pull(`${reg.host}/test/policy:1`, { registriesConf: conf, policy: 'newer' });
    expect(first.id).toBe(layout.images[0]!.imageId);
    // The tag moves to another image: newer pulls it, missing keeps the local one.
    const next = await writeLayout(path.join(work, 'policy2'), 'p', [{ layers: [busybox], cmd: ['echo', '2'] }]);
    await reg.push(`${next.dir}:p`, 'test/policy:1');
    expect((await store.pull(`${reg.host}/test/policy:1`, { registriesConf: conf, policy: 'missing' })).id).toBe(first.id);
    expect((await store.pull(`${reg.host}/test/policy:1`, { registriesConf: conf, policy: 'never' })).id).toBe(first.id);
    const newer = await store.pull(`${reg.host}/test/policy:1`, { registriesConf: conf, policy: 'newer' });
    expect(newer.id).toBe(next.images[0]!.imageId);
    // The name moved; the old image has none left (as in Podman).
    expect((await store.get(first.id))?.names).toEqual([]);
  });

  it('an unknown tag is "manifest unknown: NAME:TAG"; an unreachable registry names host:port', async () => {
    await expect(store.pull(`${reg.host}/test/simple:nope`, { registriesConf: conf }))
      .rejects.toThrow(`pulling ${reg.host}/test/simple:nope: manifest unknown: ${reg.host}/test/simple:nope`);
    const closed = `127.0.0.1:${reg.port === 65535 ? 1 : reg.port + 1}`;
    const closedConf = loadRegistriesConf([await writeRegistriesConf(work, `[[registry]]\nlocation = "${closed}"\ninsecure = true\n`)]);
    await expect(store.pull(`${closed}/test/simple:v1`, { registriesConf: closedConf, retries: 0 }))
      .rejects.toThrow(`pulling ${closed}/test/simple:v1: cannot connect to ${closed}: connection refused`);
  });

  it('a plain-HTTP registry needs --tls-verify=false (or insecure in registries.conf)', async () => {
    const layout = await writeLayout(path.join(work, 'plain'), 'v1', [{ layers: [busybox] }]);
    await reg.push(`${layout.dir}:v1`, 'test/plain:v1');
    const empty = loadRegistriesConf([]);
    await expect(store.pull(`${reg.host}/test/plain:v1`, { registriesConf: empty, retries: 0 }))
      .rejects.toThrow(`pulling ${reg.host}/test/plain:v1: ${reg.host} does not speak TLS`);
    expect((await store.pull(`${reg.host}/test/plain:v1`, { registriesConf: empty, tlsVerify: false })).id).toBe(layout.images[0]!.imageId);
  });
});
