// The Docker Engine API (v1.41 subset) that the docker CLI, docker-py and testcontainers use: the
// same use cases as the CLI, answers with Docker's field names and JSON types (types.Container,
// types.ContainerJSON, types.ImageSummary, ...). Names carry Docker's leading "/".
import os from 'node:os';
import type { Ctx } from './routes.js';
import { ApiError, qBool, qInt, readJson, sendJson } from './http.js';
import { PeapodError } from '../../engine/errors.js';
import { hasEnded, isRunning, neverStarted } from '../../engine/pod/status.js';
import type { ContainerRecord, ContainerSpec, ImageRecord } from '../../engine/types.js';
import type { Engine } from '../../engine/engine.js';
import type { Opener } from '../app/engine.js';
import { DEFAULT_NETWORK, listNetworks, type NetworkConfig } from '../app/networks.js';
import { filtersOf, infoReport, storeCounts, versionReport } from './libpod.js';

const unix = (iso?: string) => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);
const ZERO = '0001-01-01T00:00:00Z';
const noContent = (ctx: Ctx, status = 204) => { ctx.res.writeHead(status); ctx.res.end(); };

export async function version({ res }: Ctx): Promise<void> {
  sendJson(res, 200, versionReport());
}

export async function info(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const i = await infoReport(engine);
  const n = await storeCounts(engine);
  sendJson(ctx.res, 200, {
    ID: '', Containers: n.containers, ContainersRunning: n.running, ContainersPaused: 0, ContainersStopped: n.stopped, Images: n.images,
    Driver: 'overlay', DriverStatus: [], Plugins: { Volume: ['local'], Network: ['bridge'], Authorization: null, Log: ['k8s-file'] },
    MemoryLimit: true, SwapLimit: false, KernelMemory: false, KernelMemoryTCP: false, CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, CPUSet: true,
    PidsLimit: true, IPv4Forwarding: true, BridgeNfIptables: true, BridgeNfIp6tables: true, Debug: false, NFd: 0, OomKillDisable: false, NGoroutines: 0,
    SystemTime: new Date().toISOString(), LoggingDriver: 'k8s-file', CgroupDriver: 'cgroupfs', NEventsListener: 0, KernelVersion: os.release(),
    OperatingSystem: i.host.distribution.distribution, OSVersion: i.host.distribution.version, OSType: 'linux', Architecture: i.host.arch === 'amd64' ? 'x86_64' : i.host.arch,
    IndexServerAddress: '', RegistryConfig: { AllowNondistributableArtifactsCIDRs: [], AllowNondistributableArtifactsHostnames: [], InsecureRegistryCIDRs: [], IndexConfigs: {}, Mirrors: [] },
    NCPU: os.cpus().length, MemTotal: os.totalmem(), GenericResources: null, DockerRootDir: i.store.graphRoot, HttpProxy: '', HttpsProxy: '', NoProxy: '',
    Name: os.hostname(), Labels: [], ExperimentalBuild: false, ServerVersion: i.version.Version,
    Runtimes: { [i.host.ociRuntime.name]: { path: i.host.ociRuntime.path } }, DefaultRuntime: i.host.ociRuntime.name,
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: false, Isolation: '', InitBinary: '', ContainerdCommit: { ID: '', Expected: '' }, RuncCommit: { ID: '', Expected: '' }, InitCommit: { ID: '', Expected: '' },
    SecurityOptions: ['name=seccomp,profile=default'], Warnings: [], CgroupVersion: i.host.cgroupVersion === 'v2' ? '2' : '1', Rootless: i.host.security.rootless,
  });
}

/** Docker's STATUS words: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created". */
async function statusText(c: ContainerRecord): Promise<string> {
  const { containerStatusText } = await import('../app/views.js');
  return containerStatusText(c).replace(/^Up (.*) ago/, 'Up $1');
}

const dockerState = (c: ContainerRecord) => (isRunning(c) ? 'running' : neverStarted(c) ? 'created' : hasEnded(c) ? 'exited' : c.state.status);

/** Container's command as Docker shows it: one string. */
const commandOf = (c: ContainerRecord) => c.args.join(' ');

