// Services of a play on the engine: checked before anything is created, made before the pods (so
// that their variables are in the pods' environment, as when the kubelet starts a pod after its
// Services), undone with the rest of a failed play, removed by down. The rules and names follow
// with the engine's sync.
import type { Engine } from '../../engine/engine.js';
import type { Plan } from './plan.js';

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
