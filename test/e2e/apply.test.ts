// Issue 16 acceptance (kube apply, diff, rollout, watch) against real runc and conmon: a second
// apply changes only what changed; Deployments scale and roll without touching surviving pods;
// ownership keeps apply away from pods that others made.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { useSandbox, until } from '../helpers/e2e.js';

const e2e = useSandbox('peapod-apply', { images: ['busybox', 'busybox:v2'] });
const { json, manifest } = e2e;
const LOOP = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]`;

const pod = (name: string, env = 'one') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${LOOP}
      env: [{name: V, value: "${env}"}]
`;

const deployment = (name: string, replicas: number, env = 'one', extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}${extra}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: localhost/busybox:latest
          command: ${LOOP}
          env: [{name: V, value: "${env}"}]
`;

/** Containers (not infra) by name: ID and start time. */
async function containers(): Promise<Map<string, { id: string; started: number; pod: string }>> {
  const all = await json(['ps', '-a', '--format', 'json']);
  return new Map(all.filter((c: any) => !c.IsInfra && !String(c.Names[0]).endsWith('-infra')).map((c: any) => [c.Names[0], { id: c.Id, started: c.StartedAt, pod: c.PodName }]));
}

const podNames = async (filter?: string): Promise<string[]> => (await json(['pod', 'ps', '--format', 'json', ...(filter ? ['--filter', filter] : [])])).map((p: any) => p.Name).sort();

describe('kube apply: pods', () => {
  it('a second apply with no change restarts nothing; an env change replaces only that pod; a pod gone from the file is pruned', async () => {
    const f = manifest('two', `${pod('alpha')}---\n${pod('beta')}`);
    const first = await e2e.sb.ok(['kube', 'apply', f]);
    expect(String(first.stdout)).toMatch(/pod\/alpha created/);
    const c1 = await containers();
    expect([...c1.keys()].sort()).toEqual(['alpha-app', 'beta-app']);
    expect(await podNames('label=peapod.io/apply-set=two')).toEqual(['alpha', 'beta']);

    const second = await e2e.sb.ok(['kube', 'apply', f]);
    expect(String(second.stdout)).toMatch(/pod\/alpha unchanged\npod\/beta unchanged/);
    const c2 = await containers();
    expect(c2).toEqual(c1);                                    // same IDs, same start times

    manifest('two', `${pod('alpha')}---\n${pod('beta', 'two')}`);
    const third = await e2e.sb.ok(['kube', 'apply', f]);
    expect(String(third.stdout)).toMatch(/pod\/beta replaced/);
    const c3 = await containers();
    expect(c3.get('alpha-app')).toEqual(c1.get('alpha-app'));
    expect(c3.get('beta-app')!.id).not.toBe(c1.get('beta-app')!.id);
    expect(String((await e2e.sb.ok(['exec', 'beta-app', 'sh', '-c', 'echo $V'])).stdout).trim()).toBe('two');

    manifest('two', pod('alpha'));
    const fourth = await e2e.sb.ok(['kube', 'apply', f]);
    expect(String(fourth.stdout)).toMatch(/pod\/beta pruned/);
    expect(await podNames()).toEqual(['alpha']);
    expect((await containers()).get('alpha-app')).toEqual(c1.get('alpha-app'));

    // the record: 0600 in a 0700 directory
    const rec = path.join(e2e.sb.root, 'applysets', 'two.json');
    expect(readFileSync(rec, 'utf8')).toContain('"name": "two"');
    const { statSync } = await import('node:fs');
    expect(statSync(rec).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(rec)).mode & 0o777).toBe(0o700);
    await e2e.sb.ok(['kube', 'down', f]);
    expect(existsSync(rec)).toBe(false);
  }, 120_000);

  it('a pod of the same name made by pod create, play kube or another set is an error naming both; nothing changes', async () => {
    await e2e.sb.ok(['pod', 'create', '--name', 'taken']);
    const f = manifest('claim', `${pod('fresh')}---\n${pod('taken')}`);
    const r = await e2e.sb.run(['kube', 'apply', f]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/pod taken \(Pod taken of apply set "claim"\) already exists, made by pod create/);
    expect(await podNames()).toEqual(['taken']);              // "fresh" was not created either

    const played = manifest('played', pod('byplay'));
    await e2e.sb.ok(['play', 'kube', played]);
    const g = manifest('other', pod('byplay'));
    const r2 = await e2e.sb.run(['kube', 'apply', g]);
    expect(String(r2.stderr)).toMatch(/pod byplay \(Pod byplay of apply set "other"\) already exists, made by play kube \(Pod byplay\)/);

    const h = manifest('first-set', pod('shared'));
    await e2e.sb.ok(['kube', 'apply', h]);
    const before = await containers();
    const r3 = await e2e.sb.run(['kube', 'apply', '--applyset', 'second-set', h]);
    expect(String(r3.stderr)).toMatch(/made by apply set "first-set"/);
    expect(await containers()).toEqual(before);
  }, 120_000);

  it('bad input: file:line:col errors, nothing created; a failure part-way rolls back what the apply made', async () => {
    const f = manifest('bad', `${pod('ok1')}---
