// `kube apply`, `kube diff` and `kube rollout`: an apply set is the objects of some files, made and
// owned by apply (label + spec hash on every pod, a record under the root). apply = the actions of
// src/kube/applyset.ts, executed: what is created is rolled back if the apply fails before its
// destructive steps; a Deployment's rollout runs in the foreground until done or its deadline.
import path from 'node:path';
import { PeapodError } from '../../engine/errors.js';
import type { Engine } from '../../engine/engine.js';
import type { PodRecord } from '../../engine/types.js';
import type { ParsedDoc } from '../kube/parse.js';
import type { Diagnostic } from '../kube/diagnostics.js';
import { hasErrors } from '../kube/diagnostics.js';
import type { Plan, PlannedPod } from '../kube/plan.js';
import {
  SET_LABEL, TEMPLATE_HASH_LABEL, FILES_ANNOTATION,
  actionsOf, conflictsOf, desiredOf, describeAction, own, podsOf, randomSuffix, recordRevision, renamePod, rolloutLimits,
  templateHash, unifiedDiff, stableJson,
  type Action, type ApplySetRecord, type Desired, type DesiredObject, type ExistingPod,
} from '../kube/applyset.js';
import type { Opener } from './engine.js';
import { load, nodeFacts, type Source } from './kube.js';

export type { Action } from '../kube/applyset.js';
export { describeAction } from '../kube/applyset.js';

const RECORDS = 'applysets';

export interface ApplyKubeOptions {
  /** the apply set's name (default: from the first file or directory, see setNameOf) */
  set: string;
  validate: 'strict' | 'warn';
  /** replace the pods of a Job whose template changed (Kubernetes refuses: the template is immutable) */
  force?: boolean;
  /** delete the volumes of the set's PersistentVolumeClaims gone from the files (kept otherwise) */
  pruneVolumes?: boolean;
  onDiagnostics: (diags: Diagnostic[]) => void;
  /** one line per action, as it is done (rollout steps too) */
  onAction?: (line: string) => void;
  pullProgress?: (image: string) => undefined;
}

export interface ApplyKubeReport { set: string; actions: Action[] }

/** The default set name of `kube apply FILE|DIR`: the file's name without extension, lower-cased. */
export function setNameOf(source: string): string | undefined {
  if (source === '-' || /^https?:/.test(source)) return undefined;
  const base = path.basename(path.resolve(source)).replace(/\.(ya?ml|json)$/i, '').toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return base || undefined;
}

interface Loaded { docs: ParsedDoc[]; plan: Plan; objects: ApplySetRecord['objects'] }

/** The annotation `kubectl rollout restart` puts on a Deployment's pod template. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/**
 * What the set's record adds to the files' Deployments: the restartedAt annotation of `rollout
 * restart` stays on the template, as kubectl apply's merge keeps a field it did not set, so the
 * next apply of unchanged files does not roll the pods again.
 */
function patchFromRecord(docs: ParsedDoc[], record?: ApplySetRecord): void {
  for (const d of docs) {
    const at = d.kind === 'Deployment' ? record?.deployments[String(d.name)]?.restartedAt : undefined;
    const v = d.value as any;
    if (!at || !v?.spec?.template || typeof v.spec.template !== 'object') continue;
    v.spec.template.metadata = { ...(v.spec.template.metadata ?? {}), annotations: { ...(v.spec.template.metadata?.annotations ?? {}), [RESTARTED_AT]: at } };
  }
}

async function loadAndPlan(sources: Source[], validate: 'strict' | 'warn', onDiagnostics: (d: Diagnostic[]) => void, record?: ApplySetRecord): Promise<Loaded> {
  const names = sources.map((s) => s.name).join(', ');
  const { docs, diags } = await load(sources, validate, true);
  if (hasErrors(diags)) {
    onDiagnostics(diags);
    const n = diags.filter((d) => d.severity === 'error').length;
    throw new PeapodError('invalid', `${n} problem${n === 1 ? '' : 's'} in ${names}: nothing was changed`);
  }
  patchFromRecord(docs, record);
  const { planKube } = await import('../kube/plan.js');
  const plan = planKube(docs, { node: nodeFacts() });
  onDiagnostics([...diags, ...plan.diagnostics]);
  if (hasErrors(plan.diagnostics)) throw new PeapodError('invalid', `cannot apply ${names}: nothing was changed`);
  const objects = docs.map((d) => ({ kind: String(d.kind), name: String(d.name), object: d.value }));
  return { docs, plan, objects };
}

function existingOf(pods: PodRecord[]): ExistingPod[] {
  return pods.map((p) => ({
    id: p.id, name: p.name, created: p.created, labels: p.spec.labels ?? {}, annotations: p.spec.annotations ?? {},
    kube: p.spec.kube ? { kind: p.spec.kube.kind, name: p.spec.kube.name } : undefined,
  }));
}

