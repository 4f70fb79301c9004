// The OCI runtime spec (config.json) of one container, built the way Podman 4.3.1 builds it for a
// rootful container. Pure: everything host-specific (rlimits, capabilities, pid_max) comes in
// through SpecInput, so the output is deterministic and snapshot-testable.
//
// Podman sources this follows (containers/podman v4.3.1, containers/common v0.50.1 vendored there):
//   pkg/specgen/generate/oci_linux.go        mounts, devices cgroup, privileged /sys and cgroup
//   pkg/specgen/generate/oci.go              addRlimits (RLIMIT_NOFILE/NPROC defaults)
//   pkg/specgen/generate/security_linux.go   capabilities, non-root users, sysctls
//   pkg/specgen/generate/config_linux.go     masked and read-only paths
//   pkg/specgen/generate/storage.go          user mounts supersede defaults (and /dev/* under a user /dev)
//   libpod/container_internal_common.go      HOME, HOSTNAME, umask, mounts sorted by depth
//   vendor/.../runtime-tools/generate         the base mounts and their options
//   vendor/.../common/pkg/config/default*.go  pids_limit 2048, nproc = pid_max, shm 65536k
//   /usr/share/containers/containers.conf     (Debian) 11 default capabilities, ping_group_range sysctl
import path from 'node:path';
import { invalid } from '../errors.js';
import type { ContainerSpec, ImageRuntimeConfig, Mount } from '../types.js';
import { mergeEnv } from './user.js';
import { adaptSpecForRootless, type RootlessCgroups } from '../rootless/spec.js';

export type NamespaceType = 'pid' | 'network' | 'ipc' | 'uts' | 'mount' | 'cgroup' | 'user';

export interface SpecInput {
  /** Absolute path of the mounted rootfs (overlay merged dir). */
  rootfs: string;
  readonlyRootfs?: boolean;
  /** Final argv (already resolved from entrypoint/cmd). */
  args: string[];
  /** Final env K=V. PATH is added when absent, TERM=xterm only with a terminal, HOME when user.home is
   * given, HOSTNAME (envHostname ?? hostname) when known; an entry already present is never replaced. */
  env: string[];
  /** Working directory, absolute; default "/". */
  cwd: string;
  /** `home` (as resolveUser returns it) becomes HOME when env has none, as Podman does. */
  user: { uid: number; gid: number; additionalGids?: number[]; umask?: number; home?: string };
  /** Set only when this container creates the UTS namespace (ignored when it joins one). */
  hostname?: string;
  /** Value of the HOSTNAME env var when env has none (a pod member: the pod's hostname). Default: hostname. */
  envHostname?: string;
  namespaces: Array<{ type: NamespaceType; path?: string }>;
  /** Extra mounts appended after the defaults; one whose destination equals a default's replaces it,
   * and an extra /dev drops every default under /dev (Podman's SupersedeUserMounts). */
  mounts?: Mount[];
  /** Absolute, e.g. /peapod/<podid>/<id>. */
  cgroupsPath: string;
  /** Names with or without CAP_, any case; "ALL" in add or drop. */
  capabilities?: { add?: string[]; drop?: string[] };
  /** All capabilities (of hostCapabilities), no masked/read-only paths, rw /sys and cgroup, no device cgroup deny. */
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /** Type "RLIMIT_NOFILE" or "nofile". They replace the defaults of the same type. */
  rlimits?: Array<{ type: string; soft: number; hard: number }>;
  /** The caller's hard RLIMIT_NOFILE. runc cannot raise a hard limit without CAP_SYS_RESOURCE, so a
   * limit above it is clamped to it. It also clamps every other type whose host limit is not in hostRlimits. */
  hostRlimitNofileHard?: number;
  /** The caller's hard limits by type (finite ones), e.g. parseProcLimits(/proc/self/limits). Preferred over
   * hostRlimitNofileHard: each type is clamped to its own host limit. */
  hostRlimits?: Partial<Record<string, number>>;
  /** /proc/sys/kernel/pid_max: Podman's default RLIMIT_NPROC. Default 1048576 (Podman's fallback), then clamped. */
  hostPidMax?: number;
  /** The caller's capability bounding set (e.g. boundingSetFromProcStatus(/proc/self/status)); "ALL" and
   * privileged mean these, and no capability outside it is ever requested (runc would fail). Default: every
   * capability this module knows. */
  hostCapabilities?: string[];
  annotations?: Record<string, string>;
  sysctl?: Record<string, string>;
  /** pidsLimit: undefined = Podman's default 2048; 0 or negative = no limit. */
  resources?: { memoryLimit?: number; memoryReservation?: number; cpuQuota?: number; cpuPeriod?: number; cpuShares?: number; pidsLimit?: number };
  oomScoreAdj?: number;
  /** Passed through as linux.seccomp when given. */
  seccomp?: unknown;
  /** procMount Unmasked: no masked or read-only /proc paths (Kubernetes' securityContext.procMount). */
  unmaskedProc?: boolean;
  /** Default false. */
  terminal?: boolean;
}

