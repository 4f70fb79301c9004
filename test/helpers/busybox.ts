// Test images built from Debian's static busybox (package busybox-static): no registry, no
// network. busyboxRootfsTar() gives a rootfs tar; ociLayoutFromTar() wraps a rootfs tar into a
// minimal OCI image layout that real tools (skopeo, in tests only) turn into archives.

import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';

export const BUSYBOX = '/bin/busybox';

const DIRS: Array<[string, number]> = [
  ['bin', 0o755], ['etc', 0o755], ['tmp', 0o1777], ['root', 0o700], ['proc', 0o755], ['sys', 0o755],
  ['dev', 0o755], ['var', 0o755], ['run', 0o755], ['home', 0o755],
];

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
].join('\n') + '\n';

const GROUP = ['root:x:0:', 'app:x:1000:', 'nobody:x:65534:'].join('\n') + '\n';

/**
 * Build (once per busybox binary, cached in the OS temp dir) a rootfs tar: /bin/busybox, a
 * relative symlink in /bin for every applet, the usual top-level directories, and /etc/passwd
 * and /etc/group with root (0), app (1000) and nobody (65534). `workDir` holds the scratch
 * rootfs while building. Returns the path of the tar.
 */
export async function busyboxRootfsTar(workDir: string): Promise<string> {
  const st = await fs.stat(BUSYBOX).catch(() => {
    throw new Error(`${BUSYBOX} not found: install it with apt-get install busybox-static`);
  });
  const cached = path.join(os.tmpdir(), `peapod-test-busybox-${Math.floor(st.mtimeMs / 1000)}.tar`);
  try {
    await fs.access(cached);
    return cached;
  } catch { /* build it */ }

  const rootfs = await fs.mkdtemp(path.join(workDir, 'busybox-rootfs-'));
  try {
    for (const [dir, mode] of DIRS) {
      await fs.mkdir(path.join(rootfs, dir), { recursive: true });
      await fs.chmod(path.join(rootfs, dir), mode); // mkdir's mode is filtered by the umask
    }
    await fs.copyFile(BUSYBOX, path.join(rootfs, 'bin/busybox'));
    await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
    const { stdout } = await execa(BUSYBOX, ['--list']);
    for (const applet of stdout.split('\n').map((s) => s.trim())) {
      // "[" and "[[" are applets too; skip only what cannot be a file name here.
      if (!applet || applet === 'busybox' || applet.includes('/')) continue;
      await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
    }
    await fs.writeFile(path.join(rootfs, 'etc/passwd'), PASSWD, { mode: 0o644 });
    await fs.writeFile(path.join(rootfs, 'etc/group'), GROUP, { mode: 0o644 });
    await fs.chmod(path.join(rootfs, 'etc/passwd'), 0o644);
    await fs.chmod(path.join(rootfs, 'etc/group'), 0o644);
    await fs.chmod(rootfs, 0o755);
    // Write next to the cache and rename, so concurrent test processes never see half a tar.
    // Sorted names and a fixed mtime make the tar (so the layer's diff ID) reproducible.
    const tmp = `${cached}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await execa('tar', [
      '--numeric-owner', '--owner=0', '--group=0', '--sort=name', `--mtime=@${Math.floor(st.mtimeMs / 1000)}`,
      '-C', rootfs, '-cf', tmp, '.',
    ]);
    await fs.rename(tmp, cached);
    return cached;
  } finally {
    await fs.rm(rootfs, { recursive: true, force: true });
  }
}

export interface OciLayoutOptions {
  /** org.opencontainers.image.ref.name of the image in index.json (skopeo's "oci:DIR:<ref>"); default "latest". */
  ref?: string;
  /** Store the layer gzip-compressed (media type ...tar+gzip). */
  gzip?: boolean;
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
  /** RFC 3339; default a fixed date so that the image ID is reproducible. */
  created?: string;
  architecture?: string;
}

export interface OciLayoutResult {
  dir: string;
  manifestDigest: string;
  configDigest: string;
  /** The image ID peapod (and Podman) will give it: the config digest's hex. */
  imageId: string;
  diffId: string;
  layerDigest: string;
}

function digestOf(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function writeBlob(dir: string, data: Uint8Array): Promise<string> {
  const digest = digestOf(data);
  await fs.writeFile(path.join(dir, 'blobs/sha256', digest.slice('sha256:'.length)), data);
  return digest;
}

function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}

/**
 * Write a minimal OCI image layout (oci-layout, index.json, blobs/sha256/...) into `outDir`
 * with `tarPath` as its only layer. Use `skopeo copy oci:DIR:REF oci-archive:FILE:REF` or
 * `... docker-archive:FILE:NAME` to turn it into archives made by a real tool.
 */
export async function ociLayoutFromTar(tarPath: string, outDir: string, opts: OciLayoutOptions = {}): Promise<OciLayoutResult> {
  await fs.mkdir(path.join(outDir, 'blobs/sha256'), { recursive: true });
  const tar = await fs.readFile(tarPath);
  const diffId = digestOf(tar);
  const layerBytes = opts.gzip ? gzipSync(tar) : tar;
  const layerDigest = await writeBlob(outDir, layerBytes);

  const runtime: Record<string, unknown> = {};
  if (opts.user) runtime.User = opts.user;
  runtime.Env = opts.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  if (opts.entrypoint) runtime.Entrypoint = opts.entrypoint;
  runtime.Cmd = opts.cmd ?? ['sh'];
  if (opts.workingDir) runtime.WorkingDir = opts.workingDir;
  if (opts.labels) runtime.Labels = opts.labels;
  const created = opts.created ?? '2024-01-01T00:00:00Z';
  const config = {
    created,
    architecture: opts.architecture ?? goArch(),
    os: 'linux',
    config: runtime,
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, created_by: 'peapod test helper: busybox rootfs' }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = await writeBlob(outDir, configBytes);

  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBytes.length },
    layers: [{
      mediaType: opts.gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar',
      digest: layerDigest,
      size: layerBytes.length,
    }],
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = await writeBlob(outDir, manifestBytes);

  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: manifest.mediaType,
      digest: manifestDigest,
      size: manifestBytes.length,
      annotations: { 'org.opencontainers.image.ref.name': opts.ref ?? 'latest' },
    }],
  };
  await fs.writeFile(path.join(outDir, 'index.json'), JSON.stringify(index));
  await fs.writeFile(path.join(outDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { dir: outDir, manifestDigest, configDigest, imageId: configDigest.slice('sha256:'.length), diffId, layerDigest };
}
