// Kubernetes YAML in and out of the engine: play (parse -> validate -> plan -> apply), down, and
// waiting on what was played.
import os from 'node:os';
import { PeapodError } from '../../engine/errors.js';
import type { ParsedDoc } from '../kube/parse.js';
import type { Diagnostic } from '../kube/diagnostics.js';
import { hasErrors } from '../kube/diagnostics.js';
import type { Plan } from '../kube/plan.js';
import type { PlayOptions } from '../kube/apply.js';
export type { PullProgress } from '../../engine/image/registry/index.js';
import { isRunning, neverStarted } from '../../engine/pod/status.js';
import type { Opener } from './engine.js';

/** A manifest's text and the name its diagnostics give it (a file, a URL, <stdin>). */
export interface Source { text: string; name: string }

export interface PlayKubeOptions {
  start: boolean;
  replace?: boolean;
  validate: 'strict' | 'warn';
  publish?: string[];
  publishAll?: boolean;
  network?: string;
  /** --service-container: a container (`<sha256 of the YAML, 12>-service`) that runs while the pods run */
  serviceContainer?: boolean;
  /** --ip: static addresses, one per pod in order */
  ip?: string[];
  userns?: string;
  /** --annotation KEY=VALUE: added to every pod's annotations (over the YAML's), e.g. a .kube file's AutoUpdate= */
  annotations?: Record<string, string>;
  /** --configmap files (ConfigMaps only) */
  configMaps?: Source[];
  /** validate and plan, create nothing */
  dryRun?: boolean;
  /** return once every pod is ready or completed, failing after timeoutSeconds (default 300) */
  waitReady?: boolean;
  timeoutSeconds?: number;
  /** every diagnostic (warnings too), told before anything is created or refused */
  onDiagnostics: (diags: Diagnostic[]) => void;
  /** a warning about the whole play (e.g. limits a rootless host cannot apply) */
  onWarning: (text: string) => void;
  /** progress of the pull of one image of the play (undefined: silent) */
  pullProgress?: PlayOptions['pullProgress'];
}

export interface PlayKubeReport {
  plan: Plan;
  /** the pods made (none with dryRun), in the plan's order */
  pods: Array<{ id: string; containers: string[]; initFailed?: string }>;
}

/** Reads every source; all diagnostics (all files, all documents) come back together. */
export async function load(sources: Source[], mode: 'strict' | 'warn', validate: boolean): Promise<{ docs: ParsedDoc[]; diags: Diagnostic[] }> {
  const { parseManifests } = await import('../kube/parse.js');
  const docs: ParsedDoc[] = [];
  const diags: Diagnostic[] = [];
  for (const s of sources) {
    const r = parseManifests(s.text, s.name);
    docs.push(...r.docs);
    diags.push(...r.errors);
  }
  if (validate) {
    const { validateDocs } = await import('../kube/validate.js');
    diags.push(...validateDocs(docs, { mode }));
  }
  return { docs, diags };
}

/** Facts of this host that fieldRef and resourceFieldRef name. */
export function nodeFacts() {
  const addr = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  return { name: os.hostname(), hostIP: addr?.address ?? '127.0.0.1', cpus: os.cpus().length, memoryBytes: os.totalmem() };
}

