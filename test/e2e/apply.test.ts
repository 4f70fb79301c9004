// Issue 16 acceptance (kube apply, diff, rollout, watch) against real runc and conmon: a second
// apply changes only what changed; Deployments scale and roll without touching surviving pods;
// ownership keeps apply away from pods that others made.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { useSandbox, until } from '../helpers/e2e.js';

const e2e = useSandbox('peapod-apply');
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

const podNames = async (filter?: string) => (await json(['pod', 'ps', '--format', 'json', ...(filter ? ['--filter', filter] : [])])).map((p: any) => p.Name).sort();

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
    // A set name that would leave the records' directory.
    const esc = await e2e.sb.run(['kube', 'apply', '--applyset', '../../etc/x', f]);
    expect(esc.exitCode).toBe(125);
    expect(String(esc.stderr)).toMatch(/applysets name "..\/..\/etc\/x"/);
    mkdirSync(path.join(e2e.sb.dir, 'unused'), { recursive: true });
  }, 60_000);
});

void until;
