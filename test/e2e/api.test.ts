// Issue 20 acceptance: `peapod system service` against real clients. Podman's own remote mode
// (`podman --remote --url unix://SOCK`) and the docker CLI and docker-py talk to a real service
// on a socket in the test's sandbox, with its own --root/--runroot; what they see is what
// `peapod ps` / `pod ps` see. Adversarial: another local user cannot connect, oversized bodies are
// refused, a client that goes away mid play leaves no half-made pod. Traffic only over the socket.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import http from 'node:http';
import net from 'node:net';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, PROJECT } from '../helpers/cli.js';
import { useSandbox, until } from '../helpers/e2e.js';
import { call, startService, type Service } from '../helpers/api.js';

const e2e = useSandbox('peapod-api', { images: ['localhost/busybox:latest'] });

let svc: Service;
let apiDir: string;
const podman = (args: string[], input?: string) => execa('podman', ['--remote', '--url', svc.url, ...args], { reject: false, input, stdin: input === undefined ? 'ignore' : undefined });

beforeAll(async () => {
  // the socket's directory is open to everyone: only the socket's own mode keeps others out
  apiDir = path.join(e2e.sb.dir, 'api');
  mkdirSync(apiDir);
  chmodSync(e2e.sb.dir, 0o755);
  chmodSync(apiDir, 0o755);
  svc = await startService(e2e, path.join(apiDir, 'peapod.sock'), '0');
});

afterAll(async () => {
  if (svc) { svc.proc.kill('SIGTERM'); await svc.proc; }
});

