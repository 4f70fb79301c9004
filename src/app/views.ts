// Podman-shaped JSON views of engine records (field names as `podman ps/inspect/images` print them),
// shared by the two front ends: the CLI's --format json and the API's libpod answers.
import os from 'node:os';
import type { ContainerRecord, ImageRecord, PodRecord } from '../../engine/types.js';
import type { ContainerInspect } from './containers.js';
import type { Engine } from '../../engine/engine.js';
import { hasEnded, isReady, isRunning, neverStarted } from '../../engine/pod/status.js';

/** go-units' HumanDuration, which Podman uses for "Up 3 seconds ago", "2 minutes ago", ... */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.floor(ms / 3_600_000 + 0.5);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** Unix seconds; Go's zero time (-62135596800) when unset, as Podman prints it. */
const unix = (iso?: string) => (iso ? Math.floor(Date.parse(iso) / 1000) : -62135596800);
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Podman's STATUS text; a probed container's health and a CrashLoopBackOff/OOMKilled/HostRestarted reason are appended. */
export function containerStatusText(c: ContainerRecord, now = Date.now(), reason = ''): string {
  if (isRunning(c)) return `Up ${humanDuration(now - Date.parse(c.state.startedAt ?? c.created))} ago${probeSuffix(c)}`;
  if (hasEnded(c)) return `Exited (${c.state.exitCode}) ${humanDuration(now - Date.parse(c.state.finishedAt ?? c.created))} ago${reason === 'CrashLoopBackOff' || reason === 'OOMKilled' ? ` (${reason})` : reason === 'HostRestarted' ? ' (host restarted)' : ''}`;
  if (neverStarted(c)) return 'Created';
  return c.state.status;
}

/**
 * A probed container's health, the way Podman words a healthcheck's: starting (until its startup
 * probe passes or it is first ready), healthy (ready), unhealthy (a probe fails).
 */
export function healthOf(c: ContainerRecord): '' | 'starting' | 'healthy' | 'unhealthy' {
  if (!c.spec.probes || !isRunning(c)) return '';
  if (isReady(c)) return 'healthy';
  return c.state.probeMessage ? 'unhealthy' : 'starting';
}

function probeSuffix(c: ContainerRecord): string {
  const h = healthOf(c);
  return h ? ` (${h})` : '';
}

/** One entry of `ps --format json`; `reason` is the engine's kubectl-style reason. */
export function psView(c: ContainerRecord, podName?: string, reason = '') {
  return {
    AutoRemove: !!c.spec.autoRemove,
    Command: c.args,
    Created: unix(c.created),
    CreatedAt: `${humanDuration(Date.now() - Date.parse(c.created))} ago`,
    Exited: hasEnded(c),
    ExitedAt: unix(c.state.finishedAt),
    ExitCode: c.state.exitCode,
    Id: c.id,
    Image: c.imageName,
    ImageID: c.imageId,
    IsInfra: !!c.spec.isInfra,
    IsService: !!c.spec.isService,
    Labels: c.spec.labels ?? null,
    Mounts: (c.spec.volumes ?? []).map((v) => v.destination),
    Names: [c.name],
    Namespaces: {},
    Networks: [],
    Pid: c.state.pid,
    Pod: c.spec.pod ?? '',
    PodName: podName ?? '',
    Ports: null,
    Size: null,
    StartedAt: unix(c.state.startedAt),
    State: c.state.status,
    Status: containerStatusText(c, Date.now(), reason),
    // beyond Podman 4.3: what a kubectl user looks for
    Restarts: c.state.restartCount,
    Ready: isReady(c),
    Reason: reason,
  };
}

/**
 * The fields `ps --format '{{...}}'` sees, as Podman's ps template: `.Names` a string, `.ID` and
 * `.Pod` short unless --no-trunc, `.Command` a string, `.Labels` a map; the rest as in the JSON.
 */
export function psTemplateView(v: ReturnType<typeof psView>, trunc: boolean) {
  const short = (s: string) => (trunc ? s.slice(0, 12) : s);
  return { ...v, ID: short(v.Id), Names: v.Names.join(','), Pod: short(v.Pod), Command: v.Command.join(' '), Labels: v.Labels ?? {}, Ports: '', Mounts: v.Mounts.join(','), Networks: v.Networks.join(','), RunningFor: v.CreatedAt.replace(/ ago$/, '') };
}