export async function containerList(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const q = ctx.url.searchParams;
  const { containerFilter } = await import('../app/bulk.js');
  const filters = filtersOf(q);
  const [all, pods] = await Promise.all([engine.containers.list(), engine.pods.list()]);
  const match = containerFilter(filters, pods);
  // Docker's clients see standalone containers and pod members; infra containers are peapod's own
  let list = all.filter((c) => !c.spec.isInfra && (qBool(q, 'all') || isRunning(c)) && match(c));
  const limit = qInt(q, 'limit');
  if (limit !== undefined && limit > 0) list = list.slice(-limit);
  const out = [];
  for (const c of list) {
    out.push({
      Id: c.id, Names: [`/${c.name}`], Image: c.imageName, ImageID: c.imageId.startsWith('sha256:') ? c.imageId : `sha256:${c.imageId}`, Command: commandOf(c),
      Created: unix(c.created), Ports: [], Labels: c.spec.labels ?? {}, State: dockerState(c), Status: await statusText(c),
      HostConfig: { NetworkMode: c.spec.pod ? `container:${c.spec.pod}` : 'default' }, NetworkSettings: { Networks: {} }, Mounts: [],
    });
  }
  sendJson(ctx.res, 200, out);
}

/** The body of POST /containers/create as peapod's ContainerSpec (what is not supported is refused by name). */
export function specFromDocker(name: string, b: any): ContainerSpec {
  if (typeof b?.Image !== 'string' || !b.Image) throw new ApiError(400, 'container create: Image is required', 'invalid argument');
  const hc = b.HostConfig ?? {};
  if (b.Tty) throw new ApiError(400, 'container create: Tty is not supported by peapod (no terminal is allocated): run without -t', 'not supported');
  if (hc.Privileged) throw new ApiError(400, 'container create: HostConfig.Privileged is not served over the API', 'not supported');
  const strs = (v: unknown): string[] | undefined => (v === null || v === undefined ? undefined : Array.isArray(v) ? v.map(String) : [String(v)]);
  const volumes = (hc.Binds ?? []).map((s: string) => {
    const [source, destination, mode] = String(s).split(':');
    if (!source?.startsWith('/') || !destination) throw new ApiError(400, `container create: bind "${s}": only host paths (/src:/dst[:ro]) are supported`, 'invalid argument');
    return { source, destination, readOnly: (mode ?? '').split(',').includes('ro') };
  });
  return {
    name, image: b.Image,
    cmd: strs(b.Cmd)?.length ? strs(b.Cmd) : undefined,
    entrypoint: strs(b.Entrypoint),
    env: Array.isArray(b.Env) ? b.Env.map(String) : undefined,
    workingDir: b.WorkingDir || undefined, user: b.User || undefined, hostname: b.Hostname || undefined,
    labels: b.Labels && Object.keys(b.Labels).length ? b.Labels : undefined,
    volumes: volumes.length ? volumes : undefined,
    autoRemove: !!hc.AutoRemove,
    stopSignal: b.StopSignal || undefined, stopTimeout: typeof b.StopTimeout === 'number' ? b.StopTimeout : undefined,
  };
}

/** AutoRemove containers this service removes itself once they exited and their attach streams ended. */
const autoRemove = new Map<string, { attaches: number; removing?: Promise<void> }>();

export async function containerCreate(ctx: Ctx): Promise<void> {
  const spec = specFromDocker(ctx.url.searchParams.get('name') ?? '', await readJson(ctx.req));
  const engine = await ctx.open();
  // Docker never pulls on create: a missing image is a 404 the client answers with a pull
  const { createContainer } = await import('../app/containers.js');
  if (!(await engine.images.get(spec.image)) && !(await engine.images.get(`${spec.image}:latest`))) {
    throw new ApiError(404, `No such image: ${spec.image}`, 'no such image');
  }
  const img = (await engine.images.get(spec.image)) ?? (await engine.images.get(`${spec.image}:latest`));
  const rec = await createContainer(ctx.open, { ...spec, image: img!.names[0] ?? img!.id }, { pull: 'never' });
  if (spec.autoRemove) {
    // this service removes it (after its output was read), not the exit command
    await engine.containers.setWaiter(rec.id, process.pid);
    autoRemove.set(rec.id, { attaches: 0 });
  }
  sendJson(ctx.res, 201, { Id: rec.id, Warnings: [] });
}

