// The image store against archives made by a real tool (skopeo, used here as a test tool only)
// around a busybox-static rootfs, and against hand-made archives for the failure cases.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PeapodError } from '../../../engine/errors.js';
import { ImageStore } from '../../../engine/image/store.js';
import { FileLock } from '../../../engine/state/lock.js';
import { busyboxRootfsTar, ociLayoutFromTar, type OciLayoutResult } from '../../helpers/busybox.js';
import { makeTar } from '../../unit/image/tar-fixtures.js';

let work: string;
let rootfsTar: string;
let layout: OciLayoutResult;
let ociArchive: string;
let dockerArchive: string;
let dockerDigest: string;

let root: string;
let store: ImageStore;

async function sha256File(file: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  return `sha256:${createHash('sha256').update(await fs.readFile(file)).digest('hex')}`;
}

async function ls(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).sort();
}

beforeAll(async () => {
  await execa('skopeo', ['--version']).catch(() => {
    throw new Error('skopeo is needed by these tests to make archives: apt-get install skopeo');
  });
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-image-it-'));
  rootfsTar = await busyboxRootfsTar(work);
  layout = await ociLayoutFromTar(rootfsTar, path.join(work, 'layout'), {
    ref: 'busybox:latest', cmd: ['sh'], env: ['PATH=/bin', 'HOME=/root'],
  });
  ociArchive = path.join(work, 'busybox-oci.tar');
  dockerArchive = path.join(work, 'busybox-docker.tar');
  await execa('skopeo', ['copy', '-q', `oci:${layout.dir}:busybox:latest`, `oci-archive:${ociArchive}:busybox:latest`]);
  await execa('skopeo', ['copy', '-q', `oci:${layout.dir}:busybox:latest`, `docker-archive:${dockerArchive}:busybox:latest`]);
  dockerDigest = (await execa('skopeo', ['inspect', '--format', '{{.Digest}}', `docker-archive:${dockerArchive}`])).stdout.trim();
});

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-image-root-'));
  store = new ImageStore({ root: path.join(root, 'storage'), lock: new FileLock(path.join(root, 'lock')) });
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function storage(...p: string[]): string {
  return path.join(root, 'storage', ...p);
}