apiVersion: v1
kind: Pod
metadata: {name: typo}
spec:
  containers:
    - name: app
      image: localhost/busybox:latest
      comand: ["true"]
`);
    const r = await e2e.sb.run(['kube', 'apply', f]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/bad\.yaml:19:7: .*comand: unknown field/);
    expect(await podNames()).toEqual([]);

    // an image that does not exist: found before anything is made
    const g = manifest('noimage', `${pod('ok2')}---\n${pod('ok3').replace('localhost/busybox:latest', 'localhost/nothere:1')}`);
    const r2 = await e2e.sb.run(['kube', 'apply', g]);
    expect(r2.exitCode).toBe(125);
    expect(await podNames()).toEqual([]);

    // a container that cannot start: found only when starting; the pod made before it is removed again
    const h = manifest('nostart', `${pod('ok4')}---
${pod('ok5').replace(LOOP, '["/no/such/program"]')}`);
    const r3 = await e2e.sb.run(['kube', 'apply', h]);
    expect(r3.exitCode).not.toBe(0);
    expect(await podNames()).toEqual([]);
    expect(existsSync(path.join(e2e.sb.root, 'applysets', 'nostart.json'))).toBe(false);
  }, 60_000);
});

describe('kube apply: Deployments', () => {
  it('replicas 3 -> 5 -> 2 leave the surviving pods untouched; pod names carry the template hash', async () => {
    const f = manifest('scale', deployment('web', 3));
    await e2e.sb.ok(['kube', 'apply', f]);
    const p3 = await podNames();
    expect(p3).toHaveLength(3);
    for (const n of p3) expect(n).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    const c3 = await containers();

    manifest('scale', deployment('web', 5));
    expect(String((await e2e.sb.ok(['kube', 'apply', f])).stdout)).toMatch(/deployment\/web scaled from 3 to 5/);
    const p5 = await podNames();
    expect(p5).toHaveLength(5);
    expect(p5).toEqual(expect.arrayContaining(p3));
    const c5 = await containers();
    for (const [k, v] of c3) expect(c5.get(k)).toEqual(v);

    manifest('scale', deployment('web', 2));
    await e2e.sb.ok(['kube', 'apply', f]);
    const p2 = await podNames();
    expect(p2).toHaveLength(2);
    const c2 = await containers();
    for (const [k, v] of c2) expect(c5.get(k)).toEqual(v);    // survivors: same IDs and start times

    await e2e.sb.ok(['kube', 'down', f]);
    expect(await podNames()).toEqual([]);
  }, 120_000);
});

describe('kube apply: volumes and rollout restart, pause, resume', () => {
  it('a PersistentVolumeClaim gone from the files keeps its volume unless --prune-volumes; a volume the set did not make is never deleted', async () => {
    const claim = (name: string) => `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: ${name}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Mi}}
`;
    const user = `apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "echo kept > /data/f; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
      volumeMounts: [{name: d, mountPath: /data}]
  volumes:
    - name: d
      persistentVolumeClaim: {claimName: data}
