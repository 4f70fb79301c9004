// Issue 6 acceptance (probes, readiness, reasons, pod-level limits), against real runc and conmon:
// startup, liveness and readiness probes run by the pod's monitor process; --wait-ready; the
// READY/RESTARTS/REASON columns; nothing of the monitor is left after kube down.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { useSandbox, until } from '../helpers/e2e.js';

const e2e = useSandbox('peapod-probes');
const { json, out, manifest } = e2e;
const FAST = { env: { PEAPOD_RESTART_BACKOFF_MS: '300' } };
const SLEEP = '["sh", "-c", "trap \'exit 0\' TERM; while true; do sleep 0.2; done"]';

/** Processes whose command line mentions this sandbox and `pod monitor`. */
function monitors(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.startsWith(e2e.sb.dir)) && cmd.includes('monitor')) found.push(`${pid} ${cmd.join(' ')}`);
    } catch { /* gone */ }
  }
  return found;
}

const podPs = async (name: string) => (await json(['pod', 'ps', '--format', 'json'])).find((p: any) => p.Name === name);

describe('liveness', () => {
  it('a liveness probe that starts failing restarts the container (Always) and the restart count goes up', async () => {
    const f = manifest('live', `apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "touch /tmp/healthy; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
      livenessProbe:
        exec: {command: ["test", "-e", "/tmp/healthy"]}
        periodSeconds: 1
        failureThreshold: 2
`);
    await e2e.sb.ok(['play', 'kube', f], FAST);
    expect(monitors()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 2500));
    let [c] = await json(['inspect', 'live-app']);
    expect(c.RestartCount).toBe(0);                       // healthy: left alone
    expect(c.State.Health.Status).toBe('healthy');
    const pid0 = c.State.Pid;
    await e2e.sb.ok(['exec', 'live-app', 'rm', '/tmp/healthy']);
    [c] = (await until(() => json(['inspect', 'live-app']), (x) => x[0].RestartCount === 1 && x[0].State.Status === 'running', 150));
    expect(c.RestartCount).toBe(1);
    expect(c.State.Pid).not.toBe(pid0);
    expect(c.State.LastTermination.Message).toMatch(/^Liveness probe failed: command \["test","-e","\/tmp\/healthy"\] exited with 1$/);
    const ps = (await json(['ps', '--format', 'json'])).find((x: any) => x.Names[0] === 'live-app');
    expect(ps.Restarts).toBe(1);
    expect((await podPs('live')).Restarts).toBe(1);
    // the new run creates /tmp/healthy again: it stays up
    await new Promise((r) => setTimeout(r, 2500));
    expect((await json(['inspect', 'live-app']))[0].RestartCount).toBe(1);
    await e2e.sb.ok(['kube', 'down', f]);
    expect(monitors()).toEqual([]);
  });

  it('restartPolicy Never: a failed liveness probe leaves the container exited', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('live-never', `apiVersion: v1
kind: Pod
metadata: {name: ln}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${SLEEP}
      livenessProbe: {tcpSocket: {port: 9}, periodSeconds: 1, failureThreshold: 1}
`)], FAST);
    const [c] = await until(() => json(['inspect', 'ln-app']), (x) => x[0].State.Status === 'exited', 100);
    expect(c.State).toMatchObject({ Status: 'exited', ExitCode: 0, Reason: 'Completed' });
    expect(c.State.LastTermination.Message).toMatch(/^Liveness probe failed: dial tcp 10\.[\d.]+:9: connect ECONNREFUSED/);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await json(['inspect', 'ln-app']))[0]).toMatchObject({ RestartCount: 0, State: { Status: 'exited' } });
    // the monitor has nothing left to watch: it is gone by itself
    expect(await until(async () => monitors(), (m) => m.length === 0, 50)).toEqual([]);
  });

  it('restartPolicy OnFailure: a container a liveness probe ended restarts even though it exited 0', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('live-onfailure', `apiVersion: v1
kind: Pod
metadata: {name: lo}
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${SLEEP}
      livenessProbe: {exec: {command: ["false"]}, periodSeconds: 1, failureThreshold: 1, initialDelaySeconds: 1}
`)], FAST);
    const [c] = await until(() => json(['inspect', 'lo-app']), (x) => x[0].RestartCount >= 1, 150);
    expect(c.RestartCount).toBeGreaterThanOrEqual(1);
    expect(c.State.LastTermination).toMatchObject({ ExitCode: 0, Reason: 'Completed', Message: 'Liveness probe failed: command ["false"] exited with 1' });
  });

  it('a startup probe holds back liveness; when it gives up the container is ended', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('startup', `apiVersion: v1
kind: Pod
metadata: {name: st}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: slow
      image: localhost/busybox:latest
      command: ["sh", "-c", "sleep 2; touch /tmp/up; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
      startupProbe: {exec: {command: ["test", "-e", "/tmp/up"]}, periodSeconds: 1, failureThreshold: 10}
      livenessProbe: {exec: {command: ["test", "-e", "/tmp/up"]}, periodSeconds: 1, failureThreshold: 1}
    - name: never
      image: localhost/busybox:latest
      command: ${SLEEP}
      startupProbe: {exec: {command: ["false"]}, periodSeconds: 1, failureThreshold: 2}
`)], FAST);
    const [never] = await until(() => json(['inspect', 'st-never']), (x) => x[0].State.Status === 'exited', 100);
    expect(never.State.LastTermination.Message).toMatch(/^Startup probe failed: command \["false"\] exited with 1$/);
    const [slow] = await until(() => json(['inspect', 'st-slow']), (x) => x[0].State.Started === true, 100);
    expect(slow.State).toMatchObject({ Status: 'running', Started: true, Ready: true });
    expect(slow.RestartCount).toBe(0);                    // liveness did not run before startup passed
  });
});

