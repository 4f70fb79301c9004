// apply sets: what `kube apply` compares and decides, pure (no processes, no I/O). The desired
// objects of a plan are hashed (the effective spec of each pod, without its name), compared with
// the pods the set owns (found by label, never by the record alone), and turned into a list of
// actions per object: create, unchanged, replace, update (files in place), scale, roll, delete.
import { createHash, randomBytes } from 'node:crypto';
import type { PodSpec } from '../../engine/types.js';
import type { Plan, PlannedPod } from './plan.js';

/** Label naming the apply set a pod (or secret) belongs to. */
export const SET_LABEL = 'peapod.io/apply-set';
/** Annotation: hash of the pod's effective spec (what a change of needs a new pod). */
export const HASH_ANNOTATION = 'peapod.io/spec-hash';
/** Annotation: hash of the pod's configMap/secret files (what changes in place). */
export const FILES_ANNOTATION = 'peapod.io/files-hash';
/** Kubernetes' label of a Deployment's pods: the template's hash. */
export const TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** Kubernetes' annotation of the revision a Deployment's pod belongs to. */
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

const OUR_KEYS = [SET_LABEL, HASH_ANNOTATION, FILES_ANNOTATION, TEMPLATE_HASH_LABEL, REVISION_ANNOTATION];

/** What an apply set keeps between commands (`<root>/applysets/<name>.json`, 0600). */
export interface ApplySetRecord {
  version: 1;
  name: string;
  created: string;
  updated: string;
  /** the files (or <stdin>) of the last apply */
  sources: string[];
  /** the objects of the last apply, as applied (Kubernetes JSON) */
  objects: Array<{ kind: string; name: string; object: unknown }>;
  deployments: Record<string, DeploymentRecord>;
  /** PersistentVolumeClaims gone from the files whose volumes prune kept (no --prune-volumes) */
  keptClaims?: string[];
}

export interface DeploymentRecord {
  /** the revision the Deployment is (or is rolling) at */
  revision: number;
  /** `kube rollout pause`: a changed template is not rolled out until `resume` */
  paused?: boolean;
  /** `kube rollout restart`: the kubectl.kubernetes.io/restartedAt annotation kept on the template */
  restartedAt?: string;
  /** revisions kept (revisionHistoryLimit old ones and the current), oldest first */
  history: Array<{ revision: number; hash: string; object: unknown; at: string }>;
  rollout?: { status: 'progressing' | 'complete' | 'failed'; message: string; at: string };
}

/** A pod in the store, as apply sees it. */
export interface ExistingPod {
  id: string;
  name: string;
  created: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  kube?: { kind: string; name: string };
}

/** Who made a pod, in words, for conflict messages. */
export function madeBy(p: ExistingPod): string {
  const set = p.labels[SET_LABEL];
  if (set) return `apply set "${set}"`;
  if (p.kube) return `play kube (${p.kube.kind} ${p.kube.name})`;
  return 'pod create';
}

/** Sorted-keys JSON: the same value always gives the same text. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => stableJson(x === undefined ? null : x)).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object).sort().filter((k) => (v as any)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${stableJson((v as any)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

// Kubernetes' alphabet for generated name parts (no vowels, no 0/1/3: no words, nothing ambiguous).
const SAFE = 'bcdfghjklmnpqrstvwxz2456789';
function safeEncode(hex: string, n: number): string {
  let out = '';
  let x = BigInt(`0x${hex.slice(0, 30)}`);
  for (let i = 0; i < n; i++) { out += SAFE[Number(x % 27n)]; x /= 27n; }
  return out;
}
/** A random name suffix of `n` characters (Kubernetes' generateName). */
export function randomSuffix(n = 5): string {
  return safeEncode(randomBytes(16).toString('hex'), n);
}

const POD_NAME = '$(PEAPOD_POD_NAME)';

/**
 * The effective spec of a planned pod, hashed: what it runs (without its own name, which replaces
 * any mention of it) and, apart, the contents of its configMap/secret files, which change in place.
 * `secretData`: the values of secrets the apply defines (their change restarts env users and
 * rewrites files).
 */
