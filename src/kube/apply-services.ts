// Services of a play on the engine: checked before anything is created, made before the pods (so
// that their variables are in the pods' environment, as when the kubelet starts a pod after its
// Services), undone with the rest of a failed play, removed by down. The rules and names follow
// with the engine's sync.
import type { Engine } from '../../engine/engine.js';
import type { Plan } from './plan.js';
import type { PlannedService } from './services.js';
import type { ServiceSpec } from '../../engine/network/services.js';

/** Problems that keep the play from starting: a Service that exists already (without replace). */
export async function preflightServices(engine: Engine, plan: Plan, replace: boolean): Promise<string[]> {
  const problems: string[] = [];
  if (!plan.services.length) return problems;
  const have = await engine.services.list();
  for (const s of plan.services) {
    const same = have.find((h) => h.spec.name === s.spec.name && h.spec.namespace === s.spec.namespace);
    if (same && !replace) problems.push(`service "${s.spec.namespace}/${s.spec.name}" already exists: use --replace to update it, or kube down first`);
  }
  return problems;
}

/** Creates (or with replace updates) the play's Services; returns how to undo what was created. */
export async function createServices(engine: Engine, plan: Plan, replace: boolean): Promise<{ undo: () => Promise<void>; created: string[] }> {
  const made: string[] = [];
  const undo = async () => {
    for (const id of made) await engine.services.remove(id).catch(() => undefined);
    if (made.length) await engine.services.sync().catch(() => undefined);
  };
  try {
    for (const s of plan.services) {
      const existed = (await engine.services.list()).some((h) => h.spec.name === s.spec.name && h.spec.namespace === s.spec.namespace);
      const r = await engine.services.create(s.spec, { replace });
      if (!existed) made.push(r.id);
    }
  } catch (err) {
    await undo();
    throw err;
  }
  return { undo, created: made };
}

/** kube down: removes the Services (namespace/name) the documents define; returns their names. */
export async function downServices(engine: Engine, keys: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const k of keys) {
    const r = await engine.services.find(k).catch(() => undefined);
    if (!r) continue;
    await engine.services.remove(r.id);
    removed.push(r.spec.name);
  }
  await engine.services.sync();
  return removed;
}

/** A Service's spec as apply compares it (where it came from aside). */
const comparable = (s: ServiceSpec) => JSON.stringify({ ...s, kube: undefined, applySet: undefined });

/** Services of the files that clash with Services made by play or another set. */
export async function applySetServiceConflicts(engine: Engine, services: PlannedService[], set: string): Promise<string[]> {
  const have = await engine.services.list();
  const out: string[] = [];
  for (const s of services) {
    const h = have.find((x) => x.spec.name === s.spec.name && x.spec.namespace === s.spec.namespace);
    if (h && h.spec.applySet !== set) out.push(`service ${s.spec.name} (of apply set "${set}") already exists, made by ${h.spec.applySet ? `apply set "${h.spec.applySet}"` : 'play kube'}`);
  }
  return out;
}

/**
 * kube apply's Services: created or updated (a changed spec keeps its VIP when it still fits) before
 * the pods; `undo` restores them if the apply fails while creating; `prune` removes the set's
 * Services gone from the files. One line per Service through `say`.
 */
export async function applySetServices(engine: Engine, services: PlannedService[], set: string, say: (l: string) => void): Promise<{ undo: () => Promise<void>; prune: () => Promise<void> }> {
  const have = await engine.services.list();
  const undo: Array<() => Promise<void>> = [];
  const rollback = async () => {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    await engine.services.sync().catch(() => undefined);
  };
  try {
    for (const s of services) {
      const spec = { ...s.spec, applySet: set };
      const h = have.find((x) => x.spec.name === spec.name && x.spec.namespace === spec.namespace);
      if (h && comparable(h.spec) === comparable(spec)) { say(`service/${spec.name} unchanged`); continue; }
      const r = await engine.services.create(spec, { replace: true });
      if (h) undo.push(async () => { await engine.services.create(h.spec, { replace: true }); });
      else undo.push(async () => { await engine.services.remove(r.id); });
      say(`service/${spec.name} ${h ? 'configured' : 'created'}`);
    }
  } catch (err) {
    await rollback();
    throw err;
  }
  return {
    undo: rollback,
    prune: async () => {
      for (const h of await engine.services.list()) {
        if (h.spec.applySet !== set || services.some((s) => s.spec.name === h.spec.name && s.spec.namespace === h.spec.namespace)) continue;
        await engine.services.remove(h.id);
        say(`service/${h.spec.name} pruned`);
      }
      await engine.services.sync();
    },
  };
}
