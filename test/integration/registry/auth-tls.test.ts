// Issue 8 acceptance, authentication and TLS: an htpasswd registry (Basic), a token-protected
// registry (Bearer, a minimal one written here: docker-registry's token auth needs a separate
// token service), a TLS registry with a self-signed CA in a certs.d directory.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ImageStore } from '../../../engine/image/store.js';
import { credentialsFromDockerConfigJson, login, logout } from '../../../engine/image/registry/index.js';
import { RegistryError } from '../../../engine/image/registry/client.js';
import { loadRegistriesConf } from '../../../engine/image/registry/registries-conf.js';
import { FileLock } from '../../../engine/state/lock.js';
import { busyboxRootfsTar } from '../../helpers/busybox.js';
import { makeTls, requireRegistryTools, startRegistry, writeLayout, writeRegistriesConf, type Registry } from '../../helpers/registry.js';

let work: string;
let busybox: Buffer;
let root: string;
let store: ImageStore;
let authFile: string;
const USER = 'peapod';
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  await requireRegistryTools(['docker-registry', 'skopeo', 'htpasswd', 'openssl']);
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-registry-auth-'));
  busybox = await fs.readFile(await busyboxRootfsTar(work));
});

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-registry-root-'));
  store = new ImageStore({ root: path.join(root, 'storage'), lock: new FileLock(path.join(root, 'lock')) });
  // Never the host's credentials: every pull names its auth file.
  authFile = path.join(root, 'auth.json');
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('htpasswd (Basic) registry', () => {
  let reg: Registry;
  let conf: ReturnType<typeof loadRegistriesConf>;
  let imageId: string;
  let ref: string;

  beforeAll(async () => {
    reg = await startRegistry({ dir: path.join(work, 'htpasswd'), htpasswd: { username: USER, password: PASSWORD } });
    conf = loadRegistriesConf([await writeRegistriesConf(work, `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`)]);
    const layout = await writeLayout(path.join(work, 'private'), 'v1', [{ layers: [busybox], cmd: ['echo', 'private'] }]);
    await reg.push(`${layout.dir}:v1`, 'private/busybox:1');
    imageId = layout.images[0]!.imageId;
    ref = `${reg.host}/private/busybox:1`;
  });

  afterAll(async () => {
    await reg?.stop();
  });

  it('without credentials: a clear 401 error', async () => {
    const err = await store.pull(ref, { registriesConf: conf, authFile }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).reason).toBe('auth');
    expect((err as Error).message).toBe(`pulling ${ref}: authentication required (401): use peapod login or an imagePullSecret`);
    expect(await store.list()).toEqual([]);
  });

  it('after login it works; after logout it does not', async () => {
    await expect(login(reg.host, { username: USER, password: 'wrong', authFile, tlsVerify: false }))
      .rejects.toThrow(`logging into "${reg.host}": invalid username/password`);
    await expect(fs.access(authFile)).rejects.toThrow();
    const r = await login(reg.host, { username: USER, password: PASSWORD, authFile, tlsVerify: false });
    expect(r.authFile).toBe(authFile);
    const saved = JSON.parse(await fs.readFile(authFile, 'utf8'));
    expect(saved).toEqual({ auths: { [reg.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } });
    expect((await fs.stat(authFile)).mode & 0o777).toBe(0o600);
    expect((await store.pull(ref, { registriesConf: conf, authFile })).id).toBe(imageId);

    await logout(reg.host, { authFile });
    expect(JSON.parse(await fs.readFile(authFile, 'utf8'))).toEqual({ auths: {} });
    await expect(logout(reg.host, { authFile })).rejects.toThrow(`not logged into ${reg.host}`);
    await expect(store.pull(ref, { registriesConf: conf, authFile, policy: 'always' })).rejects.toThrow(/authentication required \(401\)/);
  });

  it('REGISTRY_AUTH_FILE is where login writes and pulls read', async () => {
    const old = process.env.REGISTRY_AUTH_FILE;
    process.env.REGISTRY_AUTH_FILE = authFile;
    try {
      await login(`http://${reg.host}/`, { username: USER, password: PASSWORD, tlsVerify: false });
      expect(Object.keys(JSON.parse(await fs.readFile(authFile, 'utf8')).auths)).toEqual([reg.host]);
      expect((await store.pull(ref, { registriesConf: conf })).id).toBe(imageId);
    } finally {
      if (old === undefined) delete process.env.REGISTRY_AUTH_FILE;
      else process.env.REGISTRY_AUTH_FILE = old;
    }
  });

  it('explicit credentials (the imagePullSecrets path) work without login and beat the auth file', async () => {
    await fs.writeFile(authFile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${USER}:stale`).toString('base64') } } }));
    const secret = JSON.stringify({ auths: { [`https://${reg.host}`]: { username: USER, password: PASSWORD, auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } });
    const creds = credentialsFromDockerConfigJson(secret, ref);
    expect(creds).toEqual({ username: USER, password: PASSWORD });
    expect(credentialsFromDockerConfigJson(secret, 'quay.io/other/image:1')).toBeUndefined();
    expect((await store.pull(ref, { registriesConf: conf, authFile, auth: creds })).id).toBe(imageId);
    // The stale file entry alone is rejected, naming where the credentials came from.
    await expect(store.pull(ref, { registriesConf: conf, authFile, policy: 'always' }))
      .rejects.toThrow(`pulling ${ref}: authentication failed (401): ${reg.host} rejected the credentials of user "${USER}" (from ${authFile})`);
  });
});

/**
 * A minimal token-protected registry: /v2/ answers 401 with a Bearer challenge, /token hands out
 * tokens for user:password (GET with Basic) or for a refresh token (POST), manifests and blobs
 * need the token; blobs are redirected to a second server (another host:port) that must not get
 * the Authorization header.
 */
async function tokenRegistry(layoutDir: string, tag: string): Promise<{ host: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const index = JSON.parse(await fs.readFile(path.join(layoutDir, 'index.json'), 'utf8'));
  const top = index.manifests[0];
  const blob = (digest: string) => fs.readFile(path.join(layoutDir, 'blobs/sha256', digest.replace(/^sha256:/, '')));
  const listen = (srv: http.Server) => new Promise<number>((resolve) => srv.listen(0, '127.0.0.1', () => resolve((srv.address() as { port: number }).port)));
  const blobs = http.createServer(async (req, res) => {
    requests.push(`blobstore ${req.method} ${req.url} auth=${req.headers.authorization ? 'yes' : 'no'}`);
    if (req.headers.authorization) { res.writeHead(400).end('credentials leaked to the blob store'); return; }
    const data = await blob(req.url!.slice('/blob/'.length)).catch(() => undefined);
    if (!data) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Length': data.length }).end(data);
  });
  const blobPort = await listen(blobs);
  let port = 0;
  const tokenOf = (scope: string) => `token-${createHash('sha256').update(scope).digest('hex').slice(0, 16)}`;
  const srv = http.createServer(async (req, res) => {
    const url = new URL(req.url!, `http://127.0.0.1:${port}`);
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (url.pathname === '/token') {
      let scope = url.searchParams.get('scope') ?? '';
      let ok = req.headers.authorization === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
      if (req.method === 'POST') {
        const body = new URLSearchParams(await new Promise<string>((r) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => r(b)); }));
        ok = body.get('grant_type') === 'refresh_token' && body.get('refresh_token') === 'identity-token-1';
        scope = body.get('scope') ?? '';
        if (ok) { res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ access_token: tokenOf(scope) })); return; }
      }
      if (!ok) { res.writeHead(401).end(); return; }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: tokenOf(scope) }));
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
    const scope = m ? `repository:${m[1]}:pull` : '';
    const challenge = `Bearer realm="http://127.0.0.1:${port}/token",service="fake-registry"${scope ? `,scope="${scope}"` : ''}`;
    if (url.pathname === '/v2/' || !m || req.headers.authorization !== `Bearer ${tokenOf(scope)}`) {
      res.writeHead(401, { 'WWW-Authenticate': challenge, 'Content-Type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    if (m[2] === 'manifests') {
      const digest = m[3] === tag ? top.digest : m[3]!;
      const data = await blob(digest).catch(() => undefined);
      if (!data) { res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN' }] })); return; }
      res.writeHead(200, { 'Content-Type': JSON.parse(data.toString()).mediaType, 'Docker-Content-Digest': digest, 'Content-Length': data.length }).end(data);
      return;
    }
    res.writeHead(307, { Location: `http://127.0.0.1:${blobPort}/blob/${m[3]}` }).end();
  });
  port = await listen(srv);
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: async () => {
      await new Promise((r) => srv.close(r));
      await new Promise((r) => blobs.close(r));
      srv.closeAllConnections();
      blobs.closeAllConnections();
    },
  };
}

