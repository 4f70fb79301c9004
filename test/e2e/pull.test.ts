// Issue 8 acceptance through the built CLI: pull (by tag, by digest, `image pull`), login/logout
// against an htpasswd registry, a registry killed mid-pull and the same pull completing after its
// restart (the image then runs), a docker.io mirror from registries.conf. Registries are Debian's
// docker-registry on 127.0.0.1, started and stopped here; no traffic leaves the loopback.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot, sandbox, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { fileLayer, freePort, requireRegistryTools, startRegistry, writeLayout, writeRegistriesConf, type Registry } from '../helpers/registry.js';

let sb: Sandbox;
let reg: Registry;
let auth: Registry;
let busybox: Buffer;
let env: Record<string, string>;
let closed: string;
const USER = 'alice';
const PASSWORD = 's3cret pass';

beforeAll(async () => {
  requireRoot();
  await requireRegistryTools(['docker-registry', 'skopeo', 'htpasswd']);
  sb = sandbox('peapod-pull');
  busybox = await fs.readFile(await busyboxRootfsTar(sb.dir));
  reg = await startRegistry({ dir: path.join(sb.dir, 'registry') });
  auth = await startRegistry({ dir: path.join(sb.dir, 'auth-registry'), htpasswd: { username: USER, password: PASSWORD } });
  closed = `127.0.0.1:${await freePort()}`;
  // The only registries.conf read: both test registries speak plain HTTP; docker.io is the
  // test registry as a mirror, its primary location a closed loopback port (never docker.io).
  const conf = await writeRegistriesConf(sb.dir, [
    `[[registry]]\nlocation = "${reg.host}"\ninsecure = true`,
    `[[registry]]\nlocation = "${auth.host}"\ninsecure = true`,
    `[[registry]]\nprefix = "docker.io"\nlocation = "${closed}"\ninsecure = true\n[[registry.mirror]]\nlocation = "${reg.host}"\ninsecure = true`,
  ].join('\n\n') + '\n');
  env = {
    PEAPOD_REGISTRIES_CONF: conf,
    REGISTRY_AUTH_FILE: path.join(sb.dir, 'auth.json'),
    PEAPOD_CERTS_D: path.join(sb.dir, 'certs.d'),
  };
  const layout = await writeLayout(path.join(sb.dir, 'hello'), 'v1', [{ layers: [busybox], cmd: ['echo', 'hello from the registry'] }]);
  await reg.push(`${layout.dir}:v1`, 'demo/hello:v1');
  await reg.push(`${layout.dir}:v1`, 'library/nginx:1.25');
  await auth.push(`${layout.dir}:v1`, 'private/hello:v1');
});