`;
    // a volume made before the set, by someone else, that the set then names as a claim
    await e2e.sb.ok(['play', 'kube', manifest('theirs', claim('theirs'))]);
    const f = manifest('vols', `${claim('data')}---\n${claim('theirs')}---\n${user}`);
    await e2e.sb.ok(['kube', 'apply', f]);
    await until(async () => String((await e2e.sb.run(['exec', 'user-app', 'cat', '/data/f'])).stdout).trim(), (t) => t === 'kept');
    const vols = async () => (await json(['volume', 'ls', '--format', 'json'])).map((v: any) => v.Name).sort();
    expect(await vols()).toEqual(['data', 'theirs']);

    // the pod and the claims leave the files: the pod is pruned, the volumes are kept (data!)
    manifest('vols', pod('other'));
    const out = String((await e2e.sb.ok(['kube', 'apply', f])).stdout);
    expect(out).toContain('pod/user pruned');
    expect(out).toContain('persistentvolumeclaim/data kept: its volume holds data (--prune-volumes deletes it)');
    expect(out).toContain('persistentvolumeclaim/theirs pruned; volume theirs kept: apply set "vols" did not make it');
    expect(await vols()).toEqual(['data', 'theirs']);
    // a later --prune-volumes still knows the claim the set made, and deletes only that volume
    const pruned = String((await e2e.sb.ok(['kube', 'apply', '--prune-volumes', f])).stdout);
    expect(pruned).toContain('persistentvolumeclaim/data pruned (volume data deleted)');
    expect(await vols()).toEqual(['theirs']);
    expect(String((await e2e.sb.ok(['kube', 'apply', '--prune-volumes', f])).stdout)).not.toContain('persistentvolumeclaim');

    // a claim still used by a pod (of another set) is kept even with --prune-volumes
    const g = manifest('vols2', `${claim('data')}---\n${user.replace('name: user', 'name: user2')}`);
    await e2e.sb.ok(['kube', 'apply', g]);
    const h = manifest('vols3', user.replace('name: user', 'name: user3'));
    await e2e.sb.ok(['kube', 'apply', h]);
    manifest('vols2', pod('other2'));
    expect(String((await e2e.sb.ok(['kube', 'apply', '--prune-volumes', g])).stdout)).toContain('persistentvolumeclaim/data kept: volume data is used by user3');
    expect(await vols()).toEqual(['data', 'theirs']);
    for (const x of [f, g, h]) await e2e.sb.ok(['kube', 'down', x]);
    await e2e.sb.ok(['volume', 'rm', 'data', 'theirs']);
  }, 120_000);

  it('rollout restart replaces every pod by a rolling update and a re-apply does not roll again; pause holds a template change until resume', async () => {
    const f = manifest('rr', deployment('rr', 2));
    await e2e.sb.ok(['kube', 'apply', f]);
    const before = await podNames();
    expect(before).toHaveLength(2);
    const r = await e2e.sb.ok(['kube', 'rollout', 'restart', 'deployment/rr']);
    expect(String(r.stdout)).toMatch(/deployment\/rr rolled out \(RollingUpdate/);
    expect(String(r.stdout)).toContain('deployment.apps/rr restarted');
    const after = await podNames();
    expect(after).toHaveLength(2);
    expect(after.filter((n) => before.includes(n))).toEqual([]);
    const rec = JSON.parse(readFileSync(path.join(e2e.sb.root, 'applysets', 'rr.json'), 'utf8'));
    expect(rec.deployments.rr.restartedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(rec.objects[0].object.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toBe(rec.deployments.rr.restartedAt);
    // the unchanged files applied again: nothing rolls (the annotation stays, as kubectl apply keeps it)
    const c = await containers();
    expect(String((await e2e.sb.ok(['kube', 'apply', f])).stdout)).toMatch(/deployment\/rr unchanged/);
    expect(await containers()).toEqual(c);
    expect(String((await e2e.sb.ok(['kube', 'rollout', 'history', 'rr'])).stdout).trim().split('\n')).toHaveLength(4);

    // pause: an env change applied is not rolled out, scaling still is; resume rolls it out
    expect(String((await e2e.sb.ok(['kube', 'rollout', 'pause', 'deploy/rr'])).stdout)).toContain('deployment.apps/rr paused');
    const again = await e2e.sb.run(['kube', 'rollout', 'pause', 'rr']);
    expect(again.exitCode).not.toBe(0);
    expect(String(again.stderr)).toContain('deployment rr is already paused');
    expect(String((await e2e.sb.run(['kube', 'rollout', 'restart', 'rr'])).stderr)).toContain('deployment rr is paused: it cannot be restarted');
    manifest('rr', deployment('rr', 2, 'two'));
    expect(String((await e2e.sb.ok(['kube', 'apply', f])).stdout)).toContain('deployment/rr paused: the template change is not rolled out');
    expect(await containers()).toEqual(c);
    expect(String((await e2e.sb.ok(['kube', 'rollout', 'status', 'rr'])).stdout)).toMatch(/deployment "rr" is paused/);
    const resumed = String((await e2e.sb.ok(['kube', 'rollout', 'resume', 'deployment.apps/rr'])).stdout);
    expect(resumed).toMatch(/deployment\/rr rolled out/);
    expect(resumed).toContain('deployment.apps/rr resumed');
    const rolled = await podNames();
    expect(rolled.filter((n) => after.includes(n))).toEqual([]);
    expect(String((await e2e.sb.ok(['exec', `${rolled[0]}-app`, 'sh', '-c', 'echo $V'])).stdout).trim()).toBe('two');
    expect(String((await e2e.sb.run(['kube', 'rollout', 'resume', 'rr'])).stderr)).toContain('deployment rr is not paused');
    // kubectl's other kinds are not Deployments
    expect(String((await e2e.sb.run(['kube', 'rollout', 'restart', 'daemonset/rr'])).stderr)).toContain('rollout works on Deployments only');
    await e2e.sb.ok(['kube', 'down', f]);
  }, 180_000);
});

describe('kube apply: Jobs', () => {
  it('a completed Job that did not change is not run again; a changed template is refused unless --force', async () => {
    const job = (msg: string) => `apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: app
          image: localhost/busybox:latest
          command: ["echo", "${msg}"]
