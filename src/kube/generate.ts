// generate: engine records -> Kubernetes objects -> YAML. Pure: the caller reads the records (and
// the image configs, and secrets when asked to) and gets back plain objects, warnings and text, so
// every mapping rule is unit-testable without processes.
//
// The output is meant to replay: `play kube` of what this writes gives pods that behave the same and
// generate the same YAML again (a fixed point). So defaults that play kube fills in are left out
// (restartPolicy Always, terminationGracePeriodSeconds 30, protocol TCP, command/args equal to the
// image's), values are written as the engine resolved them (env from ConfigMaps and fieldRefs,
// $(VAR) in command and args), and nothing that is not the user's goes in (no timestamps, IDs or
// peapod-internal annotations). Secret values are written only with includeSecrets.
//
// Each field is one small mapping in a table (POD_SPEC_FIELDS, CONTAINER_FIELDS, VOLUME_SOURCES,
// ...): a field that play kube learns later gets one more row here.
import { IP_ANNOTATION } from './plan-network.js';
import type { ServiceSpec } from '../../engine/network/services.js';
import { stringify } from 'yaml';
import type { ContainerRecord, ImageRuntimeConfig, PodRecord, PodVolume, SecretRecord, VolumeFile } from '../../engine/types.js';
import { resolveKubeArgs } from '../../engine/runtime/command.js';
import { PeapodError } from '../../engine/errors.js';
import { CONTROLLER_KINDS, kindInfo, kindOfType, type GenerateType } from './kinds.js';
import { CONFIG_KEY, DNS1035_LABEL, DNS1123_SUBDOMAIN, LABEL_VALUE, QUALIFIED_NAME, SYSTEMD_MANAGER_LABEL, SYSTEMD_UNIT_LABEL } from '../../engine/names.js';

type Obj = Record<string, unknown>;

export type KubeType = GenerateType;

/** What to generate from: pods with their member containers, standalone containers, image configs. */
export interface KubeSources {
  /** pods and their members (the infra container may be included: it is skipped) */
  pods: Array<{ pod: PodRecord; members: ContainerRecord[] }>;
  /** containers that belong to no pod: together they become one pod `<first>-pod` */
  containers?: ContainerRecord[];
  /** the runtime config of an image by ID (undefined when the image is gone) */
  image(id: string): ImageRuntimeConfig | undefined;
  /** a stored secret by name; asked only with includeSecrets */
  secret?(name: string): SecretRecord | undefined;
  /** played Services whose selector picks one of the pods: written along (before the pods) */
  services?: ServiceSpec[];
}

export interface GenerateKubeOptions {
  /** kind of the top-level objects: v1 Pod (default), apps/v1 Deployment or DaemonSet, batch/v1 Job */
  type?: KubeType;
  /** replicas of a Deployment; default: the number of its pods found (1 for a single pod) */
  replicas?: number;
  /** also a v1 Service (type NodePort) per pod for its published ports */
  service?: boolean;
  /** write the Secrets that pods use, with their values; without it no secret value is written */
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

/** An object from [key, value] pairs in order, leaving out empty values. */
const obj = (...pairs: Array<readonly [string, unknown]>): Obj => build(pairs.map(([k, v]) => [k, () => v] as const), null);

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


/** A label or annotation key Kubernetes accepts: [prefix/]name. */
export function isQualifiedKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !(prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name);
}

/**
 * Labels and annotations that are bookkeeping, not the user's: peapod's own (io.peapod.*), and
 * what other engines write into the YAML they generate (CRI-O and Podman keys, kubectl's
 * last-applied copy).
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
    if (NOISE_ANNOTATION.some((re) => re.test(k))) continue;
    if (!isQualifiedKey(k) || v.length > 63 || !LABEL_VALUE.test(v)) { warn(`${what}: label "${k}=${v}" is not a valid Kubernetes label: left out`); continue; }
    out[k] = v;
  }
  return out;
}

/**
 * Text that Kubernetes' $(VAR) expansion (of env values, command and args) gives back unchanged:
 * a `$` before `(` or `$` is doubled. The engine keeps values as they were expanded at play time.
 */