describe('the service', () => {
  it('listens on a socket of mode 0600 owned by its user, answers _ping as Podman does', async () => {
    const st = statSync(svc.sock);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe('600');
    expect(st.uid).toBe(process.getuid!());
    const r = await call(svc.sock, 'GET', '/_ping');
    expect(r.status).toBe(200);
    expect(r.text).toBe('OK');
    expect(r.headers['libpod-api-version']).toBe('4.3.1');
    expect(r.headers['api-version']).toBe('1.41');
  });

  it('another local user (uid 65534) cannot connect', async () => {
    const r = await execa('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'curl', '-sS', '--unix-socket', svc.sock, 'http://d/_ping'], { reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr)).toMatch(/Permission denied|Couldn't connect/);
    expect(String(r.stdout)).not.toContain('OK');
  });

  it('exits after --time seconds without a request, removing its socket', async () => {
    const s = await startService(e2e, path.join(apiDir, 'idle.sock'), '1');
    expect((await call(s.sock, 'GET', '/_ping')).status).toBe(200);
    const r = await s.proc;
    expect(r.exitCode).toBe(0);
    expect(existsSync(s.sock)).toBe(false);
  });

  it('answers a first request on a socket systemd hands over (LISTEN_FDS)', async () => {
    const sock = path.join(apiDir, 'activated.sock');
    const proc = execa('systemd-socket-activate', ['-l', sock, BIN, `--root=${e2e.sb.root}`, `--runroot=${e2e.sb.runroot}`, 'system', 'service', '--time', '1'], { reject: false, env: { PEAPOD_CGROUP_PARENT: e2e.sb.cgroupParent }, stdin: 'ignore' });
    await until(async () => existsSync(sock), (v) => v, 100);
    const r = await execa('podman', ['--remote', '--url', `unix://${sock}`, 'info', '--format', '{{.Store.GraphRoot}}'], { reject: false });
    expect(String(r.stderr)).toBe('');
    expect(String(r.stdout).trim()).toBe(path.join(e2e.sb.root, 'storage'));
    proc.kill('SIGTERM');
    await proc;
  });

  it('an unserved endpoint answers 501 naming it; errors carry Podman\'s body', async () => {
    const r = await call(svc.sock, 'GET', '/v1.41/swarm');
    expect(r.status).toBe(501);
    expect(r.json).toEqual({ cause: 'not implemented', message: expect.stringContaining('GET /v1.41/swarm'), response: 501 });
    const l = await call(svc.sock, 'POST', '/v4.3.1/libpod/containers/x/checkpoint');
    expect(l.status).toBe(501);
    expect(l.json.message).toContain('POST /v4.3.1/libpod/containers/x/checkpoint');
    const nf = await call(svc.sock, 'GET', '/v4.3.1/libpod/containers/nope/json');
    expect(nf.status).toBe(404);
    expect(nf.json).toEqual({ cause: 'no such container', message: expect.stringContaining('"nope"'), response: 404 });
  });

  it('refuses an oversized body before reading it, and a chunked one that grows too big', async () => {
    const big = await call(svc.sock, 'POST', '/v4.3.1/libpod/play/kube', undefined, { 'Content-Length': String(64 * 1024 * 1024) }).catch((err) => ({ status: -1, json: undefined, err }));
    expect(big.status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request({ socketPath: svc.sock, method: 'POST', path: '/v4.3.1/libpod/play/kube', headers: { Host: 'd', 'Transfer-Encoding': 'chunked' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024, 'a');
      let sent = 0;
      const pump = () => { while (sent < 20 && req.write(chunk)) sent++; if (sent < 20) req.once('drain', () => { sent++; pump(); }); else req.end(); };
      pump();
    }).catch(() => 413); // the service may close the connection while the client still writes
    expect(chunked).toBe(413);
    // and it still serves
    expect((await call(svc.sock, 'GET', '/_ping')).status).toBe(200);
    expect(await e2e.json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  });
});

const demo = readFileSync(path.join(PROJECT, 'examples', 'demo-pod.yaml'), 'utf8');

describe('the shipped systemd units (contrib/systemd)', () => {
  it('peapod.socket starts peapod.service on the first request; after it idled out the next request starts it again', async () => {
    // a real systemd user manager, in a private mount namespace (HOST-NOTES.md: PID 1 is not systemd here)
    const rt = path.join(e2e.sb.dir, 'sd');
    const units = path.join(rt, 'systemd', 'user');
    mkdirSync(units, { recursive: true });
    const contrib = path.join(PROJECT, 'contrib', 'systemd');
    writeFileSync(path.join(units, 'peapod.socket'), readFileSync(path.join(contrib, 'peapod.socket'), 'utf8'));
    const service = readFileSync(path.join(contrib, 'peapod.service'), 'utf8');
    expect(service).toMatch(/^ExecStart=\/usr\/local\/bin\/peapod system service --time 5$/m);
    expect(service).toMatch(/^KillMode=process$/m); // the containers' conmon outlive the service
    writeFileSync(path.join(units, 'peapod.service'), service
      .replace('/usr/local/bin/peapod', `${BIN} --root=${e2e.sb.root} --runroot=${e2e.sb.runroot}`)
      .replace('--time 5', '--time 1')
      .replace('[Service]', `[Service]\nEnvironment=PEAPOD_CGROUP_PARENT=${e2e.sb.cgroupParent}`));
    const manager = execa('unshare', ['-m', '--propagation', 'slave', 'sh', '-c', 'mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && exec /lib/systemd/systemd --user'], { reject: false, env: { XDG_RUNTIME_DIR: rt }, stdin: 'ignore' });
    const systemctl = (args: string[]) => execa('systemctl', ['--user', ...args], { reject: false, env: { XDG_RUNTIME_DIR: rt } });
    try {
      // the manager answers once it is up (is-system-running says "offline" either way)
      const started = await until(async () => systemctl(['start', 'peapod.socket']), (r) => r.exitCode === 0, 100);
      expect(String(started.stderr)).toBe('');
      expect(started.exitCode).toBe(0);
      const sock = path.join(rt, 'peapod', 'peapod.sock');
      expect((statSync(sock).mode & 0o777).toString(8)).toBe('600');
      expect(String((await systemctl(['is-active', 'peapod.service'])).stdout)).toBe('inactive');
      for (const round of [1, 2]) {
        const r = await execa('podman', ['--remote', '--url', `unix://${sock}`, 'info', '--format', '{{.Store.GraphRoot}}'], { reject: false });
        expect(String(r.stderr), `round ${round}`).toBe('');
        expect(String(r.stdout)).toBe(path.join(e2e.sb.root, 'storage'));
        // idle for --time: the service exits, the socket stays
        expect(await until(async () => String((await systemctl(['is-active', 'peapod.service'])).stdout), (s) => s === 'inactive', 100)).toBe('inactive');
        expect(String((await systemctl(['is-active', 'peapod.socket'])).stdout)).toBe('active');
      }
    } finally {
      manager.kill('SIGTERM');
      await manager;
    }
  });
});

describe('podman --remote', () => {
  it('info, version, images, ps and pod ps on the service', async () => {
    const info = await podman(['info', '--format', 'json']);
    expect(String(info.stderr)).toBe('');
    const i = JSON.parse(String(info.stdout));
    expect(i.store.graphRoot).toBe(path.join(e2e.sb.root, 'storage'));
    expect(i.host.ociRuntime.name).toMatch(/runc|crun/);
    expect(i.store.imageStore.number).toBe(1);
    const v = await podman(['version', '--format', '{{.Server.APIVersion}}']);
    expect(String(v.stdout).trim()).toBe('4.3.1');
    const images = await podman(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(String(images.stderr)).toBe('');
    expect(String(images.stdout).trim()).toBe('localhost/busybox:latest');
    const ps = await podman(['ps', '-a']);
    expect(ps.exitCode).toBe(0);
    expect(String(ps.stdout).trim()).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND/);
    const pods = await podman(['pod', 'ps']);
    expect(pods.exitCode).toBe(0);
    expect(String(pods.stdout).trim()).toMatch(/^POD ID\s+NAME\s+STATUS/);
  });

  it('kube play of the README demo runs the pod, ps/pod ps/generate kube see it, kube down removes it', async () => {
    const file = e2e.manifest('demo', demo);
    const play = await podman(['kube', 'play', file]);
    expect(String(play.stderr)).toBe('');
    expect(play.exitCode).toBe(0);
    const pods = await e2e.json(['pod', 'ps', '--format', 'json']);
    expect(pods.map((p: any) => [p.Name, p.Status])).toEqual([['demo', 'Running']]);
    const members = (await e2e.json(['ps', '--format', 'json'])).filter((c: any) => !c.IsInfra).map((c: any) => c.Id);
    expect(members.length).toBe(2);
    expect(String(play.stdout)).toMatch(new RegExp(`^Pod:\\n${pods[0].Id}\\nContainers:\\n[0-9a-f]{64}\\n[0-9a-f]{64}\\n$`));
    for (const id of members) expect(String(play.stdout)).toContain(id);
    // the same pod and containers through the client
    const pps = await podman(['pod', 'ps', '--format', '{{.Name}} {{.Status}} {{.NumberOfContainers}}']);
    expect(String(pps.stdout).trim()).toBe('demo Running 3');
    const ps = await podman(['ps', '--format', '{{.Names}} {{.Status}}']);
    const lines = String(ps.stdout).trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const re of [/^[0-9a-f]{12}-infra Up /, /^demo-client Up /, /^demo-web Up /]) expect(lines.filter((l) => re.test(l))).toHaveLength(1);
    const inspect = await podman(['pod', 'inspect', 'demo', '--format', '{{.Name}} {{.NumContainers}}']);
    expect(inspect.exitCode).toBe(0);
    const gen = await podman(['generate', 'kube', 'demo']);
    expect(String(gen.stderr)).toBe('');
    expect(String(gen.stdout)).toContain('name: demo');
    expect(String(gen.stdout)).toContain('image: localhost/busybox:latest');
    const down = await podman(['kube', 'down', file]);
    expect(String(down.stderr)).toBe('');
    expect(String(down.stdout)).toBe(`Pods stopped:\n${pods[0].Id}\nPods removed:\n${pods[0].Id}`);
    expect(await e2e.json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  });

  it('a play the YAML does not pass creates nothing and says why', async () => {
    const bad = demo.replace('command: ["sh", "-c"]', 'comand: ["sh", "-c"]');
    const r = await podman(['kube', 'play', e2e.manifest('bad', bad)]);
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr)).toContain('comand');
    expect(await e2e.json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  });
});

describe('a client that goes away mid play', () => {
  it('before its body ended: nothing is made', async () => {
    const body = Buffer.from(demo);
    await new Promise<void>((resolve) => {
      const s = net.connect(svc.sock, () => {
        s.write(`POST /v4.3.1/libpod/play/kube HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-yaml\r\nContent-Length: ${body.length}\r\n\r\n`);
        s.write(body.subarray(0, body.length >> 1), () => { s.destroy(); resolve(); });
      });
    });
    // the service is still there and made nothing
    expect((await call(svc.sock, 'GET', '/_ping')).status).toBe(200);
    expect(await e2e.json(['pod', 'ps', '--format', 'json'])).toEqual([]);
    expect(await e2e.json(['ps', '-a', '--format', 'json'])).toEqual([]);
  });

  it('right after its whole body: the play completes (never half a pod)', async () => {
    const body = Buffer.from(demo);
    await new Promise<void>((resolve) => {
      const s = net.connect(svc.sock, () => {
        s.write(`POST /v4.3.1/libpod/play/kube HTTP/1.1\r\nHost: d\r\nContent-Length: ${body.length}\r\n\r\n`);
        s.write(body, () => { s.destroy(); resolve(); });
      });
    });
    // the play goes on without the client: wait for its pod to be whole
    const pods = await until(async () => e2e.json(['pod', 'ps', '--format', 'json']), (p: any[]) => p.length === 1 && p[0].Status === 'Running' && p[0].Containers.length === 3, 200);
    expect(pods.map((p: any) => [p.Name, p.Status, p.Containers.length])).toEqual([['demo', 'Running', 3]]);
    expect((await e2e.json(['ps', '--format', 'json'])).length).toBe(3);
  });
});

describe('podman --remote logs and exec', () => {
  it('logs shows a container\'s output, exec runs in it with its exit code', async () => {
    const file = e2e.manifest('talk', `apiVersion: v1
kind: Pod
metadata:
  name: talk
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: localhost/busybox:latest
      command: ["sh", "-c", "echo hello out; echo hello err >&2; sleep 1000"]
`);
    expect((await podman(['kube', 'play', file])).exitCode).toBe(0);
    await until(async () => String((await podman(['logs', 'talk-c'])).stdout), (s) => s.includes('hello out'));
    const logs = await podman(['logs', 'talk-c']);
    expect(String(logs.stdout)).toBe('hello out');
    expect(String(logs.stderr)).toBe('hello err');
    const ex = await podman(['exec', 'talk-c', 'sh', '-c', 'echo in-container $HOSTNAME; echo to-err >&2; exit 4']);
    expect(String(ex.stdout)).toBe('in-container talk');
    expect(String(ex.stderr)).toBe('to-err');
    expect(ex.exitCode).toBe(4);
  });

  it('pod stop, start, rm', async () => {
    const file = e2e.manifest('cycle', `apiVersion: v1
kind: Pod
metadata:
  name: cycle
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: localhost/busybox:latest
      command: ["sleep", "1000"]
`);
    expect((await podman(['kube', 'play', file])).exitCode).toBe(0);
    const status = async () => (await e2e.json(['pod', 'ps', '--format', 'json'])).map((p: any) => `${p.Name} ${p.Status}`);
    const stop = await podman(['pod', 'stop', 'cycle']);
    expect(String(stop.stderr)).toBe('');
    expect(stop.exitCode).toBe(0);
    expect(await status()).toEqual(['cycle Exited']);
    const start = await podman(['pod', 'start', 'cycle']);
    expect(String(start.stderr)).toBe('');
    expect(await status()).toEqual(['cycle Running']);
    const rm = await podman(['pod', 'rm', '-f', 'cycle']);
    expect(String(rm.stderr)).toBe('');
    expect(rm.exitCode).toBe(0);
    expect(await status()).toEqual([]);
  });
});

describe('docker CLI (DOCKER_HOST)', () => {
  const docker = (args: string[]) => execa('docker', args, { reject: false, env: { DOCKER_HOST: svc.url, DOCKER_CONFIG: path.join(e2e.sb.dir, 'docker-config') }, stdin: 'ignore' });

  it('version, info, images', async () => {
    const v = await docker(['version', '--format', '{{.Server.APIVersion}}']);
    expect(String(v.stderr)).toBe('');
    expect(String(v.stdout)).toBe('1.41');
    const images = await e2e.json(['images', '--format', 'json']);
    expect(String((await docker(['info', '--format', '{{.Images}} {{.Driver}}'])).stdout)).toBe(`${images.length} overlay`);
    // busybox, and the infra image once a pod was played
    expect(String((await docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).split('\n')).toContain('localhost/busybox:latest');
  });

  it('run --rm prints the output and passes the exit code through; the container is gone after', async () => {
    const r = await docker(['run', '--rm', 'localhost/busybox', 'echo', 'hi']);
    expect(String(r.stderr)).toBe('');
    expect(String(r.stdout)).toBe('hi');
    expect(r.exitCode).toBe(0);
    const f = await docker(['run', '--rm', 'localhost/busybox', 'sh', '-c', 'echo oops >&2; exit 7']);
    expect(String(f.stderr)).toBe('oops');
    expect(f.exitCode).toBe(7);
    expect(await until(async () => e2e.json(['ps', '-a', '--format', 'json']), (l: any[]) => l.length === 0)).toEqual([]);
  });

  it('run -d, ps, exec, logs, ps -a, rm -f', async () => {
    const id = String((await docker(['run', '-d', '--name', 'web', 'localhost/busybox', 'sh', '-c', 'echo started; sleep 1000'])).stdout).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await e2e.json(['ps', '--format', 'json'])).map((c: any) => [c.Id, c.Names[0], c.State])).toEqual([[id, 'web', 'running']]);
    expect(String((await docker(['ps', '--format', '{{.ID}} {{.Names}} {{.Image}}'])).stdout)).toBe(`${id.slice(0, 12)} web localhost/busybox:latest`);
    const ex = await docker(['exec', 'web', 'sh', '-c', 'echo from-exec; exit 3']);
    expect(String(ex.stdout)).toBe('from-exec');
    expect(ex.exitCode).toBe(3);
    await until(async () => String((await docker(['logs', 'web'])).stdout), (s) => s.includes('started'));
    expect(String((await docker(['logs', 'web'])).stdout)).toBe('started');
    expect(String((await docker(['ps', '-a', '--format', '{{.Names}} {{.State}}'])).stdout)).toBe('web running');
    const rm = await docker(['rm', '-f', 'web']);
    expect(String(rm.stderr)).toBe('');
    expect(String(rm.stdout)).toBe('web');
    expect(await e2e.json(['ps', '-a', '--format', 'json'])).toEqual([]);
    const gone = await docker(['logs', 'web']);
    expect(gone.exitCode).not.toBe(0);
    expect(String(gone.stderr)).toMatch(/No such container|no container/i);
  });
});

describe('docker-py (python3-docker)', () => {
  it('containers.run, list, logs, remove', async () => {
    const script = `
import docker, time
c = docker.DockerClient(base_url=${JSON.stringify(svc.url)})
print(c.containers.run('localhost/busybox:latest', 'echo hi-from-py', remove=True).decode().strip())
d = c.containers.run('localhost/busybox:latest', ['sh', '-c', 'echo bg; sleep 1000'], detach=True, name='py-bg')
print([x.name for x in c.containers.list()])
for i in range(100):
    l = d.logs().decode()
    if 'bg' in l: break
    time.sleep(0.1)
print(l.strip())
d.remove(force=True)
print(len(c.containers.list(all=True)))
`;
    const r = await execa('python3', ['-c', script], { reject: false });
    expect(String(r.stderr)).toBe('');
    expect(String(r.stdout).split('\n')).toEqual(['hi-from-py', "['py-bg']", 'bg', '0']);
    expect(await e2e.json(['ps', '-a', '--format', 'json'])).toEqual([]);
  });
});
