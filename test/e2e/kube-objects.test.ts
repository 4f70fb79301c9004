// Issue 5 acceptance: workloads, configuration, volumes, init containers and strict validation,
// against real runc, conmon and netavark.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PROJECT } from '../helpers/cli.js';
import { useSandbox, until } from '../helpers/e2e.js';

const e2e = useSandbox('peapod-kube');
const { json, out, manifest } = e2e;
const INVALID = path.join(PROJECT, 'test/fixtures/invalid');
const EXAMPLES = path.join(PROJECT, 'examples');

describe('strict validation', () => {
  const expected: Record<string, string> = JSON.parse(readFileSync(path.join(INVALID, 'expected.json'), 'utf8'));
  const files = readdirSync(INVALID).filter((f) => f.endsWith('.yaml')).sort();

  it('has at least 30 invalid manifests, each with its expected error', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
    expect(Object.keys(expected).sort()).toEqual(files);
  });

  it.each(files)('%s fails with its error and creates nothing', async (f) => {
    const file = path.join(INVALID, f);
    const r = await e2e.sb.run(['play', 'kube', file]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr).split('\n')[0].replace(`${file}:`, '')).toBe(expected[f]);
    expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
    expect(await json(['ps', '-a', '--format', 'json'])).toEqual([]);
    expect(await json(['secret', 'ls', '--format', 'json'])).toEqual([]);
  });
});