`;
    const f = manifest('jobs', job('a'));
    await e2e.sb.ok(['kube', 'apply', f]);
    const done = await until(containers, (m) => [...m.values()].some((c) => c.started > 0), 100);
    await until(async () => (await json(['ps', '-a', '--format', 'json'])).filter((c: any) => c.Names[0] === 'once-pod-0-app' && c.State === 'exited').length, (n) => n === 1, 100);
    expect(String((await e2e.sb.ok(['kube', 'apply', f])).stdout)).toMatch(/job\/once unchanged/);
    expect(await containers()).toEqual(done);
    manifest('jobs', job('b'));
    const r = await e2e.sb.run(['kube', 'apply', f]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/Job once: the pod template changed, and a Job's template cannot change .*--force/);
    expect(await containers()).toEqual(done);
    expect(String((await e2e.sb.ok(['kube', 'apply', '--force', f])).stdout)).toMatch(/job\/once replaced/);
    await e2e.sb.ok(['kube', 'down', f]);
  }, 60_000);
});

describe('kube apply: adversarial', () => {
  it('a tampered record or a crafted set name cannot make apply delete or write what is not the set\'s', async () => {
    await e2e.sb.ok(['pod', 'create', '--name', 'victim']);
    const f = manifest('mine', pod('own1'));
    await e2e.sb.ok(['kube', 'apply', f]);
    // The record now claims the victim (and a Deployment whose "pods" would be the victim).
    const rec = path.join(e2e.sb.root, 'applysets', 'mine.json');
    const r = JSON.parse(readFileSync(rec, 'utf8'));
    r.objects.push({ kind: 'Pod', name: 'victim', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'victim' } } });
    writeFileSync(rec, JSON.stringify(r));
    manifest('mine', pod('own2'));
    await e2e.sb.ok(['kube', 'apply', f]);
    expect(await podNames()).toEqual(['own2', 'victim']);     // own1 pruned (its label), victim kept
    // A damaged record is refused, not half-trusted.
    writeFileSync(rec, '{"version": 1, "name": "other", "objects": 5}');
    const bad = await e2e.sb.run(['kube', 'apply', f]);
    expect(String(bad.stderr)).toMatch(/the record of apply set "mine" is damaged/);
    writeFileSync(rec, '{not json');
    const bad2 = await e2e.sb.run(['kube', 'apply', f]);
    expect(String(bad2.stderr)).toMatch(/the applysets record .*mine\.json is damaged/);
    expect(await podNames()).toEqual(['own2', 'victim']);
    // A set name that would leave the records' directory.
    const esc = await e2e.sb.run(['kube', 'apply', '--applyset', '../../etc/x', f]);
    expect(esc.exitCode).toBe(125);
    expect(String(esc.stderr)).toMatch(/applysets name "..\/..\/etc\/x"/);
    mkdirSync(path.join(e2e.sb.dir, 'unused'), { recursive: true });
  }, 60_000);
});

const READY_DEPLOY = (image: string, probe = '["test", "-e", "/tmp/ready"]', extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: roll}
spec:
  replicas: 2
  selector: {matchLabels: {app: roll}}${extra}
  template:
    metadata: {labels: {app: roll}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: app
          image: ${image}
          command: ["sh", "-c", "sleep 0.5; touch /tmp/ready; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
          readinessProbe:
            exec: {command: ${probe}}
            periodSeconds: 1
`;