/** Reads a set's record; a damaged one is an error, never half-trusted. */
async function readRecord(engine: Engine, set: string): Promise<ApplySetRecord | undefined> {
  const rec = await engine.records<ApplySetRecord>(RECORDS).get(set);
  if (rec === undefined) return undefined;
  const ok = rec && typeof rec === 'object' && rec.version === 1 && rec.name === set && Array.isArray(rec.objects) && rec.deployments && typeof rec.deployments === 'object' &&
    rec.objects.every((o) => o && typeof o.kind === 'string' && typeof o.name === 'string') &&
    Object.values(rec.deployments).every((d) => d && Number.isInteger(d.revision) && Array.isArray(d.history));
  if (!ok) throw new PeapodError('state', `the record of apply set "${set}" is damaged: remove it with peapod kube down, or delete ${RECORDS}/${set}.json under the root`);
  return rec;
}

/** Secrets of the files that clash with secrets made by something else. */
async function secretConflicts(engine: Engine, desired: Desired, set: string): Promise<string[]> {
  const out: string[] = [];
  for (const s of desired.secrets) {
    const have = await engine.secrets.get(s.name);
    if (have && have.labels?.[SET_LABEL] !== set) {
      out.push(`secret ${s.name} (of apply set "${set}") already exists, made by ${have.labels?.[SET_LABEL] ? `apply set "${have.labels[SET_LABEL]}"` : have.labels?.['io.peapod.kube.source'] ? 'play kube' : 'secret create'}`);
    }
  }
  return out;
}

/** The pods an apply will create, for the image checks before anything happens. */
function podsToMake(desired: Desired, actions: Action[]): PlannedPod[] {
  const out: PlannedPod[] = [];
  for (const a of actions) {
    const o = desired.objects.find((x) => x.kind === a.kind && x.name === a.name);
    if (!o) continue;
    if (o.kind === 'Deployment') {
      if (['create', 'scale', 'roll'].includes(a.action) && o.pods[0]) out.push(o.pods[0]);
    } else if (a.action === 'create' || a.action === 'replace') {
      out.push(...o.pods.filter((p) => a.pods.includes(p.pod.name)));
    }
  }
  return out;
}

interface Ctx {
  engine: Engine;
  set: string;
  say: (line: string) => void;
  /** pods made so far by this apply (removed again if it fails before its destructive steps) */
  created: string[];
}

/** Stops a pod gracefully (preStop, its grace period) and removes it. */
async function removeGracefully(engine: Engine, id: string): Promise<void> {
  const pod = await engine.pods.find(id);
  if (!pod) return;
  await engine.pods.stop(pod.id, pod.spec.terminationGracePeriodSeconds ?? 30).catch(() => undefined);
  await engine.pods.remove(pod.id, { force: true, timeout: 0 });
}

async function makePod(ctx: Ctx, p: PlannedPod): Promise<string> {
  const { createPod } = await import('../kube/apply.js');
  const mine: string[] = [];
  let r;
  try {
    r = await createPod(ctx.engine, p, { start: true }, mine);
  } catch (err) {
    // a pod that was made but did not start is removed at once, whatever phase the apply is in
    for (const id of mine) await ctx.engine.pods.remove(id, { force: true, timeout: 0 }).catch(() => undefined);
    throw err;
  }
  ctx.created.push(...mine);
  if (r.initFailed) ctx.say(`warning: ${r.initFailed}`);
  return r.id;
}

/** A Deployment's new pod from its template: `<deployment>-<pod-template-hash>-<random>`. */
function deploymentPod(o: DesiredObject, set: string, revision: number): PlannedPod {
  const h = templateHash(o.digests[0].spec);
  return own(renamePod(o.pods[0], `${o.name}-${h}-${randomSuffix()}`), set, o.digests[0], { revision });
}

/** Ready: every app container ready (a readiness probe passed; without one, running). */
async function readyOf(engine: Engine, id: string): Promise<{ ready: boolean; failed?: string; why: string; name: string }> {
  // A record read while another process (the pod's monitor, conmon's exit command) rewrites it may
  // fail once: that sample counts as not ready, the next one decides.
  try {
    return await readyOnce(engine, id);
  } catch (err) {
    return { ready: false, why: (err as Error).message, name: id.slice(0, 12) };
  }
}

