// A real registry for pull tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with a
// random free port and a temporary storage directory, optionally with htpasswd auth (bcrypt, made
// with apache2-utils' htpasswd) or TLS (a CA and a server certificate made with openssl). Images
// are OCI layouts written here and pushed with skopeo (a test tool only; peapod never runs it).
// Everything stays on the loopback interface.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import tarStream from 'tar-stream';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

/** Fails loudly (never skips) when a tool the registry tests need is missing. */
export async function requireRegistryTools(tools: string[] = ['docker-registry', 'skopeo']): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the registry tests need root: run them as root, e.g. sudo bash scripts/test.sh');
  const packages: Record<string, string> = { 'docker-registry': 'docker-registry', skopeo: 'skopeo', htpasswd: 'apache2-utils', openssl: 'openssl', zstd: 'zstd' };
  for (const t of tools) {
    try {
      await execa('sh', ['-c', `command -v ${t}`]);
    } catch {
      throw new Error(`${t} is needed by the registry tests: apt-get install ${packages[t] ?? t} (scripts/setup.sh installs it)`);
    }
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TlsFiles {
  /** The CA certificate (what goes into certs.d/HOST:PORT/ca.crt). */
  caCert: string;
  cert: string;
  key: string;
}

/** A CA and a server certificate for 127.0.0.1 signed by it, in `dir`. */
export async function makeTls(dir: string): Promise<TlsFiles> {
  await fs.mkdir(dir, { recursive: true });
  const f = (n: string) => path.join(dir, n);
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=peapod test CA']);
  await execa('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  await fs.writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  await execa('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { caCert: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

export interface RegistryOptions {
  /** Working directory (config, storage); a new one under os.tmpdir() otherwise. */
  dir: string;
  htpasswd?: { username: string; password: string };
  tls?: TlsFiles;
  port?: number;
}

export interface Registry {
  /** "127.0.0.1:PORT" */
  host: string;
  port: number;
  dir: string;
  /** The registry's storage root (docker/registry/v2/...). */
  storage: string;
  /** Start again (same port, same storage) after stop() or kill(). */
  start(): Promise<void>;
  /** SIGTERM, wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL at once (a registry dying mid-pull). */
  kill(): Promise<void>;
  /** Push an OCI layout's image with skopeo. `all` pushes a whole index. */
  push(layoutRef: string, name: string, opts?: { all?: boolean; format?: 'oci' | 'v2s2' }): Promise<void>;
  /** Path of a blob's data file in the registry's storage. */
  blobPath(digest: string): string;
}

/** Start docker-registry on 127.0.0.1 and wait until it answers. */
export async function startRegistry(opts: RegistryOptions): Promise<Registry> {
  const dir = opts.dir;
  await fs.mkdir(dir, { recursive: true });
  const port = opts.port ?? await freePort();
  const host = `127.0.0.1:${port}`;
  const storage = path.join(dir, 'storage');
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    // The debug server is off unless configured; the secret silences a warning.
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (opts.tls) lines.push('  tls:', `    certificate: ${opts.tls.cert}`, `    key: ${opts.tls.key}`);
  if (opts.htpasswd) {
    const file = path.join(dir, 'htpasswd');
    await execa('htpasswd', ['-Bbc', file, opts.htpasswd.username, opts.htpasswd.password]);
    lines.push('auth:', '  htpasswd:', '    realm: peapod-test', `    path: ${file}`);
  }
  const config = path.join(dir, 'config.yml');
  await fs.writeFile(config, lines.join('\n') + '\n');

  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async (): Promise<void> => {
    stderr = '';
    const c = spawn(DOCKER_REGISTRY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`docker-registry exited with ${c.exitCode}: ${stderr}`);
      const up = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      });
      if (up) return;
      if (Date.now() > deadline) throw new Error(`docker-registry did not listen on ${host} within 15 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const waitExit = async (c: ChildProcess): Promise<void> => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => c.once('exit', () => resolve()));
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c) return;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await waitExit(c);
    clearTimeout(t);
  };
  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c) return;
    c.kill('SIGKILL');
    await waitExit(c);
  };
  await start();

  const tlsArgs = opts.tls ? ['--dest-cert-dir', await certDirFor(dir, opts.tls)] : ['--dest-tls-verify=false'];
  const credArgs = opts.htpasswd ? ['--dest-creds', `${opts.htpasswd.username}:${opts.htpasswd.password}`] : [];
  return {
    host, port, dir, storage, start, stop, kill,
    async push(layoutRef, name, p = {}) {
      const args = ['copy', '-q', ...tlsArgs, ...credArgs];
      // A whole index is pushed byte for byte: without --preserve-digests skopeo may swap a layer for
      // another compression of it that its host-wide blob-info cache (/var/lib/containers/cache)
      // knows from an earlier push, which rewrites the manifests and their digests.
      if (p.all) args.push('--all', '--preserve-digests');
      if (p.format) args.push('--format', p.format);
      await execa('skopeo', [...args, `oci:${layoutRef}`, `docker://${host}/${name}`], { env: { REGISTRY_AUTH_FILE: path.join(dir, 'skopeo-auth.json') } });
    },
    blobPath(digest) {
      const hex = digest.replace(/^sha256:/, '');
      return path.join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
  };
}

async function certDirFor(dir: string, tlsFiles: TlsFiles): Promise<string> {
  const d = path.join(dir, 'skopeo-certs');
  await fs.mkdir(d, { recursive: true });
  await fs.copyFile(tlsFiles.caCert, path.join(d, 'ca.crt'));
  return d;
}

// ------------------------------------------------------------------------- OCI layouts

export interface LayoutImage {
  /** Layer tars (uncompressed), bottom first. */
  layers: Buffer[];
  /** Compress the layers in the layout (skopeo keeps compressed layers as they are). */
  compression?: 'none' | 'gzip' | 'zstd';
  architecture?: string;
  variant?: string;
  os?: string;
  cmd?: string[];
  env?: string[];
  created?: string;
  labels?: Record<string, string>;
}

export interface LayoutManifest {
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  imageId: string;
  diffIds: string[];
  layerDigests: string[];
  platform: { os: string; architecture: string; variant?: string };
}

function digestOf(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function writeBlob(dir: string, data: Uint8Array): Promise<string> {
  const digest = digestOf(data);
  await fs.mkdir(path.join(dir, 'blobs/sha256'), { recursive: true });
  await fs.writeFile(path.join(dir, 'blobs/sha256', digest.slice(7)), data);
  return digest;
}

/** Write one image (config, layers, manifest) into an OCI layout's blobs. */
export async function writeImage(dir: string, img: LayoutImage): Promise<LayoutManifest> {
  const diffIds = img.layers.map(digestOf);
  const layerDescs = [];
  for (const tar of img.layers) {
    const data = img.compression === 'gzip' ? gzipSync(tar)
      : img.compression === 'zstd' ? (await execa('zstd', ['-q', '-c', '-3'], { input: tar, encoding: 'buffer' })).stdout
        : tar;
    layerDescs.push({
      mediaType: `application/vnd.oci.image.layer.v1.tar${img.compression === 'gzip' || img.compression === 'zstd' ? `+${img.compression}` : ''}`,
      digest: await writeBlob(dir, data),
      size: data.length,
    });
  }
  const created = img.created ?? '2024-01-01T00:00:00Z';
  const platform = { os: img.os ?? 'linux', architecture: img.architecture ?? 'amd64', ...(img.variant ? { variant: img.variant } : {}) };
  const config = {
    created,
    ...platform,
    config: { Env: img.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: img.cmd ?? ['sh'], ...(img.labels ? { Labels: img.labels } : {}) },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: img.layers.map(() => ({ created, created_by: 'peapod registry test helper' })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = await writeBlob(dir, configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBytes.length },
    layers: layerDescs,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = await writeBlob(dir, manifestBytes);
  return {
    manifestDigest, manifestSize: manifestBytes.length, configDigest, imageId: configDigest.slice(7), diffIds,
    layerDigests: layerDescs.map((l) => l.digest), platform,
  };
}

/**
 * An OCI layout in `dir` whose index.json names `ref`: one image, or with several images an
 * image index (multi-platform) that index.json points to.
 */
export async function writeLayout(dir: string, ref: string, images: LayoutImage[]): Promise<{ dir: string; images: LayoutManifest[]; indexDigest?: string }> {
  await fs.mkdir(dir, { recursive: true });
  const written: LayoutManifest[] = [];
  for (const img of images) written.push(await writeImage(dir, img));
  let top: { mediaType: string; digest: string; size: number };
  let indexDigest: string | undefined;
  if (written.length === 1) {
    top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: written[0]!.manifestDigest, size: written[0]!.manifestSize };
  } else {
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: written.map((w) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: w.manifestDigest, size: w.manifestSize, platform: w.platform })),
    };
    const bytes = Buffer.from(JSON.stringify(index));
    indexDigest = await writeBlob(dir, bytes);
    top = { mediaType: index.mediaType, digest: indexDigest, size: bytes.length };
  }
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': ref } }],
  }));
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { dir, images: written, indexDigest };
}

/** A layer tar holding `content` at `file` (parent directories included), deterministic. */
export async function fileLayer(file: string, content: string | Buffer): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => { chunks.push(c as Buffer); });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const mtime = new Date('2024-01-02T03:04:05Z');
  const dirs = file.split('/').slice(0, -1);
  for (let i = 0; i < dirs.length; i++) pack.entry({ name: `${dirs.slice(0, i + 1).join('/')}/`, type: 'directory', mode: 0o755, mtime });
  const body = typeof content === 'string' ? Buffer.from(content) : content;
  pack.entry({ name: file, mode: 0o644, mtime, size: body.length }, body);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Write a registries.conf and return its path. */
export async function writeRegistriesConf(dir: string, text: string): Promise<string> {
  const file = path.join(dir, `registries-${randomBytes(3).toString('hex')}.conf`);
  await fs.writeFile(file, text);
  return file;
}
