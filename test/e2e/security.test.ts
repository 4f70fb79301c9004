// Issue 6 acceptance (the parts peapod has): resources in the cgroup files, OOM reported as such,
// securityContext, restart policies. Memory and cpu are checked in the cgroup files.
import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { useSandbox, until } from '../helpers/e2e.js';

const e2e = useSandbox('peapod-sec');
const { json, out, manifest } = e2e;

const SLEEP = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

describe('resources', () => {
  it('memory 64Mi and cpu 500m land in the cgroup files; a 64Mi container that allocates more is OOMKilled', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('res', `apiVersion: v1
kind: Pod
metadata: {name: res}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
    - {name: limited, image: localhost/busybox:latest, command: ${SLEEP}, resources: {limits: {memory: 64Mi, cpu: 500m}, requests: {cpu: 250m}}}
    - name: hog
      image: localhost/busybox:latest
      command: ["awk", "BEGIN { s = \\"xxxxxxxxxxxxxxxx\\"; while (1) s = s s }"]
      resources: {limits: {memory: 64Mi}}
`)]);
    const id = await out(['inspect', '-f', '{{.Id}}', 'res-limited']);
    const pod = await out(['pod', 'inspect', '-f', '{{.Id}}', 'res']);
    const cg = (ctrl: string, file: string) => readFileSync(path.join('/sys/fs/cgroup', ctrl, e2e.sb.cgroupParent, pod, id, file), 'utf8').trim();
    expect(cg('memory', 'memory.limit_in_bytes')).toBe('67108864');
    expect(cg('cpu', 'cpu.cfs_quota_us')).toBe('50000');
    expect(cg('cpu', 'cpu.cfs_period_us')).toBe('100000');
    expect(cg('cpu', 'cpu.shares')).toBe('256');
    const [hog] = await until(() => json(['inspect', 'res-hog']), (x) => x[0].State.Status === 'exited');
    expect(hog.State).toMatchObject({ Status: 'exited', ExitCode: 137, OOMKilled: true });
  });
});

describe('securityContext', () => {
  it('runAsNonRoot with an image that runs as root is refused, and nothing is left', async () => {
    const r = await e2e.sb.run(['play', 'kube', manifest('nonroot', `apiVersion: v1
kind: Pod
metadata: {name: nonroot}
spec:
  containers: [{name: app, image: localhost/busybox:latest, command: ["true"], securityContext: {runAsNonRoot: true}}]
`)]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toContain('container app has runAsNonRoot and image will run as root');
    expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  });

  it('runAsUser, readOnlyRootFilesystem with a writable emptyDir, fsGroup, dropped capabilities', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('sc', `apiVersion: v1
kind: Pod
metadata: {name: sc}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {fsGroup: 2000, supplementalGroups: [3000]}
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
    - name: user
      image: localhost/busybox:latest
      command: ${SLEEP}
      securityContext: {runAsUser: 1000, readOnlyRootFilesystem: true}
      volumeMounts: [{name: scratch, mountPath: /scratch}]
    - name: root
      image: localhost/busybox:latest
      command: ${SLEEP}
      securityContext: {capabilities: {drop: [NET_RAW, CHOWN], add: [SYS_TIME]}, allowPrivilegeEscalation: false}
`)]);
    expect(await out(['exec', 'sc-user', 'id', '-u'])).toBe('1000');
    expect((await out(['exec', 'sc-user', 'id', '-G'])).split(' ')).toEqual(expect.arrayContaining(['2000', '3000']));
    const touch = await e2e.sb.run(['exec', 'sc-user', 'touch', '/x']);
    expect(touch.exitCode).not.toBe(0);
    expect(String(touch.stderr)).toContain('Read-only file system');
    await e2e.sb.ok(['exec', 'sc-user', 'touch', '/scratch/y']);
    expect(await out(['exec', 'sc-user', 'stat', '-c', '%g', '/scratch/y'])).toBe('2000');
    const status = await out(['exec', 'sc-root', 'cat', '/proc/1/status']);
    const bnd = BigInt('0x' + /CapBnd:\s+([0-9a-f]+)/.exec(status)![1]);
    const has = (bit: number) => (bnd >> BigInt(bit)) & 1n;
    expect(has(0)).toBe(0n);   // CAP_CHOWN dropped
    expect(has(13)).toBe(0n);  // CAP_NET_RAW dropped
    expect(has(25)).toBe(1n);  // CAP_SYS_TIME added
    expect(has(6)).toBe(1n);   // CAP_SETGID kept
    expect(/NoNewPrivs:\s+1/.test(status)).toBe(true);
  });

  it('only namespaced sysctls are allowed, and they apply', async () => {
    const bad = await e2e.sb.run(['play', 'kube', manifest('sysbad', `apiVersion: v1
kind: Pod
metadata: {name: sysbad}
spec:
  securityContext: {sysctls: [{name: vm.swappiness, value: "10"}]}
  containers: [{name: app, image: localhost/busybox:latest, command: ["true"]}]
`)]);
    expect(bad.exitCode).toBe(125);
    expect(String(bad.stderr)).toContain('sysctl "vm.swappiness" is not namespaced');
    await e2e.sb.ok(['play', 'kube', manifest('sysok', `apiVersion: v1
kind: Pod
metadata: {name: sysok}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "80"}]}
  containers: [{name: app, image: localhost/busybox:latest, command: ${SLEEP}}]
`)]);
    expect(await out(['exec', 'sysok-app', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).toBe('80');
  });

  it('seccomp RuntimeDefault applies the default profile', async () => {
    expect(existsSync('/usr/share/containers/seccomp.json'), 'needs golang-github-containers-common (scripts/setup.sh installs it)').toBe(true);
    await e2e.sb.ok(['play', 'kube', manifest('seccomp', `apiVersion: v1
kind: Pod
metadata: {name: seccomp}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  containers: [{name: app, image: localhost/busybox:latest, command: ${SLEEP}}]
`)]);
    expect(await out(['exec', 'seccomp-app', 'sh', '-c', 'grep Seccomp: /proc/1/status'])).toMatch(/Seccomp:\s+2/);
  });
});

