// generate: engine records -> Kubernetes objects -> YAML. Pure: the caller reads the records (and
// the image configs) and gets back plain objects, warnings and text, so every mapping rule is
// unit-testable without processes.
//
// The output is meant to replay: `play kube` of what this writes gives pods that behave the same and
// generate the same YAML again (a fixed point). So defaults that play kube fills in are left out
// (restartPolicy Always, terminationGracePeriodSeconds 30, protocol TCP, command/args equal to the
// image's), and nothing that is not the user's goes in (no timestamps, ids or peapod-internal
// annotations).
//
// Each field is one small mapping in a table (POD_SPEC_FIELDS, CONTAINER_FIELDS, ...): a field that
// play kube learns later gets one more row here.
import { stringify } from 'yaml';
import type { ContainerRecord, ImageRuntimeConfig, PodRecord } from '../../engine/types.js';
import { resolveKubeArgs } from '../../engine/runtime/command.js';

type Obj = Record<string, unknown>;

export type KubeType = 'pod' | 'deployment' | 'daemonset' | 'job';
export const KUBE_TYPES: readonly KubeType[] = ['pod', 'deployment', 'daemonset', 'job'];

/** What to generate from: pods with their member containers, standalone containers, image configs. */
export interface KubeSources {
  /** pods and their members (the infra container may be included: it is skipped) */
  pods: Array<{ pod: PodRecord; members: ContainerRecord[] }>;
  /** containers that belong to no pod: together they become one pod `<first>-pod` */
  containers?: ContainerRecord[];
  /** the runtime config of an image by ID (undefined when the image is gone) */
  image(id: string): ImageRuntimeConfig | undefined;
}

export interface GenerateKubeOptions {
  /** kind of the top-level objects: v1 Pod (default), apps/v1 Deployment or DaemonSet, batch/v1 Job */
  type?: KubeType;
  /** replicas of a Deployment; default: the number of its pods found (1 for a single pod) */
  replicas?: number;
  /** also a v1 Service (type NodePort) per pod for its published ports */
  service?: boolean;
  /**
   * Write secret values (Secret data, env taken from secrets). peapod keeps no secrets yet, so this
   * changes nothing today; without it, secret values must never appear in the output.
   */
  includeSecrets?: boolean;
}

export interface GenerateKubeResult {
  objects: Obj[];
  /** what could not be expressed or was changed to be valid (one line each, for stderr) */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const isEmpty = (v: unknown): boolean =>
  v === undefined || v === null || (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as Obj).length === 0);

/** A field table: [key, value-of] rows in output order. */
type Fields<C> = ReadonlyArray<readonly [string, (ctx: C) => unknown]>;

/** Builds an object from a field table, in table order, leaving out empty values. */
function build<C>(fields: Fields<C>, ctx: C): Obj {
  const out: Obj = {};
  for (const [key, get] of fields) {
    const v = get(ctx);
    if (!isEmpty(v)) out[key] = v;
  }
  return out;
}

const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const nonEmpty = (a: string[] | undefined | null): string[] | undefined => (a && a.length ? a : undefined);

/** A lower-case RFC 1123 label (container, volume, port names): at most 63 characters. */
export function dns1123Label(s: string, max = 63): string {
  let out = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-{2,}/g, '-').replace(/^-+|-+$/g, '');
  if (out.length > max) out = out.slice(0, max).replace(/-+$/, '');
  return out;
}

/** A lower-case RFC 1123 subdomain (object names): labels joined by dots, at most 253 characters. */
export function dns1123Subdomain(s: string): string {
  const out = s.split('.').map((l) => dns1123Label(l)).filter(Boolean).join('.');
  return out.length > 253 ? out.slice(0, 253).replace(/[-.]+$/, '') : out;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A label or annotation key Kubernetes accepts: [prefix/]name. */
export function isQualifiedKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !(prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name);
}

/**
 * Annotations that are bookkeeping, not the user's: peapod's own, and what other engines write
 * into the YAML they generate (CRI-O and Podman keys, kubectl's last-applied copy).
 */
const NOISE_ANNOTATION = [/^io\.peapod\./, /^peapod\.io\//, /^io\.kubernetes\.cri-o\./, /^io\.podman\.annotations\./,
  /^io\.container\.manager$/, /^kubectl\.kubernetes\.io\/last-applied-configuration$/];