/** Removes an AutoRemove container once it exited and no attach stream still reads its output. */
function removeWhenDone(open: Opener, id: string): void {
  const entry = autoRemove.get(id);
  if (!entry || entry.removing) return;
  entry.removing = (async () => {
    const engine = await open();
    const code = await engine.containers.wait(id).catch(() => undefined);
    const { recordRemovedExit } = await import('./streams.js');
    if (code !== undefined) recordRemovedExit(id, code);
    while (entry.attaches > 0) await new Promise((r) => setTimeout(r, 50));
    await engine.containers.remove(id, { force: true }).catch(() => undefined);
    autoRemove.delete(id);
  })();
}

export async function containerStart(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const c = await engine.containers.get(ctx.params.name);
  if (isRunning(c)) return noContent(ctx, 304);
  const { startContainer } = await import('../app/containers.js');
  await startContainer(ctx.open, c.id);
  if (autoRemove.has(c.id)) removeWhenDone(ctx.open, c.id);
  noContent(ctx);
}

export async function containerStop(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const c = await engine.containers.get(ctx.params.name);
  if (!isRunning(c)) return noContent(ctx, 304);
  await engine.containers.stop(c.id, qInt(ctx.url.searchParams, 't'));
  noContent(ctx);
}

export async function containerKill(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const c = await engine.containers.get(ctx.params.name);
  if (!isRunning(c)) throw new ApiError(409, `Cannot kill container: ${ctx.params.name}: Container ${c.id} is not running`, 'container state improper');
  await engine.containers.kill(c.id, ctx.url.searchParams.get('signal') || 'SIGKILL');
  noContent(ctx);
}

/** wait: the headers go at once (docker's client waits for them before it starts the container), the status once it happened. */
export async function containerWait(ctx: Ctx): Promise<void> {
  const { waitFor } = await import('./streams.js');
  const engine = await ctx.open();
  const c = await engine.containers.get(ctx.params.name);
  const condition = ctx.url.searchParams.get('condition') || 'not-running';
  if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw new ApiError(400, `wait: unknown condition "${condition}"`, 'invalid argument');
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  ctx.res.flushHeaders();
  let code = 0;
  let error: { Message: string } | null = null;
  try {
    code = await waitFor(ctx.open, c.id, condition, () => ctx.res.destroyed);
  } catch (err) {
    error = { Message: (err as Error).message };
  }
  if (!ctx.res.destroyed) ctx.res.end(JSON.stringify({ StatusCode: code, Error: error }));
}

export async function containerLogs(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const { responseSink, streamLogs } = await import('./streams.js');
  const engine = await ctx.open();
  const c = await engine.containers.get(ctx.params.name);
  if (!qBool(q, 'stdout') && !qBool(q, 'stderr')) throw new ApiError(400, 'you must choose at least one stream', 'invalid argument');
  const tailText = q.get('tail');
  const sink = responseSink(ctx);
  await streamLogs(ctx.open, c.id, sink, {
    stdout: qBool(q, 'stdout'), stderr: qBool(q, 'stderr'), follow: qBool(q, 'follow'), timestamps: qBool(q, 'timestamps'),
    tail: tailText && tailText !== 'all' && Number(tailText) >= 0 ? Number(tailText) : undefined,
  });
  sink.end();
}

/**
 * attach (for `docker run` without -d): the hijacked connection gets the container's output from
 * its start until it exits. No stdin: peapod keeps no stdin open for a container.
 */
export async function containerAttach(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const engine = await ctx.open();
  const c = await engine.containers.get(ctx.params.name);
  if (qBool(q, 'stdin') && !qBool(q, 'stream')) throw new ApiError(400, 'attach: stdin without stream is not supported', 'invalid argument');
  const { hijack, streamLogs, untilStarted } = await import('./streams.js');
  const entry = autoRemove.get(c.id);
  if (entry) entry.attaches++;
  try {
    const sink = hijack(ctx);
    if (!qBool(q, 'stream')) { sink.end(); return; }
    const started = await untilStarted(ctx.open, c.id, () => sink.closed());
    if (started && !sink.closed()) {
      await streamLogs(ctx.open, c.id, sink, { stdout: qBool(q, 'stdout'), stderr: qBool(q, 'stderr'), follow: true });
    }
    sink.end();
  } finally {
    if (entry) entry.attaches--;
  }
}

export async function containerResize(ctx: Ctx): Promise<void> {
  await (await ctx.open()).containers.get(ctx.params.name);
  noContent(ctx, 200);
}