describe('workloads', () => {
  it('a Deployment with replicas 3 gives 3 running pods that reach each other by name; kube down removes all 3', async () => {
    const f = path.join(EXAMPLES, 'deployment.yaml');
    await e2e.sb.ok(['play', 'kube', f]);
    const pods = await json(['pod', 'ps', '--format', 'json']);
    expect(pods.map((p: any) => p.Name).sort()).toEqual(['web-pod-0', 'web-pod-1', 'web-pod-2']);
    expect(pods.every((p: any) => p.Status === 'Running')).toBe(true);
    const body = await until(async () => String((await e2e.sb.run(['exec', 'web-pod-0-httpd', 'wget', '-q', '-O', '-', 'http://web-pod-2:8080/'], { timeout: 5000 })).stdout), (b) => b.includes('web-pod-2'), 40);
    expect(body).toBe('web-pod-2');
    const down = await out(['kube', 'down', f]);
    expect(down.match(/^[0-9a-f]{64}$/gm)).toHaveLength(6);
    expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  });

  it('a Job runs at most parallelism pods at once; the others start as earlier ones finish', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('parallel-job', `apiVersion: batch/v1
kind: Job
metadata: {name: par}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers: [{name: w, image: localhost/busybox:latest, command: ["sh", "-c", "sleep 1; echo done"]}]
`)]);
    const first = await json(['pod', 'ps', '--format', 'json']);
    expect(first.map((p: any) => [p.Name, p.Status]).sort()).toEqual([['par-pod-0', 'Running'], ['par-pod-1', 'Running'], ['par-pod-2', 'Created']]);
    const all = await until(() => json(['pod', 'ps', '--format', 'json']), (ps) => ps.length === 3 && ps.every((p: any) => p.Reason === 'Completed'), 150);
    expect(all.map((p: any) => p.Reason)).toEqual(['Completed', 'Completed', 'Completed']);
    const runs = await Promise.all([0, 1, 2].map(async (i) => (await json(['inspect', `par-pod-${i}-w`]))[0].State));
    expect(runs.map((r: any) => r.ExitCode)).toEqual([0, 0, 0]);
    // the third started only after one of the first two had finished
    expect(Date.parse(runs[2].StartedAt)).toBeGreaterThanOrEqual(Math.min(Date.parse(runs[0].FinishedAt), Date.parse(runs[1].FinishedAt)));
    expect(await out(['logs', 'par-pod-2-w'])).toBe('done');
  });

  it("a Job's pod runs to completion and its exit codes are recorded", async () => {
    await e2e.sb.ok(['play', 'kube', path.join(EXAMPLES, 'job.yaml')]);
    const done = await until(() => json(['pod', 'ps', '--format', 'json']), (p) => p[0]?.Status === 'Exited');
    expect(done[0]).toMatchObject({ Name: 'compute-pod-0', Status: 'Exited' });
    const [c] = await json(['inspect', 'compute-pod-0-work']);
    expect(c.State).toMatchObject({ Status: 'exited', ExitCode: 0 });
    expect(await out(['logs', 'compute-pod-0-work'])).toBe('computing\n42');
    await e2e.sb.ok(['play', 'kube', manifest('failing-job', `apiVersion: batch/v1
kind: Job
metadata: {name: failing}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: w, image: localhost/busybox:latest, command: ["sh", "-c", "exit 3"]}]
`)]);
    const [f] = await until(() => json(['inspect', 'failing-pod-0-w']), (x) => x[0].State.Status === 'exited');
    expect(f.State.ExitCode).toBe(3);
  });

  it('a Job with restartPolicy OnFailure retries a failing container up to backoffLimit times', async () => {
    const f = manifest('retry', `apiVersion: batch/v1
kind: Job
metadata: {name: retry}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: w, image: localhost/busybox:latest, command: ["sh", "-c", "echo try; exit 1"]}]
`);
    // the back-off is 10 s doubling, as the kubelet's; shortened here so the test stays quick
    await e2e.sb.ok(['play', 'kube', f], { env: { PEAPOD_RESTART_BACKOFF_MS: '200' } });
    const [c] = await until(() => json(['inspect', 'retry-pod-0-w']), (x) => x[0].RestartCount === 2 && x[0].State.Status === 'exited', 150);
    expect(c.RestartCount).toBe(2);
    expect(c.State.ExitCode).toBe(1);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await json(['inspect', 'retry-pod-0-w']))[0].RestartCount).toBe(2); // no third restart
    expect(await out(['logs', 'retry-pod-0-w'])).toBe('try\ntry\ntry');
  });

  it('restartPolicy Always brings an exited container back; stop keeps it stopped', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('always', `apiVersion: v1
kind: Pod
metadata: {name: always}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: w, image: localhost/busybox:latest, command: ["sh", "-c", "echo up; sleep 0.5"]}]
`)], { env: { PEAPOD_RESTART_BACKOFF_MS: '200' } });
    const [c] = await until(() => json(['inspect', 'always-w']), (x) => x[0].RestartCount >= 2, 150);
    expect(c.RestartCount).toBeGreaterThanOrEqual(2);
    await e2e.sb.ok(['pod', 'stop', 'always']);
    const stopped = (await json(['inspect', 'always-w']))[0];
    await new Promise((r) => setTimeout(r, 1500));
    const later = (await json(['inspect', 'always-w']))[0];
    expect(later.State.Status).toBe('exited');
    expect(later.RestartCount).toBe(stopped.RestartCount);
  });

  it('--wait stays in the foreground until the containers have exited, then takes the pods down', async () => {
    const r = await e2e.sb.run(['play', 'kube', '--wait', path.join(EXAMPLES, 'job.yaml')]);
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toMatch(/^Pod: [0-9a-f]{64}$/);
    expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  });

  it('an init container writes into an emptyDir that the app reads; the app starts only after it ended', async () => {
    await e2e.sb.ok(['play', 'kube', path.join(EXAMPLES, 'init-container.yaml')]);
    expect(await until(() => out(['logs', 'init-demo-app']), (l) => l.length > 0)).toBe('prepared-by-init');
    const [init] = await json(['inspect', 'init-demo-prepare']);
    const [app] = await json(['inspect', 'init-demo-app']);
    expect(init.State).toMatchObject({ Status: 'exited', ExitCode: 0 });
    expect(Date.parse(app.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(init.State.FinishedAt));
    expect((await json(['pod', 'ps', '--format', 'json']))[0].Status).toBe('Running');
  });

  it('a failing init container keeps the app from ever starting, and the status says so', async () => {
    const r = await e2e.sb.run(['play', 'kube', manifest('init-fail', `apiVersion: v1
kind: Pod
metadata: {name: init-fail}
spec:
  restartPolicy: Never
  initContainers:
    - {name: setup, image: localhost/busybox:latest, command: ["sh", "-c", "exit 7"]}
  containers:
    - {name: app, image: localhost/busybox:latest, command: ["sh", "-c", "echo app-ran"]}
`)]);
    expect(r.exitCode).toBe(0);
    expect(String(r.stderr)).toContain('init container "setup" exited with code 7');
    const [p] = await json(['pod', 'ps', '--format', 'json']);
    expect(p.Status).toBe('Error');
    const i = await json(['pod', 'inspect', 'init-fail']);
    expect(i.StatusReason).toBe('Init:Error: init container setup exited with code 7; the app containers were not started');
    const [app] = await json(['inspect', 'init-fail-app']);
    expect(app.State.Status).toBe('created');
    expect(await out(['logs', 'init-fail-app'])).toBe('');
  });

  it('a web server and a sidecar share an emptyDir', async () => {
    await e2e.sb.ok(['play', 'kube', path.join(EXAMPLES, 'web-sidecar.yaml')]);
    const page = await until(async () => String((await e2e.sb.run(['exec', 'web-sidecar-web', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'])).stdout), (b) => /\d\d:\d\d/.test(b));
    expect(page).toMatch(/\d\d:\d\d:\d\d/);
    // readOnly mount in the web container
    expect((await e2e.sb.run(['exec', 'web-sidecar-web', 'touch', '/www/x'])).exitCode).not.toBe(0);
  });
});

describe('configuration and volumes', () => {
  it('ConfigMap and Secret reach env and files with items, defaultMode and optional; secret values stay hidden', async () => {
    const f = manifest('config', `apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {user: admin, token: tok-VALUE-123}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {MODE: fast, LEVEL: "3", settings.ini: "a=1\\n"}
---
apiVersion: v1
kind: Pod
metadata: {name: conf, labels: {tier: back}}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - name: cfgfiles
      configMap:
        name: cfg
        defaultMode: 0640
        items: [{key: settings.ini, path: conf/settings.ini}, {key: MODE, path: mode.txt, mode: 0600}]
    - name: secretfiles
      secret: {secretName: creds, defaultMode: 0400}
    - name: maybe
      configMap: {name: not-there, optional: true}
    - name: info
      downwardAPI:
        items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: ip, fieldRef: {fieldPath: status.podIP}}]
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
      envFrom:
        - configMapRef: {name: cfg}
          prefix: CFG_
        - secretRef: {name: creds}
          prefix: S_
      env:
        - {name: CFG_MODE, value: explicit-wins}
        - {name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}
        - {name: NOPE, valueFrom: {secretKeyRef: {name: creds, key: absent, optional: true}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: LEVEL_TIMES, value: "level $(CFG_LEVEL) $$(CFG_LEVEL)"}
      volumeMounts:
        - {name: cfgfiles, mountPath: /etc/cfg}
        - {name: secretfiles, mountPath: /etc/secret}
        - {name: maybe, mountPath: /etc/maybe}
        - {name: info, mountPath: /etc/info}
`);
    const play = await e2e.sb.run(['--log-level', 'debug', 'play', 'kube', f]);
    expect(play.exitCode, String(play.stderr)).toBe(0);
    const env = await out(['exec', 'conf-app', 'env']);
    expect(env).toContain('CFG_MODE=explicit-wins');
    expect(env).toContain('CFG_LEVEL=3');
    expect(env).toContain('S_user=admin');
    expect(env).toContain('TOKEN=tok-VALUE-123');
    expect(env).not.toContain('NOPE=');
    expect(env).toContain('LEVEL_TIMES=level 3 $(CFG_LEVEL)');
    const ip = await out(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'conf-app']);
    expect(env).toContain(`POD_IP=${ip}`);
    // the names are links into ..data, as under the kubelet: -L shows the files' own modes; ls hides ..data
    const stat = await out(['exec', 'conf-app', 'sh', '-c', 'stat -L -c "%a %n" /etc/cfg/conf/settings.ini /etc/cfg/mode.txt /etc/secret/user /etc/secret/token; ls /etc/maybe | wc -l']);
    expect(stat.split('\n')).toEqual(['640 /etc/cfg/conf/settings.ini', '600 /etc/cfg/mode.txt', '400 /etc/secret/user', '400 /etc/secret/token', '0']);
    expect(await out(['exec', 'conf-app', 'cat', '/etc/secret/token'])).toBe('tok-VALUE-123');
    expect(await out(['exec', 'conf-app', 'cat', '/etc/info/labels'])).toBe('tier="back"');
    expect(await out(['exec', 'conf-app', 'cat', '/etc/info/ip'])).toBe(ip);
    // the secret's values appear in no output of peapod's
    const seen = [String(play.stdout), String(play.stderr), await out(['inspect', 'conf-app']), await out(['ps', '-a', '--format', 'json']),
      await out(['pod', 'inspect', 'conf']), await out(['secret', 'ls', '--format', 'json']), await out(['logs', 'conf-app'])].join('\n');
    expect(seen).not.toContain('tok-VALUE-123');
    expect(seen).not.toContain(Buffer.from('tok-VALUE-123').toString('base64'));
    // nor any file of the persistent state
    const grep = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return p.includes('/storage/') ? [] : grep(p);
      return e.isFile() && readFileSync(p, 'utf8').includes('tok-VALUE-123') ? [p] : [];
    });
    expect(grep(e2e.sb.root)).toEqual([]);
    await e2e.sb.ok(['kube', 'down', f]);
    expect(await json(['secret', 'ls', '--format', 'json'])).toEqual([]);
  });

  it('hostPath types are checked (and made) as the kubelet does; emptyDir medium Memory is a tmpfs of sizeLimit', async () => {
    const base = path.join(e2e.sb.dir, 'hostpaths');
    const pod = (name: string, vol: string, extra = '') => manifest(name, `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: v, ${vol}}]
  containers:
    - {name: app, image: localhost/busybox:latest, command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"], volumeMounts: [{name: v, mountPath: /v${extra}}]}
`);
    // DirectoryOrCreate and FileOrCreate make what is missing
    await e2e.sb.ok(['play', 'kube', pod('hp-doc', `hostPath: {path: ${base}/made-dir, type: DirectoryOrCreate}`)]);
    expect(existsSync(`${base}/made-dir`)).toBe(true);
    await e2e.sb.ok(['exec', 'hp-doc-app', 'touch', '/v/from-container']);
    expect(existsSync(`${base}/made-dir/from-container`)).toBe(true);
    await e2e.sb.ok(['play', 'kube', pod('hp-foc', `hostPath: {path: ${base}/made-file, type: FileOrCreate}`)]);
    expect(existsSync(`${base}/made-file`)).toBe(true);
    // the strict types refuse what is missing or of another kind, and nothing is left
    for (const [name, vol, why] of [
      ['hp-dir', `hostPath: {path: ${base}/absent, type: Directory}`, 'does not exist'],
      ['hp-file', `hostPath: {path: ${base}/made-dir, type: File}`, 'is not a file'],
      ['hp-sock', `hostPath: {path: ${base}/made-file, type: Socket}`, 'is not a socket'],
      ['hp-char', `hostPath: {path: ${base}/made-file, type: CharDevice}`, 'is not a character device'],
      ['hp-block', `hostPath: {path: /dev/null, type: BlockDevice}`, 'is not a block device'],
    ]) {
      const r = await e2e.sb.run(['play', 'kube', pod(name, vol)]);
      expect(r.exitCode, name).toBe(125);
      expect(String(r.stderr), name).toContain(why);
      expect((await json(['pod', 'ps', '--format', 'json'])).map((p: any) => p.Name)).not.toContain(name);
    }
    await e2e.sb.ok(['play', 'kube', pod('hp-chr-ok', 'hostPath: {path: /dev/null, type: CharDevice}')]);
    await e2e.sb.ok(['play', 'kube', pod('mem', 'emptyDir: {medium: Memory, sizeLimit: 8Mi}')]);
    const df = await out(['exec', 'mem-app', 'sh', '-c', 'grep " /v " /proc/mounts; df -k /v | tail -1']);
    expect(df).toMatch(/^tmpfs \/v tmpfs /);
    expect(Number(df.split('\n')[1].trim().split(/\s+/)[1])).toBe(8192);
    rmSync(base, { recursive: true, force: true });
  });

  it('a PersistentVolumeClaim is a named volume kept by kube down unless --force', async () => {
    const f = manifest('pvc', `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: keeper}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
  containers:
    - {name: app, image: localhost/busybox:latest, command: ["sh", "-c", "cat /data/count 2>/dev/null; echo x >> /data/count; trap 'exit 0' TERM; sleep 3600 & wait"], volumeMounts: [{name: d, mountPath: /data}]}
`);
    const play = await e2e.sb.run(['play', 'kube', f]);
    expect(String(play.stderr)).toContain('spec: does not apply on one host: ignored');
    await until(() => out(['exec', 'keeper-app', 'cat', '/data/count']), (c) => c === 'x');
    await e2e.sb.ok(['kube', 'down', f]);
    expect((await json(['volume', 'ls', '--format', 'json'])).map((v: any) => v.Name)).toEqual(['data']);
    await e2e.sb.ok(['play', 'kube', f]);
    expect(await until(() => out(['logs', 'keeper-app']), (l) => l.length > 0)).toBe('x');
    const down = await out(['kube', 'down', '--force', f]);
    expect(down).toContain('Volumes removed:\ndata');
    expect(await json(['volume', 'ls', '--format', 'json'])).toEqual([]);
    expect(existsSync(path.join(e2e.sb.root, 'volumes', 'data'))).toBe(false);
  });

  // One test per example: each has its own time budget, and a failure names the example.
  it.each(readdirSync(EXAMPLES).filter((x) => x.endsWith('.yaml')).sort())('example %s plays, and kube down takes it away', async (f) => {
    const file = path.join(EXAMPLES, f);
    const r = await e2e.sb.run(['play', 'kube', file]);
    expect(r.exitCode, `${f}: ${String(r.stderr)}`).toBe(0);
    expect((await json(['pod', 'ps', '--format', 'json'])).length, f).toBeGreaterThan(0);
    await e2e.sb.ok(['kube', 'down', file]);
    expect(await json(['pod', 'ps', '--format', 'json']), f).toEqual([]);
  });
});