export function podDigest(p: PlannedPod, secretData: (name: string) => Record<string, string> | undefined): { spec: string; files: string } {
  const pod: Partial<PodSpec> = { ...p.pod, kube: undefined, name: undefined, labels: withoutOurs(p.pod.labels), annotations: withoutOurs(p.pod.annotations) };
  const files: Record<string, unknown> = {};
  pod.volumes = pod.volumes?.map((v) => {
    if (v.type !== 'configMap' && v.type !== 'secret' && v.type !== 'downwardAPI') return v;
    files[v.name] = { files: v.files, secret: v.type === 'secret' && v.source ? secretData(v.source) ?? null : undefined };
    return { ...v, files: v.files.map((f) => ({ ...f, content: undefined })) };
  });
  const envSecrets: Record<string, unknown> = {};
  for (const c of p.containers) for (const r of c.secretEnv ?? []) envSecrets[r.secret] = secretData(r.secret) ?? null;
  const spec = stableJson({ pod, containers: p.containers, deferred: !!p.deferred, envSecrets }).split(p.pod.name).join(POD_NAME);
  return { spec: sha(spec), files: sha(stableJson(files).split(p.pod.name).join(POD_NAME)) };
}

function withoutOurs(m?: Record<string, string>): Record<string, string> | undefined {
  if (!m) return m;
  const out = { ...m };
  for (const k of OUR_KEYS) delete out[k];
  return Object.keys(out).length ? out : undefined;
}

/** The planned pod, renamed (the name appears in container names, env, files, hostname). */
export function renamePod(p: PlannedPod, name: string): PlannedPod {
  const object = p.pod.kube?.object;
  const at = p.at;
  const copy = JSON.parse(JSON.stringify({ ...p, at: undefined, pod: { ...p.pod, kube: p.pod.kube && { ...p.pod.kube, object: undefined } } }).split(JSON.stringify(p.pod.name).slice(1, -1)).join(name)) as PlannedPod;
  if (copy.pod.kube) copy.pod.kube.object = object;
  copy.source = p.source;
  copy.at = at;
  return copy;
}

/** Marks a planned pod as the set's: label, hashes (and a Deployment's template hash, revision). */
export function own(p: PlannedPod, set: string, digest: { spec: string; files: string }, deployment?: { revision: number }): PlannedPod {
  p.pod.labels = { ...(p.pod.labels ?? {}), [SET_LABEL]: set, ...(deployment ? { [TEMPLATE_HASH_LABEL]: templateHash(digest.spec) } : {}) };
  p.pod.annotations = { ...(p.pod.annotations ?? {}), [HASH_ANNOTATION]: digest.spec, [FILES_ANNOTATION]: digest.files, ...(deployment ? { [REVISION_ANNOTATION]: String(deployment.revision) } : {}) };
  return p;
}

/** The pod-template-hash of a spec hash: 10 characters of Kubernetes' safe alphabet. */
export const templateHash = (specHash: string) => safeEncode(specHash, 10);