async function readyOnce(engine: Engine, id: string): Promise<{ ready: boolean; failed?: string; why: string; name: string }> {
  const pod = await engine.pods.find(id);
  if (!pod) return { ready: false, failed: 'removed', why: 'removed', name: id.slice(0, 12) };
  const members = await engine.pods.members(pod);
  const r = engine.pods.readiness(members);
  const { whyNotReady } = await import('../kube/apply.js');
  const ready = r.total > 0 && r.ready === r.total;
  const failed = ['Init:Error', 'Error', 'OOMKilled', 'CreateContainerError', 'CrashLoopBackOff'].includes(r.reason) ? r.reason : undefined;
  return { ready, failed, why: ready ? 'ready' : whyNotReady(engine, members), name: pod.name };
}

/**
 * Runs a Deployment's rollout to `o` in the foreground: RollingUpdate within maxSurge and
 * maxUnavailable (Kubernetes' rounding), or Recreate; a new pod counts once Ready for
 * minReadySeconds; old pods are stopped gracefully. Fails after progressDeadlineSeconds without
 * progress, saying why and leaving the pods as they are (the old ones keep serving).
 */
async function rollout(ctx: Ctx, o: DesiredObject, have: ExistingPod[], revision: number): Promise<void> {
  const spec = o.object?.spec ?? {};
  const R = o.replicas ?? 1;
  const h = o.digests[0] ? templateHash(o.digests[0].spec) : '';
  const strategy = spec.strategy?.type ?? 'RollingUpdate';
  let { maxSurge, maxUnavailable } = rolloutLimits(R, spec.strategy);
  // One host: a new pod cannot publish the host port an old one holds, so such a Deployment
  // rolls without surge (an old pod goes first).
  if (o.pods[0]?.pod.publish?.length) { maxSurge = 0; maxUnavailable = Math.max(1, maxUnavailable); }
  const minReadyMs = (spec.minReadySeconds ?? 0) * 1000;
  const deadlineMs = (spec.progressDeadlineSeconds ?? 600) * 1000;
  let old = have.filter((p) => p.labels[TEMPLATE_HASH_LABEL] !== h).map((p) => p.id);
  let fresh = have.filter((p) => p.labels[TEMPLATE_HASH_LABEL] === h).map((p) => p.id);
  const readySince = new Map<string, number>();
  let lastProgress = Date.now();
  const progress = () => { lastProgress = Date.now(); };
  let bestAvail = 0;
  if (strategy === 'Recreate' && old.length) {
    await Promise.all(old.map((id) => removeGracefully(ctx.engine, id)));
    ctx.say(`deployment/${o.name}: ${old.length} old pod${old.length === 1 ? '' : 's'} stopped (Recreate)`);
    old = [];
    progress();
  }
  for (;;) {
    const now = Date.now();
    const state = new Map<string, Awaited<ReturnType<typeof readyOf>>>();
    await Promise.all([...old, ...fresh].map(async (id) => state.set(id, await readyOf(ctx.engine, id))));
    const available = (id: string) => {
      const s = state.get(id)!;
      if (!s.ready) { readySince.delete(id); return false; }
      if (!readySince.has(id)) { readySince.set(id, now); }
      return now - readySince.get(id)! >= minReadyMs;
    };
    const availNew = fresh.filter(available);
    const availOld = old.filter((id) => state.get(id)!.ready);
    if (availNew.length > bestAvail) { bestAvail = availNew.length; progress(); }
    if (!old.length && fresh.length === R && availNew.length === R) return;
    // More new pods than wanted (replicas lowered during the rollout): the newest go first.
    if (!old.length && fresh.length > R) {
      const extra = fresh.slice(R);
      await Promise.all(extra.map((id) => removeGracefully(ctx.engine, id)));
      fresh = fresh.slice(0, R);
      progress();
      continue;
    }
    // Scale up the new revision within maxSurge (Recreate: all at once).
    const total = old.length + fresh.length;
    const room = strategy === 'Recreate' ? R - fresh.length : Math.min(R + maxSurge - total, R - fresh.length);
    if (room > 0) {
      for (let i = 0; i < room; i++) {
        const id = await makePod(ctx, deploymentPod(o, ctx.set, revision));
        fresh.push(id);
      }
      ctx.say(`deployment/${o.name}: ${room} new pod${room === 1 ? '' : 's'} (revision ${revision}), ${fresh.length}/${R} updated`);
      progress();
      continue;
    }
    // Scale down the old revision, keeping R - maxUnavailable pods available; unready ones first.
    if (old.length) {
      const minAvailable = R - maxUnavailable;
      const newUnavailable = fresh.length - availNew.length;
      let budget = total - minAvailable - newUnavailable;
      const down: string[] = [];
      for (const id of old.filter((x) => !state.get(x)!.ready)) if (budget > 0) { down.push(id); budget--; }
      let spare = availNew.length + availOld.length - minAvailable;
      for (const id of old.filter((x) => state.get(x)!.ready)) if (budget > 0 && spare > 0) { down.push(id); budget--; spare--; }
      if (down.length) {
        await Promise.all(down.map((id) => removeGracefully(ctx.engine, id)));
        old = old.filter((id) => !down.includes(id));
        ctx.say(`deployment/${o.name}: ${down.length} old pod${down.length === 1 ? '' : 's'} stopped, ${old.length} left`);
        progress();
        continue;
      }
    }
    if (Date.now() - lastProgress > deadlineMs) {
      const why = fresh.map((id) => state.get(id)!).filter((s) => !s.ready).map((s) => `${s.name}: ${s.why}`).join('; ');
      throw new PeapodError('state', `deployment ${o.name}: rollout to revision ${revision} made no progress for ${deadlineMs / 1000}s (progressDeadlineSeconds): ${availNew.length}/${R} new pods available${why ? ` (${why})` : ''}; ${old.length} old pod${old.length === 1 ? '' : 's'} still running; peapod kube rollout undo ${o.name} returns to the previous template`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The set's claims gone from the files (`before` minus `now`): without `prune`, each is said to be
 * kept and returned (a later apply with --prune-volumes still knows it); with it, the volume is
 * deleted when this set made it (its label) and no pod uses it. Returns the claims still kept.
 */
async function pruneClaims(engine: Engine, set: string, before: string[], now: string[], prune: boolean, say: (l: string) => void): Promise<string[]> {
  const kept: string[] = [];
  for (const name of [...new Set(before)].filter((n) => !now.includes(n))) {
    const vol = await engine.volumes.get(name).catch(() => undefined);
    if (!vol) continue;
    if (vol.labels?.[SET_LABEL] !== set) { say(`persistentvolumeclaim/${name} pruned; volume ${name} kept: apply set "${set}" did not make it`); continue; }
    if (!prune) { kept.push(name); say(`persistentvolumeclaim/${name} kept: its volume holds data (--prune-volumes deletes it)`); continue; }
    const users = (await engine.pods.list()).filter((p) => p.spec.volumes?.some((v) => v.type === 'persistentVolumeClaim' && v.claimName === name)).map((p) => p.name);
    if (users.length) { kept.push(name); say(`persistentvolumeclaim/${name} kept: volume ${name} is used by ${users.join(', ')}`); continue; }
    await engine.volumes.remove(name, []);
    say(`persistentvolumeclaim/${name} pruned (volume ${name} deleted)`);
  }
  return kept;
}

/**
 * The core of apply (and of rollout undo): takes the set to `loaded`, records it. Everything
 * created before a failure in the create phase is removed again; nothing is changed when a
 * conflict, a missing image or a bad file is found.
 */
async function applyLoaded(engine: Engine, set: string, loaded: Loaded, sourceNames: string[], say: (l: string) => void, pullProgress?: ApplyKubeOptions['pullProgress'], force = false, pruneVolumes = false): Promise<Action[]> {
  const store = engine.records<ApplySetRecord>(RECORDS);
  return store.lock.with(async () => {
    const record = await readRecord(engine, set);
    const desired = desiredOf(loaded.plan, loaded.objects);
    const existing = existingOf(await engine.pods.list());
    const { applySetServiceConflicts, applySetServices } = await import('../kube/apply-services.js');
    const conflicts = [...conflictsOf(desired, existing, set), ...(await secretConflicts(engine, desired, set)), ...(await applySetServiceConflicts(engine, loaded.plan.services, set))];
    if (conflicts.length) throw new PeapodError('exists', `${conflicts.join('; ')}: nothing was changed`);
    const actions = actionsOf(desired, existing, set);
    // `rollout pause`: a changed template waits (no new revision, no pod touched) until resume
    const paused = new Set(actions.filter((a) => a.action === 'roll' && record?.deployments[a.name]?.paused).map((a) => a.name));
    const jobs = actions.filter((a) => a.action === 'replace' && a.kind === 'Job').map((a) => a.name);
    if (jobs.length && !force) throw new PeapodError('invalid', `Job ${jobs.join(', ')}: the pod template changed, and a Job's template cannot change (as in Kubernetes): use --force to replace its pods, or kube down first; nothing was changed`);
    const { checkImages } = await import('../kube/apply.js');
    const problems = await checkImages(engine, { ...loaded.plan, pods: podsToMake(desired, actions) }, { pullProgress });
    if (problems.length) throw new PeapodError('invalid', `${problems.join('; ')}: nothing was changed`);

    const now = new Date().toISOString();
    const next: ApplySetRecord = { version: 1, name: set, created: record?.created ?? now, updated: now, sources: sourceNames, objects: loaded.objects, deployments: { ...(record?.deployments ?? {}) } };
    // Revisions of the Deployments whose template is new.
    for (const o of desired.objects) {
      if (o.kind !== 'Deployment' || !o.digests[0] || paused.has(o.name)) continue;
      next.deployments[o.name] = recordRevision(next.deployments[o.name], o.digests[0].spec, o.object, o.object?.spec?.revisionHistoryLimit ?? 10, now);
    }
    for (const name of Object.keys(next.deployments)) if (!desired.objects.some((o) => o.kind === 'Deployment' && o.name === name)) delete next.deployments[name];
    for (const o of desired.objects) {
      if (o.kind !== 'Deployment') for (const [i, p] of o.pods.entries()) own(p, set, o.digests[i]);
    }

    const ctx: Ctx = { engine, set, say, created: [] };
    const find = (kind: string, name: string) => desired.objects.find((o) => o.kind === kind && o.name === name)!;
    // 1. What is only added: secrets, claims, new pods, Deployments created or scaled up.
    const undoSecrets: Array<() => Promise<void>> = [];
    let services: Awaited<ReturnType<typeof applySetServices>> | undefined;
    try {
      // Services before the pods (their variables are in the pods' environment)
      services = await applySetServices(engine, loaded.plan.services, set, say);
      for (const s of desired.secrets) {
        const have = await engine.secrets.get(s.name);
        if (have && stableJson(have.data) === stableJson(s.data) && have.type === s.type) continue;
        await engine.secrets.put({ name: s.name, type: s.type, data: s.data, labels: { [SET_LABEL]: set } }, { replace: true });
        undoSecrets.push(have ? async () => { await engine.secrets.put(have, { replace: true }); } : async () => engine.secrets.remove(s.name));
      }
      // a claim's volume made by this set carries its label: only such a volume is ever pruned
      for (const c of desired.claims) await engine.volumes.ensure(c, { claim: true, labels: { [SET_LABEL]: set } });
      for (const a of actions) {
        const o = find(a.kind, a.name);
        if (a.action === 'create' && o.kind !== 'Deployment') {
          await Promise.all(o.pods.filter((p) => a.pods.includes(p.pod.name)).map((p) => makePod(ctx, p)));
          say(describeAction(a));
        } else if (a.action === 'create') {
          const rev = next.deployments[o.name].revision;
          await Promise.all(Array.from({ length: o.replicas ?? 1 }, () => makePod(ctx, deploymentPod(o, set, rev))));
          say(describeAction({ ...a, pods: [`${o.replicas} pod${o.replicas === 1 ? '' : 's'}`] }));
        } else if (a.action === 'scale' && a.to > a.from) {
          const rev = next.deployments[o.name].revision;
          await Promise.all(Array.from({ length: a.to - a.from }, () => makePod(ctx, deploymentPod(o, set, rev))));
          say(describeAction(a));
        }
      }
    } catch (err) {
      await Promise.all(ctx.created.map((id) => engine.pods.remove(id, { force: true, timeout: 0 }).catch((e) => say(`warning: rolling back pod ${id.slice(0, 12)}: ${(e as Error).message}`))));
      for (const u of undoSecrets.reverse()) await u().catch(() => undefined);
      await services?.undo();
      throw err;
    }
    // 2. What changes or removes: files in place, replaced pods, scale down, rollouts, prune.
    // From here a failure is told as it is (what was done stays done, the record says so).
    const byName = new Map(existing.map((p) => [p.name, p]));
    try {
      for (const a of actions) {
        const o = desired.objects.find((x) => x.kind === a.kind && x.name === a.name);
        if (a.action === 'update' && o) {
          for (const name of a.pods) {
            const e = byName.get(name)!;
            const p = o.kind === 'Deployment' ? o.pods[0] : o.pods.find((x) => x.pod.name === name)!;
            const d = o.kind === 'Deployment' ? o.digests[0] : o.digests[o.pods.indexOf(p)];
            const renamed = o.kind === 'Deployment' ? renamePod(p, name) : p;
            await engine.pods.updateFileVolumes(e.id, renamed.pod.volumes ?? [], { ...e.annotations, [FILES_ANNOTATION]: d.files });
          }
          say(describeAction(a));
        } else if (a.action === 'replace' && o) {
          for (const name of a.pods) {
            await removeGracefully(engine, byName.get(name)!.id);
            await makePod(ctx, o.pods.find((x) => x.pod.name === name)!);
          }
          say(describeAction(a));
        } else if (a.action === 'scale' && a.to < a.from && o) {
          const cur = podsOf(existing, set, o.kind, o.name);
          const states = await Promise.all(cur.map(async (p) => ({ p, r: await readyOf(engine, p.id) })));
          // Unready pods go first, then the newest (Kubernetes' ReplicaSet order, simplified).
          states.sort((x, y) => Number(x.r.ready) - Number(y.r.ready) || y.p.created.localeCompare(x.p.created));
          await Promise.all(states.slice(0, a.from - a.to).map((s) => removeGracefully(engine, s.p.id)));
          say(describeAction(a));
        } else if (a.action === 'roll' && o && paused.has(o.name)) {
          say(`deployment/${o.name} paused: the template change is not rolled out (peapod kube rollout resume deployment/${o.name})`);
        } else if (a.action === 'roll' && o) {
          const rec = next.deployments[o.name];
          rec.rollout = { status: 'progressing', message: `rolling out revision ${rec.revision}`, at: new Date().toISOString() };
          await store.save(set, next);
          say(describeAction(a));
          try {
            await rollout(ctx, o, podsOf(existing, set, o.kind, o.name), rec.revision);
          } catch (err) {
            rec.rollout = { status: 'failed', message: (err as Error).message, at: new Date().toISOString() };
            throw err;
          }
          rec.rollout = { status: 'complete', message: `revision ${rec.revision} rolled out`, at: new Date().toISOString() };
          say(`deployment/${o.name}: revision ${rec.revision} rolled out`);
        } else if (a.action === 'delete') {
          await Promise.all(a.pods.map((n) => removeGracefully(engine, byName.get(n)!.id)));
          say(describeAction(a));
        } else if (a.action === 'unchanged') {
          say(describeAction(a));
        }
      }
      for (const o of desired.objects) {
        if (o.kind === 'Deployment' && next.deployments[o.name] && !next.deployments[o.name].rollout) next.deployments[o.name].rollout = { status: 'complete', message: `revision ${next.deployments[o.name].revision} available`, at: now };
      }
      // Secrets of the set no longer in the files.
      for (const o of record?.objects ?? []) {
        if (o.kind !== 'Secret' || desired.secrets.some((s) => s.name === o.name)) continue;
        const have = await engine.secrets.get(o.name);
        if (have?.labels?.[SET_LABEL] === set) { await engine.secrets.remove(o.name); say(`secret/${o.name} pruned`); }
      }
      // Claims of the set no longer in the files: their volumes hold data, kept unless --prune-volumes.
      next.keptClaims = await pruneClaims(engine, set, [...(record?.objects ?? []).filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.name), ...(record?.keptClaims ?? [])], desired.claims, !!pruneVolumes, say);
      if (!next.keptClaims.length) delete next.keptClaims;
      // Services of the set no longer in the files; then the rules and names follow the pods.
      await services.prune();
    } finally {
      await store.save(set, next);
    }
    return actions;
  });
}

/** `kube apply FILE|DIR|-`: takes the set to what the files say; one line per action. */
export async function applyKube(open: Opener, sources: Source[], o: ApplyKubeOptions): Promise<ApplyKubeReport> {
  const engine = await open();
  const loaded = await loadAndPlan(sources, o.validate, o.onDiagnostics, await readRecord(engine, o.set));
  const actions = await applyLoaded(engine, o.set, loaded, sources.map((s) => s.name), o.onAction ?? (() => undefined), o.pullProgress, o.force, o.pruneVolumes);
  return { set: o.set, actions };
}

export interface DiffKubeReport { set: string; actions: Action[]; diff: string; changed: boolean }

/** `kube diff`: what apply would do, and a unified diff of each changed object; changes nothing. */
export async function diffKube(open: Opener, sources: Source[], o: { set: string; validate: 'strict' | 'warn'; onDiagnostics: (d: Diagnostic[]) => void }): Promise<DiffKubeReport> {
  const engine = await open();
  const record = await readRecord(engine, o.set);
  const loaded = await loadAndPlan(sources, o.validate, o.onDiagnostics, record);
  const desired = desiredOf(loaded.plan, loaded.objects);
  const existing = existingOf(await engine.pods.list());
  const conflicts = [...conflictsOf(desired, existing, o.set), ...(await secretConflicts(engine, desired, o.set))];
  if (conflicts.length) throw new PeapodError('exists', conflicts.join('; '));
  const actions = actionsOf(desired, existing, o.set);
  const { toYaml } = await import('../kube/generate.js');
  let diff = '';
  const before = new Map((record?.objects ?? []).map((x) => [`${x.kind}/${x.name}`, x.object]));
  const after = new Map(loaded.objects.map((x) => [`${x.kind}/${x.name}`, x.object]));
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const a = before.has(key) ? toYaml([before.get(key)]) : '';
    const b = after.has(key) ? toYaml([after.get(key)]) : '';
    diff += unifiedDiff(a, b, before.has(key) ? `${key} (applied)` : '/dev/null', after.has(key) ? `${key} (files)` : '/dev/null');
  }
  const changed = actions.some((a) => a.action !== 'unchanged') || diff !== '';
  return { set: o.set, actions, diff, changed };
}

/** The set that holds Deployment `name` (the given one, or the only one that has it). */
async function setOf(engine: Engine, name: string, set?: string): Promise<{ set: string; record: ApplySetRecord }> {
  const store = engine.records<ApplySetRecord>(RECORDS);
  const sets = set ? [set] : await store.list();
  const found: Array<{ set: string; record: ApplySetRecord }> = [];
  for (const s of sets) {
    // Looking through every set: a damaged record of some other set is not this Deployment's problem.
    const record = set ? await readRecord(engine, s) : await readRecord(engine, s).catch(() => undefined);
    if (record?.deployments[name]) found.push({ set: s, record });
  }
  if (!found.length) throw new PeapodError('not-found', `no Deployment ${name} in ${set ? `apply set "${set}"` : 'any apply set'}: only Deployments made by kube apply have rollouts`);
  if (found.length > 1) throw new PeapodError('invalid', `Deployment ${name} is in apply sets ${found.map((f) => f.set).join(', ')}: name one with --applyset`);
  return found[0];
}

export interface RolloutStatusReport {
  set: string; name: string; revision: number; replicas: number; updated: number; ready: number; total: number;
  status: 'progressing' | 'complete' | 'failed'; message: string;
  /** `rollout pause`d: a template change waits for resume */
  paused?: boolean;
}

/** `kube rollout status`: the recorded rollout and the pods as they are now. */
export async function rolloutStatus(open: Opener, name: string, o: { set?: string } = {}): Promise<RolloutStatusReport> {
  const engine = await open();
  const { set, record } = await setOf(engine, name, o.set);
  const d = record.deployments[name];
  const cur = d.history.find((h) => h.revision === d.revision)!;
  const obj = record.objects.find((x) => x.kind === 'Deployment' && x.name === name)?.object as any;
  const pods = podsOf(existingOf(await engine.pods.list()), set, 'Deployment', name);
  const h = templateHash(cur.hash);
  const updated = pods.filter((p) => p.labels[TEMPLATE_HASH_LABEL] === h);
  let ready = 0;
  for (const p of updated) if ((await readyOf(engine, p.id)).ready) ready++;
  const replicas = obj?.spec?.replicas ?? 1;
  const r = d.rollout ?? { status: 'complete', message: '' };
  let status = r.status;
  if (status === 'complete' && (updated.length !== replicas || ready !== replicas || pods.length !== replicas)) status = 'progressing';
  return { set, name, revision: d.revision, replicas, updated: updated.length, ready, total: pods.length, status, message: r.message, ...(d.paused ? { paused: true } : {}) };
}

export interface RolloutHistoryReport { set: string; name: string; current: number; revisions: Array<{ revision: number; at: string; hash: string; cause: string }> }

/** `kube rollout history`: the revisions kept (revisionHistoryLimit), oldest first. */
export async function rolloutHistory(open: Opener, name: string, o: { set?: string } = {}): Promise<RolloutHistoryReport> {
  const engine = await open();
  const { set, record } = await setOf(engine, name, o.set);
  const d = record.deployments[name];
  return {
    set, name, current: d.revision,
    revisions: [...d.history].sort((a, b) => a.revision - b.revision).map((h) => {
      const obj = h.object as any;
      const cause = obj?.metadata?.annotations?.['kubernetes.io/change-cause'] ??
        (obj?.spec?.template?.spec?.containers ?? []).map((c: any) => `${c.name}=${c.image}`).join(',');
      return { revision: h.revision, at: h.at, hash: templateHash(h.hash), cause };
    }),
  };
}

/**
 * `kube rollout undo`: rolls the Deployment back to the revision before the current one (or
 * `toRevision`), the rest of the set as last applied. The files are not changed: the next apply of
 * them rolls forward again, as with kubectl.
 */
export async function rolloutUndo(open: Opener, name: string, o: { set?: string; toRevision?: number; onAction?: (l: string) => void } = {}): Promise<ApplyKubeReport & { revision: number }> {
  const engine = await open();
  const { set, record } = await setOf(engine, name, o.set);
  const d = record.deployments[name];
  const older = [...d.history].filter((h) => h.revision !== d.revision).sort((a, b) => b.revision - a.revision);
  const target = o.toRevision !== undefined ? d.history.find((h) => h.revision === o.toRevision) : older[0];
  if (!target) throw new PeapodError('not-found', o.toRevision !== undefined ? `Deployment ${name} has no revision ${o.toRevision} (kept: ${d.history.map((h) => h.revision).join(', ')})` : `Deployment ${name} has no earlier revision to go back to`);
  if (d.paused) throw new PeapodError('state', `deployment ${name} is paused: it cannot be rolled back (peapod kube rollout resume deployment/${name} first)`);
  // the restart annotation the record keeps becomes the target revision's own
  const at = (target.object as any)?.spec?.template?.metadata?.annotations?.[RESTARTED_AT];
  if (at !== d.restartedAt) await editDeployment(engine, set, name, (x) => { if (typeof at === 'string') x.restartedAt = at; else delete x.restartedAt; });
  const items = record.objects.map((x) => (x.kind === 'Deployment' && x.name === name ? { ...(target.object as object) } : x.object));
  const source: Source = { text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }), name: `<apply set ${set}>` };
  const loaded = await loadAndPlan([source], 'warn', () => undefined);
  const actions = await applyLoaded(engine, set, loaded, record.sources, o.onAction ?? (() => undefined));
  return { set, actions, revision: target.revision };
}