afterAll(async () => {
  await reg?.stop();
  await auth?.stop();
  if (!sb) return;
  await sb.destroy();
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

const run = (args: string[], opts: { input?: string; timeout?: number } = {}) => sb.run(args, { ...opts, env });
const ok = (args: string[], opts: { input?: string; timeout?: number } = {}) => sb.ok(args, { ...opts, env });
const json = async (args: string[]) => JSON.parse(String((await ok(args)).stdout));

describe('peapod pull', () => {
  it('pulls by tag (printing only the image ID when not on a TTY), by digest with `image pull`, and runs it', async () => {
    const ref = `${reg.host}/demo/hello:v1`;
    const r = await ok(['pull', ref]);
    expect(String(r.stdout)).toMatch(/^[0-9a-f]{64}$/);
    expect(String(r.stderr)).toBe('');
    const id = String(r.stdout);
    const [img] = await json(['image', 'inspect', ref]);
    expect(img.Id).toBe(id);
    expect(img.Digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.RepoDigests).toEqual([`${reg.host}/demo/hello@${img.Digest}`]);
    const list = await json(['images', '--format', 'json']);
    expect(list.find((i: { Id: string }) => i.Id === id)).toMatchObject({ Digest: img.Digest, RepoDigests: img.RepoDigests });
    expect(String((await ok(['image', 'pull', '-q', `${reg.host}/demo/hello@${img.Digest}`])).stdout)).toBe(id);
    expect(String((await ok(['run', '--rm', ref])).stdout)).toBe('hello from the registry');
  });

  it('errors are one line and exit 125: unknown tag, refused connection', async () => {
    const a = await run(['pull', `${reg.host}/demo/hello:nope`]);
    expect(a.exitCode).toBe(125);
    expect(String(a.stderr)).toBe(`Error: pulling ${reg.host}/demo/hello:nope: manifest unknown: ${reg.host}/demo/hello:nope`);
    const b = await run(['pull', '--retry', '0', `${closed}/demo/hello:v1`, '--tls-verify=false']);
    expect(b.exitCode).toBe(125);
    expect(String(b.stderr)).toBe(`Error: pulling ${closed}/demo/hello:v1: cannot connect to ${closed}: connection refused`);
  });

  it('docker.io/library/nginx:1.25 comes from the registries.conf mirror on 127.0.0.1', async () => {
    const r = await ok(['pull', 'docker.io/library/nginx:1.25']);
    expect(String(r.stdout)).toMatch(/^[0-9a-f]{64}$/);
    const [img] = await json(['image', 'inspect', 'docker.io/library/nginx:1.25']);
    expect(img.RepoTags).toContain('docker.io/library/nginx:1.25');
    expect(String((await ok(['run', '--rm', 'docker.io/library/nginx:1.25', 'echo', 'ok'])).stdout)).toBe('ok');
  });
});

describe('login and logout', () => {
  const ref = () => `${auth.host}/private/hello:v1`;

  it('401 without credentials; login makes it work; logout undoes it; --creds works without login', async () => {
    const denied = await run(['pull', ref()]);
    expect(denied.exitCode).toBe(125);
    expect(String(denied.stderr)).toBe(`Error: pulling ${ref()}: authentication required (401): use peapod login or an imagePullSecret`);

    const wrong = await run(['login', '-u', USER, '-p', 'wrong', auth.host]);
    expect(wrong.exitCode).toBe(125);
    expect(String(wrong.stderr)).toBe(`Error: logging into "${auth.host}": invalid username/password`);

    expect(String((await ok(['login', '-u', USER, '--password-stdin', auth.host], { input: `${PASSWORD}\n` })).stdout)).toBe('Login Succeeded!');
    const saved = JSON.parse(await fs.readFile(env.REGISTRY_AUTH_FILE!, 'utf8'));
    expect(Object.keys(saved.auths)).toEqual([auth.host]);
    const id = String((await ok(['pull', '-q', ref()])).stdout);
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    expect(String((await ok(['logout', auth.host])).stdout)).toBe(`Removed login credentials for ${auth.host}`);
    const again = await run(['logout', auth.host]);
    expect(String(again.stderr)).toBe(`Error: not logged into ${auth.host}`);
    expect((await run(['pull', ref()])).exitCode).toBe(125);
    expect(String((await ok(['pull', '--creds', `${USER}:${PASSWORD}`, ref()])).stdout)).toBe(id);

    // --authfile: written and read there only.
    const file = path.join(sb.dir, 'other-auth.json');
    await ok(['login', '--authfile', file, '-u', USER, '-p', PASSWORD, auth.host]);
    expect((await ok(['pull', '--authfile', file, ref()])).exitCode).toBe(0);
    expect(String((await ok(['logout', '--authfile', file, '--all'])).stdout)).toBe('Removed login credentials for all registries');
  });
});

describe('interrupted pull', () => {
  it('killing the registry mid-pull gives a clear error and no image; after a restart the same pull completes and runs', async () => {
    // A big layer (random, so compression cannot shrink it) gives the kill time to land mid-transfer.
    const big = await fileLayer('data/big.bin', randomBytes(64 * 1024 * 1024));
    const layout = await writeLayout(path.join(sb.dir, 'big'), 'v1', [{ layers: [busybox, big], cmd: ['echo', 'big'], compression: 'gzip' }]);
    await reg.push(`${layout.dir}:v1`, 'demo/big:v1');
    const ref = `${reg.host}/demo/big:v1`;
    const partials = path.join(sb.root, 'storage', 'staging', 'blobs');
    const bigBlob = layout.images[0]!.layerDigests[1]!.slice(7);
    const partialSize = async (): Promise<number> => {
      for (const e of await fs.readdir(partials).catch(() => [] as string[])) {
        if (e.startsWith(bigBlob) && e.endsWith('.partial')) return (await fs.stat(path.join(partials, e)).catch(() => ({ size: 0 }))).size;
      }
      return 0;
    };

    const pulling = run(['pull', '--retry', '0', ref], { timeout: 120_000 });
    let killedAt = 0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      killedAt = await partialSize();
      if (killedAt > 1024 * 1024) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    await reg.kill();
    const r = await pulling;
    expect(killedAt, 'the pull should have been under way when the registry was killed').toBeGreaterThan(0);
    expect(r.exitCode, `the pull finished before the kill landed: ${String(r.stderr)}`).toBe(125);
    expect(String(r.stderr)).toMatch(new RegExp(`^Error: pulling ${ref}: (connection to ${reg.host} lost while fetching blob sha256:${bigBlob} \\(\\d+ of \\d+ bytes; a retry resumes there\\)|cannot connect to ${reg.host}: connection refused)$`));
    // No partial image is visible; what was downloaded is kept for the retry.
    expect((await json(['images', '--format', 'json'])).map((i: { Names: string[] }) => i.Names).flat()).not.toContain(ref);
    const kept = await partialSize();
    expect(kept).toBeGreaterThan(0);

    await reg.start();
    const again = await ok(['--log-level', 'debug', 'pull', ref], { timeout: 120_000 });
    expect(String(again.stdout)).toBe(layout.images[0]!.imageId);
    expect(String(again.stderr)).toMatch(new RegExp(`blob sha256:${bigBlob}: resuming at byte ${kept}`));
    expect(String((await ok(['run', '--rm', ref, 'echo', 'ok'])).stdout)).toBe('ok');
    // The staging area is empty again.
    expect((await fs.readdir(partials)).filter((e) => e.endsWith('.partial'))).toEqual([]);
  }, 180_000);
});
