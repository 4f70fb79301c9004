// Issue 10 acceptance: a normal user runs pods without root. The test makes a throwaway user with
// subordinate id ranges, makes /dev/net/tun usable by normal users (0666, as on typical desktops;
// it is 0600 on this machine) and runs the built CLI as that user with its default (XDG) paths.
// Afterwards the user, its ranges, its files and every process it had are gone, and the tun mode
// is restored. Traffic goes only to 127.0.0.1 (and, from the pod, to the host through pasta).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa, type Result } from 'execa';
import { PROJECT, requireRoot } from '../helpers/cli.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';

const MAIN = path.join(PROJECT, 'dist', 'src', 'cli', 'main.js');
const TUN = '/dev/net/tun';

interface TestUser { name: string; uid: number; gid: number; home: string; xdg: string }

let user: TestUser;
let noRanges: TestUser;
let tunMode: number | undefined;
let scratch: string;
let rootStoreBefore: string;
let hostServer: http.Server | undefined;

/** Every file under a directory with its size and mtime ('' when it does not exist). */
function snapshot(dir: string): string {
  if (!existsSync(dir)) return '';
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = statSync(p, { throwIfNoEntry: false } as any);
      out.push(`${p} ${st?.size} ${st?.mtimeMs}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort().join('\n');
}

function freeStart(file: string): number {
  let end = 300000;
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    const [, s, c] = l.split(':');
    if (Number(s) + Number(c) > end) end = Number(s) + Number(c);
  }
  return end;
}

function removeLines(file: string, name: string): void {
  const kept = readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith(`${name}:`));
  writeFileSync(file, kept.join('\n'));
}

async function makeUser(withRanges: boolean): Promise<TestUser> {
  const name = `pprl${randomBytes(3).toString('hex')}`;
  // No automatic ranges (login.defs SUB_UID_COUNT): the test adds its own, or none.
  await execa('useradd', ['-m', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', '-s', '/bin/sh', name]);
  const uid = Number((await execa('id', ['-u', name])).stdout);
  const gid = Number((await execa('id', ['-g', name])).stdout);
  if (withRanges) {
    for (const f of ['/etc/subuid', '/etc/subgid']) writeFileSync(f, `${name}:${freeStart(f)}:65536\n`, { flag: 'a' });
  }
  const xdg = mkdtempSync(path.join(os.tmpdir(), `peapod-rootless-${name}-`));
  chownSync(xdg, uid, gid);
  chmodSync(xdg, 0o700);
  return { name, uid, gid, home: `/home/${name}`, xdg };
}

/** Processes of a uid (pids), zombies left out (this host's pid 1 does not reap them). */
function processesOf(uid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const st = readFileSync(`/proc/${d}/status`, 'utf8');
      if (Number(st.match(/^Uid:\s+(\d+)/m)?.[1]) === uid && !/^State:\s+Z/m.test(st)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

function cmdline(pid: number): string {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim(); } catch { return ''; }
}

async function removeUser(u: TestUser | undefined): Promise<void> {
  if (!u) return;
  for (const pid of processesOf(u.uid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  await execa('userdel', ['-f', '-r', u.name], { reject: false });
  for (const f of ['/etc/subuid', '/etc/subgid']) removeLines(f, u.name);
  rmSync(u.xdg, { recursive: true, force: true });
}

/** Runs the built CLI as the user, with a clean environment and its default paths. */
function as(u: TestUser, args: string[], opts: { input?: string; noXdg?: boolean } = {}): Promise<Result> {
  return execa('runuser', ['-u', u.name, '--', process.execPath, MAIN, ...args], {
    reject: false, cwd: u.xdg, input: opts.input, stdin: opts.input === undefined ? 'ignore' : undefined, timeout: 120_000,
    extendEnv: false,
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: u.home, USER: u.name, LOGNAME: u.name, ...(opts.noXdg ? {} : { XDG_RUNTIME_DIR: u.xdg }) },
  }) as unknown as Promise<Result>;
}

async function ok(u: TestUser, args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await as(u, args, opts);
  if (r.exitCode !== 0) throw new Error(`peapod ${args.join(' ')} as ${u.name} exited ${r.exitCode}: ${String(r.stderr)}`);
  return String(r.stdout);
}

async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** GET through curl, retried while the pod's server is still coming up (no timing asserted). */
async function curl(url: string): Promise<string> {
  let last = '';
  for (let i = 0; i < 100; i++) {
    const r = await execa('curl', ['-s', '--max-time', '5', url], { reject: false });
    if (r.exitCode === 0) return r.stdout;
    last = `curl exit ${r.exitCode} ${r.stderr}`;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${url} never answered: ${last}`);
}