/** `kube play`: nothing is created unless every source validates and plans. */
export async function playKube(open: Opener, sources: Source[], o: PlayKubeOptions): Promise<PlayKubeReport> {
  const names = sources.map((s) => s.name).join(', ');
  const { docs, diags } = await load(sources, o.validate, true);
  let configMapDocs: ParsedDoc[] = [];
  if (o.configMaps?.length) {
    const cm = await load(o.configMaps, o.validate, true);
    diags.push(...cm.diags);
    for (const d of cm.docs) {
      if (d.kind !== 'ConfigMap') {
        const p = d.position(['kind']);
        diags.push({ file: d.file, line: p.line, col: p.col, path: 'kind', message: `--configmap files hold ConfigMaps only, not ${d.kind}`, severity: 'error' });
      }
    }
    configMapDocs = cm.docs;
  }
  if (hasErrors(diags)) {
    o.onDiagnostics(diags);
    const n = diags.filter((d) => d.severity === 'error').length;
    throw new PeapodError('invalid', `${n} problem${n === 1 ? '' : 's'} in ${names}: nothing was created`);
  }
  const { planKube } = await import('../kube/plan.js');
  const plan = planKube(docs, { publish: o.publish, publishAll: o.publishAll, network: o.network, ips: o.ip, configMapDocs, node: nodeFacts() });
  o.onDiagnostics([...diags, ...plan.diagnostics]);
  if (hasErrors(plan.diagnostics)) throw new PeapodError('invalid', `cannot play ${names}: nothing was created`);
  if (o.dryRun) return { plan, pods: [] };
  if (o.userns === 'keep-id') for (const p of plan.pods) p.pod.userns = 'keep-id';
  // as Podman: the pods and their containers (inspect's .Config.Annotations) get them
  if (o.annotations && Object.keys(o.annotations).length) {
    for (const p of plan.pods) {
      p.pod.annotations = { ...p.pod.annotations, ...o.annotations };
      for (const c of p.containers) c.annotations = { ...(c.annotations ?? {}), ...o.annotations };
    }
  }
  const engine = await open();
  const asks = (r?: object) => !!r && Object.values(r).some((v) => v !== undefined);
  const limited = plan.pods.flatMap((p) => [...(asks(p.pod.resources) ? [`pod ${p.pod.name}`] : []), ...p.containers.filter((c) => asks(c.resources)).map((c) => c.name)]);
  const notice = engine.rootlessLimitsNotice(limited);
  if (notice) o.onWarning(notice);
  if (engine.cfg.rootlessUid !== undefined && plan.services.length) {
    o.onWarning(`rootless: Services ${plan.services.map((s) => s.spec.name).join(', ')} get no virtual IP and no names (pasta has no shared bridge between pods): their nodePorts are published as host ports of the pods they select, nothing more`);
    plan.services = [];
    for (const p of plan.pods) if (p.nodePorts?.length) p.pod.publish = [...(p.pod.publish ?? []), ...p.nodePorts];
  }
  const { playPlan, waitReady } = await import('../kube/apply.js');
  let service: string | undefined;
  if (o.serviceContainer && plan.pods.length) {
    const { createHash } = await import('node:crypto');
    const name = `${createHash('sha256').update(sources[0]!.text).digest('hex').slice(0, 12)}-service`;
    const old = await engine.containers.find(name);
    if (old?.spec.isService && o.replace) {
      // --replace: the pods of the earlier play of this YAML go, and their service container with them
      for (const p of (await engine.pods.list()).filter((x) => x.spec.serviceContainer === old.id)) await engine.pods.remove(p.id, { force: true });
      if (await engine.containers.find(old.id)) await engine.containers.remove(old.id, { force: true, timeout: 0, ofPod: true });
    }
    service = (await engine.pods.createServiceContainer(name)).id;
    for (const p of plan.pods) p.pod.serviceContainer = service;
  }
  let r;
  try {
    if (service && o.start) await engine.containers.start(service);
    r = await playPlan(engine, plan, { start: o.start, replace: !!o.replace, pullProgress: o.pullProgress });
  } catch (err) {
    // nothing half-made: the service container goes with the pods the play removed
    if (service) await engine.containers.remove(service, { force: true, timeout: 0, ofPod: true }).catch(() => undefined);
    throw err;
  }
  if (o.waitReady) await waitReady(engine, r.pods.map((p) => p.id), (o.timeoutSeconds ?? 300) * 1000);
  return { plan, pods: r.pods };
}

/** --annotation KEY=VALUE flags (Kubernetes annotation keys: [DNS-subdomain/]name). */
export async function parseAnnotations(flags: string[] = []): Promise<Record<string, string>> {
  const { DNS1123_SUBDOMAIN, QUALIFIED_NAME } = await import('../../engine/names.js');
  const out: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    const key = eq < 0 ? f : f.slice(0, eq);
    const slash = key.lastIndexOf('/');
    const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
    if (eq < 0 || name.length > 63 || !QUALIFIED_NAME.test(name) || (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)))) {
      throw new PeapodError('invalid', `invalid --annotation ${JSON.stringify(f)}: use KEY=VALUE with a Kubernetes annotation key ([prefix/]name)`);
    }
    out[key] = f.slice(eq + 1);
  }
  return out;
}

/**
 * `kube quadlet`: the text of a `.kube` file that plays one YAML file (given by its absolute path)
 * under peapod's generator. The YAML is read, validated and planned first (nothing of the engine
 * is opened), so that a broken manifest never becomes a unit.
 */
export async function kubeQuadlet(source: Source & { path: string }, o: { validate: 'strict' | 'warn'; name?: string; onDiagnostics: (diags: Diagnostic[]) => void }): Promise<{ fileName: string; text: string }> {
  const { docs, diags } = await load([source], o.validate, true);
  const { planKube } = await import('../kube/plan.js');
  const plan = hasErrors(diags) ? undefined : planKube(docs, { node: nodeFacts() });
  o.onDiagnostics([...diags, ...(plan?.diagnostics ?? [])]);
  if (!plan || hasErrors(plan.diagnostics)) throw new PeapodError('invalid', `cannot make a .kube file for ${source.name}: the YAML does not play`);
  const { kubeFileFor, kubeFileNameFor, isValidUnitName } = await import('../systemd/quadlet.js');
  const fileName = o.name === undefined ? kubeFileNameFor(source.path) : `${o.name.replace(/\.kube$/, '')}.kube`;
  if (!isValidUnitName(fileName.replace(/\.kube$/, '.service'), '.service')) throw new PeapodError('invalid', `--name ${JSON.stringify(o.name)}: not a valid unit name (letters, digits, ":", "_", ".", "-", "\\" and one "@")`);
  return { fileName, text: kubeFileFor(source.path, { fileName }) };
}

export interface DownKubeReport { stopped: string[]; removed: string[]; secrets: string[]; volumes: string[]; services: string[] }