// ---- the emitted subset of runtime-spec 1.0.2 ----

export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface OciCapabilities {
  bounding: string[];
  effective: string[];
  inheritable: string[];
  permitted: string[];
  ambient: string[];
}

export interface OciRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface OciProcess {
  terminal: boolean;
  user: OciUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: OciCapabilities;
  rlimits: OciRlimit[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciNamespace {
  type: NamespaceType;
  path?: string;
}

export interface OciDeviceCgroup {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciResources {
  devices: OciDeviceCgroup[];
  memory?: { limit?: number; reservation?: number };
  cpu?: { shares?: number; quota?: number; period?: number };
  pids?: { limit: number };
}

export interface OciLinux {
  sysctl?: Record<string, string>;
  resources: OciResources;
  cgroupsPath: string;
  namespaces: OciNamespace[];
  seccomp?: unknown;
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

// ---- defaults ----

export const OCI_VERSION = '1.0.2-dev';
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Podman's default umask (containers.conf umask = "0022"). */
export const DEFAULT_UMASK = 0o022;
/** containers.conf pids_limit for rootful containers. */
export const DEFAULT_PIDS_LIMIT = 2048;
/** Podman's define.RLimitDefaultValue: RLIMIT_NOFILE, and RLIMIT_NPROC when pid_max is unknown. */
export const DEFAULT_RLIMIT = 1048576;

/** Every capability of Linux up to CAP_CHECKPOINT_RESTORE (40), in number order. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Podman 4.3.1's default capabilities as Debian ships them (/usr/share/containers/containers.conf;
 * the compiled-in list of containers/common v0.50.1 also has AUDIT_WRITE, MKNOD and NET_RAW). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT',
];

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/fs/selinux', '/sys/dev/block',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

/** Debian's containers.conf default_sysctls; Podman skips net.* ones when the network namespace is joined. */
export const DEFAULT_SYSCTLS: Readonly<Record<string, string>> = { 'net.ipv4.ping_group_range': '0 0' };

const RLIMIT_TYPES = new Set([
  'RLIMIT_AS', 'RLIMIT_CORE', 'RLIMIT_CPU', 'RLIMIT_DATA', 'RLIMIT_FSIZE', 'RLIMIT_LOCKS', 'RLIMIT_MEMLOCK',
  'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_NOFILE', 'RLIMIT_NPROC', 'RLIMIT_RSS', 'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME', 'RLIMIT_SIGPENDING', 'RLIMIT_STACK',
]);

const NAMESPACE_ORDER: readonly NamespaceType[] = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup', 'user'];

const SYS_OPTS = ['nosuid', 'noexec', 'nodev'];

function defaultMounts(privileged: boolean, canMountSys: boolean): OciMount[] {
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: [...SYS_OPTS] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: [...SYS_OPTS, 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: [...SYS_OPTS] },
  ];
  if (!canMountSys) {
    // A new user namespace without its own network namespace may not mount sysfs: bind the host's.
    mounts.push({ destination: '/sys', type: 'bind', source: '/sys', options: ['rprivate', ...SYS_OPTS, privileged ? 'rw' : 'ro', 'rbind'] });
    return mounts;
  }
  mounts.push(privileged
    ? { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['rprivate', ...SYS_OPTS, 'rw'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: [...SYS_OPTS, 'ro'] });
  mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['rprivate', ...SYS_OPTS, 'relatime', privileged ? 'rw' : 'ro'] });
  return mounts;
}

// ---- helpers (exported for tests and callers) ----

/** "net_raw", "CAP_NET_RAW", "Net_Raw" -> "CAP_NET_RAW"; "all" -> "ALL". Unknown names are an error. */
export function normalizeCapability(name: string): string {
  let c = name.trim().toUpperCase();
  if (c === 'ALL') return c;
  if (!c.startsWith('CAP_')) c = `CAP_${c}`;
  if (!ALL_CAPABILITIES.includes(c)) throw invalid(`unknown capability "${name}"`);
  return c;
}

/** Podman's MergeCapabilities: base plus add minus drop; "ALL" in add means every capability, "ALL" in
 * drop means only what add names; the same capability in add and drop is an error. Sorted. */
export function mergeCapabilities(base: readonly string[], add: readonly string[] = [], drop: readonly string[] = [], all: readonly string[] = ALL_CAPABILITIES): string[] {
  const b = base.map(normalizeCapability);
  const a = [...new Set(add.map(normalizeCapability))];
  const d = [...new Set(drop.map(normalizeCapability))];
  if (d.includes('ALL')) {
    if (a.includes('ALL')) throw invalid('adding all caps and removing all caps not allowed');
    return a.sort();
  }
  const both = a.find((c) => d.includes(c));
  if (both) throw invalid(`capability "${both}" cannot be dropped and added`);
  const start = a.includes('ALL') ? [...all] : b;
  const result = new Set(start.filter((c) => !d.includes(c)));
  for (const c of a) if (c !== 'ALL') result.add(c);
  return [...result].sort();
}

/** The bounding set of /proc/<pid>/status ("CapBnd:\t000001ffffffffff") as capability names. */
export function boundingSetFromProcStatus(status: string): string[] {
  const m = /^CapBnd:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  if (!m) throw invalid('no CapBnd line in process status');
  const mask = BigInt(`0x${m[1]}`);
  return ALL_CAPABILITIES.filter((_c, i) => (mask >> BigInt(i)) & 1n);
}

const PROC_LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK', 'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE', 'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE', 'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Finite hard limits of /proc/<pid>/limits by RLIMIT_ type ("unlimited" ones are left out). */
export function parseProcLimits(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const type = m ? PROC_LIMIT_NAMES[m[1]] : undefined;
    if (!m || !type || !/^\d+$/.test(m[3])) continue;
    out[type] = Number(m[3]);
  }
  return out;
}

function normalizeRlimitType(t: string): string {
  const u = t.trim().toUpperCase();
  const name = u.startsWith('RLIMIT_') ? u : `RLIMIT_${u}`;
  if (!RLIMIT_TYPES.has(name)) throw invalid(`unknown rlimit type "${t}"`);
  return name;
}

function checkId(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 32 - 1) throw invalid(`invalid ${what} ${n}: must be an integer in 0-4294967295`);
}

