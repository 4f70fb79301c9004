// Podman's libpod API (paths under /v4.x/libpod/), with Podman 4.3's field names and types: Go
// clients (podman --remote) decode these answers into typed structs, so a field's JSON type matters
// as much as its name. Each handler makes the same use-case calls as the CLI command of that name.
import os from 'node:os';
import { readFileSync } from 'node:fs';
import type { Ctx } from './routes.js';
import { ApiError, qBool, qInt, readBody, sendJson, sendText } from './http.js';
import { VERSION } from '../../engine/version.js';
import { PeapodError } from '../../engine/errors.js';
import { isRunning } from '../../engine/pod/status.js';
import type { Engine } from '../../engine/engine.js';

export const API_VERSION = '4.3.1';
const goArch = () => (process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch);

/** The version report both APIs share (Docker's SystemVersion with Podman's component). */
export function versionReport() {
  const kernel = os.release();
  const built = '1970-01-01T00:00:00Z';
  return {
    Platform: { Name: `linux/${goArch()}/peapod` },
    Components: [{
      Name: 'Podman Engine', Version: API_VERSION,
      Details: { APIVersion: API_VERSION, Arch: goArch(), BuildTime: built, Experimental: 'false', GitCommit: '', GoVersion: process.version, KernelVersion: kernel, MinAPIVersion: '4.0.0', Os: 'linux', PeapodVersion: VERSION },
    }, { Name: 'peapod', Version: VERSION, Details: { NodeVersion: process.version } }],
    Version: API_VERSION, ApiVersion: '1.41', MinAPIVersion: '1.24', GitCommit: '', GoVersion: process.version,
    Os: 'linux', Arch: goArch(), KernelVersion: kernel, BuildTime: built,
  };
}

export async function version({ res }: Ctx): Promise<void> {
  sendJson(res, 200, versionReport());
}

function uptimeText(): string {
  const s = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const h = Math.floor(s / 3600); const m = Math.floor((s % 3600) / 60);
  return `${h}h ${m}m ${(s % 60).toFixed(2)}s (Approximately ${(s / 86400).toFixed(2)} days)`;
}