/** Kubernetes' rounding of maxSurge (up) and maxUnavailable (down); both 0 means unavailable 1. */
export function rolloutLimits(replicas: number, strategy: any): { maxSurge: number; maxUnavailable: number } {
  const ru = strategy?.rollingUpdate ?? {};
  const value = (v: unknown, round: (x: number) => number): number => {
    if (v === undefined || v === null) v = '25%';
    if (typeof v === 'number') return v;
    const m = /^(\d+)%$/.exec(String(v));
    if (m) return round((Number(m[1]) * replicas) / 100);
    return Number(v) || 0;
  };
  const maxSurge = value(ru.maxSurge, Math.ceil);
  let maxUnavailable = value(ru.maxUnavailable, Math.floor);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/** One object the files define, as apply will make it. */
export interface DesiredObject {
  kind: string;
  name: string;
  object: any;
  /** Pod, Job, DaemonSet: the pods with their final names; Deployment: one template pod */
  pods: PlannedPod[];
  digests: Array<{ spec: string; files: string }>;
  /** Deployment */
  replicas?: number;
}

export interface Desired {
  objects: DesiredObject[];
  secrets: Plan['secrets'];
  claims: string[];
}

/** Groups a plan's pods by the object that made them, hashing each. */
export function desiredOf(plan: Plan, docs: Array<{ kind: string; name: string; object: unknown }>): Desired {
  const secretData = (n: string) => plan.secrets.find((s) => s.name === n)?.data;
  const objects: DesiredObject[] = [];
  for (const d of docs) {
    if (!['Pod', 'Deployment', 'Job', 'DaemonSet'].includes(d.kind)) continue;
    const pods = plan.pods.filter((p) => p.source.kind === d.kind && p.source.name === d.name);
    const o = d.object as any;
    if (d.kind === 'Deployment') {
      const replicas = o.spec?.replicas ?? 1;
      // Deployments plan at least one pod so the template can be hashed even at replicas 0.
      const tmpl = pods[0];
      objects.push({ kind: d.kind, name: d.name, object: o, pods: tmpl ? [tmpl] : [], digests: tmpl ? [podDigest(tmpl, secretData)] : [], replicas });
    } else {
      objects.push({ kind: d.kind, name: d.name, object: o, pods, digests: pods.map((p) => podDigest(p, secretData)) });
    }
  }
  return { objects, secrets: plan.secrets, claims: plan.claims };
}

/** One decision of an apply, per object (and per pod where it matters). */
export type Action =
  | { action: 'create'; kind: string; name: string; pods: string[] }
  | { action: 'unchanged'; kind: string; name: string; pods: string[] }
  | { action: 'replace'; kind: string; name: string; pods: string[]; why: string }
  | { action: 'update'; kind: string; name: string; pods: string[]; why: string }
  | { action: 'scale'; kind: string; name: string; from: number; to: number }
  | { action: 'roll'; kind: string; name: string; from: string[]; to: string; strategy: string }
  | { action: 'delete'; kind: string; name: string; pods: string[] };

/** Existing pods of one object of the set. */
export function podsOf(existing: ExistingPod[], set: string, kind: string, name: string): ExistingPod[] {
  return existing.filter((p) => p.labels[SET_LABEL] === set && p.kube?.kind === kind && p.kube?.name === name);
}

/**
 * Conflicts: a pod the apply would make or own whose name (or, for a Deployment, whose controller)
 * is taken by something else. Each message names both owners.
 */
export function conflictsOf(desired: Desired, existing: ExistingPod[], set: string): string[] {
  const out: string[] = [];
  for (const o of desired.objects) {
    if (o.kind === 'Deployment') {
      const foreign = existing.filter((p) => p.kube?.kind === 'Deployment' && p.kube?.name === o.name && p.labels[SET_LABEL] !== set);
      if (foreign.length) out.push(`Deployment ${o.name} of apply set "${set}": its pods would clash with pod ${foreign[0].name}, made by ${madeBy(foreign[0])}`);
      continue;
    }
    for (const p of o.pods) {
      const have = existing.find((x) => x.name === p.pod.name);
      if (!have) continue;
      const mine = have.labels[SET_LABEL] === set && have.kube?.kind === o.kind && have.kube?.name === o.name;
      if (!mine) out.push(`pod ${p.pod.name} (${o.kind} ${o.name} of apply set "${set}") already exists, made by ${madeBy(have)}`);
    }
  }
  return out;
}

/** The actions that take the set's pods to the desired objects (Deployments' rollouts summarised). */
export function actionsOf(desired: Desired, existing: ExistingPod[], set: string): Action[] {
  const out: Action[] = [];
  const wanted = new Set(desired.objects.map((o) => `${o.kind}/${o.name}`));
  for (const o of desired.objects) {
    const have = podsOf(existing, set, o.kind, o.name);
    if (o.kind === 'Deployment') {
      const h = o.digests[0] ? templateHash(o.digests[0].spec) : '';
      const cur = have.filter((p) => p.labels[TEMPLATE_HASH_LABEL] === h);
      const old = have.filter((p) => p.labels[TEMPLATE_HASH_LABEL] !== h);
      const strategy = o.object?.spec?.strategy?.type ?? 'RollingUpdate';
      if (!have.length) out.push({ action: 'create', kind: o.kind, name: o.name, pods: [`${o.replicas} pod${o.replicas === 1 ? '' : 's'} ${o.name}-${h}-*`] });
      else if (old.length) out.push({ action: 'roll', kind: o.kind, name: o.name, from: [...new Set(old.map((p) => p.labels[TEMPLATE_HASH_LABEL] ?? '?'))], to: h, strategy });
      else if (cur.length !== o.replicas) out.push({ action: 'scale', kind: o.kind, name: o.name, from: cur.length, to: o.replicas! });
      else {
        const stale = cur.filter((p) => p.annotations[FILES_ANNOTATION] !== o.digests[0].files).map((p) => p.name);
        if (stale.length) out.push({ action: 'update', kind: o.kind, name: o.name, pods: stale, why: 'configMap/secret files changed' });
        else out.push({ action: 'unchanged', kind: o.kind, name: o.name, pods: cur.map((p) => p.name) });
      }
      continue;
    }
    const create: string[] = [];
    const replace: string[] = [];
    const update: string[] = [];
    const same: string[] = [];
    o.pods.forEach((p, i) => {
      const e = have.find((x) => x.name === p.pod.name);
      if (!e) create.push(p.pod.name);
      else if (e.annotations[HASH_ANNOTATION] !== o.digests[i].spec) replace.push(p.pod.name);
      else if (e.annotations[FILES_ANNOTATION] !== o.digests[i].files) update.push(p.pod.name);
      else same.push(p.pod.name);
    });
    const extra = have.filter((e) => !o.pods.some((p) => p.pod.name === e.name)).map((e) => e.name);
    if (create.length) out.push({ action: 'create', kind: o.kind, name: o.name, pods: create });
    if (replace.length) out.push({ action: 'replace', kind: o.kind, name: o.name, pods: replace, why: 'spec changed' });
    if (update.length) out.push({ action: 'update', kind: o.kind, name: o.name, pods: update, why: 'configMap/secret files changed' });
    if (extra.length) out.push({ action: 'delete', kind: o.kind, name: o.name, pods: extra });
    if (!create.length && !replace.length && !update.length && !extra.length) out.push({ action: 'unchanged', kind: o.kind, name: o.name, pods: same });
  }
  // Pods of the set whose object is gone from the files: pruned.
  const gone = new Map<string, string[]>();
  for (const p of existing) {
    if (p.labels[SET_LABEL] !== set || !p.kube) continue;
    const key = `${p.kube.kind}/${p.kube.name}`;
    if (wanted.has(key)) continue;
    gone.set(key, [...(gone.get(key) ?? []), p.name]);
  }
  for (const [key, pods] of gone) {
    const [kind, name] = key.split('/');
    out.push({ action: 'delete', kind, name, pods });
  }
  return out;
}

/** One line per action, as apply and diff print them. */
export function describeAction(a: Action): string {
  const obj = `${a.kind.toLowerCase()}/${a.name}`;
  switch (a.action) {
    case 'create': return `${obj} created (${a.pods.join(', ')})`;
    case 'unchanged': return `${obj} unchanged`;
    case 'replace': return `${obj} replaced (${a.why}: ${a.pods.join(', ')})`;
    case 'update': return `${obj} updated in place (${a.why}: ${a.pods.join(', ')})`;
    case 'scale': return `${obj} scaled from ${a.from} to ${a.to}`;
    case 'roll': return `${obj} rolled out (${a.strategy}: ${a.from.join(', ')} -> ${a.to})`;
    case 'delete': return `${obj} pruned (${a.pods.join(', ')})`;
  }
}

/** Keeps the current revision and the `limit` newest others (revisionHistoryLimit, default 10). */
export function recordRevision(rec: DeploymentRecord | undefined, hash: string, object: unknown, limit = 10, at = new Date().toISOString()): DeploymentRecord {
  const r: DeploymentRecord = rec ? { ...rec, history: [...rec.history] } : { revision: 0, history: [] };
  const cur = r.history.find((h) => h.revision === r.revision);
  if (cur && cur.hash === hash) { cur.object = object; return r; }
  const next = Math.max(0, ...r.history.map((h) => h.revision)) + 1;
  // A template seen before takes the new number (Kubernetes renumbers a rolled-back revision).
  r.history = r.history.filter((h) => h.hash !== hash);
  r.history.push({ revision: next, hash, object, at });
  r.revision = next;
  const others = r.history.filter((h) => h.revision !== next);
  const keep = new Set(others.slice(Math.max(0, others.length - limit)).map((h) => h.revision));
  r.history = r.history.filter((h) => h.revision === next || keep.has(h.revision));
  return r;
}

/** A line diff of two texts (unified format, 3 lines of context); '' when equal. */
export function unifiedDiff(a: string, b: string, nameA: string, nameB: string): string {
  if (a === b) return '';
  const x = a.split('\n');
  const y = b.split('\n');
  // LCS table (manifests are small)
  const n = x.length;
  const m = y.length;
  const L: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const ops: Array<{ t: ' ' | '-' | '+'; s: string; i: number; j: number }> = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { ops.push({ t: ' ', s: x[i], i: i++, j: j++ }); }
    else if (i < n && (j >= m || L[i + 1][j] >= L[i][j + 1])) { ops.push({ t: '-', s: x[i], i: i++, j }); }
    else { ops.push({ t: '+', s: y[j], i, j: j++ }); }
  }
  let out = `--- ${nameA}\n+++ ${nameB}\n`;
  const changed = ops.map((o, k) => (o.t !== ' ' ? k : -1)).filter((k) => k >= 0);
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, changed[k] - 3);
    let end = changed[k];
    while (k < changed.length && changed[k] <= end + 6) { end = changed[k]; k++; }
    end = Math.min(ops.length - 1, end + 3);
    const hunk = ops.slice(start, end + 1);
    const a0 = hunk[0].i + 1;
    const b0 = hunk[0].j + 1;
    out += `@@ -${a0},${hunk.filter((o) => o.t !== '+').length} +${b0},${hunk.filter((o) => o.t !== '-').length} @@\n`;
    out += hunk.map((o) => `${o.t}${o.s}\n`).join('');
  }
  return out;
}
