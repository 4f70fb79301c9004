// Podman's commands over many objects, as its scripts use them: rm / pod rm / stop with --all,
// --ignore and --filter, the exists family (exit 0 or 1), and the prune family. One use case per
// command; the CLI parses flags and prints what comes back.
import { PeapodError } from '../../engine/errors.js';
import type { Engine } from '../../engine/engine.js';
import type { ContainerRecord, PodRecord } from '../../engine/types.js';
import { isRunning, podmanState } from '../../engine/pod/status.js';

export interface BulkResult {
  /** IDs of the objects acted on, in order */
  done: string[];
  /** one error per object that failed (the first decides the exit code) */
  errors: PeapodError[];
}

/** Podman's --filter KEY=VALUE list: different keys must all match, values of one key any. */
export function parseFilters(list: string[] = []): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of list) {
    const i = f.indexOf('=');
    if (i <= 0) throw new PeapodError('invalid', `invalid filter "${f}": expected KEY=VALUE`);
    const k = f.slice(0, i);
    out.set(k, [...(out.get(k) ?? []), f.slice(i + 1)]);
  }
  return out;
}

function labelMatches(labels: Record<string, string> | undefined, want: string): boolean {
  const i = want.indexOf('=');
  const k = i < 0 ? want : want.slice(0, i);
  if (!labels || !(k in labels)) return false;
  return i < 0 || labels[k] === want.slice(i + 1);
}

/** A name filter is a regular expression as in Podman; an invalid one matches the name literally. */
function nameMatches(name: string, pattern: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return name === pattern;
  }
}

const CONTAINER_KEYS = ['label', 'name', 'id', 'status', 'pod', 'ancestor', 'exited'];
const POD_KEYS = ['label', 'name', 'id', 'status', 'ctr-names', 'ctr-ids', 'ctr-number', 'ctr-status'];

function check(filters: Map<string, string[]>, known: string[], what: string): void {
  for (const k of filters.keys()) if (!known.includes(k)) throw new PeapodError('invalid', `${k} is an invalid filter for ${what}: use one of ${known.join(', ')}`);
}

/** Podman's container state names for the status filter: our "stopped" is its "exited". */
const statusOf = podmanState;

export function containerFilter(list: string[] | undefined, pods: PodRecord[]): (c: ContainerRecord) => boolean {
  const filters = parseFilters(list);
  check(filters, CONTAINER_KEYS, 'containers');
  const test: Record<string, (c: ContainerRecord, v: string) => boolean> = {
    label: (c, v) => labelMatches(c.spec.labels, v),
    name: (c, v) => nameMatches(c.name, v),
    id: (c, v) => c.id.startsWith(v),
    status: (c, v) => statusOf(c) === v,
    exited: (c, v) => statusOf(c) === 'exited' && String(c.state.exitCode) === v,
    ancestor: (c, v) => c.imageName === v || c.imageName.endsWith(`/${v}`) || c.imageName.endsWith(`/${v}:latest`) || c.imageId.startsWith(v),
    pod: (c, v) => {
      const p = pods.find((x) => x.id === c.spec.pod);
      return !!p && (p.name === v || p.id.startsWith(v));
    },
  };
  return (c) => [...filters].every(([k, vs]) => vs.some((v) => test[k](c, v)));
}

export async function podFilter(engine: Engine, list: string[] | undefined): Promise<(p: PodRecord, members: ContainerRecord[]) => Promise<boolean>> {
  const filters = parseFilters(list);
  check(filters, POD_KEYS, 'pods');
  const test: Record<string, (p: PodRecord, m: ContainerRecord[], v: string) => Promise<boolean> | boolean> = {
    label: (p, _m, v) => labelMatches(p.spec.labels, v),
    name: (p, _m, v) => nameMatches(p.name, v),
    id: (p, _m, v) => p.id.startsWith(v),
    status: async (p, m, v) => (await engine.pods.status(p, m)).toLowerCase() === v.toLowerCase(),
    'ctr-names': (_p, m, v) => m.some((c) => nameMatches(c.name, v)),
    'ctr-ids': (_p, m, v) => m.some((c) => c.id.startsWith(v)),
    'ctr-number': (_p, m, v) => m.length === Number(v),
    'ctr-status': (_p, m, v) => m.some((c) => statusOf(c) === v),
  };
  return async (p, m) => {
    for (const [k, vs] of filters) {
      let any = false;
      for (const v of vs) if (await test[k](p, m, v)) { any = true; break; }
      if (!any) return false;
    }
    return true;
  };
}