/** Pods of the sandbox with how many of their app containers are ready. */
async function readiness(): Promise<Array<{ name: string; ready: boolean; hash: string }>> {
  const pods = await json(['pod', 'ps', '--format', 'json']);
  const out = [];
  for (const p of pods) {
    // a pod may go between the listing and its inspect (the rollout removes old pods)
    const r = await e2e.sb.run(['pod', 'inspect', p.Id]);
    if (r.exitCode !== 0) continue;
    const got = JSON.parse(String(r.stdout));
    const i = Array.isArray(got) ? got[0] : got;
    const apps = (i.Containers ?? []).filter((c: any) => !String(c.Name).endsWith('-infra'));
    out.push({ name: p.Name, ready: apps.length > 0 && apps.every((c: any) => c.Ready), hash: p.Labels?.['pod-template-hash'] ?? '' });
  }
  return out;
}

describe('kube apply: rollouts', () => {
  it('an image change with a readiness probe and maxUnavailable 0 keeps replicas pods Ready throughout; old pods end', async () => {
    const f = manifest('rolling', READY_DEPLOY('localhost/busybox:latest', undefined, '\n  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}'));
    await e2e.sb.ok(['kube', 'apply', f]);
    const first = await until(readiness, (r) => r.length === 2 && r.every((x) => x.ready), 150);
    expect(first.every((x) => x.ready)).toBe(true);
    const oldHash = first[0].hash;
    manifest('rolling', READY_DEPLOY('localhost/busybox:v2', undefined, '\n  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}'));
    const applying = e2e.sb.run(['kube', 'apply', f], { timeout: 120_000 });
    let done = false;
    void applying.then(() => { done = true; });
    const samples: number[] = [];
    while (!done) {
      const r = await readiness();
      samples.push(r.filter((x) => x.ready).length);
      expect(r.length).toBeLessThanOrEqual(3);               // replicas + maxSurge
    }
    const res = await applying;
    expect(res.exitCode).toBe(0);
    expect(String(res.stdout)).toMatch(/deployment\/roll rolled out \(RollingUpdate/);
    expect(samples.length).toBeGreaterThan(0);
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(2);  // never fewer than replicas Ready
    const after = await readiness();
    expect(after).toHaveLength(2);
    expect(after.every((x) => x.hash !== oldHash && x.ready)).toBe(true);
    expect(String((await e2e.sb.ok(['kube', 'rollout', 'status', 'roll'])).stdout)).toMatch(/successfully rolled out \(revision 2, 2\/2 ready\)/);
    const hist = String((await e2e.sb.ok(['kube', 'rollout', 'history', 'roll'])).stdout);
    expect(hist).toMatch(/^1 +\S+ +app=localhost\/busybox:latest$/m);
    expect(hist).toMatch(/^2 +\S+ +app=localhost\/busybox:v2 \(current\)$/m);
    await e2e.sb.ok(['kube', 'down', f]);
  }, 180_000);

  it('a rollout whose new pods never become Ready stops at its deadline, says why; undo restores the old template', async () => {
    const extra = '\n  progressDeadlineSeconds: 3';
    const f = manifest('stuck', READY_DEPLOY('localhost/busybox:latest', undefined, extra).replace('replicas: 2', 'replicas: 1'));
    await e2e.sb.ok(['kube', 'apply', f]);
    const [orig] = await until(readiness, (r) => r.length === 1 && r[0].ready, 150);
    const before = await containers();
    manifest('stuck', READY_DEPLOY('localhost/busybox:v2', '["false"]', extra).replace('replicas: 2', 'replicas: 1'));
    const r = await e2e.sb.run(['kube', 'apply', f], { timeout: 120_000 });
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/deployment roll: rollout to revision 2 made no progress for 3s \(progressDeadlineSeconds\): 0\/1 new pods available \(roll-\S+: container app not ready.*\); 1 old pod still running/);
    expect((await readiness()).find((x) => x.name === orig.name)?.ready).toBe(true);   // the old pod still serves
    const st = await e2e.sb.run(['kube', 'rollout', 'status', 'roll']);
    expect(String(st.stdout) + String(st.stderr)).toMatch(/rollout to revision 2 failed/);
    expect(st.exitCode).toBe(1);
    await e2e.sb.ok(['kube', 'rollout', 'undo', 'roll'], { timeout: 120_000 });
    const back = await readiness();
    expect(back.map((x) => x.name)).toEqual([orig.name]);    // the failed new pod is gone, the old one kept
    expect(await containers()).toEqual(before);
    expect(String((await e2e.sb.ok(['kube', 'rollout', 'history', 'roll'])).stdout)).toMatch(/^3 .*busybox:latest \(current\)$/m);
    await e2e.sb.ok(['kube', 'down', f]);
  }, 180_000);

  it('Recreate stops the old pods before the new ones start', async () => {
    const dep = (img: string) => deployment('rec', 2, 'x', '\n  strategy: {type: Recreate}').replace('localhost/busybox:latest', img);
    const f = manifest('recreate', dep('localhost/busybox:latest'));
    await e2e.sb.ok(['kube', 'apply', f]);
    const old = await podNames();
    manifest('recreate', dep('localhost/busybox:v2'));
    const r = await e2e.sb.ok(['kube', 'apply', f]);
    expect(String(r.stdout)).toMatch(/2 old pods stopped \(Recreate\)[\s\S]*2 new pods/);
    const now = await podNames();
    expect(now).toHaveLength(2);
    expect(now.some((n) => old.includes(n))).toBe(false);
    await e2e.sb.ok(['kube', 'down', f]);
  }, 120_000);
});

