// apply: the engine creates what the plan says. Pods are created in parallel, the containers of a
// pod in parallel; if anything fails, everything this play created is removed again (transactional).
import type { Engine } from '../../engine/engine.js';
import { PeapodError } from '../../engine/errors.js';
import type { ContainerSpec, ImageRecord, PodRecord } from '../../engine/types.js';
import type { PullProgress } from '../../engine/image/registry/index.js';
import { resolveKubeArgs } from '../../engine/runtime/command.js';
import { isReady, isRunning, neverStarted } from '../../engine/pod/status.js';
import type { Plan, PlannedPod } from './plan.js';
import { createServices, downServices, preflightServices } from './apply-services.js';

export interface PlayOptions {
  start: boolean;
  replace: boolean;
  /** progress of the pull of one image of the play (undefined: silent) */
  pullProgress?: (image: string) => ((e: PullProgress) => void) | undefined;
}

export interface PlayReport {
  pods: Array<{ id: string; name: string; containers: string[]; initFailed?: string }>;
}

/**
 * Kubernetes' default pull policy: Always for :latest or no tag, else IfNotPresent. Images named
 * `localhost/...` are local images (imported, loaded, built here), as in Podman: never pulled.
 */
export function pullPolicyOf(image: string, given?: string): 'always' | 'missing' | 'never' {
  if (/^localhost\//.test(image)) return given === 'Never' ? 'never' : 'missing';
  if (given === 'Always') return 'always';
  if (given === 'Never') return 'never';
  if (given === 'IfNotPresent') return 'missing';
  const last = image.split('/').pop() ?? image;
  if (image.includes('@')) return 'missing';
  return !last.includes(':') || last.endsWith(':latest') ? 'always' : 'missing';
}

/**
 * Pulls every image of the play once, in parallel, by its imagePullPolicy, with credentials from
 * the pod's imagePullSecrets (kubernetes.io/dockerconfigjson secrets of the play or the store).
 * Failures become problems of the preflight: nothing has been created yet.
 */
async function pullImages(engine: Engine, plan: Plan, problems: string[], opts: PlayOptions): Promise<Map<string, ImageRecord>> {
  const { credentialsFromDockerConfigJson } = await import('../../engine/image/registry/index.js');
  const dockerConfig = async (name: string): Promise<string | undefined> => {
    const inPlay = plan.secrets.find((s) => s.name === name);
    const data = inPlay?.data ?? (await engine.secrets.get(name))?.data;
    const v = data?.['.dockerconfigjson'] ?? data?.['.dockercfg'];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
  const jobs = new Map<string, { image: string; policy: 'always' | 'missing' | 'never'; secrets: string[]; containers: ContainerSpec[] }>();
  for (const p of plan.pods) {
    for (const c of p.containers) {
      const policy = pullPolicyOf(c.image, c.pullPolicy);
      const key = `${c.image} ${policy} ${(c.pullSecrets ?? []).join(',')}`;
      if (!jobs.has(key)) jobs.set(key, { image: c.image, policy, secrets: c.pullSecrets ?? [], containers: [] });
      jobs.get(key)!.containers.push(c);
    }
  }
  const found = new Map<string, ImageRecord>();
  await Promise.all([...jobs.values()].map(async (j) => {
    let auth;
    for (const s of j.secrets) {
      const content = await dockerConfig(s);
      if (content === undefined) continue;
      auth = credentialsFromDockerConfigJson(content, j.image);
      if (auth) break;
    }
    try {
      const progress = opts.pullProgress?.(j.image);
      const r = await engine.images.pullForKube(j.image, { policy: j.policy, auth, interactive: false, quiet: !progress, progress });
      // The container carries the name the image was found under, as the kubelet reports it.
      for (const c of j.containers) c.image = r.name;
      found.set(r.name, r.image);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }));
  return found;
}

/** Checks made before anything is created: images present, pod names free (or --replace). */
async function preflight(engine: Engine, plan: Plan, opts: PlayOptions): Promise<PodRecord[]> {
  const problems = await checkImages(engine, plan, opts);
  return checkNames(engine, plan, opts, problems);
}

/**
 * Pulls the plan's images (by their pull policy) and checks that every container has a command;
 * returns the problems found (nothing is created here).
 */
export async function checkImages(engine: Engine, plan: Plan, opts: Pick<PlayOptions, 'pullProgress'>): Promise<string[]> {
  const problems: string[] = [];
  const found = await pullImages(engine, plan, problems, opts as PlayOptions);
  // A container whose image gives no command and that sets none cannot start: say so before creating anything.
  for (const p of plan.pods) {
    for (const c of p.containers) {
      const img = found.get(c.image);
      if (!img) continue;
      try {
        resolveKubeArgs(img.config.config ?? {}, c.kube ?? {});
      } catch (err) {
        problems.push(`container "${c.kubeName}" of pod ${p.pod.name}: ${(err as Error).message}: image ${c.image} has no ENTRYPOINT or CMD, so set command`);
      }
    }
  }
  return problems;
}

/** Checks made before anything is created: images present, pod names free (or --replace). */
async function checkNames(engine: Engine, plan: Plan, opts: PlayOptions, problems: string[]): Promise<PodRecord[]> {
  const existing: PodRecord[] = [];
  // Every record read once for all planned pods (not once per pod and name: a play of 10 pods read
  // hundreds of state files here); creation checks the names again under the state lock.
  const [allPods, allContainers] = await Promise.all([engine.pods.list(), engine.containers.records()]);
  const containerNames = new Set(allContainers.map((c) => c.name));
  for (const p of plan.pods) {
    const pod = allPods.find((x) => x.id === p.pod.name || x.name === p.pod.name);
    if (pod) {
      if (opts.replace) existing.push(pod);
      else problems.push(`pod "${p.pod.name}" already exists: use --replace to recreate it, or kube down first`);
      continue;
    }
    if (containerNames.has(p.pod.name)) problems.push(`name "${p.pod.name}" is already in use by a container`);
    for (const c of p.containers) {
      if (!opts.replace && containerNames.has(c.name)) problems.push(`container name "${c.name}" is already in use`);
    }
  }
  const networks = new Set(plan.pods.filter((p) => !p.pod.hostNetwork).map((p) => p.pod.network ?? 'peapod').filter((n) => n !== 'none'));
  for (const n of networks) {
    if (!(await engine.networks.get(n))) problems.push(`network "${n}" not found: create it with peapod network create ${n}`);
  }
  // Static addresses: inside the network's subnet and free (pods being replaced give theirs up).
  for (const p of plan.pods.filter((x) => x.pod.ips?.length && !x.pod.hostNetwork)) {
    const network = await engine.networks.get(p.pod.network ?? 'peapod');
    if (!network) continue;
    if (network.driver === 'pasta') {
      problems.push(`pod ${p.pod.name}: a static IP needs a network of its own; rootless pods share the host's address through pasta`);
      continue;
    }
    for (const why of await engine.networks.checkStatic(network, p.pod.ips!, existing.map((x) => x.id))) problems.push(`pod ${p.pod.name}: ${why}`);
  }
  for (const s of plan.externalSecrets) {
    if (!s.optional && !(await engine.secrets.get(s.name))) problems.push(`secret "${s.name}" not found: define it in the play or create it first`);
  }
  for (const s of plan.secrets) {
    const have = await engine.secrets.get(s.name);
    if (have && !opts.replace && JSON.stringify(have.data) !== JSON.stringify(s.data)) {
      problems.push(`secret "${s.name}" already exists with other values: use --replace to update it`);
    }
  }
  problems.push(...(await preflightServices(engine, plan, opts.replace)));
  if (problems.length) throw new PeapodError(problems.every((x) => x.includes('already')) ? 'exists' : 'invalid', problems.join('; '));
  // Host ports are checked before anything is created (pods being replaced give theirs up).
  await engine.pods.checkPorts(plan.pods.flatMap((p) => p.pod.publish ?? []), existing.map((p) => p.id));
  return existing;
}

export async function createPod(engine: Engine, p: PlannedPod, opts: Pick<PlayOptions, 'start'>, created: string[]): Promise<PlayReport['pods'][number]> {
  // Podman's play kube gives its pods the exit policy stop: the pod exits with its last container.
  const pod = await engine.pods.create({ exitPolicy: 'stop', ...p.pod }, { deferred: p.deferred });
  created.push(pod.id);
  // Init containers are made one after the other, so that their order is the order they run in.
  const ctrs = [];
  for (const c of p.containers.filter((x) => x.init)) ctrs.push(await engine.pods.addContainer(pod.id, c));
  ctrs.push(...(await Promise.all(p.containers.filter((x) => !x.init).map((c) => engine.pods.addContainer(pod.id, c)))));
  let initFailed: string | undefined;
  if (opts.start && !p.deferred) {
    const r = await engine.pods.start(pod.id);
    if (r.errors.length) {
      const e = r.errors[0];
      throw new PeapodError('runtime', `starting container "${e.container.spec.kubeName ?? e.container.name}" of pod ${pod.name}: ${e.error.message}`, { cause: e.error });
    }
    // A failing init container is the pod's state, as in Kubernetes, not a failure of the play.
    if (r.initFailed) initFailed = `init container "${r.initFailed.container.spec.kubeName}" exited with code ${r.initFailed.exitCode}: the app containers of pod ${pod.name} were not started`;
  }
  return { id: pod.id, name: pod.name, containers: ctrs.map((c) => c.id), initFailed };
}

/** Secrets and claimed volumes of the play, before any pod: returns how to undo what was made. */
export async function applyConfig(engine: Engine, plan: Plan, opts: PlayOptions): Promise<() => Promise<void>> {
  const madeSecrets: string[] = [];
  const madeVolumes: string[] = [];
  for (const s of plan.secrets) {
    const have = await engine.secrets.get(s.name);
    if (have && JSON.stringify(have.data) === JSON.stringify(s.data)) continue;
    await engine.secrets.put({ name: s.name, type: s.type, data: s.data, labels: { 'io.peapod.kube.source': s.source.file } }, { replace: opts.replace });
    if (!have) madeSecrets.push(s.name);
  }
  for (const c of plan.claims) {
    if (!(await engine.volumes.get(c))) madeVolumes.push(c);
    await engine.volumes.ensure(c, { claim: true });
  }
  return async () => {
    for (const s of madeSecrets) await engine.secrets.remove(s).catch(() => undefined);
    for (const v of madeVolumes) await engine.volumes.remove(v, []).catch(() => undefined);
  };
}

/** Plays a plan. On failure removes every pod this play created and rethrows. */
export async function playPlan(engine: Engine, plan: Plan, opts: PlayOptions): Promise<PlayReport> {
  const replaced = await preflight(engine, plan, opts);
  for (const old of replaced) await engine.pods.remove(old.id, { force: true, timeout: 0 });
  const undoConfig = await applyConfig(engine, plan, opts);
  let services: Awaited<ReturnType<typeof createServices>>;
  try {
    services = await createServices(engine, plan, opts.replace);
  } catch (err) {
    await undoConfig();
    throw err;
  }
  const created: string[] = [];
  const results = await Promise.allSettled(plan.pods.map((p) => createPod(engine, p, opts, created)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // Roll back; a pod that cannot be removed is reported, never silently left behind.
    await Promise.all(created.map((id) => engine.pods.remove(id, { force: true, timeout: 0 }).catch((err) => {
      process.stderr.write(`warning: rolling back pod ${id.slice(0, 12)}: ${(err as Error).message}\n`);
    })));
    await services.undo();
    await undoConfig();
    throw failed.reason;
  }
  // The pods' starts synced already; once more for a play that started none (--start=false, or
  // Services alone) so that the Services' rules and names exist.
  if (plan.services.length) await engine.services.sync();
  return { pods: results.map((r) => (r as PromiseFulfilledResult<PlayReport['pods'][number]>).value) };
}

/**
 * Stops and removes exactly the pods the given objects define, and the secrets they define;
 * volumes of PersistentVolumeClaims are kept unless `force`.
 */
export async function downPods(engine: Engine, objects: Array<{ kind: string; name: string }>, config: { secrets: string[]; claims: string[]; services?: string[] } = { secrets: [], claims: [] }, force = false): Promise<{ stopped: string[]; removed: string[]; secrets: string[]; volumes: string[]; services: string[] }> {
  const pods = await engine.pods.list();
  const targets = pods.filter((p) => objects.some((o) => p.spec.kube?.kind === o.kind && p.spec.kube?.name === o.name));
  const stopped: string[] = [];
  const removed: string[] = [];
  await Promise.all(targets.map(async (p) => {
    await engine.pods.stop(p.id, 0 <= (p.spec.terminationGracePeriodSeconds ?? 10) ? p.spec.terminationGracePeriodSeconds : undefined);
    stopped.push(p.id);
    await engine.pods.remove(p.id, { force: true, timeout: 0 });
    removed.push(p.id);
  }));
  const secrets: string[] = [];
  for (const s of config.secrets) {
    if (await engine.secrets.get(s)) { await engine.secrets.remove(s); secrets.push(s); }
  }
  const volumes: string[] = [];
  if (force) {
    for (const c of config.claims) {
      if (!(await engine.volumes.get(c))) continue;
      const users = (await engine.pods.list()).filter((p) => p.spec.volumes?.some((v) => v.type === 'persistentVolumeClaim' && v.claimName === c)).map((p) => `pod ${p.name}`);
      await engine.volumes.remove(c, users);
      volumes.push(c);
    }
  }
  const services = config.services?.length ? await downServices(engine, config.services) : [];
  return { stopped, removed, secrets, volumes, services };
}

/**
 * `play kube --wait-ready`: returns once every pod is ready (all its app containers and sidecars
 * ready) or has completed (a Job's); fails at once when a pod failed for good (Init:Error, or a
 * container that ended with an error and will not restart), and after `timeoutMs` naming what is
 * not ready and why, or when `signal` aborts. The pods stay as they are either way.
 */
export async function waitReady(engine: Engine, podIds: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 250)) {
    if (signal?.aborted) throw new PeapodError('state', 'interrupted while waiting for the pods to be ready');
    const waiting: string[] = [];
    for (const id of podIds) {
      const pod = await engine.pods.find(id);
      if (!pod) throw new PeapodError('state', `pod ${id.slice(0, 12)} was removed while waiting for it to be ready`);
      const members = await engine.pods.members(pod);
      const r = engine.pods.readiness(members);
      if (r.reason === 'Completed' || (r.total > 0 && r.ready === r.total)) continue;
      if (r.reason === 'Init:Error' || r.reason === 'Error' || r.reason === 'OOMKilled' || r.reason === 'CreateContainerError') {
        throw new PeapodError('state', `pod ${pod.name} failed (${r.reason}): ${whyNotReady(engine, members)}`);
      }
      waiting.push(`${pod.name} (${r.ready}/${r.total} ready${r.reason ? `, ${r.reason}` : ''}: ${whyNotReady(engine, members)})`);
    }
    if (!waiting.length) return;
    if (Date.now() >= deadline) {
      throw new PeapodError('state', `timed out after ${Math.round(timeoutMs / 1000)}s waiting for pods to be ready: ${waiting.join('; ')}; they were left running (peapod kube down FILE removes them)`);
    }
    await new Promise((res) => setTimeout(res, delay));
  }
}

export function whyNotReady(engine: Engine, members: Awaited<ReturnType<Engine['pods']['members']>>): string {
  const out: string[] = [];
  for (const c of members) {
    if (c.spec.isInfra || c.spec.init === 'init' || isReady(c)) continue;
    const name = c.spec.kubeName ?? c.name;
    if (isRunning(c)) {
      out.push(`container ${name} not ready${c.state.probeMessage ? `: ${c.state.probeMessage}` : ''}`);
      continue;
    }
    const detail = c.state.lastTermination?.message ?? c.state.error;
    out.push(`container ${name} ${engine.containers.reason(c) || c.state.status}${detail ? `: ${detail}` : neverStarted(c) ? '' : ` (exit code ${c.state.exitCode})`}`);
  }
  return out.join(', ') || 'starting';
}