function refsOrAll(refs: string[], all: boolean | undefined, filtered: boolean, what: string): void {
  if (all && refs.length) throw new PeapodError('invalid', `when using the --all switch, you may not pass any ${what} names or IDs`);
  if (!all && !refs.length && !filtered) throw new PeapodError('invalid', `you must provide at least one name or id`);
}

async function each<T>(items: T[], fn: (t: T) => Promise<string>, ignore: (err: unknown) => boolean): Promise<BulkResult> {
  const r: BulkResult = { done: [], errors: [] };
  for (const it of items) {
    try {
      r.done.push(await fn(it));
    } catch (err) {
      if (ignore(err)) continue;
      r.errors.push(err instanceof PeapodError ? err : new PeapodError('internal', (err as Error).message));
    }
  }
  return r;
}

const isNotFound = (err: unknown) => err instanceof PeapodError && err.code === 'not-found';

/** Podman's exit codes: 1 for no such object (rm, pod rm), 2 for "container state improper" (rm only). */
function podmanExit(err: PeapodError, stateCode = 2): PeapodError {
  const code = err.code === 'not-found' ? 1 : err.code === 'state' && /container state improper$/.test(err.message) ? stateCode : err.exitCode;
  return code === err.exitCode ? err : new PeapodError(err.code, err.message, { hint: err.hint, cause: err, exitCode: code });
}

export interface RmOptions { all?: boolean; force?: boolean; ignore?: boolean; timeout?: number; filters?: string[]; depend?: boolean }

/**
 * `rm`: the named containers, or all (--all) or those matching --filter. With --all, a pod's infra
 * container goes with its pod (Podman removes the infra's dependents first).
 */
export async function removeContainers(engine: Engine, refs: string[], o: RmOptions): Promise<BulkResult> {
  refsOrAll(refs, o.all, !!o.filters?.length, 'container');
  // --force also means "no error for a container that is not there", as in Podman 4.3
  const ignore = (err: unknown) => (!!o.ignore || !!o.force) && isNotFound(err);
  if (o.depend && !o.all && !o.filters?.length) {
    // --depend: an infra container goes with its pod and every container of it (they depend on it)
    const found = await Promise.all(refs.map((ref) => engine.containers.find(ref)));
    const pods = [...new Set(found.filter((c) => c?.spec.isInfra && c.spec.pod).map((c) => c!.spec.pod!))];
    if (pods.length) {
      const r = await each(pods, async (podId) => {
        const members = await engine.pods.members(await engine.pods.get(podId));
        await engine.pods.remove(podId, { force: o.force, timeout: o.timeout });
        return members.map((m) => m.id).join('\n');
      }, (err) => isNotFound(err));
      const rest = refs.filter((_r, i) => !(found[i]?.spec.pod && pods.includes(found[i]!.spec.pod!)));
      const more = await each(rest, async (ref) => { await engine.containers.remove(ref, { force: o.force, timeout: o.timeout }); return ref; }, ignore);
      return { done: [...r.done.flatMap((x) => x.split('\n')), ...more.done], errors: [...r.errors, ...more.errors].map((e) => podmanExit(e)) };
    }
  }
  if (!o.all && !o.filters?.length) {
    // Podman prints what was asked for (the name or ID as given)
    const r = await each(refs, async (ref) => { await engine.containers.remove(ref, { force: o.force, timeout: o.timeout }); return ref; }, ignore);
    return { ...r, errors: r.errors.map((e) => podmanExit(e)) };
  }
  const [all, pods] = await Promise.all([engine.containers.list(), engine.pods.list()]);
  const chosen = all.filter(containerFilter(o.filters, pods));
  const infraPods = new Set(chosen.filter((c) => c.spec.isInfra && c.spec.pod).map((c) => c.spec.pod!));
  const r = await each([...infraPods], async (podId) => {
    const members = await engine.pods.members(await engine.pods.get(podId));
    await engine.pods.remove(podId, { force: o.force, timeout: o.timeout });
    return members.map((m) => m.id).join('\n');
  }, (err) => isNotFound(err));
  const gone = new Set(r.done.flatMap((s) => s.split('\n')));
  const rest = await each(chosen.filter((c) => !gone.has(c.id) && !(c.spec.pod && infraPods.has(c.spec.pod))),
    async (c) => (await engine.containers.remove(c.id, { force: o.force, timeout: o.timeout })).id, (err) => isNotFound(err));
  return { done: [...r.done.flatMap((s) => s.split('\n')), ...rest.done], errors: [...r.errors, ...rest.errors].map((e) => podmanExit(e)) };
}

