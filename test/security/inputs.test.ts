// Scope 6 of issue 14: inputs with limits. Crafted layers and archives (decompression bombs, a
// whiteout naming no file) go through the real CLI into a real image store under a temporary
// --root; each refusal must say which limit (and which variable raises it) and leave the store
// exactly as it was. Registries: two small servers on 127.0.0.1 (another port is another host for
// the credential rule) record every request; the password must never reach the second one, nor
// the first one over plain http.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, readdirSync, lstatSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
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

// ---------------------------------------------------------------- registries and credentials

const PASSWORD = 'S3cret-registry-pass-7731';
const BASIC = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;

interface Seen { server: string; scheme: string; method: string; url: string; authorization?: string; raw: string }

/** A one-layer image as a registry serves it: manifest, config and layer blobs by digest. */
async function registryImage(): Promise<{ manifest: Buffer; blobs: Map<string, Buffer> }> {
  const tar = await makeTar([{ name: 'hello', body: 'hello\n' }]);
  const layer = gzipSync(tar);
  const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [digest(tar)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(layer), size: layer.length }],
  }));
  return { manifest, blobs: new Map([[digest(config), config], [digest(layer), layer]]) };
}

describe('registry credentials', () => {
  let img: Awaited<ReturnType<typeof registryImage>>;
  let key: Buffer;
  let cert: Buffer;
  const seen: Seen[] = [];
  const closers: Array<() => void> = [];

  beforeAll(async () => {
    img = await registryImage();
    const dir = scratch();
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
    key = readFileSync(path.join(dir, 'key.pem'));
    cert = readFileSync(path.join(dir, 'cert.pem'));
  });
  afterAll(() => { for (const c of closers) c(); });

  function record(server: string, scheme: string, req: http.IncomingMessage): void {
    seen.push({ server, scheme, method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, raw: JSON.stringify([req.url, req.headers]) });
  }

  function listen(srv: net.Server): Promise<number> {
    closers.push(() => srv.close());
    return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as net.AddressInfo).port)));
  }

  /** Blob storage and token server on another port: records what it gets, serves blobs and tokens. */
  async function storage(): Promise<string> {
    const srv = http.createServer((req, res) => {
      record('other', 'http', req);
      if (req.url?.startsWith('/token')) { res.setHeader('Content-Type', 'application/json'); res.end(JSON.stringify({ token: 'tok-123' })); return; }
      const blob = img.blobs.get(String(req.url).replace(/^.*\/blobs\//, ''));
      if (!blob) { res.statusCode = 404; res.end(); return; }
      res.setHeader('Content-Length', blob.length);
      res.end(blob);
    });
    return `http://127.0.0.1:${await listen(srv)}`;
  }

  /**
   * The registry: TLS and plain http on the same port (the first byte tells), or plain http only.
   * `auth`: Basic with alice's password, or Bearer "tok-123" from `realm`. Blobs redirect to
   * `blobsAt(port)` (an origin) when given.
   */
  async function registry(opts: { tls: boolean; auth: 'basic' | { realm: string }; blobsAt?: (port: number) => string }): Promise<string> {
    let port = 0;
    const handler = (scheme: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
      record('registry', scheme, req);
      const url = String(req.url);
      if (url.startsWith('/storage/')) {
        const blob = img.blobs.get(url.replace(/^\/storage\//, ''));
        res.end(blob);
        return;
      }
      const authorized = opts.auth === 'basic' ? req.headers.authorization === BASIC : req.headers.authorization === 'Bearer tok-123';
      if (!authorized) {
        res.statusCode = 401;
        res.setHeader('WWW-Authenticate', opts.auth === 'basic' ? 'Basic realm="test"' : `Bearer realm="${opts.auth.realm}",service="test"`);
        res.end();
        return;
      }
      if (url === '/v2/') { res.end('{}'); return; }
      if (url.startsWith('/v2/demo/app/manifests/')) {
        res.setHeader('Content-Type', 'application/vnd.oci.image.manifest.v1+json');
        res.setHeader('Docker-Content-Digest', `sha256:${createHash('sha256').update(img.manifest).digest('hex')}`);
        res.end(req.method === 'HEAD' ? undefined : img.manifest);
        return;
      }
      const m = /^\/v2\/demo\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
      if (m && img.blobs.has(m[1]!)) {
        if (opts.blobsAt) {
          res.statusCode = 307;
          res.setHeader('Location', `${opts.blobsAt(port)}/${opts.blobsAt(port).includes('127.0.0.1:' + port) ? 'storage' : 'blobs'}/${m[1]}`);
          res.end();
          return;
        }
        res.end(img.blobs.get(m[1]!));
        return;
      }
      res.statusCode = 404;
      res.end();
    };
    const plain = http.createServer(handler('http'));
    let front: net.Server = plain;
    if (opts.tls) {
      const secure = https.createServer({ key, cert }, handler('https'));
      front = net.createServer((sock) => {
        // A TLS handshake starts with 0x16; the byte is put back for the server that takes it.
        sock.once('readable', () => {
          const first = sock.read(1) as Buffer | null;
          if (!first) { sock.destroy(); return; }
          sock.unshift(first);
          (first[0] === 0x16 ? secure : plain).emit('connection', sock);
        });
      });
      closers.push(() => { secure.close(); plain.close(); });
    }
    port = await listen(front);
    return `127.0.0.1:${port}`;
  }

  async function pull(host: string): Promise<{ exitCode: number; stderr: string }> {
    seen.length = 0;
    const r = await e2e.sb.run(['pull', '--retry', '0', '--tls-verify=false', '--creds', `alice:${PASSWORD}`, `${host}/demo/app:v1`], { timeout: 60_000 });
    const ids = String((await e2e.sb.ok(['images', '-q'])).stdout).trim();
    for (const id of ids ? ids.split('\n') : []) await e2e.sb.ok(['rmi', '-f', id]);
    return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr) };
  }

  const leaked = (pred: (s: Seen) => boolean) => seen.filter((s) => pred(s) && (s.authorization !== undefined || s.raw.includes(PASSWORD) || s.raw.includes(BASIC.slice(6))));

  it('a blob redirect to another host is followed without the Authorization header', async () => {
    const other = await storage();
    const host = await registry({ tls: true, auth: 'basic', blobsAt: () => other });
    const r = await pull(host);
    expect(r.exitCode, r.stderr).toBe(0);
    // the credentials did go to the registry itself (over https), and the blobs came from the other host
    expect(seen.some((s) => s.server === 'registry' && s.scheme === 'https' && s.authorization === BASIC)).toBe(true);
    expect(seen.filter((s) => s.server === 'other' && s.url.includes('/blobs/')).length).toBe(2);
    expect(leaked((s) => s.server === 'other')).toEqual([]);
  });

  it('a blob redirect to plain http on the same host and port is followed without the Authorization header', async () => {
    const host = await registry({ tls: true, auth: 'basic', blobsAt: (port) => `http://127.0.0.1:${port}` });
    const r = await pull(host);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(seen.some((s) => s.server === 'registry' && s.scheme === 'https' && s.authorization === BASIC)).toBe(true);
    expect(seen.filter((s) => s.scheme === 'http' && s.url.startsWith('/storage/')).length).toBe(2);
    expect(leaked((s) => s.scheme === 'http')).toEqual([]);
  });

  it('Basic credentials are never sent to an http token realm of an https registry (anonymous token, and a warning)', async () => {
    const other = await storage();
    const host = await registry({ tls: true, auth: { realm: `${other}/token` } });
    const r = await pull(host);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(seen.some((s) => s.server === 'other' && s.url.startsWith('/token'))).toBe(true);
    expect(leaked((s) => s.server === 'other')).toEqual([]);
    expect(r.stderr).toMatch(new RegExp(`the token server ${other.replace(/\./g, '\\.')} is plain http; not sending the credentials( from .*)? there, asking for an anonymous token`));
    expect(r.stderr).not.toContain(PASSWORD);
  });

  it('login to an https registry with an http token realm is refused, and the password goes nowhere', async () => {
    const other = await storage();
    const host = await registry({ tls: true, auth: { realm: `${other}/token` } });
    seen.length = 0;
    const authfile = path.join(scratch(), 'auth.json');
    const r = await e2e.sb.run(['login', '--tls-verify=false', '--authfile', authfile, '-u', 'alice', '--password-stdin', host], { input: `${PASSWORD}\n` });
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr)).toMatch(/token server http:\/\/127\.0\.0\.1:\d+\/token is plain http: peapod does not send credentials there/);
    expect(seen.filter((s) => s.server === 'other')).toEqual([]);
    expect(existsSync(authfile)).toBe(false);
  });

  it('control: a plain-http registry (--tls-verify=false) does send them to its http token realm, so the recorder sees them', async () => {
    const other = await storage();
    const host = await registry({ tls: false, auth: { realm: `${other}/token` } });
    const r = await pull(host);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(seen.some((s) => s.server === 'other' && s.url.startsWith('/token') && s.authorization === BASIC)).toBe(true);
  });
});