function manifest(u: TestUser, name: string, body: string): string {
  const f = path.join(u.xdg, `${name}.yaml`);
  writeFileSync(f, body);
  chmodSync(f, 0o644);
  return f;
}

function pausePid(u: TestUser): number | undefined {
  try { return Number(readFileSync(path.join(u.xdg, 'peapod-ns', 'pause.pid'), 'utf8')); } catch { return undefined; }
}

beforeAll(async () => {
  requireRoot();
  rootStoreBefore = `${snapshot('/var/lib/peapod')}\n--\n${snapshot('/run/peapod')}`;
  tunMode = statSync(TUN).mode & 0o777;
  chmodSync(TUN, 0o666);
  scratch = mkdtempSync(path.join(os.tmpdir(), 'peapod-rootless-img-'));
  user = await makeUser(true);
  noRanges = await makeUser(false);
  const tar = path.join(user.xdg, 'busybox.tar');
  writeFileSync(tar, readFileSync(await busyboxRootfsTar(scratch)));
  chmodSync(tar, 0o644);
  await ok(user, ['image', 'import', tar, 'localhost/busybox']);
}, 120_000);

afterAll(async () => {
  hostServer?.close();
  if (user) {
    await as(user, ['system', 'reset', '--force']);
    const p = pausePid(user);
    if (p) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  }
  await removeUser(user);
  await removeUser(noRanges);
  if (tunMode !== undefined) chmodSync(TUN, tunMode);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  if (user) expect(processesOf(user.uid)).toEqual([]);
}, 120_000);

// A failed test leaves no pod to the next one.
afterEach(async () => {
  if (!user) return;
  const pods = JSON.parse(String((await as(user, ['pod', 'ps', '--format', 'json'])).stdout || '[]'));
  for (const p of pods) await as(user, ['pod', 'rm', '-f', '-t', '0', p.Id]);
});