function cleanDest(d: string): string {
  return path.posix.normalize(d).replace(/(.)\/+$/, '$1');
}

function depth(d: string): number {
  return (cleanDest(d).match(/\//g) ?? []).length;
}

function envKey(e: string): string {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(r).sort().map((k) => [k, r[k]]));
}

// ---- the builder: one named step per part of the spec ----

export function buildOciSpec(input: SpecInput): OciSpec {
  if (!path.isAbsolute(input.rootfs)) throw invalid(`rootfs path "${input.rootfs}" is not absolute`);
  if (!input.cgroupsPath.startsWith('/')) throw invalid(`cgroups path "${input.cgroupsPath}" is not absolute`);
  if (input.args.length === 0) throw invalid('no command specified');
  const cwd = input.cwd || '/';
  if (!cwd.startsWith('/')) throw invalid(`working directory "${cwd}" is not absolute`);
  checkId('uid', input.user.uid);
  checkId('gid', input.user.gid);
  for (const g of input.user.additionalGids ?? []) checkId('gid', g);

  const privileged = input.privileged ?? false;
  const terminal = input.terminal ?? false;

  const namespaces = specNamespaces(input.namespaces);
  const nsOf = (t: NamespaceType) => namespaces.find((n) => n.type === t);
  const ownUts = nsOf('uts') !== undefined && nsOf('uts')?.path === undefined;
  const net = nsOf('network');
  const ownNet = net !== undefined && net.path === undefined;
  const canMountSys = nsOf('user') === undefined || ownNet;

  // Sysctls: Debian's default ping_group_range where this container owns its network namespace.
  const sysctl: Record<string, string> = {};
  if (ownNet) Object.assign(sysctl, DEFAULT_SYSCTLS);
  Object.assign(sysctl, input.sysctl ?? {});

  const proc: OciProcess = {
    terminal,
    user: {
      uid: input.user.uid,
      gid: input.user.gid,
      umask: input.user.umask ?? DEFAULT_UMASK,
      ...(input.user.additionalGids?.length ? { additionalGids: [...new Set(input.user.additionalGids)] } : {}),
    },
    args: [...input.args],
    env: specEnv(input, terminal),
    cwd,
    capabilities: specCapabilities(input, privileged),
    rlimits: specRlimits(input),
  };
  if (input.noNewPrivileges) proc.noNewPrivileges = true;
  if (input.oomScoreAdj !== undefined) {
    if (!Number.isInteger(input.oomScoreAdj) || input.oomScoreAdj < -1000 || input.oomScoreAdj > 1000) throw invalid(`invalid oom score adjustment ${input.oomScoreAdj}: must be in -1000-1000`);
    proc.oomScoreAdj = input.oomScoreAdj;
  }

  const linux: OciLinux = {
    ...(Object.keys(sysctl).length > 0 ? { sysctl: sortedRecord(sysctl) } : {}),
    resources: specResources(input.resources ?? {}, privileged),
    cgroupsPath: input.cgroupsPath,
    namespaces,
    ...(input.seccomp !== undefined ? { seccomp: input.seccomp } : {}),
    ...(privileged || input.unmaskedProc ? {} : { maskedPaths: [...DEFAULT_MASKED_PATHS], readonlyPaths: [...DEFAULT_READONLY_PATHS] }),
  };

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: proc,
    root: input.readonlyRootfs ? { path: input.rootfs, readonly: true } : { path: input.rootfs },
    ...(ownUts && input.hostname ? { hostname: input.hostname } : {}),
    mounts: specMounts(input.mounts ?? [], privileged, canMountSys),
    ...(input.annotations && Object.keys(input.annotations).length > 0 ? { annotations: sortedRecord(input.annotations) } : {}),
    linux,
  };
  return spec;
}