/** Changes a Deployment's entry of its set's record, under the set's lock. */
async function editDeployment(engine: Engine, set: string, name: string, edit: (d: ApplySetRecord['deployments'][string]) => void): Promise<ApplySetRecord> {
  const store = engine.records<ApplySetRecord>(RECORDS);
  return store.lock.with(async () => {
    const record = await readRecord(engine, set);
    if (!record?.deployments[name]) throw new PeapodError('not-found', `no Deployment ${name} in apply set "${set}"`);
    edit(record.deployments[name]);
    await store.save(set, record);
    return record;
  });
}

/** Applies the set's record again (its objects as last applied, with what the record adds). */
async function reapply(engine: Engine, set: string, record: ApplySetRecord, say: (l: string) => void): Promise<Action[]> {
  const source: Source = { text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: record.objects.map((x) => x.object) }), name: `<apply set ${set}>` };
  const loaded = await loadAndPlan([source], 'warn', () => undefined, record);
  return applyLoaded(engine, set, loaded, record.sources, say);
}

/**
 * `kube rollout restart deployment/NAME`: as kubectl, the template gets the annotation
 * kubectl.kubernetes.io/restartedAt = now, so every pod is replaced by a rolling update (the
 * Deployment's strategy, readiness and limits as for any template change). The annotation is kept
 * in the set's record: a later apply of the unchanged files does not roll again.
 */