export async function containerDelete(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const engine = await ctx.open();
  const c = await engine.containers.find(ctx.params.name);
  if (!c) throw new ApiError(404, `No such container: ${ctx.params.name}`, 'no such container');
  if (isRunning(c) && !qBool(q, 'force')) throw new ApiError(409, `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`, 'container state improper');
  const { removeContainers } = await import('../app/bulk.js');
  const r = await removeContainers(engine, [c.id], { force: qBool(q, 'force'), timeout: 0 });
  if (r.errors.length) throw r.errors[0];
  autoRemove.delete(c.id);
  noContent(ctx);
}

/** inspect (types.ContainerJSON). LogConfig says json-file: the logs endpoint serves what a json-file driver would (docker-py reads logs only for json-file and journald). */
export async function containerInspect(ctx: Ctx): Promise<void> {
  const { inspectContainer } = await import('../app/containers.js');
  const c = await inspectContainer(ctx.open, ctx.params.name);
  if (!c) throw new ApiError(404, `No such container: ${ctx.params.name}`, 'no such container');
  const engine = await ctx.open();
  sendJson(ctx.res, 200, dockerInspect(engine, c.rec, c.imageUser));
}

function dockerInspect(engine: Engine, c: ContainerRecord, imageUser?: string) {
  const running = isRunning(c);
  const p = engine.containers.paths(c.id);
  return {
    Id: c.id, Created: c.created, Path: c.args[0] ?? '', Args: c.args.slice(1),
    State: {
      Status: dockerState(c), Running: running, Paused: false, Restarting: false, OOMKilled: !!c.state.oomKilled, Dead: false,
      Pid: running ? c.state.pid ?? 0 : 0, ExitCode: c.state.exitCode ?? 0, Error: c.state.error ?? '',
      StartedAt: c.state.startedAt ?? ZERO, FinishedAt: c.state.finishedAt ?? ZERO,
    },
    Image: c.imageId.startsWith('sha256:') ? c.imageId : `sha256:${c.imageId}`,
    ResolvConfPath: '', HostnamePath: '', HostsPath: '', LogPath: p.logPath, Name: `/${c.name}`, RestartCount: c.state.restartCount ?? 0,
    Driver: 'overlay', Platform: 'linux', MountLabel: '', ProcessLabel: '', AppArmorProfile: '', ExecIDs: null,
    HostConfig: {
      Binds: (c.spec.volumes ?? []).map((v) => `${v.source}:${v.destination}${v.readOnly ? ':ro' : ''}`),
      LogConfig: { Type: 'json-file', Config: {} }, NetworkMode: c.spec.pod ? `container:${c.spec.pod}` : 'default', PortBindings: {},
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: !!c.spec.autoRemove, Privileged: !!c.spec.security?.privileged,
    },
    GraphDriver: { Name: 'overlay', Data: null }, Mounts: (c.spec.volumes ?? []).map((v) => ({ Type: 'bind', Source: v.source, Destination: v.destination, Mode: '', RW: !v.readOnly, Propagation: 'rprivate' })),
    Config: {
      Hostname: c.spec.hostname ?? c.id.slice(0, 12), Domainname: '', User: c.spec.user ?? imageUser ?? '',
      AttachStdin: false, AttachStdout: false, AttachStderr: false, ExposedPorts: {}, Tty: false, OpenStdin: false, StdinOnce: false,
      Env: c.spec.env ?? [], Cmd: c.spec.cmd ?? null, Image: c.imageName, Volumes: null, WorkingDir: c.spec.workingDir ?? '',
      Entrypoint: c.spec.entrypoint ?? null, OnBuild: null, Labels: c.spec.labels ?? {}, StopSignal: c.spec.stopSignal ?? 'SIGTERM',
    },
    NetworkSettings: { Bridge: '', SandboxID: '', HairpinMode: false, Ports: {}, SandboxKey: '', IPAddress: '', IPPrefixLen: 0, Gateway: '', MacAddress: '', Networks: {} },
  };
}

export async function execCreate(ctx: Ctx): Promise<void> {
  const { createExec } = await import('./streams.js');
  const b = await readJson(ctx.req);
  if (b.Tty) throw new ApiError(400, 'exec: Tty is not supported by peapod (no terminal is allocated): run without -t', 'not supported');
  const s = await createExec(ctx.open, ctx.params.name, b);
  sendJson(ctx.res, 201, { Id: s.id });
}