describe('load', () => {
  it('loads an OCI archive made by skopeo', async () => {
    const [img, ...rest] = await store.load(ociArchive);
    expect(rest).toEqual([]);
    expect(img!.id).toBe(layout.imageId);
    // Podman names an oci-archive image from its ref.name annotation, with localhost/.
    expect(img!.names).toEqual(['localhost/busybox:latest']);
    expect(img!.namesHistory).toEqual(['localhost/busybox:latest']);
    expect(img!.manifestType).toBe('application/vnd.oci.image.manifest.v1+json');
    const index = JSON.parse((await execa('tar', ['-xOf', ociArchive, 'index.json'])).stdout) as { manifests: Array<{ digest: string }> };
    expect(img!.digest).toBe(index.manifests[0]!.digest);
    expect(img!.repoDigests).toEqual([`localhost/busybox@${img!.digest}`]);
    expect(img!.layers).toEqual([layout.diffId]);
    expect(img!.size).toBe((await fs.stat(rootfsTar)).size);
    expect(img!.created).toBe('2024-01-01T00:00:00Z');
    expect(img!.config.config?.Cmd).toEqual(['sh']);

    const [layerDir] = store.layerPaths(img!);
    expect(layerDir).toBe(storage('layers', layout.diffId.slice(7)));
    expect((await fs.stat(path.join(layerDir!, 'bin/busybox'))).mode & 0o777).toBe(0o755);
    expect(await fs.readlink(path.join(layerDir!, 'bin/sh'))).toBe('busybox');
    expect((await fs.stat(path.join(layerDir!, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect(await fs.readFile(path.join(layerDir!, 'etc/passwd'), 'utf8')).toMatch(/^app:x:1000:1000:/m);

    // Blobs are content-addressed: the config (= ID) and the manifest.
    expect(await ls(storage('blobs/sha256'))).toEqual([img!.id, img!.digest.slice(7)].sort());
    expect(await sha256File(storage('blobs/sha256', img!.id))).toBe(`sha256:${img!.id}`);
    expect(await ls(storage('tmp'))).toEqual([]);
    expect((await fs.stat(storage())).mode & 0o777).toBe(0o700);

    expect((await store.get('busybox'))?.id).toBe(img!.id);
    expect((await store.resolve('localhost/busybox:latest')).id).toBe(img!.id);
    expect(await store.list()).toHaveLength(1);
  });

  it('loads a docker-archive made by skopeo, with the manifest digest skopeo reports', async () => {
    const [img] = await store.load(dockerArchive);
    expect(img!.id).toBe(layout.imageId); // skopeo keeps the config: same image as the OCI one
    expect(img!.names).toEqual(['docker.io/library/busybox:latest']);
    expect(img!.manifestType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(img!.digest).toBe(dockerDigest);
    expect(img!.repoDigests).toEqual([`docker.io/library/busybox@${dockerDigest}`]);
    expect(img!.size).toBe((await fs.stat(rootfsTar)).size);
    expect((await store.get('busybox'))?.id).toBe(img!.id);
    expect((await store.get('busybox:latest'))?.id).toBe(img!.id);
    expect(await store.get('busybox:1')).toBeUndefined();
  });

  it('loads a gzip-compressed archive', async () => {
    const gz = path.join(root, 'busybox-docker.tar.gz');
    await fs.writeFile(gz, gzipSync(await fs.readFile(dockerArchive)));
    const [img] = await store.load(gz);
    expect(img!.id).toBe(layout.imageId);
    expect(await ls(storage('tmp'))).toEqual([]);
  });

  it('reuses layers on a second load (unpacked once per digest) and merges digests', async () => {
    const [first] = await store.load(ociArchive);
    const layerDir = store.layerPaths(first!)[0]!;
    const before = await fs.stat(layerDir);
    const marker = path.join(layerDir, 'bin/busybox');
    const markerIno = (await fs.stat(marker)).ino;

    const [again] = await store.load(ociArchive);
    expect(again!.id).toBe(first!.id);
    expect((await fs.stat(layerDir)).ino).toBe(before.ino);
    expect((await fs.stat(marker)).ino).toBe(markerIno);

    // The same image from a docker-archive: one image, two manifests, both names.
    const [fromDocker] = await store.load(dockerArchive);
    expect(fromDocker!.id).toBe(first!.id);
    expect((await fs.stat(marker)).ino).toBe(markerIno);
    expect(fromDocker!.names).toEqual(['localhost/busybox:latest', 'docker.io/library/busybox:latest']);
    expect(fromDocker!.digest).toBe(dockerDigest);
    expect(fromDocker!.digests).toEqual([dockerDigest, first!.digest]);
    expect(fromDocker!.repoDigests).toHaveLength(4);
    expect(await ls(storage('layers'))).toEqual([layout.diffId.slice(7), `${layout.diffId.slice(7)}.json`].sort());
    expect(await store.list()).toHaveLength(1);
  });

  it('loads a hand-made OCI archive with a nested multi-platform index', async () => {
    // index.json -> image index (arm64 + this host) -> manifest: the host's one is chosen.
    const dir = path.join(root, 'multi');
    const hostLayout = await ociLayoutFromTar(rootfsTar, dir, { ref: 'ignored', gzip: true });
    const armLayout = await ociLayoutFromTar(rootfsTar, path.join(root, 'arm'), { architecture: 'arm64', created: '2020-01-01T00:00:00Z' });
    for (const blob of await fs.readdir(path.join(root, 'arm/blobs/sha256'))) {
      await fs.copyFile(path.join(root, 'arm/blobs/sha256', blob), path.join(dir, 'blobs/sha256', blob));
    }
    const manifestSize = async (d: string): Promise<number> => (await fs.stat(path.join(dir, 'blobs/sha256', d.slice(7)))).size;
    const nested = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: armLayout.manifestDigest, size: await manifestSize(armLayout.manifestDigest), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: hostLayout.manifestDigest, size: await manifestSize(hostLayout.manifestDigest), platform: { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch } },
      ],
    }));
    const { createHash } = await import('node:crypto');
    const nestedDigest = `sha256:${createHash('sha256').update(nested).digest('hex')}`;
    await fs.writeFile(path.join(dir, 'blobs/sha256', nestedDigest.slice(7)), nested);
    await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: 'application/vnd.oci.image.index.v1+json', digest: nestedDigest, size: nested.length,
        annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1', 'org.opencontainers.image.ref.name': '1' },
      }],
    }));
    const archive = path.join(root, 'multi.tar');
    await execa('tar', ['-C', dir, '-cf', archive, '.']); // "./"-prefixed member names
    const [img] = await store.load(archive);
    expect(img!.id).toBe(hostLayout.imageId);
    expect(img!.digest).toBe(hostLayout.manifestDigest);
    expect(img!.names).toEqual(['docker.io/library/multi:1']); // containerd's annotation wins, as in Podman
  });

  it('refuses a corrupted blob and stores nothing', async () => {
    const dir = path.join(root, 'corrupt');
    const l = await ociLayoutFromTar(rootfsTar, dir, { gzip: true });
    const blob = path.join(dir, 'blobs/sha256', l.layerDigest.slice(7));
    const data = await fs.readFile(blob);
    data[data.length - 20] = data[data.length - 20]! ^ 0xff; // in the gzip trailer region: decompression or digest fails
    await fs.writeFile(blob, data);
    const archive = path.join(root, 'corrupt.tar');
    await execa('tar', ['-C', dir, '-cf', archive, '.']);
    await expect(store.load(archive)).rejects.toMatchObject({ code: 'invalid' });
    expect(await store.list()).toEqual([]);
    expect(await ls(storage('layers'))).toEqual([]);
    expect(await ls(storage('tmp'))).toEqual([]);
  });

  it('refuses an archive with an unsafe layer and leaves nothing behind', async () => {
    const evil = path.join(root, 'evil-layer.tar');
    await fs.writeFile(evil, await makeTar([
      { name: 'x', type: 'symlink', linkname: root },
      { name: 'x/pwned', body: 'owned' },
    ]));
    const dir = path.join(root, 'evil');
    await ociLayoutFromTar(evil, dir, { ref: 'evil' });
    const archive = path.join(root, 'evil.tar');
    await execa('tar', ['-C', dir, '-cf', archive, '.']);
    const err = await store.load(archive).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeapodError);
    expect((err as PeapodError).code).toBe('unsafe-layer');
    expect((err as PeapodError).message).toMatch(/layer entry "x\/pwned": parent "x" is a symlink$/);
    await expect(fs.access(path.join(root, 'pwned'))).rejects.toThrow();
    expect(await store.list()).toEqual([]);
    expect(await ls(storage('layers'))).toEqual([]);
    expect(await ls(storage('tmp'))).toEqual([]);
  });

  it('says what is wrong with files that are not image archives', async () => {
    await expect(store.load(path.join(root, 'missing.tar'))).rejects.toMatchObject({ code: 'not-found', message: expect.stringMatching(/missing\.tar: no such file/) });
    await expect(store.load(rootfsTar)).rejects.toMatchObject({ code: 'invalid', message: expect.stringMatching(/payload does not match any of the supported image formats/) });
    const junk = path.join(root, 'junk');
    await fs.writeFile(junk, 'not a tar at all\n'.repeat(100));
    await expect(store.load(junk)).rejects.toMatchObject({ code: 'invalid' });
  });
});