describe('kube apply: ConfigMaps', () => {
  it('a ConfigMap change reaches a mounted file without a restart, and rolls the Deployment that reads it as env', async () => {
    const files = (v: string) => `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: "${v}"}
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${LOOP}
      volumeMounts: [{name: cfg, mountPath: /etc/cfg}]
  volumes: [{name: cfg, configMap: {name: settings}}]
---
${deployment('envuser', 1).replace('env: [{name: V, value: "one"}]', 'env: [{name: V, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}]')}`;
    const f = manifest('cm', files('hello'));
    await e2e.sb.ok(['kube', 'apply', f]);
    expect(String((await e2e.sb.ok(['exec', 'reader-app', 'cat', '/etc/cfg/greeting'])).stdout)).toBe('hello');
    const before = await containers();
    const envPod = [...before.keys()].find((k) => k.startsWith('envuser-'))!;
    expect(String((await e2e.sb.ok(['exec', envPod, 'sh', '-c', 'echo $V'])).stdout).trim()).toBe('hello');

    manifest('cm', files('bonjour'));
    const r = await e2e.sb.ok(['kube', 'apply', f]);
    expect(String(r.stdout)).toMatch(/pod\/reader updated in place/);
    expect(String(r.stdout)).toMatch(/deployment\/envuser rolled out/);
    expect(String((await e2e.sb.ok(['exec', 'reader-app', 'cat', '/etc/cfg/greeting'])).stdout)).toBe('bonjour');
    const after = await containers();
    expect(after.get('reader-app')).toEqual(before.get('reader-app'));   // not restarted
    const newEnvPod = [...after.keys()].find((k) => k.startsWith('envuser-'))!;
    expect(newEnvPod).not.toBe(envPod);
    expect(String((await e2e.sb.ok(['exec', newEnvPod, 'sh', '-c', 'echo $V'])).stdout).trim()).toBe('bonjour');
    await e2e.sb.ok(['kube', 'down', f]);
  }, 120_000);
});