/** Namespaces: canonical order, no duplicates, paths absolute. */
function specNamespaces(given: SpecInput['namespaces']): OciNamespace[] {
  const seen = new Set<string>();
  for (const ns of given) {
    if (!NAMESPACE_ORDER.includes(ns.type)) throw invalid(`unknown namespace type "${String(ns.type)}"`);
    if (seen.has(ns.type)) throw invalid(`namespace "${ns.type}" given twice`);
    seen.add(ns.type);
    if (ns.path !== undefined && !ns.path.startsWith('/')) throw invalid(`${ns.type} namespace path "${ns.path}" is not absolute`);
  }
  return [...given]
    .sort((a, b) => NAMESPACE_ORDER.indexOf(a.type) - NAMESPACE_ORDER.indexOf(b.type))
    .map((ns) => (ns.path ? { type: ns.type, path: ns.path } : { type: ns.type }));
}

/** Env: the given order, then what is missing. */
function specEnv(input: SpecInput, terminal: boolean): string[] {
  const env = [...input.env];
  const has = (k: string) => env.some((e) => envKey(e) === k);
  if (!has('PATH')) env.push(DEFAULT_PATH);
  if (terminal && !has('TERM')) env.push('TERM=xterm');
  if (input.user.home && !has('HOME')) env.push(`HOME=${input.user.home}`);
  const envHostname = input.envHostname ?? input.hostname;
  if (envHostname && !has('HOSTNAME')) env.push(`HOSTNAME=${envHostname}`);
  return env;
}