describe('lifecycle', () => {
  it('postStart runs after start; preStop runs before the stop signal (seen through a shared volume)', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('lc', `apiVersion: v1
kind: Pod
metadata: {name: lc}
spec:
  terminationGracePeriodSeconds: 5
  volumes: [{name: shared, emptyDir: {}}]
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'echo got-TERM >> /shared/log; exit 0' TERM; echo started >> /shared/log; sleep 3600 & wait"]
      lifecycle:
        postStart: {exec: {command: ["sh", "-c", "echo postStart >> /shared/log"]}}
        preStop: {exec: {command: ["sh", "-c", "echo preStop >> /shared/log"]}}
      volumeMounts: [{name: shared, mountPath: /shared}]
    - name: watcher
      image: localhost/busybox:latest
      command: ${SLEEP}
      volumeMounts: [{name: shared, mountPath: /shared}]
`)]);
    expect((await until(() => out(['exec', 'lc-watcher', 'cat', '/shared/log']), (l) => l.includes('postStart'))).split('\n')).toContain('postStart');
    await e2e.sb.ok(['stop', 'lc-app']);
    const log = (await out(['exec', 'lc-watcher', 'cat', '/shared/log'])).split('\n');
    expect(log.slice(-2)).toEqual(['preStop', 'got-TERM']);
  });

  it('a failing postStart hook kills the container and the play says why', async () => {
    const r = await e2e.sb.run(['play', 'kube', manifest('lcfail', `apiVersion: v1
kind: Pod
metadata: {name: lcfail}
spec:
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${SLEEP}
      lifecycle: {postStart: {exec: {command: ["sh", "-c", "exit 3"]}}}
`)]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toContain('postStart hook failed: exec ["sh","-c","exit 3"] exited with code 3');
    expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  });
});

describe('restart policy', () => {
  it('Always: killing the main process brings the container back and the restart count goes up; Never: it stays exited', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('rs', `apiVersion: v1
kind: Pod
metadata: {name: rs}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: localhost/busybox:latest, command: ${SLEEP}}]
---
apiVersion: v1
kind: Pod
metadata: {name: rn}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers: [{name: app, image: localhost/busybox:latest, command: ${SLEEP}}]
`)], { env: { PEAPOD_RESTART_BACKOFF_MS: '200' } });
    for (const name of ['rs-app', 'rn-app']) {
      const pid = Number(await out(['inspect', '-f', '{{.State.Pid}}', name]));
      process.kill(pid, 'SIGKILL');
    }
    const [back] = await until(() => json(['inspect', 'rs-app']), (x) => x[0].RestartCount === 1 && x[0].State.Status === 'running');
    expect(back.State.Status).toBe('running');
    expect(back.RestartCount).toBe(1);
    await new Promise((r) => setTimeout(r, 1000));
    const [never] = await json(['inspect', 'rn-app']);
    expect(never.State).toMatchObject({ Status: 'exited', ExitCode: 137 });
    expect(never.RestartCount).toBe(0);
  });

  it('OnFailure: exit 0 stays exited, exit 1 restarts', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('of', `apiVersion: v1
kind: Pod
metadata: {name: of}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: OnFailure
  containers:
    - {name: ok, image: localhost/busybox:latest, command: ["true"]}
    - {name: fail, image: localhost/busybox:latest, command: ["sh", "-c", "exit 1"]}
`)], { env: { PEAPOD_RESTART_BACKOFF_MS: '200' } });
    const [fail] = await until(() => json(['inspect', 'of-fail']), (x) => x[0].RestartCount >= 2);
    expect(fail.RestartCount).toBeGreaterThanOrEqual(2);
    const [ok] = await json(['inspect', 'of-ok']);
    expect(ok.State).toMatchObject({ Status: 'exited', ExitCode: 0 });
    expect(ok.RestartCount).toBe(0);
  });
});