export function escapeExpansion(s: string): string {
  return s.replace(/\$(?=[$(])/g, '$$$$');
}

const escapeAll = (a: string[] | undefined) => a?.map(escapeExpansion);

/** A byte count as a Kubernetes quantity: `64Mi`, `1Gi`, or plain bytes. */
export function quantity(bytes: number): string {
  for (const [suffix, n] of [['Ei', 2 ** 60], ['Pi', 2 ** 50], ['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${suffix}`;
  }
  return String(bytes);
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
  const clean = (k: KubeCommand): KubeCommand => obj(['command', k.command], ['args', k.args]) as KubeCommand;
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
  /** the container in the object the pod was played from, if any */
  template?: any;
  /** volume name of a bind mount source (run -v; shared by the pod) */
  bindVolume: (source: string) => string;
  warn: (m: string) => void;
}

/**
 * env: the values as the engine keeps them, then references to secrets and to the pod's IP. A
 * value the engine took from a fieldRef or resourceFieldRef keeps its reference (from the object the
 * pod was played from): it differs between the replicas of a controller.
 */
function envOf(x: CtrCtx): Obj[] | undefined {
  const original = (x.template?.env ?? []) as any[];
  const plain = (x.c.spec.env ?? []).map((e) => {
    const i = e.indexOf('=');
    const name = i < 0 ? e : e.slice(0, i);
    const value = i < 0 ? '' : e.slice(i + 1);
    const from = original.find((o) => o?.name === name)?.valueFrom;
    if (from?.fieldRef || from?.resourceFieldRef) return { name, valueFrom: from };
    return obj(['name', name], ['value', value === '' ? undefined : escapeExpansion(value)]);
  });
  const secrets = (x.c.spec.secretEnv ?? []).filter((s) => s.key !== undefined).map((s) => ({
    name: s.name, valueFrom: { secretKeyRef: obj(['name', s.secret], ['key', s.key], ['optional', s.optional || undefined]) },
  }));
  const podIP = (x.c.spec.podIPEnv ?? []).map((name) => ({ name, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }));
  return [...plain, ...secrets, ...podIP];
}

/** envFrom: all keys of a secret (ConfigMap keys are already in env). */
function envFromOf(x: CtrCtx): Obj[] | undefined {
  return (x.c.spec.secretEnv ?? []).filter((s) => s.key === undefined).map((s) =>
    obj(['prefix', s.prefix || undefined], ['secretRef', obj(['name', s.secret], ['optional', s.optional || undefined])]));
}

function workingDirOf(x: CtrCtx): string | undefined {
  const wd = x.c.spec.workingDir;
  return wd && wd !== x.image?.WorkingDir ? wd : undefined;
}

function portsOf(x: CtrCtx): Obj[] | undefined {
  return x.ports?.map((p) => {
    const protocol = (p.protocol ?? 'TCP').toUpperCase();
    return obj(
      ['containerPort', p.containerPort],
      ['hostPort', p.hostPort || undefined],
      ['hostIP', p.hostIP || undefined],
      ['protocol', protocol === 'TCP' ? undefined : protocol],
      ['name', p.name || undefined],
    );
  });
}

function volumeMountsOf(x: CtrCtx): Obj[] | undefined {
  const pod = (x.c.spec.volumeMounts ?? []).map((m) =>
    obj(['name', m.name], ['mountPath', m.mountPath], ['readOnly', m.readOnly ? true : undefined], ['subPath', m.subPath || undefined]));
  const binds = (x.c.spec.volumes ?? []).map((v) =>
    obj(['name', x.bindVolume(v.source)], ['mountPath', v.destination], ['readOnly', v.readOnly ? true : undefined]));
  return [...pod, ...binds];
}

/** A number of CPU cores as a Kubernetes quantity: `500m`, `2`. */
export function cpuQuantity(cores: number): string {
  const m = Math.round(cores * 1000);
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/**
 * securityContext of a container: what the engine keeps (pod-level settings are merged into each
 * container; those that exist only at pod level go to the pod), and run's numeric --user.
 */
function securityContextOf(x: CtrCtx): Obj | undefined {
  const s = x.c.spec.security ?? {};
  let runAsUser = s.runAsUser;
  let runAsGroup = s.runAsGroup;
  const u = x.c.spec.user;
  if (u && runAsUser === undefined && u !== x.image?.User) {
    const m = /^(\d+)(?::(\d+))?$/.exec(u);
    if (m) {
      runAsUser = Number(m[1]);
      if (m[2] !== undefined) runAsGroup = Number(m[2]);
    } else {
      x.warn(`container ${x.name}: user "${u}" is not numeric: Kubernetes takes a UID (securityContext.runAsUser), left out`);
    }
  }
  return obj(
    ['runAsUser', runAsUser],
    ['runAsGroup', runAsGroup],
    ['runAsNonRoot', s.runAsNonRoot || undefined],
    ['readOnlyRootFilesystem', s.readOnlyRootFilesystem || undefined],
    ['privileged', s.privileged || undefined],
    ['allowPrivilegeEscalation', s.allowPrivilegeEscalation],
    ['capabilities', obj(['add', s.capAdd], ['drop', s.capDrop])],
    ['procMount', s.procMount && s.procMount !== 'Default' ? s.procMount : undefined],
    ['seccompProfile', s.seccomp ? obj(['type', s.seccomp.type], ['localhostProfile', s.seccomp.localhostProfile]) : undefined],
    ['seLinuxOptions', s.seLinuxOptions],
  );
}

/** limits and requests; a request equal to its limit is what Kubernetes defaults it to: left out. */
function resourcesOf(x: CtrCtx): Obj | undefined {
  const r = x.c.spec.resources;
  if (!r) return undefined;
  if (r.pidsLimit !== undefined) x.warn(`container ${x.name}: its pids limit ${r.pidsLimit} has no Kubernetes field: left out`);
  return limitsAndRequests(r);
}

/** `resources` of a container or a pod: limits, and requests other than their limits. */
function limitsAndRequests(r: NonNullable<ContainerRecord['spec']['resources']>): Obj | undefined {
  const mem = (n?: number) => (n === undefined ? undefined : quantity(n));
  const cpu = (n?: number) => (n === undefined ? undefined : cpuQuantity(n));
  return obj(
    ['limits', obj(['cpu', cpu(r.cpuLimit)], ['memory', mem(r.memoryLimit)])],
    ['requests', obj(['cpu', r.cpuRequest === r.cpuLimit ? undefined : cpu(r.cpuRequest)], ['memory', r.memoryRequest === r.memoryLimit ? undefined : mem(r.memoryRequest)])],
  );
}

type ProbeT = NonNullable<NonNullable<ContainerRecord['spec']['probes']>['liveness']>;

/** A probe as Kubernetes writes it; values equal to the API server's defaults are left out. */
function probeOf(p: ProbeT | undefined): Obj | undefined {
  if (!p) return undefined;
  const h = p.handler;
  const handler: readonly [string, unknown] = 'exec' in h ? ['exec', { command: h.exec }]
    : 'httpGet' in h ? ['httpGet', obj(['path', h.httpGet.path], ['port', h.httpGet.port], ['host', h.httpGet.host], ['scheme', h.httpGet.scheme], ['httpHeaders', h.httpGet.headers])]
      : 'tcpSocket' in h ? ['tcpSocket', obj(['port', h.tcpSocket.port], ['host', h.tcpSocket.host])]
        : ['grpc', obj(['port', h.grpc.port], ['service', h.grpc.service])];
  const unlessDefault = (v: number, def: number) => (v === def ? undefined : v);
  return obj(handler,
    ['initialDelaySeconds', unlessDefault(p.initialDelaySeconds, 0)],
    ['periodSeconds', unlessDefault(p.periodSeconds, 10)],
    ['timeoutSeconds', unlessDefault(p.timeoutSeconds, 1)],
    ['successThreshold', unlessDefault(p.successThreshold, 1)],
    ['failureThreshold', unlessDefault(p.failureThreshold, 3)],
    ['terminationGracePeriodSeconds', p.terminationGracePeriodSeconds]);
}

/** Pod-level resources (spec.resources): limits of the pod's cgroup. */
function podResourcesOf(x: PodCtx): Obj | undefined {
  const r = x.pod?.spec.resources;
  return r ? limitsAndRequests(r) : undefined;
}

// Linux signal numbers 1..31 in order (x86 and arm), for run --stop-signal 10
const SIGNALS = ['', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL', 'SIGUSR1',
  'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN',
  'SIGTTOU', 'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS'];

/** SIGUSR1 from "usr1", "SIGUSR1" or "10"; undefined when Kubernetes has no name for it. */
export function signalName(sig: string): string | undefined {
  const s = sig.trim().toUpperCase();
  if (/^\d+$/.test(s)) return SIGNALS[Number(s)] || undefined;
  const n = s.startsWith('SIG') ? s : `SIG${s}`;
  return SIGNALS.includes(n) ? n : undefined;
}

type Handler = NonNullable<NonNullable<ContainerRecord['spec']['lifecycle']>['postStart']>;

function handlerOf(h: Handler | undefined): Obj | undefined {
  if (!h) return undefined;
  if ('exec' in h) return { exec: { command: h.exec } };
  if ('sleep' in h) return { sleep: { seconds: h.sleep } };
  return { httpGet: obj(['path', h.httpGet.path], ['port', h.httpGet.port], ['host', h.httpGet.host], ['scheme', h.httpGet.scheme]) };
}

/** lifecycle: the hooks, and a stop signal other than the image's (SIGTERM when it names none). */
function lifecycleOf(x: CtrCtx): Obj | undefined {
  let stopSignal: string | undefined;
  const s = x.c.spec.stopSignal;
  if (s) {
    stopSignal = signalName(s);
    if (!stopSignal) x.warn(`container ${x.name}: stop signal "${s}" has no Kubernetes name: left out`);
    else if (stopSignal === signalName(x.image?.StopSignal ?? 'SIGTERM')) stopSignal = undefined;
  }
  return obj(['postStart', handlerOf(x.c.spec.lifecycle?.postStart)], ['preStop', handlerOf(x.c.spec.lifecycle?.preStop)], ['stopSignal', stopSignal]);
}

/** A container's fields, in output order. */
const CONTAINER_FIELDS: Fields<CtrCtx> = [
  ['name', (x) => x.name],
  ['image', (x) => imageRef(x.c)],
  ['command', (x) => escapeAll(x.cmd.command)],
  ['args', (x) => escapeAll(x.cmd.args)],
  ['env', envOf],
  ['envFrom', envFromOf],
  ['workingDir', workingDirOf],
  ['ports', portsOf],
  ['volumeMounts', volumeMountsOf],
  ['resources', resourcesOf],
  ['lifecycle', lifecycleOf],
  ['startupProbe', (x) => probeOf(x.c.spec.probes?.startup)],
  ['livenessProbe', (x) => probeOf(x.c.spec.probes?.liveness)],
  ['readinessProbe', (x) => probeOf(x.c.spec.probes?.readiness)],
  ['securityContext', securityContextOf],
  ['imagePullPolicy', (x) => x.c.spec.pullPolicy],
  // a sidecar is an init container that keeps running
  ['restartPolicy', (x) => (x.c.spec.init === 'sidecar' ? 'Always' : undefined)],
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
// Volumes, and the ConfigMaps, Secrets and claims they name

/** Objects that pods name, collected across pods (one of each name), emitted before the pods. */
interface Companions {
  configMaps: Map<string, { data: Record<string, string>; binaryData: Record<string, string> }>;
  secrets: Set<string>;
  claims: Set<string>;
}

/** configMap, secret and downwardAPI volumes: projected files */
type FileVolume = Extract<PodVolume, { files: VolumeFile[] }>;

interface VolCtx {
  v: PodVolume;
  pod: PodRecord | undefined;
  companions: Companions;
  warn: (m: string) => void;
}

/** The key a file of a generated ConfigMap gets: its path when that is a valid key. */
function configKey(p: string, taken: Set<string>): string {
  let k = CONFIG_KEY.test(p) && p !== '.' && p !== '..' && !p.startsWith('..') ? p : p.replace(/[^-._a-zA-Z0-9]+/g, '-').replace(/^\.+/, '') || 'file';
  for (let i = 2; taken.has(k); i++) k = `${k}-${i}`;
  taken.add(k);
  return k;
}

function configMapVolume(x: VolCtx & { v: FileVolume }): Obj {
  const v = x.v;
  const name = v.source ?? v.name;
  const taken = new Set<string>();
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  const items: Obj[] = [];
  let needItems = false;
  for (const f of v.files) {
    const key = configKey(f.path, taken);
    const bytes = Buffer.from(f.content ?? '', 'base64');
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) data[key] = text;
    else binaryData[key] = f.content ?? '';
    if (key !== f.path || f.mode !== undefined) needItems = true;
    items.push(obj(['key', key], ['path', f.path], ['mode', f.mode]));
  }
  if (v.files.length) {
    const prev = x.companions.configMaps.get(name);
    if (prev && (JSON.stringify(prev.data) !== JSON.stringify(data) || JSON.stringify(prev.binaryData) !== JSON.stringify(binaryData))) {
      x.warn(`configmap ${name}: pods see different contents of it: the first is written`);
    } else if (!prev) {
      x.companions.configMaps.set(name, { data, binaryData });
    }
  }
  // The keys the engine projected are all the ConfigMap written here has: no items unless they
  // rename a key or set a mode.
  return obj(['name', name], ['items', needItems ? items : undefined], ['defaultMode', v.defaultMode], ['optional', v.optional || undefined]);
}

function secretVolume(x: VolCtx & { v: FileVolume }): Obj {
  const v = x.v;
  if (v.source) x.companions.secrets.add(v.source);
  const items = v.files.map((f: VolumeFile) => obj(['key', f.secretKey], ['path', f.path], ['mode', f.mode]));
  return obj(['secretName', v.source], ['items', items], ['defaultMode', v.defaultMode], ['optional', v.optional || undefined]);
}

/**
 * downwardAPI: the engine keeps resolved contents; the fieldRefs come from the object the pod was
 * played from (a Deployment's replicas each have their own name in them).
 */
function downwardApiVolume(x: VolCtx & { v: FileVolume }): Obj | undefined {
  const fromObject = podTemplateOf(x.pod)?.volumes?.find((w: any) => w?.name === x.v.name)?.downwardAPI;
  if (fromObject) return fromObject as Obj;
  if (x.v.files.some((f) => f.fieldPath === undefined)) {
    x.warn(`volume ${x.v.name}: its downwardAPI items are not known any more: written as an emptyDir`);
    return undefined;
  }
  return obj(['items', x.v.files.map((f) => obj(['path', f.path], ['fieldRef', { fieldPath: f.fieldPath }], ['mode', f.mode]))], ['defaultMode', x.v.defaultMode]);
}

/** A pod volume as Kubernetes writes it: { name, <source>: {...} }. Empty sources stay ({}). */
function volumeOf(x: VolCtx): Obj {
  const v = x.v;
  switch (v.type) {
    case 'hostPath':
      return { name: v.name, hostPath: obj(['path', v.path], ['type', v.hostPathType || undefined]) };
    case 'emptyDir':
      return { name: v.name, emptyDir: obj(['medium', v.medium || undefined], ['sizeLimit', v.sizeLimit === undefined ? undefined : quantity(v.sizeLimit)]) };
    case 'persistentVolumeClaim':
      x.companions.claims.add(v.claimName);
      return { name: v.name, persistentVolumeClaim: obj(['claimName', v.claimName], ['readOnly', v.readOnly || undefined]) };
    case 'configMap':
      return { name: v.name, configMap: configMapVolume({ ...x, v }) };
    case 'secret':
      return { name: v.name, secret: secretVolume({ ...x, v }) };
    case 'downwardAPI': {
      const d = downwardApiVolume({ ...x, v });
      return d ? { name: v.name, downwardAPI: d } : { name: v.name, emptyDir: {} };
    }
    default:
      return { name: (v as { name: string }).name, emptyDir: {} };
  }
}

/** The name of the hostPath volume of a bind mount source, like Podman's: `/srv/www` -> `srv-www-host`. */
export function hostPathVolumeName(source: string): string {
  const base = dns1123Label(source.replace(/^\/+|\/+$/g, '').replace(/\//g, '-'), 58) || 'root';
  return `${base}-host`;
}

// ---------------------------------------------------------------------------------------------
// Pods

interface PodCtx {
  name: string;
  pod?: PodRecord;
  containers: Obj[];
  initContainers: Obj[];
  volumes: Obj[];
  members: ContainerRecord[];
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

/** The pod-level securityContext: settings Kubernetes has only there (the engine copies them into every container). */
function podSecurityContextOf(x: PodCtx): Obj | undefined {
  const s = x.members.find((c) => c.spec.security)?.spec.security ?? {};
  return obj(
    ['supplementalGroups', s.supplementalGroups],
    ['supplementalGroupsPolicy', s.supplementalGroupsPolicy],
    ['fsGroup', x.pod?.spec.fsGroup ?? s.fsGroup],
    ['sysctls', s.sysctls ? Object.entries(s.sysctls).map(([name, value]) => ({ name, value })) : undefined],
  );
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
  ['subdomain', (x) => x.pod?.spec.subdomain],
  ['enableServiceLinks', (x) => (x.pod?.spec.enableServiceLinks === false ? false : undefined)],
  ['securityContext', podSecurityContextOf],
  ['resources', podResourcesOf],
  ['imagePullSecrets', (x) => x.members.find((c) => c.spec.pullSecrets?.length)?.spec.pullSecrets?.map((name) => ({ name }))],
  ['initContainers', (x) => x.initContainers],
  ['containers', (x) => x.containers],
  ['volumes', (x) => x.volumes],
];

/** The pod spec of the object a pod was played from (a Pod's spec, a controller's template spec). */
function podTemplateOf(pod: PodRecord | undefined): any {
  const o = pod?.spec.kube?.object as any;
  return o?.kind === 'Pod' ? o?.spec : o?.spec?.template?.spec;
}

/** Members in the order of the YAML the pod was played from, else in order of creation. */
function orderMembers(pod: PodRecord | undefined, members: ContainerRecord[]): ContainerRecord[] {
  const tmpl = podTemplateOf(pod);
  const names = (list: unknown) => (Array.isArray(list) ? list.map((c: any) => String(c?.name)) : []);
  const order = [...names(tmpl?.initContainers), ...names(tmpl?.containers)];
  const rank = (c: ContainerRecord) => {
    const i = c.spec.kubeName ? order.indexOf(c.spec.kubeName) : -1;
    return i < 0 ? order.length : i;
  };
  return members.filter((c) => !c.spec.isInfra)
    .sort((a, b) => rank(a) - rank(b) || a.created.localeCompare(b.created) || a.name.localeCompare(b.name));
}

/**
 * The containers' ports with the pod's published ports folded in, so that replaying gives the same
 * mappings (Kubernetes has ports only on containers): a mapping sets the hostPort of the container
 * port it forwards to (play kube's --publish or a Service's nodePort may have changed it); a
 * mapping to a port no container declares (`pod create -p`, --publish) becomes a port of the first
 * container.
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

interface PodObjectResult { spec: Obj; metadata: Obj; name: string }

function podObject(name: string, pod: PodRecord | undefined, members: ContainerRecord[], kind: PodCtx['kind'], src: KubeSources,
  companions: Companions, warn: (m: string) => void, extraLabels?: Record<string, string>): PodObjectResult {
  const ordered = orderMembers(pod, members);
  // volumes: the pod's own, then one hostPath volume per bind mount source (run -v)
  const volumeNames = new Set((pod?.spec.volumes ?? []).map((v) => v.name));
  const binds = new Map<string, string>();
  const bindVolume = (source: string): string => {
    let v = binds.get(source);
    if (!v) {
      const base = hostPathVolumeName(source);
      v = base;
      for (let i = 2; volumeNames.has(v); i++) v = `${base.slice(0, 58)}-${i}`;
      volumeNames.add(v);
      binds.set(source, v);
    }
    return v;
  };
  const names = new Set<string>();
  const ports = foldPublished(ordered.map((c) => c.spec), pod && !pod.spec.hostNetwork ? pod.spec.publish : undefined);
  const built = ordered.map((c, index) => {
    let cname = kubeContainerName(c, pod?.name);
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
    const tmpl = podTemplateOf(pod);
    const template = c.spec.kubeName ? [...(tmpl?.initContainers ?? []), ...(tmpl?.containers ?? [])].find((t: any) => t?.name === c.spec.kubeName) : undefined;
    const ctx: CtrCtx = { c, name: cname, ports: ports[index], image, cmd: kubeCommandFor(c.args, image, hintOf(c)), template, bindVolume, warn };
    const o = build(CONTAINER_FIELDS, ctx);
    if (pod && Object.keys(userLabels(c.spec.labels) ?? {}).length) warn(`container ${c.name}: container labels have no place in a Kubernetes pod: left out`);
    if (c.spec.annotations && Object.keys(c.spec.annotations).length) warn(`container ${c.name}: container annotations have no place in a Kubernetes pod: left out`);
    return { c, o };
  });
  if (pod?.spec.network) warn(`pod ${pod.name} joins network ${pod.spec.network}, which Kubernetes YAML cannot say: play it with --network ${pod.spec.network}`);
  const hostname = pod ? pod.spec.hostname : ordered.find((c) => c.spec.hostname)?.spec.hostname;
  const volumes = [
    ...(pod?.spec.volumes ?? []).map((v) => volumeOf({ v, pod, companions, warn })),
    ...[...binds].map(([path, vname]) => ({ name: vname, hostPath: { path } })),
  ];
  const ctx: PodCtx = {
    name, pod, members: ordered, hostname, kind, warn, volumes,
    initContainers: built.filter((b) => b.c.spec.init).map((b) => b.o),
    containers: built.filter((b) => !b.c.spec.init).map((b) => b.o),
  };
  const what = `pod ${name}`;
  const labels = { ...(validLabels(pod ? pod.spec.labels : userLabels(ordered[0]?.spec.labels), what, warn) ?? {}), ...(extraLabels ?? {}) };
  // the static address is the pod's, whether the YAML or --ip gave it: played again, it is the same
  const annotations = { ...(userAnnotations(pod?.spec.annotations, what, warn) ?? {}), ...(pod?.spec.ips?.length ? { [IP_ANNOTATION]: pod.spec.ips.join(',') } : {}) };
  const metadata = obj(['name', name], ['labels', labels], ['annotations', Object.keys(annotations).length ? annotations : undefined]);
  return { metadata, spec: build(POD_SPEC_FIELDS, ctx), name };
}

// ---------------------------------------------------------------------------------------------
// Controllers, Services, companions


function topLevel(kind: string, apiVersion: string, metadata: Obj, spec?: Obj): Obj {
  return obj(['apiVersion', apiVersion], ['kind', kind], ['metadata', metadata], ['spec', spec]);
}

/**
 * A Job's own settings: backoffLimit as the engine keeps it (restarts allowed, default 6), and
 * parallelism, which only the object the pods were played from keeps.
 */
function jobSettings(owner: PodRecord | undefined, members: ContainerRecord[]): Obj {
  const o = owner?.spec.kube?.kind === 'Job' ? (owner.spec.kube.object as any)?.spec ?? {} : {};
  const limit = members.find((c) => c.spec.restartLimit !== undefined)?.spec.restartLimit;
  return obj(['parallelism', typeof o.parallelism === 'number' ? o.parallelism : undefined], ['backoffLimit', limit === 6 ? undefined : limit]);
}

/** A controller around a pod template: metadata.name, the selector, the template's labels. */
function controller(kind: PodCtx['kind'], name: string, p: PodObjectResult, count: number, owner: PodRecord | undefined, members: ContainerRecord[], replicas?: number): Obj {
  const labels = (p.metadata.labels as Record<string, string> | undefined) ?? {};
  const template = obj(['metadata', obj(['labels', p.metadata.labels], ['annotations', p.metadata.annotations])], ['spec', p.spec]);
  const job = kind === 'Job' ? jobSettings(owner, members) : {};
  const spec = obj(
    ['replicas', kind === 'Deployment' ? replicas ?? count : undefined],
    ['completions', kind === 'Job' && count > 1 ? count : undefined],
    ['parallelism', job.parallelism],
    ['backoffLimit', job.backoffLimit],
    ['selector', kind === 'Job' ? undefined : { matchLabels: labels }],
    ['template', template],
  );
  return topLevel(kind, kindInfo(kind)!.apiVersion, { name }, spec);
}


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
    servicePorts.push(obj(
      ['name', pname],
      ['protocol', protocol === 'TCP' ? undefined : protocol],
      ['port', p.containerPort],
      ['targetPort', p.containerPort],
      // The host port is the node port when it lies in Kubernetes' node port range; otherwise the
      // cluster picks one (Podman picks a random one, which makes the output differ every time).
      ['nodePort', hostPort && hostPort >= 30000 && hostPort <= 32767 ? hostPort : undefined],
    ));
  }
  let sname = name.replace(/\./g, '-');
  if (!DNS1035_LABEL.test(sname)) sname = `svc-${dns1123Label(sname, 59)}`.replace(/-+$/, '');
  if (sname.length > 63) sname = sname.slice(0, 63).replace(/-+$/, '');
  if (sname !== name) warn(`pod ${name}: its Service is named "${sname}" (Service names are RFC 1035 labels)`);
  return topLevel('Service', 'v1', obj(['name', sname], ['labels', labels]), { selector: labels, type: 'NodePort', ports: servicePorts });
}

/** Secrets (values only with includeSecrets), ConfigMaps and claims that the pods name. */
function companionObjects(c: Companions, src: KubeSources, opts: GenerateKubeOptions, warn: (m: string) => void): Obj[] {
  const out: Obj[] = [];
  for (const name of [...c.secrets].sort()) {
    if (!opts.includeSecrets) {
      warn(`secret ${name}: its values are not written (use --include-secrets): it must exist where the YAML is played`);
      continue;
    }
    const s = src.secret?.(name);
    if (!s) { warn(`secret ${name}: not in the store: not written`); continue; }
    const labels = validLabels(s.labels, `secret ${name}`, warn);
    out.push(obj(['apiVersion', 'v1'], ['kind', 'Secret'], ['metadata', obj(['name', name], ['labels', labels])], ['type', s.type], ['data', s.data]));
  }
  for (const [name, cm] of [...c.configMaps].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(obj(['apiVersion', 'v1'], ['kind', 'ConfigMap'], ['metadata', { name }], ['data', cm.data], ['binaryData', cm.binaryData]));
  }
  for (const name of [...c.claims].sort()) {
    // What Podman writes for a named volume: the claim a cluster needs (peapod ignores its spec).
    out.push(topLevel('PersistentVolumeClaim', 'v1', { name }, { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } }));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Entry point


/** The controller a pod was played from, for grouping its replicas. */
function ownerOf(pod: PodRecord): { kind: string; name: string } | undefined {
  const k = pod.spec.kube;
  return k && CONTROLLER_KINDS.includes(k.kind) ? { kind: k.kind, name: k.name } : undefined;
}

/** Natural order: web-pod-2 before web-pod-10. */
const natural = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * Kubernetes objects for pods and containers. With type pod (default) one v1 Pod per pod; with
 * deployment/daemonset/job one controller per pod, except that the pods played from one controller
 * (`<name>-pod-N`) give that controller back once (replicas or completions = their number).
 * Standalone containers together make one pod named `<first container>-pod`. The Secrets,
 * ConfigMaps and PersistentVolumeClaims the pods use come first.
 */
export function generateKube(src: KubeSources, opts: GenerateKubeOptions = {}): GenerateKubeResult {
  const type = opts.type ?? 'pod';
  const kind = kindOfType(type).kind as PodCtx['kind'];
  const warnings: string[] = [];
  const warn = (m: string) => { if (!warnings.includes(m)) warnings.push(m); };
  const workloads: Obj[] = [];
  const companions: Companions = { configMaps: new Map(), secrets: new Set(), claims: new Set() };

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
    // A Pod needs at least one container: YAML with none would be refused by play kube itself.
    if (g.pod && !g.members.some((c) => !c.spec.isInfra)) {
      throw new PeapodError('invalid', g.members.length ? `pod ${g.pod.id} only has an infra container` : `pod ${g.pod.id} has no containers`);
    }
    let name = dns1123Subdomain(g.name);
    if (!name) name = 'pod';
    if (name !== g.name) warn(`pod ${g.name}: written as "${name}" (Kubernetes names are lower-case RFC 1123 subdomains)`);
    // A Deployment or DaemonSet selects its pods by label, and so does a Service: give a pod without labels one.
    const hasLabels = (l?: Record<string, string>) => !!l && Object.keys(l).length > 0;
    const needsLabel = (kind === 'Deployment' || kind === 'DaemonSet' || opts.service) &&
      !hasLabels(validLabels(g.pod ? g.pod.spec.labels : g.members[0]?.spec.labels, '', () => undefined));
    const extra = needsLabel ? { app: dns1123Label(name) || 'app' } : undefined;
    const podName = kind === 'Pod' ? name : g.pod?.name ?? name;
    const p = podObject(podName, g.pod, g.members, kind, src, companions, warn, extra);
    if (kind === 'Pod') {
      p.metadata.name = name;
      workloads.push(topLevel('Pod', 'v1', p.metadata, p.spec));
    } else {
      workloads.push(controller(kind, name, p, g.count, g.pod, g.members, opts.replicas));
    }
    const selectedByPlayed = (src.services ?? []).some((s) => Object.keys(s.selector).length && Object.entries(s.selector).every(([k, v]) => (p.metadata.labels as Record<string, string> | undefined)?.[k] === v));
    if (opts.service && !selectedByPlayed) {
      const svc = serviceFor(name, (p.metadata.labels as Record<string, string> | undefined) ?? {}, (p.spec.containers as Obj[]) ?? [], warn);
      if (svc) workloads.push(svc);
    }
  }
  const services = (src.services ?? []).map(playedService);
  return { objects: [...companionObjects(companions, src, opts, warn), ...services, ...workloads], warnings };
}

/** A played Service as YAML again: what it asked for, without the VIP this host gave it. */
function playedService(s: ServiceSpec): Obj {
  const ports = s.ports.map((p) => obj(
    ['name', p.name],
    ['protocol', p.protocol === 'tcp' ? undefined : p.protocol.toUpperCase()],
    ['port', p.port],
    ['targetPort', String(p.targetPort) === String(p.port) ? undefined : p.targetPort],
    ['nodePort', p.nodePort],
  ));
  const spec = obj(
    ['type', s.type === 'ClusterIP' ? undefined : s.type],
    ['clusterIP', s.headless ? 'None' : undefined],
    ['externalName', s.externalName],
    ['selector', Object.keys(s.selector).length ? s.selector : undefined],
    ['ports', ports.length ? ports : undefined],
    ['sessionAffinity', s.affinitySeconds ? 'ClientIP' : undefined],
    ['sessionAffinityConfig', s.affinitySeconds && s.affinitySeconds !== 10800 ? { clientIP: { timeoutSeconds: s.affinitySeconds } } : undefined],
    ['publishNotReadyAddresses', s.publishNotReadyAddresses || undefined],
    ['externalTrafficPolicy', s.externalTrafficPolicy],
  );
  return topLevel('Service', 'v1', obj(['name', s.name], ['namespace', s.namespace === 'default' ? undefined : s.namespace], ['labels', s.labels]), spec);
}

/**
 * YAML text of Kubernetes objects, one document each, in the order given and with the keys in
 * the order the objects hold them. Written as YAML 1.1 (what play kube reads, like go-yaml): strings
 * such as "on", "yes" or "0755" are quoted so that they stay strings. No line folding, no anchors.
 */
export function toYaml(objects: readonly unknown[], header?: string): string {
  const docs = objects.map((o) => stringify(o, { version: '1.1', lineWidth: 0, minContentWidth: 0, aliasDuplicateObjects: false }));
  return (header ?? '') + docs.join('---\n');
}

/** A container's labels without the unit it was made under (bookkeeping of auto-update, not the user's). */
function userLabels(labels: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!labels) return labels;
  const { [SYSTEMD_UNIT_LABEL]: _unit, [SYSTEMD_MANAGER_LABEL]: _manager, ...rest } = labels;
  return rest;
}
