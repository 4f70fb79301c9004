// Issue 20 acceptance, the clients beyond api.test.ts: testcontainers for Node (its reaper off),
// the docker CLI's and podman --remote's image commands (pull from a real docker-registry on
// 127.0.0.1, tag, rmi, load) against `peapod system service` with its own --root/--runroot.
// Adversarial: hostile references and names, oversized uploads, clients leaving mid pull and mid
// load. Traffic only over the socket and to the loopback registry.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import net from 'node:net';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { useSandbox, until } from '../helpers/e2e.js';
import { call, startService, type Service } from '../helpers/api.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { requireRegistryTools, startRegistry, writeLayout, writeRegistriesConf, type Registry } from '../helpers/registry.js';

const e2e = useSandbox('peapod-api-clients', { images: ['localhost/busybox:latest'] });

let svc: Service;
let reg: Registry;
let regDir: string | undefined;
/** the service's TMPDIR (uploads are received there) */
let svcTmp: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  await requireRegistryTools(['docker-registry', 'skopeo']);
  // outside the sandbox: the leak check after each test takes any process naming the sandbox for a leftover
  regDir = mkdtempSync(path.join(os.tmpdir(), 'peapod-api-registry-'));
  reg = await startRegistry({ dir: regDir });
  const busybox = await fs.readFile(await busyboxRootfsTar(e2e.sb.dir));
  for (const [name, say] of [['demo/hello:v1', 'hello from the registry'], ['demo/other:v2', 'another image']]) {
    const layout = await writeLayout(path.join(e2e.sb.dir, 'layouts', name.replace(/[/:]/g, '-')), 'x', [{ layers: [busybox], cmd: ['echo', say] }]);
    await reg.push(`${layout.dir}:x`, name);
  }
  // the only registries.conf the service reads: the test registry speaks plain HTTP
  const conf = await writeRegistriesConf(e2e.sb.dir, `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
  svcTmp = path.join(e2e.sb.dir, 'svc-tmp');
  mkdirSync(svcTmp, { mode: 0o700 });
  svc = await startService(e2e, path.join(e2e.sb.dir, 'peapod.sock'), '0', {
    PEAPOD_REGISTRIES_CONF: conf, REGISTRY_AUTH_FILE: path.join(e2e.sb.dir, 'auth.json'), PEAPOD_CERTS_D: path.join(e2e.sb.dir, 'certs.d'), TMPDIR: svcTmp,
  });
});

afterAll(async () => {
  if (svc) { svc.proc.kill('SIGTERM'); await svc.proc; }
  await reg?.stop();
  if (regDir) rmSync(regDir, { recursive: true, force: true });
});

const docker = (args: string[]) => execa('docker', args, { reject: false, env: { DOCKER_HOST: svc.url, DOCKER_CONFIG: path.join(e2e.sb.dir, 'docker-config') }, stdin: 'ignore' });
const podman = (args: string[]) => execa('podman', ['--remote', '--url', svc.url, ...args], { reject: false, stdin: 'ignore' });
const names = async () => (await e2e.json(['images', '--format', 'json'])).flatMap((i: any) => i.Names ?? []).sort();
/** the image store's scratch space: empty unless a load, import or pull is running */
const scratch = () => { try { return readdirSync(path.join(e2e.sb.root, 'storage', 'tmp')); } catch { return []; } };

describe('testcontainers for Node (DOCKER_HOST, reaper disabled)', () => {
  it('starts a GenericContainer from a local image, waits for its log line, reads its logs, execs, stops it', async () => {
    // testcontainers reads its configuration from the environment when it first connects (and
    // caches it); its lock files (the reaper's, even when the reaper is off) go to the sandbox, not
    // /tmp. The other clients of this file must not see these: they are put back after the test.
    Object.assign(process.env, { DOCKER_HOST: svc.url, TESTCONTAINERS_RYUK_DISABLED: 'true', TMPDIR: e2e.sb.dir });
    const { GenericContainer, Wait } = await import('testcontainers');
    const c = await new GenericContainer('localhost/busybox:latest')
      .withCommand(['sh', '-c', 'echo hello-from-testcontainers; echo to-err >&2; sleep 1000'])
      .withWaitStrategy(Wait.forLogMessage('hello-from-testcontainers'))
      .start();
    try {
      // the same container through peapod's own CLI
      const ps = await e2e.json(['ps', '--format', 'json']);
      expect(ps.map((x: any) => [x.Id, x.State])).toEqual([[c.getId(), 'running']]);
      const out: string[] = [];
      const stream = await c.logs();
      stream.on('data', (d: Buffer | string) => out.push(String(d)));
      await until(async () => out.join(''), (s) => s.includes('to-err'));
      stream.destroy();
      expect(out.join('')).toContain('hello-from-testcontainers\n');
      expect(out.join('')).toContain('to-err\n');
      const ex = await c.exec(['sh', '-c', 'echo in-exec; exit 3']);
      expect([ex.output.trim(), ex.exitCode]).toEqual(['in-exec', 3]);
    } finally {
      await c.stop({ timeout: 0 });
      for (const k of ['DOCKER_HOST', 'TESTCONTAINERS_RYUK_DISABLED', 'TMPDIR']) {
        if (savedEnv[k] === undefined) delete process.env[k]; else process.env[k] = savedEnv[k];
      }
    }
    // stop removes it (testcontainers' default)
    expect(await e2e.json(['ps', '-a', '--format', 'json'])).toEqual([]);
  });
});

describe('docker CLI: images', () => {
  it('pull from a local registry with progress, images, run, tag, rmi', async () => {
    const ref = `${reg.host}/demo/hello:v1`;
    const pull = await docker(['pull', ref]);
    expect(String(pull.stderr)).toBe('');
    expect(pull.exitCode).toBe(0);
    const lines = String(pull.stdout).split('\n');
    expect(lines[0]).toBe('v1: Pulling from demo/hello');
    // busybox's layer is in the store already (the sandbox's own busybox image has it)
    expect(lines).toContainEqual(expect.stringMatching(/^[0-9a-f]{12}: (Pull complete|Already exists)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^Digest: sha256:[0-9a-f]{64}$/));
    expect(lines.slice(-2)).toEqual([`Status: Downloaded newer image for ${ref}`, ref]);
    // pulled again: the layer is there, the image up to date
    const again = String((await docker(['pull', ref])).stdout).split('\n');
    expect(again).toContainEqual(expect.stringMatching(/^[0-9a-f]{12}: Already exists$/));
    expect(again.slice(-2)).toEqual([`Status: Image is up to date for ${ref}`, ref]);
    // docker images and peapod images show it
    expect(String((await docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).split('\n')).toContain(ref);
    expect(await names()).toContain(ref);
    expect(String((await docker(['run', '--rm', ref])).stdout)).toBe('hello from the registry');
    // tag, rmi of a name, then of the image
    const tag = await docker(['tag', ref, 'mine:1']);
    expect(String(tag.stderr)).toBe('');
    // the docker CLI sends the name it normalised itself (docker.io's), which is stored as given
    expect(await names()).toEqual(expect.arrayContaining([ref, 'docker.io/library/mine:1']));
    expect(String((await docker(['rmi', 'docker.io/library/mine:1'])).stdout)).toBe('Untagged: docker.io/library/mine:1');
    const id = (await e2e.json(['image', 'inspect', ref]))[0].Id;
    const rmi = await docker(['rmi', ref]);
    expect(String(rmi.stderr)).toBe('');
    expect(String(rmi.stdout).split('\n')).toEqual([`Untagged: ${ref}`, `Deleted: sha256:${id}`]);
    expect(await names()).not.toContain(ref);
    expect(scratch()).toEqual([]);
  });

  it('a pull of an unknown tag fails with the registry\'s reason and stores nothing', async () => {
    const before = await names();
    const r = await docker(['pull', `${reg.host}/demo/hello:nope`]);
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr)).toMatch(/nope/);
    expect(await names()).toEqual(before);
  });
});

describe('podman --remote: images', () => {
  it('pull, images, tag, rmi, load', async () => {
    const ref = `${reg.host}/demo/other:v2`;
    const pull = await podman(['pull', ref]);
    expect(pull.exitCode).toBe(0);
    const id = String(pull.stdout).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(String(pull.stderr)).toContain(`Trying to pull ${ref}...`);
    expect(String(pull.stderr)).toContain('Writing manifest to image destination');
    expect(String((await podman(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).split('\n')).toContain(ref);
    const tag = await podman(['tag', ref, 'other:2']);
    expect(String(tag.stderr)).toBe('');
    expect(await names()).toEqual(expect.arrayContaining([ref, 'localhost/other:2']));
    // save with peapod, remove through the client, load through the client
    const archive = path.join(e2e.sb.dir, 'other.tar');
    await e2e.sb.ok(['save', '-o', archive, ref]);
    const rmi = await podman(['rmi', ref, 'localhost/other:2']);
    expect(String(rmi.stderr)).toBe('');
    expect(String(rmi.stdout).split('\n')).toEqual([`Untagged: ${ref}`, 'Untagged: localhost/other:2', `Deleted: ${id}`]);
    expect(await names()).not.toContain(ref);
    const load = await podman(['load', '-i', archive]);
    expect(String(load.stderr)).toBe('');
    expect(String(load.stdout).trim()).toBe(`Loaded image: ${ref}`);
    expect((await e2e.json(['image', 'inspect', ref]))[0].Id).toBe(id);
    const gone = await podman(['rmi', 'localhost/no-such-image']);
    expect(gone.exitCode).toBe(1);
    expect(String(gone.stderr)).toMatch(/no-such-image/);
    expect((await podman(['rmi', ref])).exitCode).toBe(0);
    expect(readdirSync(svcTmp)).toEqual([]);
  });
});

describe('hostile image requests', () => {
  it('references that do not parse (path traversal, upper case, newlines) are 400 before anything starts', async () => {
    const before = await names();
    for (const from of ['../../../../etc/passwd', `${reg.host}/../../etc`, `${reg.host}/demo/HELLO`, `${reg.host}/demo/hello\nx`, '/etc/passwd', `${'a'.repeat(300)}`]) {
      const d = await call(svc.sock, 'POST', `/v1.41/images/create?fromImage=${encodeURIComponent(from)}&tag=v1`);
      expect(d.status, from).toBe(400);
      expect(d.json.message, from).toMatch(/invalid reference format|repository name/);
      const l = await call(svc.sock, 'POST', `/v4.3.1/libpod/images/pull?reference=${encodeURIComponent(`${from}:v1`)}`);
      expect(l.status, from).toBe(400);
    }
    // every tag of a repository is not served: 501 naming it
    const all = await call(svc.sock, 'POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${reg.host}/demo/hello`)}`);
    expect(all.status).toBe(501);
    expect(all.json.message).toContain('POST /images/create');
    const allTags = await call(svc.sock, 'POST', `/v4.3.1/libpod/images/pull?reference=${encodeURIComponent(`${reg.host}/demo/hello`)}&allTags=true`);
    expect(allTags.status).toBe(501);
    expect(await names()).toEqual(before);
    expect(scratch()).toEqual([]);
  });

  it('hostile names to tag and image names in the path are refused, nothing renamed', async () => {
    const before = await names();
    for (const repo of ['../../evil', 'UPPER', 'a b', 'x\ny', '/abs']) {
      const r = await call(svc.sock, 'POST', `/v1.41/images/localhost%2Fbusybox:latest/tag?repo=${encodeURIComponent(repo)}&tag=1`);
      expect(r.status, repo).toBe(400);
      const l = await call(svc.sock, 'POST', `/v4.3.1/libpod/images/localhost%2Fbusybox:latest/tag?repo=${encodeURIComponent(repo)}&tag=1`);
      expect(l.status, repo).toBe(400);
    }
    const badTag = await call(svc.sock, 'POST', `/v1.41/images/localhost%2Fbusybox:latest/tag?repo=ok&tag=${encodeURIComponent('../x')}`);
    expect(badTag.status).toBe(400);
    for (const [m, p] of [['GET', '/v1.41/images/..%2F..%2Fetc%2Fpasswd/json'], ['GET', '/v4.3.1/libpod/images/..%2F..%2Fimages/json'], 
      ['DELETE', '/v4.3.1/libpod/images/..%2F..%2Fimages'], ['DELETE', '/v1.41/images/..%2Fstorage']]) {
      const r = await call(svc.sock, m, p);
      expect(r.status, p).toBe(400);
      expect(r.json.message, p).toContain('invalid reference format');
    }
    // a dot-dot segment is the URL's own (resolved before routing): another path, never an image name
    expect((await call(svc.sock, 'GET', '/v1.41/images/%2E%2E/json')).status).toBe(501);
    expect(await names()).toEqual(before);
  });

  it('a client that leaves mid pull: the pull ends whole (it runs), nothing is left in scratch space', async () => {
    const ref = `${reg.host}/demo/hello:v1`;
    await new Promise<void>((resolve) => {
      const s = net.connect(svc.sock, () => {
        s.write(`POST /v1.41/images/create?fromImage=${encodeURIComponent(`${reg.host}/demo/hello`)}&tag=v1 HTTP/1.1\r\nHost: d\r\n\r\n`);
      });
      // gone as soon as the first progress line arrived
      s.once('data', () => { s.destroy(); resolve(); });
    });
    expect(await until(async () => names(), (n: string[]) => n.includes(ref), 300)).toContain(ref);
    expect(await until(async () => scratch(), (l) => l.length === 0)).toEqual([]);
    expect(String((await e2e.sb.ok(['run', '--rm', ref])).stdout)).toBe('hello from the registry');
    await e2e.sb.ok(['rmi', ref]);
  });

  it('load: an oversized upload is 413, a client that leaves mid upload loads nothing and leaves no file', async () => {
    const before = await names();
    const big = await call(svc.sock, 'POST', '/v4.3.1/libpod/images/load', undefined, { 'Content-Length': String(64 * 1024 ** 4) });
    expect(big.status).toBe(413);
    const archive = path.join(e2e.sb.dir, 'busybox.tar');
    await e2e.sb.ok(['save', '-o', archive, 'localhost/busybox:latest']);
    const body = readFileSync(archive);
    await e2e.sb.ok(['tag', 'localhost/busybox:latest', 'localhost/keep:1']);
    await e2e.sb.ok(['rmi', 'localhost/busybox:latest']);
    await new Promise<void>((resolve) => {
      const s = net.connect(svc.sock, () => {
        s.write(`POST /v4.3.1/libpod/images/load HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: ${body.length}\r\n\r\n`);
        s.write(body.subarray(0, body.length >> 1), () => setTimeout(() => { s.destroy(); resolve(); }, 200));
      });
    });
    expect((await call(svc.sock, 'GET', '/_ping')).status).toBe(200);
    expect(await until(async () => readdirSync(svcTmp), (l) => l.length === 0)).toEqual([]);
    expect(await names()).not.toContain('localhost/busybox:latest');
    expect(scratch()).toEqual([]);
    // a garbage archive is refused with the loader's reason
    const junk = await call(svc.sock, 'POST', '/v4.3.1/libpod/images/load', Buffer.alloc(4096, 'x'), { 'Content-Type': 'application/x-tar' });
    expect(junk.status).toBe(400);
    expect(junk.json.message).toMatch(/^the request body: /);
    // put busybox back as it was
    await e2e.sb.ok(['tag', 'localhost/keep:1', 'localhost/busybox:latest']);
    await e2e.sb.ok(['rmi', 'localhost/keep:1']);
    expect(await names()).toEqual(before);
    expect(readdirSync(svcTmp)).toEqual([]);
  });
});