describe('rootless (issue 10)', () => {
  it('plays the 2-container pod: root inside, the user on the host, hostPath files owned by the user', async () => {
    const data = path.join(user.home, 'data');
    await execa('runuser', ['-u', user.name, '--', 'mkdir', '-p', data]);
    const f = manifest(user, 'two', `apiVersion: v1
kind: Pod
metadata:
  name: two
spec:
  terminationGracePeriodSeconds: 0
  volumes:
  - name: data
    hostPath:
      path: ${data}
  containers:
  - name: writer
    image: localhost/busybox
    command: ["sh", "-c", "id -u > /data/uid; echo written > /data/file; echo ready; exec sleep 100000"]
    volumeMounts:
    - name: data
      mountPath: /data
  - name: other
    image: localhost/busybox
    command: ["sleep", "100000"]
`);
    const play = await as(user, ['play', 'kube', f]);
    expect(play.exitCode, String(play.stderr)).toBe(0);
    // cgroups v1 here: the play says once that limits are not applied
    expect(String(play.stderr).match(/resource limits.*not applied/g) ?? []).toHaveLength(1);

    expect((await ok(user, ['exec', 'two-writer', 'id', '-u'])).trim()).toBe('0');
    expect((await ok(user, ['exec', 'two-other', 'id', '-u'])).trim()).toBe('0');
    for (const c of ['two-writer', 'two-other']) {
      const pid = Number((await ok(user, ['inspect', c, '--format', '{{.State.Pid}}'])).trim());
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(Number(status.match(/^Uid:\s+(\d+)/m)![1])).toBe(user.uid);
      // the user is 0 inside, its subordinate range above it
      const map = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
      expect(map[0]).toEqual([0, user.uid, 1]);
      expect(map[1][0]).toBe(1);
    }
    const file = path.join(data, 'file');
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
    expect(statSync(file).uid).toBe(user.uid);
    expect(statSync(file).gid).toBe(user.gid);
    expect(readFileSync(path.join(data, 'uid'), 'utf8').trim()).toBe('0');

    // logs, generate and ps work as they do rootful
    expect(await ok(user, ['logs', 'two-writer'])).toContain('ready');
    const yaml = await ok(user, ['generate', 'kube', 'two']);
    expect(yaml).toContain('name: two');
    const pods = JSON.parse(await ok(user, ['pod', 'ps', '--format', 'json']));
    expect(pods.map((p: { Name: string; Status: string }) => `${p.Name} ${p.Status}`)).toEqual(['two Running']);
    const info = JSON.parse(await ok(user, ['info', '--format', 'json']));
    expect(info.host.rootless).toBe(true);
    expect(info.store.graphRoot).toBe(path.join(user.home, '.local', 'share', 'peapod', 'storage'));
    expect(info.store.runRoot).toBe(path.join(user.xdg, 'peapod'));

    const down = await as(user, ['kube', 'down', f]);
    expect(down.exitCode, String(down.stderr)).toBe(0);
    expect(JSON.parse(await ok(user, ['pod', 'ps', '--format', 'json']))).toEqual([]);
  });

  it('publishes a hostPort through pasta and reaches the host from the pod', async () => {
    const port = await freePort();
    // a server on the host's loopback, reached from the pod through pasta's gateway mapping
    hostServer = http.createServer((_q, s) => s.end('from-the-host'));
    const hostPort = await new Promise<number>((resolve) => hostServer!.listen(0, '127.0.0.1', () => resolve((hostServer!.address() as net.AddressInfo).port)));
    const f = manifest(user, 'web', `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: srv
    image: localhost/busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello-rootless > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports:
    - containerPort: 8080
      hostPort: ${port}
`);
    await ok(user, ['play', 'kube', f]);
    expect((await curl(`http://127.0.0.1:${port}/`)).trim()).toBe('hello-rootless');
    const gw = (await ok(user, ['exec', 'web-srv', 'sh', '-c', "ip route | sed -n 's/^default via \\([0-9.]*\\).*/\\1/p' | head -n 1"])).trim();
    expect(gw).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect((await ok(user, ['exec', 'web-srv', 'wget', '-q', '-O-', `http://${gw}:${hostPort}/`])).trim()).toBe('from-the-host');
    await ok(user, ['kube', 'down', f]);
    // the port is free again: pasta is gone
    const r = await execa('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${port}/`], { reject: false });
    expect(r.exitCode).not.toBe(0);
  });

  it('a NodePort Service: no virtual IP rootless (said once), its nodePort published as the selected pod\'s host port', async () => {
    let port = 0;
    while (port < 30000 || port > 32767) port = await freePort();
    const f = manifest(user, 'np', `apiVersion: v1
kind: Service
metadata:
  name: np
spec:
  type: NodePort
  selector: {app: np}
  ports:
    - {port: 80, targetPort: http, nodePort: ${port}}
---
apiVersion: v1
kind: Pod
metadata:
  name: np
  labels: {app: np}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: srv
    image: localhost/busybox
    command: ["sh", "-c", "mkdir -p /www && echo via-node-port > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports:
    - {name: http, containerPort: 8080}
`);
    const r = await as(user, ['play', 'kube', f]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toContain('rootless: Services np get no virtual IP and no names');
    expect((await curl(`http://127.0.0.1:${port}/`)).trim()).toBe('via-node-port');
    await ok(user, ['kube', 'down', f]);
  });

  it('httpGet and tcpSocket probes reach the pod; pod-level limits are reported, not fatal', async () => {
    const f = manifest(user, 'probed', `apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 0
  resources:
    limits:
      memory: 256Mi
  containers:
  - name: srv
    image: localhost/busybox
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"]
    readinessProbe:
      httpGet:
        path: /healthz
        port: 8080
      periodSeconds: 1
    livenessProbe:
      tcpSocket:
        port: 8080
      periodSeconds: 1
      failureThreshold: 1
`);
    const play = await as(user, ['play', 'kube', '--wait-ready', '--timeout', '60', f]);
    expect(play.exitCode, String(play.stderr)).toBe(0);
    expect(String(play.stderr)).toMatch(/resource limits \(asked for by pod probed\) are not applied/);
    const ps = JSON.parse(await ok(user, ['ps', '--format', 'json']));
    const srv = ps.find((x: { Names: string[] | string }) => [x.Names].flat().includes('probed-srv'));
    expect(srv?.Ready).toBe(true);
    // the liveness probe (failureThreshold 1) has not restarted it
    expect(Number((await ok(user, ['inspect', 'probed-srv', '--format', '{{.RestartCount}}'])).trim())).toBe(0);
    await ok(user, ['kube', 'down', f]);
  });

  it('an httpGet preStop hook reaches the pod', async () => {
    const data = path.join(user.home, 'hook');
    await execa('runuser', ['-u', user.name, '--', 'mkdir', '-p', data]);
    const f = manifest(user, 'hooked', `apiVersion: v1
kind: Pod
metadata:
  name: hooked
spec:
  terminationGracePeriodSeconds: 10
  volumes:
  - name: data
    hostPath:
      path: ${data}
  containers:
  - name: srv
    image: localhost/busybox
    command: ["sh", "-c", "mkdir -p /www/cgi-bin; echo '#!/bin/sh' > /www/cgi-bin/stop; echo 'touch /data/prestop; echo Content-Type: text/plain; echo; echo ok' >> /www/cgi-bin/stop; chmod +x /www/cgi-bin/stop; exec httpd -f -p 8080 -h /www"]
    lifecycle:
      preStop:
        httpGet:
          path: /cgi-bin/stop
          port: 8080
    volumeMounts:
    - name: data
      mountPath: /data
`);
    await ok(user, ['play', 'kube', f]);
    // httpd is up once it answers from inside the pod
    for (let i = 0; i < 100; i++) {
      const r = await as(user, ['exec', 'hooked-srv', 'wget', '-q', '-O-', 'http://127.0.0.1:8080/cgi-bin/stop']);
      if (r.exitCode === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    rmSync(path.join(data, 'prestop'), { force: true });
    await ok(user, ['kube', 'down', f]);
    expect(existsSync(path.join(data, 'prestop'))).toBe(true);
  });

  it('refuses hostPort 80 naming net.ipv4.ip_unprivileged_port_start', async () => {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
    expect(start, 'this test needs net.ipv4.ip_unprivileged_port_start above 80').toBeGreaterThan(80);
    const f = manifest(user, 'low', `apiVersion: v1
kind: Pod
metadata:
  name: low
spec:
  containers:
  - name: srv
    image: localhost/busybox
    command: ["sleep", "100000"]
    ports:
    - containerPort: 8080
      hostPort: 80
`);
    const r = await as(user, ['play', 'kube', f]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toContain('host port 80');
    expect(String(r.stderr)).toContain('net.ipv4.ip_unprivileged_port_start');
    expect(JSON.parse(await ok(user, ['pod', 'ps', '--format', 'json']))).toEqual([]);
  });

  it('restarts a failing container (the exit command runs in the user namespace)', async () => {
    const f = manifest(user, 'again', `apiVersion: v1
kind: Pod
metadata:
  name: again
spec:
  terminationGracePeriodSeconds: 0
  restartPolicy: Always
  containers:
  - name: flaky
    image: localhost/busybox
    command: ["sh", "-c", "exit 3"]
`);
    await ok(user, ['play', 'kube', f]);
    let restarts = 0;
    for (let i = 0; i < 200 && restarts < 1; i++) {
      restarts = Number((await ok(user, ['inspect', 'again-flaky', '--format', '{{.RestartCount}}'])).trim());
      if (restarts < 1) await new Promise((r) => setTimeout(r, 100));
    }
    expect(restarts).toBeGreaterThanOrEqual(1);
    await ok(user, ['kube', 'down', f]);
  });

  it('--userns keep-id: the user\'s uid and gid are the same inside', async () => {
    const port = await freePort();
    const data = path.join(user.home, 'keep');
    await execa('runuser', ['-u', user.name, '--', 'mkdir', '-p', data]);
    const f = manifest(user, 'keep', `apiVersion: v1
kind: Pod
metadata:
  name: keep
spec:
  terminationGracePeriodSeconds: 0
  volumes:
  - name: data
    hostPath:
      path: ${data}
  containers:
  - name: a
    image: localhost/busybox
    command: ["sh", "-c", "echo k > /data/k; exec sleep 100000"]
    volumeMounts:
    - name: data
      mountPath: /data
  - name: b
    image: localhost/busybox
    command: ["sh", "-c", "mkdir -p /tmp/www && echo kept > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
    ports:
    - containerPort: 8080
      hostPort: ${port}
`);
    await ok(user, ['play', 'kube', '--userns', 'keep-id', f]);
    expect((await curl(`http://127.0.0.1:${port}/`)).trim()).toBe('kept');
    for (const c of ['keep-a', 'keep-b']) {
      expect((await ok(user, ['exec', c, 'id', '-u'])).trim()).toBe(String(user.uid));
      expect((await ok(user, ['exec', c, 'id', '-g'])).trim()).toBe(String(user.gid));
      const pid = Number((await ok(user, ['inspect', c, '--format', '{{.State.Pid}}'])).trim());
      expect(Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1])).toBe(user.uid);
    }
    const file = path.join(data, 'k');
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
    expect(statSync(file).uid).toBe(user.uid);
    await ok(user, ['kube', 'down', f]);
    // as root there is no user id to keep
    const r = await execa('node', [MAIN, '--root', path.join(scratch, 'root'), '--runroot', path.join(scratch, 'run'), 'pod', 'create', '--userns', 'keep-id', '--name', 'k'], { reject: false });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain('keep-id');
  });

  it('kube down leaves nothing behind and the root store is untouched', async () => {
    const pause = pausePid(user);
    expect(pause).toBeGreaterThan(0);
    // only the pause process (which holds the namespace, as Podman's does) is left of the user
    const left = processesOf(user.uid).filter((p) => p !== pause);
    expect(left.map((p) => `${p} ${cmdline(p)}`)).toEqual([]);
    const runroot = path.join(user.xdg, 'peapod');
    const mounts = readFileSync(`/proc/${pause}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && (m.startsWith(runroot) || m.startsWith(user.home)));
    expect(mounts).toEqual([]);
    for (const d of ['pods', 'netns', 'runc']) {
      const p = path.join(runroot, d);
      expect(existsSync(p) ? readdirSync(p) : [], d).toEqual([]);
    }
    expect(JSON.parse(await ok(user, ['ps', '-a', '--format', 'json']))).toEqual([]);
    expect(`${snapshot('/var/lib/peapod')}\n--\n${snapshot('/run/peapod')}`).toBe(rootStoreBefore);
  });

  it('without XDG_RUNTIME_DIR the run root is a private /tmp/peapod-run-UID; a foreign one is refused', async () => {
    const dir = path.join(os.tmpdir(), `peapod-run-${user.uid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o755 }); // made by someone else (root here)
    try {
      const bad = await as(user, ['info', '--format', 'json'], { noXdg: true });
      expect(bad.exitCode).toBe(125);
      expect(String(bad.stderr)).toContain(`${dir} is not a private directory of this user`);
      rmSync(dir, { recursive: true, force: true });
      const info = JSON.parse(String((await as(user, ['info', '--format', 'json'], { noXdg: true })).stdout));
      expect(info.store.runRoot).toBe(path.join(dir, 'peapod'));
      expect(statSync(dir).uid).toBe(user.uid);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      // this run root has a pause process of its own
      let pid = 0;
      try { pid = Number(readFileSync(path.join(dir, 'peapod-ns', 'pause.pid'), 'utf8').trim()); } catch { /* none made */ }
      if (pid > 0) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the exact /etc/subuid line to add when the user has no range', async () => {
    const r = await as(noRanges, ['ps']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(new RegExp(`add the line "${noRanges.name}:\\d+:65536" to /etc/subuid`));
    expect(processesOf(noRanges.uid)).toEqual([]);
  });
});