function userAnnotations(a: Record<string, string> | undefined, what: string, warn: (m: string) => void): Record<string, string> | undefined {
  if (!a) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) {
    if (NOISE_ANNOTATION.some((re) => re.test(k))) continue;
    if (!isQualifiedKey(k)) { warn(`${what}: annotation "${k}" is not a valid Kubernetes key: left out`); continue; }
    out[k] = v;
  }
  return out;
}

function validLabels(l: Record<string, string> | undefined, what: string, warn: (m: string) => void): Record<string, string> | undefined {
  if (!l) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(l)) {
    if (!isQualifiedKey(k) || v.length > 63 || !LABEL_VALUE.test(v)) { warn(`${what}: label "${k}=${v}" is not a valid Kubernetes label: left out`); continue; }
    out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// command / args

/** An ENTRYPOINT of [""] (or none) means no entrypoint, as in engine/runtime/command.ts. */
function entrypointOf(image: ImageRuntimeConfig): string[] {
  const ep = image.Entrypoint;
  return !ep || (ep.length === 1 && ep[0] === '') ? [] : ep;
}

export interface KubeCommand { command?: string[]; args?: string[] }

/**
 * Kubernetes command/args that give exactly `argv` with this image (Kubernetes semantics: command
 * replaces ENTRYPOINT and drops CMD, args replaces CMD), written only where they differ from the
 * image. `hint` is how the user split it (Kubernetes command/args, or run's --entrypoint and command
 * mapped onto them): kept when it is already minimal, so the YAML reads as the user wrote it.
 */
export function kubeCommandFor(argv: readonly string[], image: ImageRuntimeConfig | undefined, hint: KubeCommand = {}): KubeCommand {
  const h: KubeCommand = { command: nonEmpty(hint.command), args: nonEmpty(hint.args) };
  const clean = (k: KubeCommand): KubeCommand => build<KubeCommand>([['command', (x) => x.command], ['args', (x) => x.args]], k) as KubeCommand;
  if (!image) return clean(h.command || h.args ? h : { command: [...argv] });
  const gives = (k: KubeCommand): boolean => {
    try {
      return same(resolveKubeArgs(image, k), argv);
    } catch {
      return false;
    }
  };
  if (gives({})) return {};
  const ep = entrypointOf(image);
  const candidates: KubeCommand[] = [];
  if (h.command && h.args && ep.length && same(h.command, ep)) candidates.push({ args: h.args }); // command = the image's: redundant
  if (h.command || h.args) candidates.push(h);
  if (ep.length && argv.length > ep.length && same(argv.slice(0, ep.length), ep)) candidates.push({ args: argv.slice(ep.length) });
  candidates.push({ command: [...argv] });
  return clean(candidates.find(gives) ?? { command: [...argv] });
}

/** How a container made by `run` split its process: --entrypoint and the command, as command/args. */
function hintOf(c: ContainerRecord): KubeCommand {
  if (c.spec.kube) return c.spec.kube;
  const ep = c.spec.entrypoint;
  const cmd = nonEmpty(c.spec.cmd);
  if (ep === undefined) return { args: cmd };
  const epArgs = ep.length === 1 && ep[0] === '' ? [] : ep;
  return epArgs.length ? { command: epArgs, args: cmd } : { command: cmd };
}

// ---------------------------------------------------------------------------------------------
// Containers

type PortSpec = NonNullable<ContainerRecord['spec']['ports']>[number];
type Mapping = NonNullable<PodRecord['spec']['publish']>[number];

interface CtrCtx {
  c: ContainerRecord;
  name: string;
  /** the container's ports, with the pod's published ports folded in */
  ports: PortSpec[] | undefined;
  image: ImageRuntimeConfig | undefined;
  cmd: KubeCommand;
  /** volume name for each bind mount source (shared by the pod) */
  volumeName: (source: string) => string;
  warn: (m: string) => void;
}

const SIGNALS = ['SIGABRT', 'SIGALRM', 'SIGBUS', 'SIGCHLD', 'SIGCONT', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINT', 'SIGIO', 'SIGKILL',
  'SIGPIPE', 'SIGPROF', 'SIGPWR', 'SIGQUIT', 'SIGSEGV', 'SIGSTKFLT', 'SIGSTOP', 'SIGSYS', 'SIGTERM', 'SIGTRAP', 'SIGTSTP',
  'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGUSR1', 'SIGUSR2', 'SIGVTALRM', 'SIGWINCH', 'SIGXCPU', 'SIGXFSZ'];
// Linux x86/arm signal numbers 1..31 in order
const SIGNAL_BY_NUMBER = ['', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL', 'SIGUSR1',
  'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN',
  'SIGTTOU', 'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS'];

/** SIGUSR1 from "usr1", "SIGUSR1" or "10"; undefined when it has no Kubernetes name. */
export function signalName(sig: string): string | undefined {
  const s = sig.trim().toUpperCase();
  if (/^\d+$/.test(s)) return SIGNAL_BY_NUMBER[Number(s)] || undefined;
  const n = s.startsWith('SIG') ? s : `SIG${s}`;
  return SIGNALS.includes(n) ? n : undefined;
}

function stopSignalOf(x: CtrCtx): string | undefined {
  const s = x.c.spec.stopSignal;
  if (!s) return undefined;
  const name = signalName(s);
  if (!name) { x.warn(`container ${x.name}: stop signal "${s}" has no Kubernetes name: left out`); return undefined; }
  const imageSignal = x.image?.StopSignal ? signalName(x.image.StopSignal) : 'SIGTERM';
  return name === imageSignal ? undefined : name;
}

function envOf(x: CtrCtx): Obj[] | undefined {
  return x.c.spec.env?.map((e) => {
    const i = e.indexOf('=');
    const name = i < 0 ? e : e.slice(0, i);
    const value = i < 0 ? '' : e.slice(i + 1);
    return value === '' ? { name } : { name, value };
  });
}

function workingDirOf(x: CtrCtx): string | undefined {
  const wd = x.c.spec.workingDir;
  return wd && wd !== x.image?.WorkingDir ? wd : undefined;
}

function portsOf(x: CtrCtx): Obj[] | undefined {
  return x.ports?.map((p) => {
    const protocol = (p.protocol ?? 'TCP').toUpperCase();
    return build<typeof p>([
      ['containerPort', (q) => q.containerPort],
      ['hostPort', (q) => q.hostPort || undefined],
      ['hostIP', (q) => q.hostIP || undefined],
      ['protocol', () => (protocol === 'TCP' ? undefined : protocol)],
      ['name', (q) => q.name || undefined],
    ], p);
  });
}

function volumeMountsOf(x: CtrCtx): Obj[] | undefined {
  return x.c.spec.volumes?.map((v) => build<typeof v>([
    ['name', (m) => x.volumeName(m.source)],
    ['mountPath', (m) => m.destination],
    ['readOnly', (m) => (m.readOnly ? true : undefined)],
  ], v));
}

/** runAsUser/runAsGroup from a numeric user ("1000" or "1000:1000"); names cannot be written. */
function securityContextOf(x: CtrCtx): Obj | undefined {
  const u = x.c.spec.user;
  if (!u || u === x.image?.User) return undefined;
  const m = /^(\d+)(?::(\d+))?$/.exec(u);
  if (!m) {
    x.warn(`container ${x.name}: user "${u}" is not numeric: Kubernetes takes a UID (securityContext.runAsUser), left out`);
    return undefined;
  }
  return build<RegExpExecArray>([['runAsUser', (r) => Number(r[1])], ['runAsGroup', (r) => (r[2] === undefined ? undefined : Number(r[2]))]], m);
}

function lifecycleOf(x: CtrCtx): Obj | undefined {
  const stopSignal = stopSignalOf(x);
  return stopSignal ? { stopSignal } : undefined;
}

/** A container's fields, in output order. */
const CONTAINER_FIELDS: Fields<CtrCtx> = [
  ['name', (x) => x.name],
  ['image', (x) => imageRef(x.c)],
  ['command', (x) => x.cmd.command],
  ['args', (x) => x.cmd.args],
  ['env', envOf],
  ['workingDir', workingDirOf],
  ['ports', portsOf],
  ['volumeMounts', volumeMountsOf],
  ['securityContext', securityContextOf],
  ['lifecycle', lifecycleOf],
];

/** The image as the user named it; the resolved name when the user gave an image ID. */
function imageRef(c: ContainerRecord): string {
  const given = c.spec.image;
  const isId = /^(sha256:)?[0-9a-f]{12,64}$/.test(given);
  return isId && c.imageName && !/^(sha256:)?[0-9a-f]{64}$/.test(c.imageName) ? c.imageName : given;
}

/** The container's name inside the pod: as written in the YAML, else its name without `<pod>-`. */
export function kubeContainerName(c: ContainerRecord, podName?: string): string {
  if (c.spec.kubeName) return c.spec.kubeName;
  return dns1123Label(withoutPodPrefix(c, podName)) || 'container';
}

function withoutPodPrefix(c: ContainerRecord, podName?: string): string {
  const n = c.name;
  return podName && n.startsWith(`${podName}-`) && n.length > podName.length + 1 ? n.slice(podName.length + 1) : n;
}

// ---------------------------------------------------------------------------------------------
// Pods

interface PodCtx {
  name: string;
  pod?: PodRecord;
  containers: Obj[];
  volumes: Obj[];
  members: ContainerRecord[];
  usesStopSignal: boolean;
  hostname?: string;
  kind: 'Pod' | 'Deployment' | 'DaemonSet' | 'Job';
  warn: (m: string) => void;
}

function restartPolicyOf(x: PodCtx): string | undefined {
  // Containers made by `run` do not restart: Never is what they do. Play kube's default is Always.
  let p = x.pod?.spec.restartPolicy ?? x.members.find((c) => c.spec.restartPolicy)?.spec.restartPolicy ?? 'Never';
  if (x.kind === 'Deployment' || x.kind === 'DaemonSet') {
    if (p !== 'Always') x.warn(`pod ${x.name}: restartPolicy ${p} is not allowed in a ${x.kind}: Always`);
    return undefined;
  }
  if (x.kind === 'Job' && p === 'Always') p = 'OnFailure';
  return p === 'Always' ? undefined : p;
}

function gracePeriodOf(x: PodCtx): number | undefined {
  // play kube records 30 (the Kubernetes default) when unset; a pod made by hand stops its
  // containers with their stop timeout (10 s unless set).
  const t = x.pod?.spec.terminationGracePeriodSeconds ??
    Math.max(...(x.members.length ? x.members.map((c) => c.spec.stopTimeout ?? 10) : [10]));
  return t === 30 ? undefined : t;
}

/** A pod's spec fields, in output order. */
const POD_SPEC_FIELDS: Fields<PodCtx> = [
  ['hostname', (x) => (x.hostname && x.hostname !== x.name ? x.hostname : undefined)],
  ['hostNetwork', (x) => (x.pod?.spec.hostNetwork ? true : undefined)],
  ['shareProcessNamespace', (x) => (x.pod?.spec.shareProcessNamespace ? true : undefined)],
  ['restartPolicy', restartPolicyOf],
  ['terminationGracePeriodSeconds', gracePeriodOf],
  ['dnsPolicy', (x) => x.pod?.spec.dnsPolicy],
  ['dnsConfig', (x) => x.pod?.spec.dnsConfig],
  ['hostAliases', (x) => x.pod?.spec.hostAliases],
  ['os', (x) => (x.usesStopSignal ? { name: 'linux' } : undefined)], // required with lifecycle.stopSignal
  ['containers', (x) => x.containers],
  ['volumes', (x) => x.volumes],
];

/** Members in the order of the YAML the pod was played from, else in order of creation. */
function orderMembers(pod: PodRecord | undefined, members: ContainerRecord[]): ContainerRecord[] {
  const list = members.filter((c) => !c.spec.isInfra);
  const obj = pod?.spec.kube?.object as any;
  const tmpl = obj?.kind === 'Pod' ? obj?.spec : obj?.spec?.template?.spec;
  const order: string[] = Array.isArray(tmpl?.containers) ? tmpl.containers.map((c: any) => String(c?.name)) : [];
  const rank = (c: ContainerRecord) => {
    const i = c.spec.kubeName ? order.indexOf(c.spec.kubeName) : -1;
    return i < 0 ? order.length : i;
  };
  return [...list].sort((a, b) => rank(a) - rank(b) || a.created.localeCompare(b.created) || a.name.localeCompare(b.name));
}

/**
 * The containers' ports with the pod's published ports folded in, so that replaying gives the same
 * mappings (Kubernetes has ports only on containers): a mapping sets the hostPort of the container
 * port it forwards to (play kube's --publish may have changed it); a mapping to a port no container
 * declares (`pod create -p`, --publish) becomes a port of the first container.
 */
export function foldPublished(members: ReadonlyArray<{ ports?: PortSpec[] }>, publish: readonly Mapping[] | undefined): Array<PortSpec[] | undefined> {
  const out = members.map((m) => m.ports?.map((p) => ({ ...p })));
  if (!publish?.length || !members.length) return out;
  const remaining = [...publish];
  const proto = (p?: string) => (p ?? 'tcp').toLowerCase();
  for (const ports of out) {
    for (const p of ports ?? []) {
      const match = (m: Mapping) => m.containerPort === p.containerPort && proto(m.protocol) === proto(p.protocol);
      let i = remaining.findIndex((m) => match(m) && m.hostPort === p.hostPort);
      if (i < 0) i = remaining.findIndex(match);
      if (i < 0) continue;
      const [m] = remaining.splice(i, 1);
      p.hostPort = m.hostPort;
      if (m.hostIP) p.hostIP = m.hostIP;
      else delete p.hostIP;
    }
  }
  if (remaining.length) {
    out[0] = [...(out[0] ?? []), ...remaining.map((m) => ({
      containerPort: m.containerPort, hostPort: m.hostPort, ...(m.hostIP ? { hostIP: m.hostIP } : {}), protocol: m.protocol.toUpperCase(),
    }))];
  }
  return out;
}

/** The name of the hostPath volume of a bind mount source, like Podman's: `/srv/www` -> `srv-www-host`. */
export function hostPathVolumeName(source: string): string {
  const base = dns1123Label(source.replace(/^\/+|\/+$/g, '').replace(/\//g, '-'), 58) || 'root';
  return `${base}-host`;
}

interface PodObjectResult { spec: Obj; metadata: Obj; name: string }

function podObject(name: string, pod: PodRecord | undefined, members: ContainerRecord[], kind: PodCtx['kind'], src: KubeSources,
  warn: (m: string) => void, extraLabels?: Record<string, string>): PodObjectResult {
  const ordered = orderMembers(pod, members);
  // volumes: one hostPath volume per bind mount source, shared by the containers that mount it
  const volumes = new Map<string, string>();
  const volumeName = (source: string): string => {
    let v = volumes.get(source);
    if (!v) {
      const base = hostPathVolumeName(source);
      const used = new Set(volumes.values());
      v = base;
      for (let i = 2; used.has(v); i++) v = `${base.slice(0, 58)}-${i}`;
      volumes.set(source, v);
    }
    return v;
  };
  const names = new Set<string>();
  let usesStopSignal = false;
  const ports = foldPublished(ordered.map((c) => c.spec), pod && !pod.spec.hostNetwork ? pod.spec.publish : undefined);
  const containers = ordered.map((c, index) => {
    let cname = kubeContainerName(c, pod?.name ?? undefined);
    if (names.has(cname)) {
      let i = 2;
      while (names.has(`${cname.slice(0, 60)}-${i}`)) i++;
      const renamed = `${cname.slice(0, 60)}-${i}`;
      warn(`container ${c.name}: name "${cname}" is taken in pod ${name}: written as "${renamed}"`);
      cname = renamed;
    }
    names.add(cname);
    if (!c.spec.kubeName && cname !== withoutPodPrefix(c, pod?.name)) {
      warn(`container ${c.name}: written as "${cname}" (Kubernetes container names are lower-case RFC 1123 labels)`);
    }
    const image = src.image(c.imageId);
    if (!image) warn(`container ${c.name}: image ${c.imageName || c.imageId} is not in the store: command written out in full`);
    const ctx: CtrCtx = { c, name: cname, ports: ports[index], image, cmd: kubeCommandFor(c.args, image, hintOf(c)), volumeName, warn };
    const obj = build(CONTAINER_FIELDS, ctx);
    if ((obj.lifecycle as Obj | undefined)?.stopSignal) usesStopSignal = true;
    if (pod && (c.spec.labels && Object.keys(c.spec.labels).length)) warn(`container ${c.name}: container labels have no place in a Kubernetes pod: left out`);
    if (c.spec.annotations && Object.keys(c.spec.annotations).length) warn(`container ${c.name}: container annotations have no place in a Kubernetes pod: left out`);
    return obj;
  });
  if (pod?.spec.network) warn(`pod ${pod.name} joins network ${pod.spec.network}, which Kubernetes YAML cannot say: play it with --network ${pod.spec.network}`);
  const hostname = pod ? pod.spec.hostname : ordered.find((c) => c.spec.hostname)?.spec.hostname;
  const ctx: PodCtx = {
    name, pod, members: ordered, usesStopSignal, hostname, kind, warn,
    containers,
    volumes: [...volumes].map(([path, vname]) => ({ name: vname, hostPath: { path } })),
  };
  const what = `pod ${name}`;
  const labels = { ...(validLabels(pod ? pod.spec.labels : ordered[0]?.spec.labels, what, warn) ?? {}), ...(extraLabels ?? {}) };
  const metadata = build<null>([
    ['name', () => name],
    ['labels', () => labels],
    ['annotations', () => userAnnotations(pod?.spec.annotations, what, warn)],
  ], null);
  return { metadata, spec: build(POD_SPEC_FIELDS, ctx), name };
}

// ---------------------------------------------------------------------------------------------
// Controllers and Services

const API_VERSION: Record<PodCtx['kind'], string> = { Pod: 'v1', Deployment: 'apps/v1', DaemonSet: 'apps/v1', Job: 'batch/v1' };
const KIND: Record<KubeType, PodCtx['kind']> = { pod: 'Pod', deployment: 'Deployment', daemonset: 'DaemonSet', job: 'Job' };

function topLevel(kind: PodCtx['kind'], metadata: Obj, spec: Obj): Obj {
  return { apiVersion: API_VERSION[kind], kind, metadata, spec };
}

/** A controller around a pod template: metadata.name, the selector, the template's labels. */
function controller(kind: PodCtx['kind'], name: string, p: PodObjectResult, replicas?: number): Obj {
  const labels = (p.metadata.labels as Record<string, string> | undefined) ?? {};
  const template = { metadata: build<Obj>([['labels', (m) => m.labels], ['annotations', (m) => m.annotations]], p.metadata), spec: p.spec };
  const spec = build<null>([
    ['replicas', () => (kind === 'Deployment' ? replicas : undefined)],
    ['selector', () => (kind === 'Job' ? undefined : { matchLabels: labels })],
    ['template', () => template],
  ], null);
  return topLevel(kind, { name }, spec);
}

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** A v1 Service of type NodePort for the pod's published ports (all its ports when none is published). */
function serviceFor(name: string, labels: Record<string, string>, containers: Obj[], warn: (m: string) => void): Obj | undefined {
  const ports = containers.flatMap((c) => (c.ports as Obj[] | undefined) ?? []);
  const published = ports.filter((p) => p.hostPort);
  const use = published.length ? published : ports;
  if (!use.length) {
    warn(`pod ${name}: no ports: no Service generated`);
    return undefined;
  }
  const seen = new Set<string>();
  const names = new Set<string>();
  const servicePorts: Obj[] = [];
  for (const p of use) {
    const protocol = (p.protocol as string | undefined) ?? 'TCP';
    const key = `${p.containerPort}/${protocol}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let pname = typeof p.name === 'string' ? p.name : `${p.containerPort}${protocol === 'TCP' ? '' : `-${protocol.toLowerCase()}`}`;
    for (let i = 2; names.has(pname); i++) pname = `${p.containerPort}-${i}`;
    names.add(pname);
    const hostPort = p.hostPort as number | undefined;
    servicePorts.push(build<null>([
      ['name', () => pname],
      ['protocol', () => (protocol === 'TCP' ? undefined : protocol)],
      ['port', () => p.containerPort],
      ['targetPort', () => p.containerPort],
      // The host port is the node port when it lies in Kubernetes' node port range; otherwise the
      // cluster picks one (Podman picks a random one, which makes the output differ every time).
      ['nodePort', () => (hostPort && hostPort >= 30000 && hostPort <= 32767 ? hostPort : undefined)],
    ], null));
  }
  let sname = name.replace(/\./g, '-');
  if (!DNS1035.test(sname)) sname = `svc-${dns1123Label(sname, 59)}`.replace(/-+$/, '');
  if (sname.length > 63) sname = sname.slice(0, 63).replace(/-+$/, '');
  if (sname !== name) warn(`pod ${name}: its Service is named "${sname}" (Service names are RFC 1035 labels)`);
  const metadata = build<null>([['name', () => sname], ['labels', () => labels]], null);
  return { apiVersion: 'v1', kind: 'Service', metadata, spec: { selector: labels, type: 'NodePort', ports: servicePorts } };
}

// ---------------------------------------------------------------------------------------------
// Entry point

/** The object a pod came from, for grouping the replicas of one Deployment. */
function ownerOf(pod: PodRecord): { kind: string; name: string } | undefined {
  return pod.spec.kube?.kind === 'Deployment' ? { kind: 'Deployment', name: pod.spec.kube.name } : undefined;
}

/** Natural order: web-pod-2 before web-pod-10. */
const natural = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * Kubernetes objects for pods and containers. With type pod (default) one v1 Pod per pod; with
 * deployment/daemonset/job one controller per pod, except that the replica pods of one Deployment
 * (`<name>-pod-N`, played from it) give that Deployment back once, with replicas = their number.
 * Standalone containers together make one pod named `<first container>-pod`.
 */
export function generateKube(src: KubeSources, opts: GenerateKubeOptions = {}): GenerateKubeResult {
  const type = opts.type ?? 'pod';
  const kind = KIND[type];
  const warnings: string[] = [];
  const warn = (m: string) => { if (!warnings.includes(m)) warnings.push(m); };
  const objects: Obj[] = [];

  interface Group { name: string; pod?: PodRecord; members: ContainerRecord[]; count: number }
  const groups: Group[] = [];
  const byOwner = new Map<string, Group>();
  for (const { pod, members } of [...src.pods].sort((a, b) => natural(a.pod.name, b.pod.name))) {
    const owner = kind === 'Pod' ? undefined : ownerOf(pod);
    if (owner) {
      const key = `${owner.kind}/${owner.name}`;
      const g = byOwner.get(key);
      if (g) { g.count++; continue; }
      const ng: Group = { name: owner.name, pod, members, count: 1 };
      byOwner.set(key, ng);
      groups.push(ng);
      continue;
    }
    groups.push({ name: pod.name, pod, members, count: 1 });
  }
  const standalone = src.containers ?? [];
  if (standalone.length) groups.push({ name: `${standalone[0].name}-pod`, members: standalone, count: 1 });

  for (const g of groups) {
    let name = dns1123Subdomain(g.name);
    if (!name) name = 'pod';
    if (name !== g.name) warn(`pod ${g.name}: written as "${name}" (Kubernetes names are lower-case RFC 1123 subdomains)`);
    // A controller selects its pods by label, and so does a Service: give a pod without labels one.
    const hasLabels = (l?: Record<string, string>) => !!l && Object.keys(l).length > 0;
    const needsLabel = (kind === 'Deployment' || kind === 'DaemonSet' || opts.service) &&
      !hasLabels(validLabels(g.pod ? g.pod.spec.labels : g.members[0]?.spec.labels, '', () => undefined));
    const extra = needsLabel ? { app: dns1123Label(name) || 'app' } : undefined;
    const podName = kind === 'Pod' ? name : g.pod?.name ?? name;
    const p = podObject(podName, g.pod, g.members, kind, src, warn, extra);
    if (kind === 'Pod') {
      p.metadata.name = name;
      objects.push(topLevel('Pod', p.metadata, p.spec));
    } else {
      objects.push(controller(kind, name, p, opts.replicas ?? g.count));
    }
    if (opts.service) {
      const svc = serviceFor(name, (p.metadata.labels as Record<string, string> | undefined) ?? {}, (p.spec.containers as Obj[]) ?? [], warn);
      if (svc) objects.push(svc);
    }
  }
  return { objects, warnings };
}

/**
 * YAML text of Kubernetes objects, one document each, in the order given and with the keys in
 * the order the objects hold them. Written as YAML 1.1 (what play kube reads, like go-yaml): strings
 * such as "on", "yes" or "0755" are quoted so that they stay strings. No line folding.
 */
export function toYaml(objects: readonly unknown[], header?: string): string {
  const docs = objects.map((o) => stringify(o, { version: '1.1', lineWidth: 0, minContentWidth: 0, aliasDuplicateObjects: false }));
  return (header ?? '') + docs.join('---\n');
}