/** `stop`: the named containers or all running ones (--all). */
export async function stopContainers(engine: Engine, refs: string[], o: { all?: boolean; ignore?: boolean; timeout?: number; filters?: string[] }): Promise<BulkResult> {
  refsOrAll(refs, o.all, !!o.filters?.length, 'container');
  const ignore = (err: unknown) => !!o.ignore && isNotFound(err);
  let targets: string[] = refs;
  if (o.all || o.filters?.length) {
    const [all, pods] = await Promise.all([engine.containers.list(), engine.pods.list()]);
    targets = all.filter((c) => isRunning(c) && !c.spec.isInfra).filter(containerFilter(o.filters, pods)).map((c) => c.id);
  }
  const r = await each(targets, async (ref) => {
    const c = await engine.containers.stop(ref, o.timeout);
    // as the exit of a pod member: its pod's exit policy, then its service container
    if (c.spec.pod) {
      await engine.pods.applyExitPolicy(c.spec.pod);
      await engine.pods.releaseService(c.spec.pod);
    }
    return ref;
  }, ignore);
  return r;
}

/** `pod rm`: the named pods, or all of them (--all). */
export async function removePods(engine: Engine, refs: string[], o: { all?: boolean; force?: boolean; ignore?: boolean; timeout?: number }): Promise<BulkResult> {
  refsOrAll(refs, o.all, false, 'pod');
  const targets = o.all ? (await engine.pods.list()).map((p) => p.id) : refs;
  const r = await each(targets, async (ref) => (await engine.pods.remove(ref, { force: o.force, timeout: o.timeout })).id,
    (err) => (!!o.ignore || !!o.all || !!o.force) && isNotFound(err));
  return { ...r, errors: r.errors.map((e) => podmanExit(e, e.exitCode)) };
}

export type ExistsKind = 'container' | 'pod' | 'image' | 'network' | 'volume';

/** The exists family: true when the object is there (exit 0), false otherwise (exit 1). */
export async function exists(engine: Engine, kind: ExistsKind, ref: string): Promise<boolean> {
  switch (kind) {
    case 'container': return !!(await engine.store.getContainer(ref));
    case 'pod': return !!(await engine.store.getPod(ref));
    case 'image':
      try {
        return !!(await engine.images.get(ref));
      } catch {
        return false;
      }
    case 'network': return !!(await engine.networks.get(ref));
    case 'volume': return !!(await engine.volumes.get(ref));
  }
}

export type PruneKind = 'container' | 'pod' | 'image' | 'network' | 'volume';

/** Names of the networks every pod can use: never pruned. */
const DEFAULT_NETWORKS = ['peapod', 'podman'];

/**
 * The prune family: what nothing uses. Containers: the stopped ones outside pods; pods: those with
 * no running container; images: dangling ones (no name) unused by any container, or with `all`
 * every unused image; networks: unused ones but the default; volumes: unused named volumes.
 */
export async function prune(engine: Engine, kind: PruneKind, o: { all?: boolean; filters?: string[] } = {}): Promise<BulkResult> {
  const ignore = isNotFound;
  switch (kind) {
    case 'container': {
      const [all, pods] = await Promise.all([engine.containers.list(), engine.pods.list()]);
      const dead = all.filter((c) => !c.spec.pod && !isRunning(c)).filter(containerFilter(o.filters, pods));
      return each(dead, async (c) => (await engine.containers.remove(c.id, { force: true, timeout: 0 })).id, ignore);
    }
    case 'pod': {
      const all = await engine.containers.list();
      const pods = (await engine.pods.list()).filter((p) => !engine.pods.membersOf(p, all).some(isRunning));
      return each(pods, async (p) => (await engine.pods.remove(p.id, { force: true, timeout: 0 })).id, ignore);
    }
    case 'image': {
      const used = new Set((await engine.store.listContainers()).map((c) => c.imageId));
      const images = (await engine.images.list()).filter((i) => !used.has(i.id) && (o.all || i.names.length === 0));
      return each(images, async (i) => {
        await engine.images.remove(i.id, { force: false });
        return i.id;
      }, ignore);
    }
    case 'network': {
      const pods = await engine.pods.list();
      const nets = (await engine.networks.list()).filter((n) => !DEFAULT_NETWORKS.includes(n.name) && !pods.some((p) => engine.pods.networkMode(p) === n.name));
      return each(nets, async (n) => (await engine.networks.remove(n.name, [])).name, ignore);
    }
    case 'volume': {
      const pods = await engine.pods.list();
      const vols = (await engine.volumes.list()).filter((v) => !pods.some((p) => p.spec.volumes?.some((x) => x.type === 'persistentVolumeClaim' && x.claimName === v.name)));
      return each(vols, async (v) => {
        await engine.volumes.remove(v.name, []);
        return v.name;
      }, ignore);
    }
  }
}
