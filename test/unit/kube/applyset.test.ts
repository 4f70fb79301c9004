import { describe, it, expect } from 'vitest';
import { parseManifests } from '../../../src/kube/parse.js';
import { planKube } from '../../../src/kube/plan.js';
import {
  actionsOf, conflictsOf, desiredOf, recordRevision, rolloutLimits, unifiedDiff, templateHash, renamePod,
  SET_LABEL, HASH_ANNOTATION, FILES_ANNOTATION, TEMPLATE_HASH_LABEL, type ExistingPod,
} from '../../../src/kube/applyset.js';

const desired = (yaml: string) => {
  const docs = parseManifests(yaml, 'a.yaml').docs;
  return desiredOf(planKube(docs), docs.map((d) => ({ kind: String(d.kind), name: String(d.name), object: d.value })));
};

const POD = (name: string, env = 'a', cm = 'x') => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  containers:
    - name: c
      image: localhost/bb:1
      env: [{name: E, value: "${env}"}]
      volumeMounts: [{name: cfg, mountPath: /cfg}]
  volumes: [{name: cfg, configMap: {name: cm}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {k: "${cm}"}
`;

const DEPLOY = (replicas: number, image = 'localhost/bb:1') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: "${image}"}]
`;

function existingFrom(yaml: string, set: string): ExistingPod[] {
  const d = desired(yaml);
  return d.objects.flatMap((o) => o.pods.map((p, i) => ({
    id: `id-${p.pod.name}`, name: p.pod.name, created: '2026-01-01T00:00:00Z',
    labels: { [SET_LABEL]: set }, annotations: { [HASH_ANNOTATION]: o.digests[i].spec, [FILES_ANNOTATION]: o.digests[i].files },
    kube: { kind: o.kind, name: o.name },
  })));
}

describe('apply set actions', () => {
  it('the same files: unchanged; env: replace; configMap data: update in place; gone: delete', () => {
    const have = existingFrom(POD('p'), 's');
    expect(actionsOf(desired(POD('p')), have, 's')).toEqual([{ action: 'unchanged', kind: 'Pod', name: 'p', pods: ['p'] }]);
    expect(actionsOf(desired(POD('p', 'b')), have, 's')[0]).toMatchObject({ action: 'replace', pods: ['p'] });
    expect(actionsOf(desired(POD('p', 'a', 'y')), have, 's')[0]).toMatchObject({ action: 'update', pods: ['p'] });
    expect(actionsOf(desired(POD('q')), have, 's')).toEqual([
      { action: 'create', kind: 'Pod', name: 'q', pods: ['q'] },
      { action: 'delete', kind: 'Pod', name: 'p', pods: ['p'] },
    ]);
  });

  it('pods of another set, of play kube or of pod create are conflicts, never actions', () => {
    const other = existingFrom(POD('p'), 'other');
    expect(conflictsOf(desired(POD('p')), other, 's')).toEqual([expect.stringMatching(/pod p \(Pod p of apply set "s"\) already exists, made by apply set "other"/)]);
    expect(actionsOf(desired(POD('q')), other, 's')).toEqual([{ action: 'create', kind: 'Pod', name: 'q', pods: ['q'] }]);
    const bare = [{ id: 'x', name: 'p', created: '', labels: {}, annotations: {} }];
    expect(conflictsOf(desired(POD('p')), bare, 's')[0]).toMatch(/made by pod create/);
  });

  it('Deployments: a template hash names the pods; replicas change scales, a template change rolls', () => {
    const d = desired(DEPLOY(3));
    const h = templateHash(d.objects[0].digests[0].spec);
    expect(h).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{10}$/);
    const pods = (n: number, hash: string): ExistingPod[] => Array.from({ length: n }, (_, i) => ({
      id: `i${i}`, name: `web-${hash}-x${i}`, created: '', labels: { [SET_LABEL]: 's', [TEMPLATE_HASH_LABEL]: hash }, annotations: { [FILES_ANNOTATION]: d.objects[0].digests[0].files }, kube: { kind: 'Deployment', name: 'web' },
    }));
    expect(actionsOf(d, pods(3, h), 's')[0].action).toBe('unchanged');
    expect(actionsOf(desired(DEPLOY(5)), pods(3, h), 's')[0]).toMatchObject({ action: 'scale', from: 3, to: 5 });
    expect(actionsOf(desired(DEPLOY(3, 'localhost/bb:2')), pods(3, h), 's')[0]).toMatchObject({ action: 'roll', from: [h] });
    // the replica count is not part of the template hash
    expect(templateHash(desired(DEPLOY(5)).objects[0].digests[0].spec)).toBe(h);
  });

  it('renaming a planned pod renames its containers too', () => {
    const p = renamePod(desired(DEPLOY(1)).objects[0].pods[0], 'web-abc-xyz');
    expect(p.pod.name).toBe('web-abc-xyz');
    expect(p.containers[0].name).toBe('web-abc-xyz-c');
    expect(p.pod.kube?.object).toBeDefined();
  });
});

describe('rollout limits (Kubernetes rounding)', () => {
  it.each([
    [4, undefined, 1, 1],
    [3, undefined, 1, 0],
    [10, { rollingUpdate: { maxSurge: '30%', maxUnavailable: '30%' } }, 3, 3],
    [2, { rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } }, 0, 1],
    [3, { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }, 1, 0],
  ])('replicas %i, %j: surge %i, unavailable %i', (r, s, surge, unavail) => {
    expect(rolloutLimits(r, s)).toEqual({ maxSurge: surge, maxUnavailable: unavail });
  });
});

describe('revisions', () => {
  it('a new template is a new revision; a template seen before is renumbered; revisionHistoryLimit trims', () => {
    let r = recordRevision(undefined, 'h1', {}, 2);
    r = recordRevision(r, 'h1', {}, 2);
    expect(r.revision).toBe(1);
    r = recordRevision(r, 'h2', {}, 2);
    r = recordRevision(r, 'h3', {}, 2);
    r = recordRevision(r, 'h4', {}, 2);
    expect(r.revision).toBe(4);
    expect(r.history.map((h) => h.revision)).toEqual([2, 3, 4]);
    r = recordRevision(r, 'h2', {}, 2);
    expect(r.revision).toBe(5);
    expect(r.history.map((h) => `${h.revision}:${h.hash}`)).toEqual(['3:h3', '4:h4', '5:h2']);
  });
});

describe('unifiedDiff', () => {
  it('equal texts give nothing; a change gives a hunk', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y')).toBe('');
    expect(unifiedDiff('a\nb\nc\n', 'a\nB\nc\n', 'x', 'y')).toBe('--- x\n+++ y\n@@ -1,4 +1,4 @@\n a\n-b\n+B\n c\n \n');
  });
});