describe('readiness', () => {
  it('a readiness probe gates READY in pod ps, ps and inspect', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('ready', `apiVersion: v1
kind: Pod
metadata: {name: rd}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${SLEEP}
      readinessProbe: {exec: {command: ["test", "-e", "/tmp/ready"]}, periodSeconds: 1, failureThreshold: 1}
    - name: plain
      image: localhost/busybox:latest
      command: ${SLEEP}
`)]);
    await new Promise((r) => setTimeout(r, 1500));
    let pod = await podPs('rd');
    expect(pod).toMatchObject({ Status: 'Running', Ready: '1/2', Restarts: 0, Reason: '' });
    let [c] = await json(['inspect', 'rd-app']);
    expect(c.State).toMatchObject({ Running: true, Ready: false });
    expect(c.Config.Hostname).toBe('rd');                 // the pod's host name, as inside
    const row = (await json(['ps', '--format', 'json'])).find((x: any) => x.Names[0] === 'rd-app');
    expect(row).toMatchObject({ Ready: false });
    expect(row.Status).toMatch(/^Up .* \((starting|unhealthy)\)$/);
    await e2e.sb.ok(['exec', 'rd-app', 'touch', '/tmp/ready']);
    pod = await until(() => podPs('rd'), (p) => p.Ready === '2/2', 60);
    expect(pod.Ready).toBe('2/2');
    [c] = await json(['inspect', 'rd-app']);
    expect(c.State).toMatchObject({ Ready: true, Health: { Status: 'healthy' } });
    expect((await json(['ps', '--format', 'json'])).find((x: any) => x.Names[0] === 'rd-app').Status).toMatch(/^Up .* \(healthy\)$/);
    const table = await out(['pod', 'ps']);
    expect(table.split('\n')[0]).toMatch(/^POD ID\s+NAME\s+STATUS\s+READY\s+RESTARTS\s+REASON\s+CREATED/);
    expect(table).toMatch(/rd\s+Running\s+2\/2\s+0\s/);
    // failing again takes it out of READY (it is not restarted)
    await e2e.sb.ok(['exec', 'rd-app', 'rm', '/tmp/ready']);
    pod = await until(() => podPs('rd'), (p) => p.Ready === '1/2', 60);
    expect(pod.Ready).toBe('1/2');
    [c] = await json(['inspect', 'rd-app']);
    expect(c.State.Health.Status).toBe('unhealthy');
    expect(c.RestartCount).toBe(0);
  });

  it('play kube --wait-ready returns once an httpGet readiness probe passes', async () => {
    const f = manifest('web', `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: httpd
      image: localhost/busybox:latest
      command: ["sh", "-c", "sleep 2; mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www"]
      ports: [{name: http, containerPort: 8080}]
      readinessProbe: {httpGet: {path: /index.html, port: http}, periodSeconds: 1}
    - name: tcp
      image: localhost/busybox:latest
      command: ${SLEEP}
      readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`);
    const t0 = Date.now();
    await e2e.sb.ok(['play', 'kube', '--wait=ready', f]);
    expect(Date.now() - t0).toBeGreaterThan(1500);         // it did wait for httpd
    expect((await podPs('web')).Ready).toBe('2/2');
    const [c] = await json(['inspect', 'web-httpd']);
    expect(c.State.Ready).toBe(true);
    // generate kube gives the probes back as written (defaults left out)
    const gen = await out(['generate', 'kube', 'web']);
    expect(gen).toContain(`      readinessProbe:
        httpGet:
          path: /index.html
          port: http
        periodSeconds: 1
`);
    expect(gen).toContain(`      readinessProbe:
        tcpSocket:
          port: 8080
        periodSeconds: 1`);
  });

  it('--wait-ready gives up after --timeout, naming what is not ready; the pod stays', async () => {
    const r = await e2e.sb.run(['play', 'kube', '--wait-ready', '--timeout', '3s', manifest('stuck', `apiVersion: v1
kind: Pod
metadata: {name: stuck}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${SLEEP}
      readinessProbe: {httpGet: {port: 8081, path: /healthz}, periodSeconds: 1, failureThreshold: 1}
`)]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/^Error: timed out after 3s waiting for pods to be ready: stuck \(0\/1 ready: container app not ready: Readiness probe failed: Get "http:\/\/10\.[\d.]+:8081\/healthz": connect ECONNREFUSED/);
    expect((await podPs('stuck')).Status).toBe('Running');
  });

  it('--wait-ready fails at once when a pod fails for good', async () => {
    const r = await e2e.sb.run(['play', 'kube', '--wait-ready', '--timeout', '60s', manifest('fails', `apiVersion: v1
kind: Pod
metadata: {name: fails}
spec:
  restartPolicy: Never
  containers: [{name: app, image: localhost/busybox:latest, command: ["sh", "-c", "exit 3"]}]
`)]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/^Error: pod fails failed \(Error\): container app Error \(exit code 3\)/);
  });
});