function specCapabilities(input: SpecInput, privileged: boolean): OciCapabilities {
  const hostCaps = input.hostCapabilities ? [...new Set(input.hostCapabilities.map(normalizeCapability))].filter((c) => c !== 'ALL') : [...ALL_CAPABILITIES];
  const inHost = (c: string) => hostCaps.includes(c);
  const bounding = privileged
    ? [...hostCaps].sort()
    : mergeCapabilities(DEFAULT_CAPABILITIES, input.capabilities?.add, input.capabilities?.drop, hostCaps).filter(inHost);
  if (input.user.uid === 0) {
    return { bounding, effective: [...bounding], inheritable: [], permitted: [...bounding], ambient: [] };
  }
  // A non-root process gets only the capabilities added explicitly, and keeps them across exec
  // through the ambient set (Podman's rule), never more than the bounding set allows.
  const added = (input.capabilities?.add ?? []).map(normalizeCapability);
  const userCaps = (added.includes('ALL') ? [...hostCaps] : [...new Set(added)]).filter((c) => bounding.includes(c)).sort();
  return { bounding, effective: userCaps, inheritable: [...userCaps], permitted: [...userCaps], ambient: [...userCaps] };
}

/** Rlimits: the given ones, then NOFILE and NPROC defaults, each clamped to the host's hard limit. */
function specRlimits(input: SpecInput): OciRlimit[] {
  const rlimits: OciRlimit[] = [];
  for (const r of input.rlimits ?? []) {
    const type = normalizeRlimitType(r.type);
    if (!Number.isSafeInteger(r.soft) || !Number.isSafeInteger(r.hard) || r.soft < 0 || r.hard < 0) throw invalid(`invalid ${type} limits ${r.soft}:${r.hard}`);
    if (r.soft > r.hard) throw invalid(`${type} soft limit ${r.soft} is greater than the hard limit ${r.hard}`);
    const i = rlimits.findIndex((x) => x.type === type);
    if (i >= 0) rlimits[i] = { type, hard: r.hard, soft: r.soft };
    else rlimits.push({ type, hard: r.hard, soft: r.soft });
  }
  if (!rlimits.some((r) => r.type === 'RLIMIT_NOFILE')) rlimits.push({ type: 'RLIMIT_NOFILE', hard: DEFAULT_RLIMIT, soft: DEFAULT_RLIMIT });
  if (!rlimits.some((r) => r.type === 'RLIMIT_NPROC')) {
    const n = input.hostPidMax ?? DEFAULT_RLIMIT;
    rlimits.push({ type: 'RLIMIT_NPROC', hard: n, soft: n });
  }
  for (const r of rlimits) {
    const max = input.hostRlimits?.[r.type] ?? input.hostRlimitNofileHard;
    if (max !== undefined && r.hard > max) {
      r.hard = max;
      r.soft = Math.min(r.soft, max);
    }
  }
  return rlimits;
}

/**
 * Mounts: defaults, superseded by extras with the same destination (and /dev/* by an extra /dev),
 * then the extras; sorted by depth (stable) so no mount hides one below it.
 */
function specMounts(given: Mount[], privileged: boolean, canMountSys: boolean): OciMount[] {
  const extras = given.map((m) => ({ destination: cleanDest(m.destination), type: m.type, source: m.source, options: [...m.options] }));
  const extraDests = new Set<string>();
  for (const m of extras) {
    if (!m.destination.startsWith('/')) throw invalid(`mount destination "${m.destination}" is not absolute`);
    if (extraDests.has(m.destination)) throw invalid(`duplicate mount destination "${m.destination}"`);
    extraDests.add(m.destination);
  }
  const defaults = defaultMounts(privileged, canMountSys)
    .filter((m) => !extraDests.has(m.destination) && !(extraDests.has('/dev') && m.destination.startsWith('/dev/')));
  return [...defaults, ...extras]
    .map((m, i) => ({ m, i, d: depth(m.destination) }))
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .map((x) => x.m);
}