describe('import', () => {
  it('imports a rootfs tar with --change CMD/ENV/WORKDIR under localhost/NAME:latest', async () => {
    const before = Date.now();
    const img = await store.importTar(rootfsTar, {
      name: 'mybox',
      changes: ['CMD ["/bin/sh","-c","echo hello"]', 'ENV FOO=bar', 'ENV GREETING hello world', 'WORKDIR /srv', 'EXPOSE 8080', 'USER app'],
      message: 'made by a test',
    });
    expect(img.names).toEqual(['localhost/mybox:latest']);
    expect(img.layers).toEqual([layout.diffId]); // the tar itself is the layer
    expect(img.config.architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
    expect(img.config.os).toBe('linux');
    expect(img.config.config).toEqual({
      Cmd: ['/bin/sh', '-c', 'echo hello'],
      Env: ['FOO=bar', 'GREETING=hello world'],
      WorkingDir: '/srv',
      ExposedPorts: { '8080/tcp': {} },
      User: 'app',
    });
    expect(img.config.history).toEqual([{
      created: img.created, created_by: `/bin/sh -c #(nop) ADD file:${layout.diffId.slice(7)} in /`, comment: 'made by a test',
    }]);
    expect(Date.parse(img.created)).toBeGreaterThanOrEqual(before - 1000);
    expect(await sha256File(storage('blobs/sha256', img.id))).toBe(`sha256:${img.id}`);
    expect(img.repoDigests).toEqual([`localhost/mybox@${img.digest}`]);
    expect((await store.resolve('mybox')).id).toBe(img.id);
    expect(await fs.readlink(path.join(store.layerPaths(img)[0]!, 'bin/ls'))).toBe('busybox');
  });

  it('imports from stdin-like input and without a name', async () => {
    const img = await store.importTar(rootfsTar);
    expect(img.names).toEqual([]);
    expect(img.config.history?.[0]?.comment).toBe('imported from tarball');
    expect((await store.get(img.id.slice(0, 12)))?.id).toBe(img.id);
  });

  it('shares the layer with a loaded image of the same content', async () => {
    const [loaded] = await store.load(ociArchive);
    const ino = (await fs.stat(path.join(store.layerPaths(loaded!)[0]!, 'bin/busybox'))).ino;
    const imported = await store.importTar(rootfsTar, { name: 'copy' });
    expect(store.layerPaths(imported)).toEqual(store.layerPaths(loaded!));
    expect((await fs.stat(path.join(store.layerPaths(imported)[0]!, 'bin/busybox'))).ino).toBe(ino);
  });

  it('refuses an unknown change before reading the tar', async () => {
    await expect(store.importTar(rootfsTar, { changes: ['RUN true'] })).rejects.toMatchObject({
      code: 'invalid', message: expect.stringMatching(/unknown instruction RUN/),
    });
    await expect(store.importTar(path.join(root, 'nope.tar'))).rejects.toMatchObject({ code: 'not-found' });
    expect(await store.list()).toEqual([]);
  });
});

describe('names, lookup and removal', () => {
  it('moves a name to the newest image that gets it, keeping namesHistory', async () => {
    const first = await store.importTar(rootfsTar, { name: 'app', changes: ['CMD ["one"]'] });
    const second = await store.importTar(rootfsTar, { name: 'app', changes: ['CMD ["two"]'] });
    expect(second.id).not.toBe(first.id);
    const old = (await store.get(first.id))!;
    expect(old.names).toEqual([]); // <none> now
    expect(old.namesHistory).toEqual(['localhost/app:latest']);
    expect(old.repoDigests).toEqual([]);
    expect((await store.resolve('app')).id).toBe(second.id);

    // tag moves it back; the other image keeps its other names
    await store.tag(second.id, 'extra:1');
    await store.tag(first.id, 'localhost/app');
    expect((await store.resolve('app')).id).toBe(first.id);
    expect((await store.resolve(second.id)).names).toEqual(['localhost/extra:1']);

    // loading an archive whose name an image has moves it too
    await store.tag(first.id, 'docker.io/library/busybox:latest');
    const [loaded] = await store.load(dockerArchive);
    expect(loaded!.names).toEqual(['docker.io/library/busybox:latest']);
    expect((await store.resolve(first.id)).names).toEqual(['localhost/app:latest']);
    expect((await store.resolve(first.id)).namesHistory).toEqual(['docker.io/library/busybox:latest', 'localhost/app:latest']);
  });

  it('looks images up by ID prefix, sha256: ID and name; errors like Podman', async () => {
    const img = await store.importTar(rootfsTar, { name: 'quay.io/team/tool:2' });
    expect((await store.get(img.id.slice(0, 3)))?.id).toBe(img.id);
    expect((await store.get(`sha256:${img.id}`))?.id).toBe(img.id);
    expect((await store.get('tool:2'))?.id).toBe(img.id);
    expect((await store.get('team/tool:2'))?.id).toBe(img.id);
    expect(await store.get('tool')).toBeUndefined();
    await expect(store.resolve('nothere')).rejects.toMatchObject({ code: 'not-found', message: 'nothere: image not known' });
    await expect(store.tag('nothere', 'x')).rejects.toMatchObject({ code: 'not-found' });
    await expect(store.tag(img.id, `x@sha256:${'0'.repeat(64)}`)).rejects.toMatchObject({ code: 'invalid' });
  });

  it('rmi untags a name of an image with several names, deletes by last name', async () => {
    const img = await store.importTar(rootfsTar, { name: 'one' });
    await store.tag(img.id, 'two');
    expect(await store.remove('one')).toEqual({ untagged: ['localhost/one:latest'], deleted: undefined });
    expect((await store.resolve(img.id)).names).toEqual(['localhost/two:latest']);
    expect(await store.remove('two')).toEqual({ untagged: ['localhost/two:latest'], deleted: img.id });
    expect(await store.list()).toEqual([]);
    expect(await ls(storage('layers'))).toEqual([]);
    expect(await ls(storage('blobs/sha256'))).toEqual([]);
    expect(await ls(storage('images'))).toEqual([]);
    await expect(store.remove('two')).rejects.toMatchObject({ code: 'not-found', message: 'two: image not known' });
  });

  it('rmi by ID of an image with several names needs force', async () => {
    const img = await store.importTar(rootfsTar, { name: 'one' });
    await store.tag(img.id, 'two');
    await expect(store.remove(img.id.slice(0, 12))).rejects.toMatchObject({
      code: 'state', message: expect.stringMatching(/^unable to delete image "[0-9a-f]{64}" by ID with more than one tag \(localhost\/one:latest, localhost\/two:latest\): please force removal$/),
    });
    expect(await store.remove(img.id.slice(0, 12), { force: true })).toEqual({
      untagged: ['localhost/one:latest', 'localhost/two:latest'], deleted: img.id,
    });
  });

  it('remove deletes only layers and blobs no other image uses', async () => {
    const [loaded] = await store.load(ociArchive);
    const other = await store.importTar(rootfsTar, { name: 'same-layer' });
    const otherLayer = await makeTar([{ name: 'etc/motd', body: 'hi\n' }]);
    const otherTar = path.join(root, 'motd.tar');
    await fs.writeFile(otherTar, otherLayer);
    const small = await store.importTar(otherTar, { name: 'small' });
    expect(await ls(storage('layers'))).toHaveLength(4); // two layers, each with its metadata

    expect((await store.remove('busybox')).deleted).toBe(loaded!.id);
    expect(await ls(storage('layers'))).toHaveLength(4); // the busybox layer is still used by same-layer
    expect(await ls(storage('blobs/sha256'))).not.toContain(loaded!.id);
    expect(await ls(storage('blobs/sha256'))).toContain(other.id);

    await store.remove('same-layer');
    expect(await ls(storage('layers'))).toEqual([small.layers[0]!.slice(7), `${small.layers[0]!.slice(7)}.json`].sort());
    expect(await ls(storage('blobs/sha256'))).toEqual([small.id, small.digest.slice(7)].sort());
  });

  it('collects leftovers of interrupted work when removing', async () => {
    const img = await store.importTar(rootfsTar, { name: 'x' });
    // A dead process's scratch directory, an interrupted deletion, an orphan layer.
    await fs.mkdir(storage('tmp', 'load-999999999-abc'), { recursive: true });
    await fs.mkdir(storage('layers', '.deleting-abc'), { recursive: true });
    await fs.mkdir(storage('layers', 'f'.repeat(64)), { recursive: true });
    await store.remove('x');
    expect(await ls(storage('tmp'))).toEqual([]);
    expect(await ls(storage('layers'))).toEqual([]);
    expect(await store.get(img.id)).toBeUndefined();
  });

  it('serialises concurrent mutations of one process', async () => {
    const results = await Promise.all([
      store.importTar(rootfsTar, { name: 'race' }),
      store.importTar(rootfsTar, { name: 'race', changes: ['CMD ["b"]'] }),
      store.load(ociArchive),
    ]);
    const all = await store.list();
    expect(all).toHaveLength(3);
    // exactly one image holds the name, and the shared layer was unpacked once
    expect(all.filter((i) => i.names.includes('localhost/race:latest'))).toHaveLength(1);
    expect(await ls(storage('layers'))).toEqual([layout.diffId.slice(7), `${layout.diffId.slice(7)}.json`].sort());
    expect(results.flat()).toHaveLength(3);
  });
});

describe('layers as overlayfs lowerdirs', () => {
  it('a two-layer image mounts with whiteouts and opaque directories honoured', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test needs root: it mounts an overlay (run the tests as root)');
    const { createHash } = await import('node:crypto');
    const top = await makeTar([
      { name: 'bin/.wh.ls', body: '' },
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/.wh..wh..opq', body: '' },
      { name: 'etc/hostname', body: 'layered\n', mode: 0o644 },
    ]);
    const bottom = await fs.readFile(rootfsTar);
    const digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const config = Buffer.from(JSON.stringify({
      architecture: process.arch === 'x64' ? 'amd64' : process.arch, os: 'linux', created: '2024-02-02T00:00:00Z',
      config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [digest(bottom), digest(top)] },
    }));
    const dir = path.join(root, 'two-layers');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'bottom.tar'), bottom);
    await fs.writeFile(path.join(dir, 'top.tar.gz'), gzipSync(top)); // docker-archives may hold compressed layers
    await fs.writeFile(path.join(dir, 'config.json'), config);
    await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify([
      { Config: 'config.json', RepoTags: ['two:layers'], Layers: ['bottom.tar', 'top.tar.gz'] },
    ]));
    const archive = path.join(root, 'two.tar');
    await execa('tar', ['-C', dir, '-cf', archive, 'manifest.json', 'config.json', 'bottom.tar', 'top.tar.gz']);
    const [img] = await store.load(archive);
    expect(img!.names).toEqual(['docker.io/library/two:layers']);
    expect(img!.size).toBe(bottom.length + top.length);
    const lower = store.layerPaths(img!);
    expect(lower).toEqual([storage('layers', digest(top).slice(7)), storage('layers', digest(bottom).slice(7))]);

    const merged = path.join(root, 'merged');
    await fs.mkdir(merged);
    await execa('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower.join(':')}`, merged]);
    try {
      await expect(fs.lstat(path.join(merged, 'bin/ls'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await fs.readlink(path.join(merged, 'bin/cat'))).toBe('busybox');
      expect(await fs.readdir(path.join(merged, 'etc'))).toEqual(['hostname']);
      const { stdout } = await execa('chroot', [merged, '/bin/sh', '-c', 'cat /etc/hostname; ls /bin/ls 2>&1 || true']);
      expect(stdout).toMatch(/^layered\n.*\/bin\/ls.*No such file/s);
    } finally {
      await execa('umount', [merged]);
    }
  });
});