describe('token (Bearer) registry', () => {
  it.each([
    ['user and password', { username: USER, password: PASSWORD }],
    ['an identity token', { identityToken: 'identity-token-1' }],
  ])('pulls with %s through the token flow; blobs follow a redirect without the credentials', async (_what, auth) => {
    const layout = await writeLayout(path.join(work, 'bearer'), 'v1', [{ layers: [busybox], compression: 'gzip' }]);
    const fake = await tokenRegistry(layout.dir, 'v1');
    try {
      const conf = loadRegistriesConf([await writeRegistriesConf(work, `[[registry]]\nlocation = "${fake.host}"\ninsecure = true\n`)]);
      const ref = `${fake.host}/private/app:v1`;
      await expect(store.pull(ref, { registriesConf: conf, authFile })).rejects.toThrow(`pulling ${ref}: authentication required (401)`);
      const img = await store.pull(ref, { registriesConf: conf, authFile, auth });
      expect(img.id).toBe(layout.images[0]!.imageId);
      expect(fake.requests.filter((r) => r.startsWith('blobstore'))).toEqual(
        expect.arrayContaining([expect.stringMatching(/auth=no$/)]),
      );
      expect(fake.requests.some((r) => r.includes('auth=yes'))).toBe(false);
      expect(fake.requests).toContain(`${'identityToken' in auth ? 'POST /token' : 'GET /token?service=fake-registry&scope=repository%3Aprivate%2Fapp%3Apull&account=peapod'}`);
    } finally {
      await fake.close();
    }
  });
});