export async function execStart(ctx: Ctx): Promise<void> {
  const { execStart: start } = await import('./libpod.js');
  await start(ctx);
}

export async function execInspect(ctx: Ctx): Promise<void> {
  const { getExec, execInspectView } = await import('./streams.js');
  sendJson(ctx.res, 200, execInspectView(getExec(ctx.params.id)));
}

export async function execResize(ctx: Ctx): Promise<void> {
  const { getExec } = await import('./streams.js');
  getExec(ctx.params.id);
  noContent(ctx, 200);
}

function imageSummary(img: ImageRecord, containers: number) {
  return {
    Id: img.id.startsWith('sha256:') ? img.id : `sha256:${img.id}`, ParentId: '', RepoTags: img.names.length ? img.names : ['<none>:<none>'],
    RepoDigests: img.repoDigests ?? [], Created: unix(img.created), Size: img.size, SharedSize: -1, VirtualSize: img.size,
    Labels: img.config.config?.Labels ?? {}, Containers: containers,
  };
}

export async function imageList(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const [images, containers] = await Promise.all([engine.images.list(), engine.containers.records()]);
  sendJson(ctx.res, 200, images.map((i) => imageSummary(i, containers.filter((c) => c.imageId === i.id).length)));
}

async function findImage(engine: Engine, name: string): Promise<ImageRecord> {
  const img = (await engine.images.get(name)) ?? (/:[^/]+$|@/.test(name) ? undefined : await engine.images.get(`${name}:latest`));
  if (!img) throw new ApiError(404, `No such image: ${name}`, 'no such image');
  return img;
}

export async function imageInspect(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const img = await findImage(engine, ctx.params.name);
  const cfg = img.config.config ?? {};
  sendJson(ctx.res, 200, {
    Id: img.id.startsWith('sha256:') ? img.id : `sha256:${img.id}`, RepoTags: img.names, RepoDigests: img.repoDigests ?? [], Parent: '', Comment: '',
    Created: img.created, Container: '', ContainerConfig: {}, DockerVersion: '', Author: img.config.author ?? '', Config: cfg,
    Architecture: img.config.architecture, Os: img.config.os, Size: img.size, VirtualSize: img.size,
    GraphDriver: { Name: 'overlay', Data: null }, RootFS: { Type: 'layers', Layers: img.layers }, Metadata: { LastTagTime: ZERO },
  });
}

export async function imageDelete(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const img = await findImage(engine, ctx.params.name);
  const ref = img.names.find((n) => n === ctx.params.name || n === `${ctx.params.name}:latest`) ?? img.id;
  const r = await engine.removeImage(ref, qBool(ctx.url.searchParams, 'force'));
  sendJson(ctx.res, 200, [...r.untagged.map((Untagged) => ({ Untagged })), ...(r.deleted ? [{ Deleted: r.deleted.startsWith('sha256:') ? r.deleted : `sha256:${r.deleted}` }] : [])]);
}

/**
 * images/create = pull, with Docker's progress lines (one JSON object a line: "Pulling fs layer",
 * "Downloading" with progressDetail, "Pull complete", "Digest: ...", "Status: ..."); an error after
 * the headers is a line with errorDetail, as Docker sends it. A reference that does not parse is a
 * 400 before anything starts. A client that goes away does not cut the pull short: it ends (stored
 * whole) or fails (nothing stored), never half.
 */