function specResources(res: NonNullable<SpecInput['resources']>, privileged: boolean): OciResources {
  const resources: OciResources = { devices: [{ allow: privileged, access: 'rwm' }] };
  const posInt = (what: string, v: number | undefined) => {
    if (v === undefined) return undefined;
    if (!Number.isSafeInteger(v) || v <= 0) throw invalid(`invalid ${what} ${v}`);
    return v;
  };
  const memLimit = posInt('memory limit', res.memoryLimit);
  const memRes = posInt('memory reservation', res.memoryReservation);
  if (memLimit !== undefined && memRes !== undefined && memRes > memLimit) throw invalid(`memory reservation ${memRes} is greater than the memory limit ${memLimit}`);
  if (memLimit !== undefined || memRes !== undefined) {
    resources.memory = {};
    if (memLimit !== undefined) resources.memory.limit = memLimit;
    if (memRes !== undefined) resources.memory.reservation = memRes;
  }
  const shares = posInt('cpu shares', res.cpuShares);
  const quota = posInt('cpu quota', res.cpuQuota);
  const period = posInt('cpu period', res.cpuPeriod);
  if (shares !== undefined || quota !== undefined || period !== undefined) {
    resources.cpu = {};
    if (shares !== undefined) resources.cpu.shares = shares;
    if (quota !== undefined) resources.cpu.quota = quota;
    if (period !== undefined) resources.cpu.period = period;
  }
  const pids = res.pidsLimit ?? DEFAULT_PIDS_LIMIT;
  if (!Number.isSafeInteger(pids)) throw invalid(`invalid pids limit ${pids}`);
  if (pids > 0) resources.pids = { limit: pids };
  return resources;
}

// ---- a container's spec from the facts gathered before it starts (Containers.start) ----

/** What a pod gives each of its containers (made once per start by Pods, passed down; never fetched back). */
export interface PodContext {
  namespaces: SpecInput['namespaces'];
  hostname?: string;            // set only for the container that creates the UTS namespace
  /** the pod's host name, the HOSTNAME of every member */
  envHostname: string;
  mounts?: Mount[];
  cgroupParent: string;         // e.g. /peapod/<podid>
  /** the pod's address, when it has one on a bridge network */
  podIP?: string;
  etcFiles: EtcFiles;
  /** host paths of the pod's volumes by name (PodSpec.volumes) */
  volumes?: Record<string, string>;
  /** volumes mounted read-only whatever the mount says (persistentVolumeClaim readOnly, configMap, secret, downwardAPI) */
  readOnlyVolumes?: string[];
  /** the pod's name, for messages */
  podName?: string;
  /** the kubelet's Service variables (NAME_SERVICE_HOST=...), before the container's own env */
  serviceEnv?: string[];
}

/** Host paths of the files bound over /etc/hosts, /etc/hostname and /etc/resolv.conf. */
export interface EtcFiles { hosts: string; hostname: string; resolvConf: string }

/** Everything known about a container before its spec is built; gathered by Containers.start. */
export interface ContainerFacts {
  id: string;
  name: string;
  spec: ContainerSpec;
  args: string[];
  image: Pick<ImageRuntimeConfig, 'Env' | 'WorkingDir'>;
  rootfs: string;
  /** the user, securityContext rules applied (resolveContainerUser) */
  user: { uid: number; gid: number; additionalGids: number[]; home: string };
  pod?: PodContext;
  /** a standalone container's host name */
  hostname: string;
  etcFiles: EtcFiles;
  /** the container's volumeMounts, their sources resolved (engine/volume/mounts.ts) */
  volumeMounts: Mount[];
  /** env resolved at start, never stored: `before` yields to the container's own env, `after` does not */
  startEnv: { before: string[]; after: string[] };
  seccomp?: unknown;
  cgroupPath: string;
  host: Pick<SpecInput, 'hostRlimitNofileHard' | 'hostRlimits' | 'hostPidMax' | 'hostCapabilities'>;
  /** set when peapod runs rootless: the spec is adapted to the user's namespace */
  rootless?: { cgroups: RootlessCgroups; ids: { uid: number; gid: number; size: number } };
}