/** One entry of `inspect` (container); `pod` gives its pod's network, when it has one. */
export function inspectView(engine: Engine, c: ContainerRecord, pod?: ContainerInspect['pod'], imageUser?: string) {
  const reason = engine.containers.reason(c);
  const podName = pod?.name;
  const net = isRunning(c) ? pod?.net : undefined;
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of pod?.publish ?? []) (ports[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIP, HostPort: String(p.hostPort) });
  const netInfo = net ? {
    EndpointID: '', Gateway: net.status.gateway, IPAddress: net.status.ip, IPPrefixLen: net.status.prefixLength,
    IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: net.status.mac ?? '',
  } : { EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '' };
  const p = engine.containers.paths(c.id);
  const running = isRunning(c);
  return {
    Id: c.id,
    Created: c.created,
    Path: c.args[0] ?? '',
    Args: c.args.slice(1),
    State: {
      OciVersion: '1.0.2-dev',
      Status: c.state.status,
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: c.state.oomKilled,
      Dead: false,
      Pid: c.state.pid,
      ConmonPid: c.state.conmonPid,
      ExitCode: c.state.exitCode,
      Error: c.state.error ?? '',
      StartedAt: c.state.startedAt ?? ZERO_TIME,
      FinishedAt: c.state.finishedAt ?? ZERO_TIME,
      ...(c.spec.probes ? { Health: { Status: healthOf(c), FailingStreak: c.state.probeMessage ? 1 : 0, Log: c.state.probeMessage ? [{ Output: c.state.probeMessage }] : [] } } : {}),
      // beyond Podman 4.3: the kubelet's view
      Ready: isReady(c),
      Started: isRunning(c) && (!c.spec.probes?.startup || c.state.started === true),
      Reason: reason ?? '',
      ...(c.state.lastTermination ? { LastTermination: { Reason: c.state.lastTermination.reason, ExitCode: c.state.lastTermination.exitCode, FinishedAt: c.state.lastTermination.finishedAt, Message: c.state.lastTermination.message ?? '' } } : {}),
    },
    Image: c.imageId,
    ImageName: c.imageName,
    Rootfs: '',
    Pod: c.spec.pod ?? '',
    PodName: podName ?? '',
    ResolvConfPath: running ? `${p.etc}/resolv.conf` : '',
    HostnamePath: running ? `${p.etc}/hostname` : '',
    HostsPath: running ? `${p.etc}/hosts` : '',
    StaticDir: engine.containers.staticDir(c.id),
    OCIConfigPath: `${p.bundle}/config.json`,
    OCIRuntime: c.runtime,
    ConmonPidFile: `${p.bundle}/conmon.pid`,
    PidFile: `${p.bundle}/pidfile`,
    Name: c.name,
    RestartCount: c.state.restartCount,
    Driver: 'overlay',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: [],
    GraphDriver: { Name: 'overlay', Data: { MergedDir: p.merged, UpperDir: p.upper, WorkDir: p.work } },
    Mounts: (c.spec.volumes ?? []).map((v) => ({ Type: 'bind', Source: v.source, Destination: v.destination, Driver: '', Mode: '', Options: ['rbind'], RW: !v.readOnly, Propagation: 'rprivate' })),
    Dependencies: [],
    NetworkSettings: {
      ...netInfo,
      Bridge: '', SandboxID: '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
      Ports: ports,
      SandboxKey: c.spec.pod && pod?.mode !== 'host' ? (net?.request.netnsPath ?? '') : '',
      Networks: net ? { [net.status.network]: { ...netInfo, NetworkID: net.request.network.id, Links: null, Aliases: net.request.aliases } } : undefined,
    },
    IsInfra: !!c.spec.isInfra,
    IsService: !!c.spec.isService,
    Config: {
      // a pod member has its pod's host name (the UTS namespace is the pod's); on the host network, the host's
      Hostname: c.spec.hostname ?? (pod ? (pod.mode === 'host' ? os.hostname() : pod.hostname ?? pod.name) : c.id.slice(0, 12)),
      Domainname: '',
      // as Podman: the user asked for (runAsUser[:runAsGroup], --user), else the image's USER
      User: c.spec.security?.runAsUser !== undefined
        ? `${c.spec.security.runAsUser}${c.spec.security.runAsGroup !== undefined ? `:${c.spec.security.runAsGroup}` : ''}`
        : c.spec.user ?? imageUser ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.spec.env ?? [],
      Cmd: c.spec.kube ? c.spec.kube.args ?? null : c.spec.cmd ?? null,
      Image: c.imageName,
      Volumes: null,
      WorkingDir: c.spec.workingDir ?? '/',
      Entrypoint: (c.spec.kube ? c.spec.kube.command : c.spec.entrypoint)?.join(' ') ?? '',
      OnBuild: null,
      Labels: c.spec.labels ?? null,
      Annotations: c.spec.annotations ?? {},
      StopSignal: c.spec.stopSignal ?? 15,
      CreateCommand: c.createCommand ?? [],
      StopTimeout: c.spec.stopTimeout ?? 10,
    },
    HostConfig: {
      AutoRemove: !!c.spec.autoRemove,
      Binds: (c.spec.volumes ?? []).map((v) => `${v.source}:${v.destination}:${v.readOnly ? 'ro' : 'rw'},rprivate,rbind`),
      RestartPolicy: { Name: c.spec.restart?.split(':')[0] ?? c.spec.restartPolicy ?? '', MaximumRetryCount: c.spec.restart ? c.spec.restartLimit ?? 0 : 0 },
      LogConfig: { Type: 'k8s-file', Config: null, Path: engine.containers.paths(c.id).logPath, Tag: '', Size: '0B' },
    },
  };
}