describe('TLS registry with a self-signed CA', () => {
  let reg: Registry;
  let tlsDir: string;
  let imageId: string;
  let ref: string;
  const empty = loadRegistriesConf([]);

  beforeAll(async () => {
    tlsDir = path.join(work, 'tls');
    reg = await startRegistry({ dir: path.join(work, 'tls-registry'), tls: await makeTls(tlsDir) });
    const layout = await writeLayout(path.join(work, 'secure'), 'v1', [{ layers: [busybox] }]);
    await reg.push(`${layout.dir}:v1`, 'secure/busybox:1');
    imageId = layout.images[0]!.imageId;
    ref = `${reg.host}/secure/busybox:1`;
  });

  afterAll(async () => {
    await reg?.stop();
    delete process.env.PEAPOD_CERTS_D;
  });

  it('works with the CA in certs.d/HOST:PORT; without it the error says certificate problem and where it looked', async () => {
    const certsD = path.join(root, 'certs.d');
    process.env.PEAPOD_CERTS_D = certsD;
    const err = await store.pull(ref, { registriesConf: empty, authFile }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).reason).toBe('tls');
    expect((err as Error).message).toMatch(new RegExp(`^pulling ${ref}: certificate problem talking to ${reg.host}: .*certificate.* \\(no CA certificates found in ${certsD}/${reg.host}\\)$`));

    await fs.mkdir(path.join(certsD, reg.host), { recursive: true });
    await fs.copyFile(path.join(tlsDir, 'ca.crt'), path.join(certsD, reg.host, 'ca.crt'));
    expect((await store.pull(ref, { registriesConf: empty, authFile })).id).toBe(imageId);
  });

  it('--cert-dir names the directory itself; --tls-verify=false skips verification', async () => {
    process.env.PEAPOD_CERTS_D = path.join(root, 'nothing-here');
    const certDir = path.join(root, 'certs');
    await fs.mkdir(certDir);
    await fs.copyFile(path.join(tlsDir, 'ca.crt'), path.join(certDir, 'ca.crt'));
    expect((await store.pull(ref, { registriesConf: empty, authFile, certDir })).id).toBe(imageId);
    const other = new ImageStore({ root: path.join(root, 'other'), lock: new FileLock(path.join(root, 'other-lock')) });
    expect((await other.pull(ref, { registriesConf: empty, authFile, tlsVerify: false })).id).toBe(imageId);
  });
});