describe('status reasons', () => {
  it('CrashLoopBackOff while the back-off runs; Completed and OOMKilled after the end', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('reasons', `apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers: [{name: app, image: localhost/busybox:latest, command: ["sh", "-c", "exit 1"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  restartPolicy: Never
  containers: [{name: app, image: localhost/busybox:latest, command: ["true"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"]
      resources: {limits: {memory: 16Mi}}
`)], { env: { PEAPOD_RESTART_BACKOFF_MS: '60000' } });
    const crash = await until(() => podPs('crash'), (p) => p.Reason === 'CrashLoopBackOff');
    expect(crash).toMatchObject({ Reason: 'CrashLoopBackOff', Ready: '0/1' });
    const row = (await json(['ps', '-a', '--format', 'json'])).find((x: any) => x.Names[0] === 'crash-app');
    expect(row).toMatchObject({ Reason: 'CrashLoopBackOff', Ready: false });
    expect(row.Status).toMatch(/^Exited \(1\) .* \(CrashLoopBackOff\)$/);
    expect((await until(() => podPs('done'), (p) => p.Reason === 'Completed')).Reason).toBe('Completed');
    expect((await until(() => podPs('oom'), (p) => p.Reason === 'OOMKilled', 150)).Reason).toBe('OOMKilled');
    const [o] = await json(['inspect', 'oom-app']);
    expect(o.State).toMatchObject({ OOMKilled: true, ExitCode: 137, Reason: 'OOMKilled' });
  });
});

describe('pod-level resources', () => {
  it('spec.resources limits bound the pod cgroup that all its containers share', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('podres', `apiVersion: v1
kind: Pod
metadata: {name: pr}
spec:
  terminationGracePeriodSeconds: 1
  resources: {limits: {memory: 64Mi, cpu: 500m}}
  containers:
    - {name: a, image: localhost/busybox:latest, command: ${SLEEP}}
    - {name: b, image: localhost/busybox:latest, command: ${SLEEP}}
`)]);
    const pod = await json(['pod', 'inspect', 'pr']);
    const cg = pod.CgroupPath as string;
    const root = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : undefined;
    if (root) {
      expect(readFileSync(path.join(root, cg, 'memory.max'), 'utf8').trim()).toBe('67108864');
      expect(readFileSync(path.join(root, cg, 'cpu.max'), 'utf8').trim()).toBe('50000 100000');
    } else {
      expect(readFileSync(path.join('/sys/fs/cgroup/memory', cg, 'memory.limit_in_bytes'), 'utf8').trim()).toBe('67108864');
      const cpu = ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu'].find((d) => existsSync(path.join(d, 'cpu.shares')))!;
      expect(readFileSync(path.join(cpu, cg, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
      expect(readFileSync(path.join(cpu, cg, 'cpu.cfs_period_us'), 'utf8').trim()).toBe('100000');
      // both containers sit under it
      const [a] = await json(['inspect', 'pr-a']);
      const procs = readFileSync(path.join('/sys/fs/cgroup/memory', cg, a.Id, 'cgroup.procs'), 'utf8');
      expect(procs.split('\n')).toContain(String(a.State.Pid));
    }
    const gen = await out(['generate', 'kube', 'pr']);
    expect(gen).toMatch(/ {2}resources:\n {4}limits:\n {6}cpu: 500m\n {6}memory: 64Mi\n/);
  });
});