export async function rolloutRestart(open: Opener, name: string, o: { set?: string; onAction?: (l: string) => void } = {}): Promise<ApplyKubeReport> {
  const engine = await open();
  const { set, record: before } = await setOf(engine, name, o.set);
  if (before.deployments[name].paused) throw new PeapodError('state', `deployment ${name} is paused: it cannot be restarted (peapod kube rollout resume deployment/${name} first)`);
  const record = await editDeployment(engine, set, name, (d) => { d.restartedAt = new Date().toISOString(); });
  return { set, actions: await reapply(engine, set, record, o.onAction ?? (() => undefined)) };
}

/** `kube rollout pause deployment/NAME`: template changes applied from now on wait for resume (scaling does not). */
export async function rolloutPause(open: Opener, name: string, o: { set?: string } = {}): Promise<{ set: string }> {
  const engine = await open();
  const { set } = await setOf(engine, name, o.set);
  await editDeployment(engine, set, name, (d) => {
    if (d.paused) throw new PeapodError('state', `deployment ${name} is already paused`);
    d.paused = true;
  });
  return { set };
}

/** `kube rollout resume deployment/NAME`: rolls out the template applied while it was paused, if any. */
export async function rolloutResume(open: Opener, name: string, o: { set?: string; onAction?: (l: string) => void } = {}): Promise<ApplyKubeReport> {
  const engine = await open();
  const { set } = await setOf(engine, name, o.set);
  const record = await editDeployment(engine, set, name, (d) => {
    if (!d.paused) throw new PeapodError('state', `deployment ${name} is not paused`);
    delete d.paused;
  });
  return { set, actions: await reapply(engine, set, record, o.onAction ?? (() => undefined)) };
}

/** `kube down` of an applied set: its record goes once none of its pods is left. */
export async function forgetEmptySets(open: Opener, sets: string[]): Promise<string[]> {
  if (!sets.length) return [];
  const engine = await open();
  const store = engine.records<ApplySetRecord>(RECORDS);
  const left = new Set((await engine.pods.list()).map((p) => p.spec.labels?.[SET_LABEL]).filter(Boolean));
  const out: string[] = [];
  for (const s of sets) {
    if (left.has(s) || !(await store.get(s).catch(() => undefined))) continue;
    await store.remove(s);
    out.push(s);
  }
  return out;
}