/** Podman's --systemd=always: the container's ID as systemd's container_uuid (its first 32 characters). */
function systemdEnv(f: ContainerFacts): string[] {
  return f.spec.systemd === 'always' ? [`container_uuid=${f.id.slice(0, 32)}`] : [];
}

/** The OCI spec of a container: pure, from its facts. */
export function containerSpec(f: ContainerFacts): OciSpec {
  const sec = f.spec.security ?? {};
  const spec = buildOciSpec({
    rootfs: f.rootfs,
    args: f.args,
    env: mergeEnv(f.image.Env ?? [], [...f.startEnv.before, ...(f.spec.env ?? []), ...f.startEnv.after, ...systemdEnv(f)]),
    cwd: f.spec.workingDir || f.image.WorkingDir || '/',
    user: f.user,
    hostname: f.pod ? f.pod.hostname : f.hostname,
    envHostname: f.pod ? f.pod.envHostname : f.hostname,
    namespaces: f.pod?.namespaces ?? [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
    mounts: containerMounts(f),
    cgroupsPath: f.cgroupPath,
    ...f.host,
    resources: f.spec.isInfra ? { pidsLimit: 0 } : cgroupResources(f.spec.resources),
    readonlyRootfs: sec.readOnlyRootFilesystem,
    privileged: sec.privileged,
    capabilities: sec.capAdd || sec.capDrop ? { add: sec.capAdd, drop: sec.capDrop } : undefined,
    noNewPrivileges: sec.allowPrivilegeEscalation === false,
    sysctl: sec.sysctls,
    unmaskedProc: sec.procMount === 'Unmasked',
    seccomp: f.seccomp,
    annotations: { 'io.peapod.container.name': f.name },
  });
  if (f.rootless) adaptSpecForRootless(spec, f.rootless.cgroups, f.rootless.ids);
  return spec;
}

/** A container's own mounts, in order: /etc files, --volume binds, the pod's (shm), its volumeMounts. */
function containerMounts(f: ContainerFacts): Mount[] {
  const bind = (source: string, destination: string): Mount => ({ destination, type: 'bind', source, options: ['rbind', 'rprivate'] });
  return [
    bind(f.etcFiles.hosts, '/etc/hosts'), bind(f.etcFiles.hostname, '/etc/hostname'), bind(f.etcFiles.resolvConf, '/etc/resolv.conf'),
    ...(f.spec.volumes ?? []).map((v): Mount => ({ destination: v.destination, type: 'bind', source: v.source, options: ['rbind', v.readOnly ? 'ro' : 'rw'] })),
    ...(f.pod?.mounts ?? []),
    ...f.volumeMounts,
  ];
}

/** Kubernetes limits/requests as cgroup settings: cpu quota over a 100 ms period, shares from the request. */
export function cgroupResources(r: ContainerSpec['resources']): SpecInput['resources'] {
  if (!r) return undefined;
  const out: NonNullable<SpecInput['resources']> = {};
  if (r.memoryLimit !== undefined) out.memoryLimit = Math.floor(r.memoryLimit);
  if (r.memoryRequest !== undefined && r.memoryRequest !== r.memoryLimit) out.memoryReservation = Math.floor(r.memoryRequest);
  if (r.cpuLimit !== undefined) { out.cpuPeriod = 100_000; out.cpuQuota = Math.max(1000, Math.round(r.cpuLimit * 100_000)); }
  if (r.cpuRequest !== undefined) out.cpuShares = Math.max(2, Math.round(r.cpuRequest * 1024));
  if (r.pidsLimit !== undefined) out.pidsLimit = r.pidsLimit;
  return out;
}