/** `kube down`: the pods (and Secrets, claims' volumes with force) the sources define. */
export async function downKube(open: Opener, sources: Source[], o: { force?: boolean; onDiagnostics: (diags: Diagnostic[]) => void }): Promise<DownKubeReport> {
  const { docs, diags } = await load(sources, 'warn', false);
  if (hasErrors(diags)) {
    o.onDiagnostics(diags);
    throw new PeapodError('invalid', `cannot read ${sources.map((s) => s.name).join(', ')}`);
  }
  const { podNamesOf, configObjectsOf, servicesOf } = await import('../kube/plan.js');
  const { downPods } = await import('../kube/apply.js');
  const engine = await open();
  const objects = podNamesOf(docs);
  // Pods made by kube apply: their set's record goes with the last of them.
  const { SET_LABEL } = await import('../kube/applyset.js');
  const sets = [...new Set((await engine.pods.list()).filter((p) => objects.some((x) => p.spec.kube?.kind === x.kind && p.spec.kube?.name === x.name)).map((p) => p.spec.labels?.[SET_LABEL]).filter((x): x is string => !!x))];
  const r = await downPods(engine, objects, { ...configObjectsOf(docs), services: servicesOf(docs) }, o.force);
  const { forgetEmptySets } = await import('./apply.js');
  await forgetEmptySets(async () => engine, sets);
  return r;
}

/**
 * `kube play --wait` run by a Type=notify unit (systemd set NOTIFY_SOCKET): waits until every pod
 * is ready (readiness probes pass) or completed, then tells systemd READY=1, so `systemctl start`
 * returns only when the pods serve; then as waitForPods. A pod that fails for good, or a stop
 * (`signal`) before it is ready, takes the pods down and fails (the unit's start fails). Without
 * NOTIFY_SOCKET it is waitForPods.
 */
export async function servePods(open: Opener, podIds: string[], signal: AbortSignal): Promise<WaitReport> {
  const { sdNotify, underNotifyUnit } = await import('../../engine/spawn.js');
  if (underNotifyUnit()) {
    const engine = await open();
    const { waitReady } = await import('../kube/apply.js');
    try {
      await sdNotify(`STATUS=waiting for ${podIds.length === 1 ? 'the pod' : `${podIds.length} pods`} to be ready`);
      await waitReady(engine, podIds, Number.MAX_SAFE_INTEGER, signal);
    } catch (err) {
      await sdNotify(`STATUS=${(err as Error).message.split('\n')[0]}`).catch(() => undefined);
      for (const id of podIds) if (await engine.pods.find(id)) await engine.pods.remove(id, { force: true });
      throw err;
    }
    const names = await Promise.all(podIds.map(async (id) => (await engine.pods.find(id))?.name ?? id.slice(0, 12)));
    await sdNotify(`READY=1\nSTATUS=ready: ${names.join(', ')}`);
  }
  return waitForPods(open, podIds, signal, () => sdNotify('STOPPING=1').then(() => undefined, () => undefined));
}

/** How a `--wait` ended: by itself (every app container exited, with these codes) or by a signal. */
export interface WaitReport { ended: boolean; exitCodes: number[] }

/**
 * Podman's --service-exit-code-propagation (a .kube file's ExitCodePropagation=): the exit code of
 * a `--wait` that ended by itself. none: 0; any: the first failure's code if any container failed;
 * all: that code only if every container failed.
 */
export function propagatedExitCode(r: WaitReport, how: 'all' | 'any' | 'none'): number {
  const failed = r.exitCodes.filter((c) => c !== 0);
  if (!r.ended || how === 'none' || !failed.length) return 0;
  if (how === 'all' && failed.length !== r.exitCodes.length) return 0;
  return failed[0];
}

/**
 * `kube play --wait`: returns once every app container of the pods has exited (an init failure
 * counts as ended) or `signal` aborts; then the pods are removed, as Podman's `kube play --wait`.
 */
export async function waitForPods(open: Opener, podIds: string[], signal: AbortSignal, onStopping?: () => Promise<void>): Promise<WaitReport> {
  const engine = await open();
  let exitCodes: number[] = [];
  while (!signal.aborted) {
    let running = false;
    exitCodes = [];
    for (const id of podIds) {
      const pod = await engine.pods.find(id);
      if (!pod) continue;
      const members = await engine.pods.members(pod);
      if (members.some((c) => !c.spec.isInfra && (isRunning(c) || (neverStarted(c) && !engine.pods.initFailure(members))))) running = true;
      // the app containers' codes (an init container that failed counts as a failure too; sidecars do not count)
      for (const c of members) if (!c.spec.isInfra && c.spec.init !== 'sidecar' && !(c.spec.init === 'init' && c.state.exitCode === 0)) exitCodes.push(c.state.exitCode);
    }
    if (!running) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  const ended = !signal.aborted;
  await onStopping?.();
  for (const id of podIds) {
    if (await engine.pods.find(id)) await engine.pods.remove(id, { force: true });
  }
  return { ended, exitCodes: ended ? exitCodes : [] };
}