function distribution(): { distribution: string; version: string; codename?: string } {
  try {
    const t = readFileSync('/etc/os-release', 'utf8');
    const get = (k: string) => t.match(new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm'))?.[1] ?? '';
    return { distribution: get('ID'), version: get('VERSION_ID'), codename: get('VERSION_CODENAME') || undefined };
  } catch {
    return { distribution: 'unknown', version: '' };
  }
}

/** Counts that `info` shows (Podman's containerStore and imageStore). */
export async function storeCounts(engine: Engine) {
  const [cs, imgs] = await Promise.all([engine.containers.list(), engine.images.list()]);
  const running = cs.filter(isRunning).length;
  return { containers: cs.length, running, stopped: cs.length - running, images: imgs.length };
}

/** `podman info` (define.Info): the engine's facts under Podman's keys and JSON types. */
export async function infoReport(engine: Engine) {
  const i = engine.info();
  const n = await storeCounts(engine);
  return {
    host: {
      arch: i.host.arch, buildahVersion: '', cgroupManager: 'cgroupfs', cgroupVersion: i.host.cgroupVersion, cgroupControllers: [],
      conmon: { package: '', path: i.host.conmon.path ?? '', version: '' },
      cpus: os.cpus().length,
      distribution: distribution(),
      eventLogger: 'none', hostname: os.hostname(), idMappings: { gidmap: null, uidmap: null }, kernel: os.release(),
      logDriver: 'k8s-file', memFree: os.freemem(), memTotal: os.totalmem(),
      networkBackend: i.host.rootless ? 'pasta' : 'netavark',
      ociRuntime: { name: i.host.ociRuntime.name, package: '', path: i.host.ociRuntime.path, version: '' },
      os: 'linux', remoteSocket: { path: '', exists: true }, serviceIsRemote: false,
      security: { apparmorEnabled: false, capabilities: 'CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_NET_BIND_SERVICE,CAP_SETFCAP,CAP_SETGID,CAP_SETPCAP,CAP_SETUID,CAP_SYS_CHROOT', rootless: i.host.rootless, seccompEnabled: true, seccompProfilePath: '/usr/share/containers/seccomp.json', selinuxEnabled: false },
      swapFree: 0, swapTotal: 0, uptime: uptimeText(), linkmode: 'dynamic',
    },
    store: {
      configFile: '', containerStore: { number: n.containers, paused: 0, running: n.running, stopped: n.stopped },
      graphDriverName: 'overlay', graphOptions: {}, graphRoot: i.store.graphRoot, graphStatus: {}, imageCopyTmpDir: '/var/tmp',
      imageStore: { number: n.images }, runRoot: i.store.runRoot, volumePath: `${i.store.stateRoot}/volumes`,
    },
    registries: {},
    plugins: { volume: ['local'], network: ['bridge'], log: ['k8s-file'], authorization: null },
    version: { APIVersion: API_VERSION, Version: API_VERSION, GoVersion: process.version, GitCommit: '', BuiltTime: 'Thu Jan  1 00:00:00 1970', Built: 0, OsArch: `linux/${goArch()}`, Os: 'linux' },
  };
}

export async function info(ctx: Ctx): Promise<void> {
  sendJson(ctx.res, 200, await infoReport(await ctx.open()));
}

/** Podman's list filters (a JSON map of key -> values) as the CLI's key=value strings. */
export function filtersOf(q: URLSearchParams): string[] {
  const f = q.get('filters');
  if (!f) return [];
  let m: Record<string, string[] | Record<string, boolean>>;
  try { m = JSON.parse(f); } catch { throw new ApiError(400, `filters: not a JSON map: ${f}`, 'invalid argument'); }
  const out: string[] = [];
  for (const [k, v] of Object.entries(m ?? {})) {
    // Docker sends {"label": {"a=b": true}}, Podman {"label": ["a=b"]}
    const values = Array.isArray(v) ? v : Object.keys(v ?? {}).filter((x) => (v as Record<string, boolean>)[x]);
    for (const x of values) out.push(`${k}=${x}`);
  }
  return out;
}

export async function containerList(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const q = ctx.url.searchParams;
  const { containerFilter } = await import('../app/bulk.js');
  const { psView, healthOf } = await import('../app/views.js');
  const filters = filtersOf(q);
  const [all, pods] = await Promise.all([engine.containers.list(), engine.pods.list()]);
  const match = containerFilter(filters, pods);
  let list = all.filter((c) => (qBool(q, 'all') || filters.some((f) => f.startsWith('status=')) || isRunning(c)) && match(c));
  const last = qInt(q, 'last') ?? qInt(q, 'limit');
  if (last !== undefined && last > 0) list = list.slice(-last);
  sendJson(ctx.res, 200, list.map((c) => ({
    ...psView(c, pods.find((p) => p.id === c.spec.pod)?.name, engine.containers.reason(c)),
    // the API's ListContainer has a time here (the CLI's JSON prints Unix seconds)
    Created: c.created,
    // Podman's client words the state itself and appends Status, which is the health only
    Status: healthOf(c),
    ExitCode: c.state.exitCode ?? 0,
    Pid: c.state.pid ?? 0,
  })));
}

export async function containerInspect(ctx: Ctx): Promise<void> {
  const { inspectContainer } = await import('../app/containers.js');
  const { inspectView } = await import('../app/views.js');
  const c = await inspectContainer(ctx.open, ctx.params.name);
  if (!c) throw new PeapodError('not-found', `no container with name or ID "${ctx.params.name}" found: no such container`);
  sendJson(ctx.res, 200, inspectView(await ctx.open(), c.rec, c.pod, c.imageUser));
}

async function existsAnswer(ctx: Ctx, kind: 'container' | 'pod' | 'image'): Promise<void> {
  const { exists } = await import('../app/bulk.js');
  if (await exists(await ctx.open(), kind, ctx.params.name)) { ctx.res.writeHead(204); ctx.res.end(); return; }
  throw new PeapodError('not-found', `no ${kind} with name or ID "${ctx.params.name}" found: no such ${kind}`);
}

export const containerExists = (ctx: Ctx) => existsAnswer(ctx, 'container');
export const podExists = (ctx: Ctx) => existsAnswer(ctx, 'pod');
export const imageExists = (ctx: Ctx) => existsAnswer(ctx, 'image');

export async function podList(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const { podFilter } = await import('../app/bulk.js');
  const { podPsView } = await import('../app/views.js');
  const match = await podFilter(engine, filtersOf(ctx.url.searchParams));
  const [pods, all] = await Promise.all([engine.pods.list(), engine.containers.list()]);
  const out = [];
  for (const p of pods) {
    const members = engine.pods.membersOf(p, all);
    if (await match(p, members)) {
      const { Ready, Restarts, Reason, ...v } = await podPsView(engine, p, members);
      out.push({ ...v, Status: v.Status, Ready, RestartCount: Restarts, Reason });
    }
  }
  sendJson(ctx.res, 200, out);
}

export async function podInspect(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const { podInspectView } = await import('../app/views.js');
  sendJson(ctx.res, 200, await podInspectView(engine, await engine.pods.get(ctx.params.name)));
}

export async function imageList(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const { imageListView } = await import('../app/views.js');
  const [images, containers] = await Promise.all([engine.images.list(), engine.containers.records()]);
  sendJson(ctx.res, 200, images.map((img) => {
    const v = imageListView(img, containers.filter((c) => c.imageId === img.id).length);
    // ImageSummary: Created is Unix seconds, History a list of names
    return { ...v, Id: img.id.replace(/^sha256:/, ''), Dangling: img.names.length === 0, ReadOnly: false, History: v.History ?? [] };
  }));
}

export async function imageInspect(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const { imageInspectView } = await import('../app/views.js');
  const img = await engine.images.get(ctx.params.name);
  if (!img) throw new PeapodError('not-found', `${ctx.params.name}: image not known`);
  sendJson(ctx.res, 200, imageInspectView(engine, img));
}

/**
 * `kube play` (POST /play/kube, the YAML as the body, as `podman --remote kube play FILE` sends it).
 * The body is read whole before anything is made; from then on the play runs to its end (or rolls
 * back, as every failed play does) whether or not the client is still there: never half a pod.
 */
export async function kubePlay(ctx: Ctx): Promise<void> {
  const text = (await readBody(ctx.req)).toString('utf8');
  const q = ctx.url.searchParams;
  const { playKube } = await import('../app/kube.js');
  const { formatDiagnostic } = await import('../kube/diagnostics.js');
  const logs: string[] = [];
  let problems: string[] = [];
  const network = q.getAll('network').filter(Boolean);
  let report;
  try {
    report = await ctx.hold(playKube(ctx.open, [{ text, name: '<request body>' }], {
      start: qBool(q, 'start', true), replace: qBool(q, 'replace'), validate: 'strict',
      network: network[0],
      onDiagnostics: (d) => { problems = d.filter((x) => x.severity === 'error').map(formatDiagnostic); logs.push(...d.filter((x) => x.severity !== 'error').map(formatDiagnostic)); },
      onWarning: (w) => logs.push(w),
    }));
  } catch (err) {
    if (err instanceof PeapodError && problems.length) throw new PeapodError(err.code, `${err.message}:\n${problems.join('\n')}`);
    throw err;
  }
  const engine = await ctx.open();
  const pods = [];
  for (const [i, p] of report.pods.entries()) {
    const members = (await engine.pods.members(await engine.pods.get(p.id))).filter((c) => !c.spec.isInfra);
    pods.push({
      ID: p.id,
      Containers: members.filter((c) => !c.spec.init).map((c) => c.id),
      InitContainers: members.filter((c) => c.spec.init).map((c) => c.id),
      // the client prints them as they are, once: all go with the first pod
      Logs: i === 0 ? logs.map((l) => `${l}\n`) : [], ContainerErrors: p.initFailed ? [p.initFailed] : [],
    });
  }
  sendJson(ctx.res, 200, { Pods: pods, Volumes: [], StopReport: [], RmReport: [], Secrets: [] });
}

/** `kube down` (DELETE /play/kube with the YAML as the body). */
export async function kubeDown(ctx: Ctx): Promise<void> {
  const text = (await readBody(ctx.req)).toString('utf8');
  const { downKube } = await import('../app/kube.js');
  const { formatDiagnostic } = await import('../kube/diagnostics.js');
  let problems: string[] = [];
  const r = await ctx.hold(downKube(ctx.open, [{ text, name: '<request body>' }], {
    force: qBool(ctx.url.searchParams, 'force'),
    onDiagnostics: (d) => { problems = d.map(formatDiagnostic); },
  })).catch((err) => { throw problems.length ? new PeapodError('invalid', `${err.message}:\n${problems.join('\n')}`) : err; });
  sendJson(ctx.res, 200, {
    Pods: [], Volumes: r.volumes.map((Name) => ({ Name })), Secrets: [],
    StopReport: r.stopped.map((Id) => ({ Errs: [], Id })),
    RmReport: r.removed.map((Id) => ({ Err: null, Id })),
  });
}

/** `generate kube` (GET /generate/kube?names=...&service=...): the YAML as the body. */
export async function generateKube(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const names = q.getAll('names');
  if (!names.length) throw new ApiError(400, 'generate kube: no pod or container named (names=)', 'invalid argument');
  const type = q.get('type') ?? 'pod';
  if (!['pod', 'deployment', 'daemonset', 'job'].includes(type)) throw new ApiError(400, `generate kube: unknown type "${type}"`, 'invalid argument');
  const { generateKube: generate } = await import('../app/generate.js');
  const text = await generate(ctx.open, names, { type: type as 'pod', replicas: qInt(q, 'replicas'), service: qBool(q, 'service'), includeSecrets: false });
  sendText(ctx.res, 200, text, 'text/vnd.yaml');
}

/** `logs` (libpod): always the multiplexed stream, as Podman's client reads it. */
export async function containerLogs(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const { responseSink, streamLogs } = await import('./streams.js');
  const engine = await ctx.open();
  await engine.containers.get(ctx.params.name); // 404 before the stream starts
  const tailText = q.get('tail');
  const sink = responseSink(ctx);
  await streamLogs(ctx.open, ctx.params.name, sink, {
    stdout: qBool(q, 'stdout'), stderr: qBool(q, 'stderr'), follow: qBool(q, 'follow'), timestamps: qBool(q, 'timestamps'),
    tail: tailText && tailText !== 'all' && Number(tailText) >= 0 ? Number(tailText) : undefined,
  });
  sink.end();
}

/** exec create: a session of this service; POST /exec/{id}/start runs it. */
export async function execCreate(ctx: Ctx): Promise<void> {
  const { readJson } = await import('./http.js');
  const { createExec } = await import('./streams.js');
  const s = await createExec(ctx.open, ctx.params.name, await readJson(ctx.req));
  sendJson(ctx.res, 201, { Id: s.id });
}

/** exec start: the connection is hijacked and carries the session's output (multiplexed unless a terminal). */
export async function execStart(ctx: Ctx): Promise<void> {
  const { readJson } = await import('./http.js');
  const { getExec, hijack, runExec } = await import('./streams.js');
  const body = await readJson(ctx.req);
  const s = getExec(ctx.params.id);
  if (s.running || s.exitCode !== undefined) throw new ApiError(409, `exec session ${s.id} has already run`, 'exec session state improper');
  if (body.Detach) {
    const sink = { write: () => undefined, end: () => undefined, closed: () => true };
    void runExec(ctx.open, s, sink).catch(() => undefined);
    ctx.res.writeHead(200); ctx.res.end();
    return;
  }
  const sink = hijack(ctx);
  await runExec(ctx.open, s, sink, ctx.hijack?.socket);
  sink.end();
}

export async function execInspect(ctx: Ctx): Promise<void> {
  const { getExec, execInspectView } = await import('./streams.js');
  sendJson(ctx.res, 200, execInspectView(getExec(ctx.params.id)));
}

/** No terminal is ever allocated for an exec here: a resize has nothing to do. */
export async function execResize(ctx: Ctx): Promise<void> {
  const { getExec } = await import('./streams.js');
  getExec(ctx.params.id);
  ctx.res.writeHead(201); ctx.res.end();
}

/** container create (a subset of Podman's SpecGenerator: name, image, command, entrypoint, env, work_dir, user, labels, remove, pod, hostname). */
export async function containerCreate(ctx: Ctx): Promise<void> {
  const { readJson } = await import('./http.js');
  const b = await readJson(ctx.req);
  if (typeof b.image !== 'string' || !b.image) throw new ApiError(400, 'container create: image is required', 'invalid argument');
  const { createContainer } = await import('../app/containers.js');
  const rec = await createContainer(ctx.open, {
    name: typeof b.name === 'string' ? b.name : '',
    image: b.image,
    cmd: Array.isArray(b.command) && b.command.length ? b.command : undefined,
    entrypoint: Array.isArray(b.entrypoint) ? b.entrypoint : undefined,
    env: b.env && typeof b.env === 'object' ? Object.entries(b.env as Record<string, string>).map(([k, v]) => `${k}=${v}`) : undefined,
    workingDir: b.work_dir || undefined, user: b.user || undefined, hostname: b.pod ? undefined : b.hostname || undefined,
    labels: b.labels ?? undefined, autoRemove: !!b.remove,
  }, { pod: b.pod || undefined, pull: 'missing' });
  sendJson(ctx.res, 201, { Id: rec.id, Warnings: [] });
}

export async function containerStart(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  if (isRunning(await engine.containers.get(ctx.params.name))) { ctx.res.writeHead(304); ctx.res.end(); return; }
  const { startContainer } = await import('../app/containers.js');
  await startContainer(ctx.open, ctx.params.name);
  ctx.res.writeHead(204); ctx.res.end();
}

export async function containerStop(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const c = await engine.containers.get(ctx.params.name);
  if (!isRunning(c)) { ctx.res.writeHead(304); ctx.res.end(); return; }
  await engine.containers.stop(c.id, qInt(ctx.url.searchParams, 'timeout') ?? qInt(ctx.url.searchParams, 't'));
  ctx.res.writeHead(204); ctx.res.end();
}

export async function containerKill(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const c = await engine.containers.get(ctx.params.name);
  if (!isRunning(c)) throw new PeapodError('state', `can only kill running containers. ${c.id} is in state ${c.state.status}: container state improper`);
  await engine.containers.kill(c.id, ctx.url.searchParams.get('signal') || 'KILL');
  ctx.res.writeHead(204); ctx.res.end();
}

export async function containerWait(ctx: Ctx): Promise<void> {
  const { waitFor } = await import('./streams.js');
  const conds = ctx.url.searchParams.getAll('condition');
  const cond = conds.includes('removed') ? 'removed' : conds.some((c) => c === 'running') ? 'next-exit' : 'not-running';
  await (await ctx.open()).containers.get(ctx.params.name);
  const code = await waitFor(ctx.open, ctx.params.name, cond, () => ctx.res.destroyed);
  sendJson(ctx.res, 200, code);
}

export async function containerDelete(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const { removeContainers } = await import('../app/bulk.js');
  const r = await removeContainers(await ctx.open(), [ctx.params.name], { force: qBool(q, 'force'), ignore: qBool(q, 'ignore'), timeout: qInt(q, 'timeout') });
  if (r.errors.length) throw r.errors[0];
  sendJson(ctx.res, 200, r.done.map((Id) => ({ Id, Err: null })));
}

/** pod start: 304 when it already runs (Podman's answer), else {Errs, Id} (PodStartReport). */
export async function podStart(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const pod = await engine.pods.get(ctx.params.name);
  if ((await engine.pods.status(pod)) === 'Running') { ctx.res.writeHead(304); ctx.res.end(); return; }
  const { startPod } = await import('../app/pods.js');
  sendJson(ctx.res, 200, { Errs: [], Id: await startPod(ctx.open, pod.id) });
}

export async function podStop(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const pod = await engine.pods.get(ctx.params.name);
  const status = await engine.pods.status(pod);
  if (status !== 'Running' && status !== 'Degraded') { ctx.res.writeHead(304); ctx.res.end(); return; }
  const r = await engine.pods.stop(pod.id, qInt(ctx.url.searchParams, 't') ?? qInt(ctx.url.searchParams, 'timeout'));
  sendJson(ctx.res, 200, { Errs: [], Id: r.id });
}

export async function podKill(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const r = await engine.pods.kill(ctx.params.name, ctx.url.searchParams.get('signal') || 'KILL');
  sendJson(ctx.res, 200, { Errs: [], Id: r.id });
}

export async function podRestart(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const pod = await engine.pods.get(ctx.params.name);
  await engine.pods.stop(pod.id);
  const { startPod } = await import('../app/pods.js');
  sendJson(ctx.res, 200, { Errs: [], Id: await startPod(ctx.open, pod.id) });
}

export async function podDelete(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const { removePods } = await import('../app/bulk.js');
  const r = await removePods(await ctx.open(), [ctx.params.name], { force: qBool(q, 'force'), timeout: qInt(q, 'timeout') });
  if (r.errors.length) throw r.errors[0];
  sendJson(ctx.res, 200, { Err: null, Id: r.done[0] });
}

/**
 * images/pull (?reference=&policy=&quiet=&tlsVerify=): one JSON line per step ({"stream": ...} as
 * Podman's copier words it), then {"id", "images"}; a failure is {"error": ...} after the headers.
 * A reference that does not parse is a 400 before anything starts. The pull ends (stored whole) or
 * fails (nothing stored) even when the client goes away.
 */
export async function imagePull(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const ref = q.get('reference');
  if (!ref) throw new ApiError(400, 'images/pull: reference parameter cannot be empty', 'invalid argument');
  if (qBool(q, 'allTags')) throw new ApiError(501, 'POST /libpod/images/pull?allTags=true: pulling every tag is not served by peapod', 'not implemented');
  const policy = q.get('policy') || 'always';
  if (!['always', 'missing', 'never', 'newer'].includes(policy)) throw new ApiError(400, `images/pull: unsupported pull policy "${policy}"`, 'invalid argument');
  const { checkedPullReference, pullWithProgress } = await import('../app/images.js');
  try {
    await checkedPullReference(ref);
  } catch (err) {
    throw new ApiError(400, (err as Error).message, 'invalid reference format');
  }
  const quiet = qBool(q, 'quiet');
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  ctx.res.flushHeaders();
  const line = (v: unknown) => { if (!ctx.res.destroyed) ctx.res.write(`${JSON.stringify(v)}\n`); };
  const say = (text: string) => { if (!quiet) line({ stream: `${text}\n` }); };
  const seen = new Set<string>();
  try {
    const r = await ctx.hold(pullWithProgress(ctx.open, ref, {
      policy: policy as 'always', tlsVerify: q.has('tlsVerify') ? qBool(q, 'tlsVerify', true) : undefined,
      progress: (e) => {
        if (e.type === 'trying') say(`Trying to pull ${e.reference}...`);
        else if (e.type === 'manifest') say('Getting image source signatures');
        else if (e.type === 'layer' && (e.status === 'present' || e.status === 'done') && !seen.has(e.digest)) {
          seen.add(e.digest);
          say(`Copying blob ${e.digest}${e.status === 'present' ? ' skipped: already exists' : ' done'}`);
        } else if (e.type === 'stored') {
          say(`Copying config sha256:${e.imageId} done`);
          say('Writing manifest to image destination');
          say('Storing signatures');
        }
      },
    }));
    line({ images: [r.image.id], id: r.image.id });
  } catch (err) {
    line({ error: (err as Error).message });
  }
  ctx.res.end();
}

/** images/{name}/tag?repo=&tag= (201). */
export async function imageTag(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const repo = q.get('repo');
  if (!repo) throw new ApiError(400, 'image tag: repo is required', 'invalid argument');
  const engine = await ctx.open();
  await engine.images.tag(ctx.params.name, `${repo}:${q.get('tag') || 'latest'}`);
  ctx.res.writeHead(201); ctx.res.end();
}

/** Removes images one by one as `rmi` does: what was untagged and deleted, and the errors. */
async function removeImages(ctx: Ctx, refs: string[], force: boolean, ignore: boolean) {
  const engine = await ctx.open();
  const report = { Deleted: [] as string[], Untagged: [] as string[], Errors: [] as string[], ExitCode: 0 };
  const failures: unknown[] = [];
  for (const ref of refs) {
    try {
      if (ignore && !(await engine.images.get(ref).catch(() => undefined))) continue;
      const r = await engine.removeImage(ref, force);
      report.Untagged.push(...r.untagged);
      if (r.deleted) report.Deleted.push(r.deleted);
    } catch (err) {
      failures.push(err);
      report.Errors.push((err as Error).message);
    }
  }
  // rmi's exit codes: 1 when an image was not known, 2 when one is in use (Podman's)
  if (failures.length) report.ExitCode = failures.some((e) => e instanceof PeapodError && e.code === 'state') ? 2 : 1;
  return { report, failures };
}

/** DELETE images/{name}?force= (ImageRemoveReport); an unknown image is a 404. */
export async function imageDelete(ctx: Ctx): Promise<void> {
  const { report, failures } = await removeImages(ctx, [ctx.params.name], qBool(ctx.url.searchParams, 'force'), false);
  if (failures.length) throw failures[0];
  const { Errors: _e, ...r } = report;
  sendJson(ctx.res, 200, r);
}

/** DELETE images/remove?images=...&force=&ignore=&all= (`podman --remote rmi`): one report, errors inside it. */
export async function imageRemove(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  let refs = q.getAll('images');
  if (qBool(q, 'all')) refs = [...refs, ...(await (await ctx.open()).images.list()).map((i) => i.id)];
  const { report } = await removeImages(ctx, refs, qBool(q, 'force'), qBool(q, 'ignore'));
  sendJson(ctx.res, 200, report);
}

/**
 * images/load: the body is an OCI or docker archive. It goes to a private file first (bounded by
 * PEAPOD_MAX_LAYER_SIZE), then loads; a client that leaves before the body ended loads nothing.
 */
export async function imageLoad(ctx: Ctx): Promise<void> {
  const { loadImages, maxUploadSize } = await import('../app/images.js');
  const { receiveUpload } = await import('./streams.js');
  const upload = await receiveUpload(ctx, await maxUploadSize());
  try {
    const names = await ctx.hold(loadImages(ctx.open, upload.file)).catch((err) => {
      // the private file's path means nothing to the client: it sent a request body
      if (err instanceof PeapodError) throw new PeapodError(err.code, err.message.split(upload.file).join('the request body'));
      throw err;
    });
    sendJson(ctx.res, 200, { Names: names });
  } finally {
    await upload.remove();
  }
}