export async function imageCreate(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const from = q.get('fromImage');
  if (!from) throw new ApiError(501, 'POST /images/create: only pulls (fromImage) are served, not imports (fromSrc)', 'not implemented');
  const tag = q.get('tag');
  if (!tag && !/(:[\w][\w.-]*|@sha256:[a-f0-9]{64})$/.test(from.replace(/^[^/]*\//, ''))) {
    throw new ApiError(501, `POST /images/create: pulling every tag of ${from} is not served: name a tag`, 'not implemented');
  }
  const { checkedPullReference, pullWithProgress } = await import('../app/images.js');
  let ref: string;
  try {
    ref = await checkedPullReference(tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from, { docker: true });
  } catch (err) {
    throw new ApiError(400, (err as Error).message, 'invalid reference format');
  }
  ctx.res.writeHead(200, { 'Content-Type': 'application/json' });
  ctx.res.flushHeaders();
  const line = (v: unknown) => { if (!ctx.res.destroyed) ctx.res.write(`${JSON.stringify(v)}\n`); };
  const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);
  const shown = new Map<string, { status: string; at: number }>();
  const layer = (digest: string, status: string, detail: Record<string, number> = {}, force = false) => {
    const id = short(digest);
    const last = shown.get(id);
    // Downloading lines at most every 512 KiB (as the CLI needs them to draw a bar), every other status once
    if (!force && last?.status === status && (status !== 'Downloading' || (detail.current ?? 0) - last.at < 512 * 1024)) return;
    shown.set(id, { status, at: detail.current ?? 0 });
    line({ status, progressDetail: detail, id });
  };
  // the repository's path in its registry, as Docker names it ("library/busybox", "demo/hello")
  const name = ref.slice(ref.indexOf('/') + 1).replace(/[:@][^/]*$/, '');
  line({ status: `Pulling from ${name}`, id: tag ?? ref.slice(ref.search(/[:@][^/]*$/) + 1) });
  try {
    const r = await ctx.hold(pullWithProgress(ctx.open, ref, {
      policy: 'always',
      progress: (e) => {
        if (e.type !== 'layer') return;
        if (e.status === 'present') layer(e.digest, 'Already exists');
        else if (e.status === 'downloading') {
          if (!shown.has(short(e.digest))) layer(e.digest, 'Pulling fs layer');
          layer(e.digest, 'Downloading', { current: e.current, total: e.total });
        } else if (e.status === 'unpacking') {
          layer(e.digest, 'Download complete');
          layer(e.digest, 'Extracting', { current: e.current, total: e.total });
        } else if (e.status === 'done' && shown.get(short(e.digest))?.status !== 'Already exists') layer(e.digest, 'Pull complete');
      },
    }));
    line({ status: `Digest: ${r.image.digest ?? ''}` });
    line({ status: r.updated ? `Status: Downloaded newer image for ${ref}` : `Status: Image is up to date for ${ref}` });
  } catch (err) {
    const message = (err as Error).message;
    line({ errorDetail: { message }, error: message });
  }
  ctx.res.end();
}

/** images/{name}/tag?repo=&tag= (201): the name as the client sent it (the docker CLI sends docker.io's full name; a short one is localhost's, as Podman's compat API does). */
export async function imageTag(ctx: Ctx): Promise<void> {
  const q = ctx.url.searchParams;
  const repo = q.get('repo');
  if (!repo) throw new ApiError(400, 'image tag: repo is required', 'invalid argument');
  const engine = await ctx.open();
  const img = await findImage(engine, ctx.params.name);
  await engine.images.tag(img.id, `${repo}:${q.get('tag') || 'latest'}`);
  noContent(ctx, 201);
}

/** Docker's NetworkResource of a peapod network. */
function dockerNetwork(n: NetworkConfig) {
  return {
    Name: n.name, Id: n.id, Created: n.created ?? ZERO, Scope: 'local', Driver: n.driver, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: !!n.internal, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false, Containers: {}, Options: {}, Labels: n.labels ?? {},
  };
}

export async function networkList(ctx: Ctx): Promise<void> {
  sendJson(ctx.res, 200, (await listNetworks(await ctx.open())).map(dockerNetwork));
}

/** network inspect: Docker's "bridge" (the default network, which testcontainers asks for) is peapod's default network, as Podman maps it to "podman". */
export async function networkInspect(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const name = ctx.params.name === 'bridge' ? DEFAULT_NETWORK : ctx.params.name;
  const n = await engine.networks.get(name);
  if (!n) throw new ApiError(404, `network ${ctx.params.name} not found`, 'no such network');
  sendJson(ctx.res, 200, dockerNetwork(n));
}

export async function volumeList(ctx: Ctx): Promise<void> {
  const engine = await ctx.open();
  const vols = await engine.volumes.list();
  sendJson(ctx.res, 200, { Volumes: vols.map((v) => ({ Name: v.name, Driver: 'local', Mountpoint: engine.volumes.dataDir(v.name), CreatedAt: v.created, Labels: v.labels ?? {}, Scope: 'local', Options: {} })), Warnings: [] });
}

export { PeapodError };