/** One entry of `images --format json`. */
export function imageListView(img: ImageRecord, containers: number) {
  return {
    Id: img.id,
    ParentId: '',
    RepoTags: img.names,
    RepoDigests: img.repoDigests,
    Size: img.size,
    SharedSize: 0,
    VirtualSize: img.size,
    Labels: img.config.config?.Labels ?? null,
    Containers: containers,
    Names: img.names,
    Digest: img.digest,
    History: img.namesHistory,
    Created: unix(img.created),
    CreatedAt: img.created,
  };
}

/** One entry of `image inspect`. */
export function imageInspectView(engine: Engine, img: ImageRecord) {
  const cfg = img.config.config ?? {};
  const layers = engine.images.layerPaths(img);
  return {
    Id: img.id,
    Digest: img.digest,
    RepoTags: img.names,
    RepoDigests: img.repoDigests,
    Parent: '',
    Comment: img.config.history?.[img.config.history.length - 1]?.comment ?? '',
    Created: img.created,
    Config: cfg,
    Version: '',
    Author: img.config.author ?? '',
    Architecture: img.config.architecture,
    Os: img.config.os,
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Name: 'overlay', Data: { LowerDir: layers.slice(1).join(':'), UpperDir: layers[0] ?? '' } },
    RootFS: { Type: 'layers', Layers: img.layers },
    Labels: cfg.Labels ?? null,
    Annotations: img.annotations ?? {},
    ManifestType: img.manifestType,
    User: cfg.User ?? '',
    History: img.config.history ?? [],
    NamesHistory: img.namesHistory,
  };
}

/** `pod ps --format json` entry (Podman's ListPodsReport); `known` are the pod's members when the caller has them. */
export async function podPsView(engine: Engine, pod: PodRecord, known?: ContainerRecord[]) {
  const members = known ?? (await engine.pods.members(pod));
  const r = engine.pods.readiness(members);
  return {
    Cgroup: engine.cfg.cgroupParent,
    Containers: members.map((c) => ({ Id: c.id, Names: c.name, Status: c.state.status })),
    Created: pod.created,
    Id: pod.id,
    InfraId: pod.infraId,
    Name: pod.name,
    Namespace: '',
    Networks: engine.pods.networkMode(pod) === 'host' ? [] : [engine.pods.networkMode(pod)],
    Status: await engine.pods.status(pod, members),
    Labels: pod.spec.labels ?? {},
    // beyond Podman 4.3: kubectl's READY, RESTARTS and status reason
    Ready: `${r.ready}/${r.total}`,
    Restarts: r.restarts,
    Reason: r.reason,
  };
}

/** `pod inspect` (Podman's InspectPodData). */
export async function podInspectView(engine: Engine, pod: PodRecord) {
  const members = await engine.pods.members(pod);
  const infra = members.find((c) => c.id === pod.infraId);
  const net = await engine.pods.networkState(pod);
  const mode = engine.pods.networkMode(pod);
  const r = engine.pods.readiness(members);
  const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of pod.spec.publish ?? []) (portBindings[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIP, HostPort: String(p.hostPort) });
  return {
    Id: pod.id,
    Name: pod.name,
    Namespace: '',
    Created: pod.created,
    CreateCommand: [],
    ExitPolicy: pod.spec.exitPolicy ?? 'continue',
    State: await engine.pods.status(pod, members),
    Hostname: engine.pods.hostnameOf(pod),
    Labels: pod.spec.labels ?? {},
    CreateCgroup: true,
    CgroupParent: engine.cfg.cgroupParent,
    CgroupPath: pod.cgroupParent,
    CreateInfra: true,
    InfraContainerID: pod.infraId,
    InfraConfig: {
      PortBindings: portBindings, HostNetwork: mode === 'host', StaticIP: net?.status.ip ?? '', StaticMAC: '', NoManageResolvConf: false,
      DNSServer: pod.spec.dnsConfig?.nameservers ?? null, DNSSearch: pod.spec.dnsConfig?.searches ?? null, DNSOption: null, NoManageHosts: false,
      HostAdd: pod.spec.hostAliases?.flatMap((a) => a.hostnames.map((h) => `${h}:${a.ip}`)) ?? null,
      Networks: mode === 'host' ? null : [mode], NetworkOptions: null, pid_ns: pod.spec.shareProcessNamespace ? 'pod' : 'private', userns: pod.spec.userns ?? 'host',
    },
    SharedNamespaces: engine.pods.sharedNamespaces(pod),
    NumContainers: members.length,
    Containers: members.map((c) => ({ Id: c.id, Name: c.name, State: c.state.status, Ready: isReady(c), RestartCount: c.state.restartCount, Reason: engine.containers.reason(c) })),
    InfraState: infra?.state.status ?? '',
    StatusReason: engine.pods.initFailure(members)?.reason ?? '',
    Ready: `${r.ready}/${r.total}`,
    Restarts: r.restarts,
    Reason: r.reason,
  };
}