describe('kube diff and --watch', () => {
  it('diff exits 0 with no change, 1 with a change (printing what and a unified diff), >1 on an error; it changes nothing', async () => {
    const f = manifest('difff', pod('d1'));
    expect((await e2e.sb.run(['kube', 'diff', f])).exitCode).toBe(1);   // not applied yet: would create
    await e2e.sb.ok(['kube', 'apply', f]);
    const same = await e2e.sb.run(['kube', 'diff', f]);
    expect(same.exitCode).toBe(0);
    expect(String(same.stdout)).toBe('pod/d1 unchanged');
    const before = await containers();
    manifest('difff', pod('d1', 'changed'));
    const d = await e2e.sb.run(['kube', 'diff', f]);
    expect(d.exitCode).toBe(1);
    expect(String(d.stdout)).toMatch(/pod\/d1 would be replaced \(spec changed: d1\)/);
    expect(String(d.stdout)).toMatch(/^-\s+value: one$/m);
    expect(String(d.stdout)).toMatch(/^\+\s+value: changed$/m);
    expect(await containers()).toEqual(before);
    writeFileSync(f, 'kind: Pod\nmetadata: {name: x}\n  bad: [\n');
    expect((await e2e.sb.run(['kube', 'diff', f])).exitCode).toBeGreaterThan(1);
  }, 60_000);

  it('--watch applies an edit of a file of the set; an invalid edit changes nothing; Ctrl-C leaves the pods running', async () => {
    const dir = path.join(e2e.sb.dir, 'watched');
    mkdirSync(dir, { recursive: true });
    const f = path.join(dir, 'app.yaml');
    writeFileSync(f, pod('w1'));
    const proc: any = e2e.sb.run(['kube', 'apply', '--watch', dir], { timeout: 120_000 });
    let outText = '';
    proc.stdout.on('data', (b: Buffer) => { outText += b.toString(); });
    const waitFor = async (re: RegExp) => { for (let i = 0; i < 300 && !re.test(outText); i++) await new Promise((r) => setTimeout(r, 50)); expect(outText).toMatch(re); };
    await waitFor(/pod\/w1 created[\s\S]*watching/);
    const before = await containers();
    const saved = Date.now();
    writeFileSync(f, pod('w1', 'edited'));
    await waitFor(/pod\/w1 replaced/);
    console.log(`--watch: the edit was applied ${Date.now() - saved} ms after the save`);
    expect((await containers()).get('w1-app')!.id).not.toBe(before.get('w1-app')!.id);
    const n = outText.length;
    writeFileSync(f, `${pod('w1', 'edited')}      comand: ["x"]\n`);
    for (let i = 0; i < 100 && !/watching/.test(outText.slice(n)); i++) await new Promise((r) => setTimeout(r, 50));
    const mid = await containers();
    proc.kill('SIGINT');
    const res = await proc;
    expect(String(res.stderr)).toMatch(/app\.yaml:\d+:\d+: .*comand: unknown field/);
    expect(await containers()).toEqual(mid);                 // the invalid edit changed nothing, Ctrl-C kept the pod
    expect(await podNames()).toEqual(['w1']);
    await e2e.sb.ok(['kube', 'down', dir]);
  }, 120_000);
});
