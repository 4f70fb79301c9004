// plan: validated Kubernetes objects -> what the engine must create. Pure: no processes, no I/O,
// so every mapping rule is unit-testable. A field that validates but that peapod does not implement
// is an error naming it (never silently dropped); fields that cannot apply on one host (scheduling,
// service accounts, ...) are accepted with one note each.
import type { ContainerSpec, PodSpec } from '../../engine/types.js';
import { PeapodError } from '../../engine/errors.js';
import { formatPath, type Diagnostic, type PathSegment } from './diagnostics.js';
import type { ParsedDoc } from './parse.js';
import { PLAN_ORDER, kindInfo } from './kinds.js';
import { planProbes } from './plan-probes.js';
import { planEnv, planMounts, planVolumes, expandArgs, type PlanContext, type PlanProblem } from './plan-env.js';
import { planSecurity, planResources } from './plan-security.js';
import { planService, type PlannedService } from './services.js';
import { parseStaticIPs, planStaticIPs } from './plan-network.js';

export interface PlannedPod {
  /** where the pod's spec sits in its document, for positions of later diagnostics */
  at?: { doc: ParsedDoc; base: PathSegment[] };
  pod: PodSpec;
  /** member containers; `name` is the engine name `<pod>-<ctr>`, kubeName the name in the YAML */
  containers: ContainerSpec[];
  /** a Job's pod beyond its parallelism: created, started when an earlier pod of the Job finishes */
  deferred?: boolean;
  /**
   * the nodePorts of NodePort/LoadBalancer Services that select this pod, as host ports: rootful
   * peapod publishes them through the Services' rules instead (any Ready endpoint); only rootless,
   * which has no Service rules, publishes them on the pod itself
   */
  nodePorts?: NonNullable<PodSpec['publish']>;
  source: { file: string; kind: string; name: string };
}

export interface PlannedSecret {
  name: string;
  type?: string;
  data: Record<string, string>; // base64
  source: { file: string; name: string };
}

export interface Plan {
  pods: PlannedPod[];
  /** Secret objects of the play: stored by the engine before any pod starts */
  secrets: PlannedSecret[];
  /** PersistentVolumeClaims of the play (and claims pods name): named volumes made before the pods */
  claims: string[];
  /** secrets that pods reference but the play does not define: they must exist in the engine */
  externalSecrets: Array<{ name: string; optional: boolean }>;
  /** Services of the play: created before the pods (their variables are in the pods' env) */
  services: PlannedService[];
  diagnostics: Diagnostic[];
}

/** Options of `play kube` that change what is planned. */
export interface PlanOptions {
  /** --publish [[IP:]HOST:]CTR[/PROTO]: adds a mapping, or overrides the hostPort of a containerPort */
  publish?: string[];
  /** --publish-all: a containerPort without hostPort is published on the same port number */
  publishAll?: boolean;
  /** --network NAME|host|none */
  network?: string;
  /** --ip: static addresses given to the pods in order (over their peapod.io/ip annotation) */
  ips?: string[];
  /** ConfigMaps from --configmap files (the play's own ConfigMaps win on a name clash) */
  configMapDocs?: readonly ParsedDoc[];
  /** facts of this host for fieldRef/resourceFieldRef (defaults keep the planner pure and testable) */
  node?: { name: string; hostIP: string; cpus: number; memoryBytes: number };
}

type Mapping = NonNullable<PodSpec['publish']>[number];

/** Parses Podman's --publish syntax: [[hostIP:]hostPort:]containerPort[/protocol]. */
export function parsePublish(spec: string): Mapping {
  const m = /^(?:(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d*):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(spec.trim());
  if (!m) throw new PeapodError('invalid', `invalid --publish "${spec}": use [[HOST-IP:]HOST-PORT:]CONTAINER-PORT[/PROTOCOL]`);
  const containerPort = Number(m[3]);
  const hostPort = m[2] ? Number(m[2]) : containerPort;
  for (const [what, v] of [['container port', containerPort], ['host port', hostPort]] as const) {
    if (v < 1 || v > 65535) throw new PeapodError('invalid', `invalid --publish "${spec}": ${what} ${v} is not in 1-65535`);
  }
  return { hostIP: (m[1] ?? '').replace(/^\[|\]$/g, ''), hostPort, containerPort, protocol: (m[4] ?? 'tcp') as Mapping['protocol'] };
}

/** The pod's published ports: hostPorts of its containers, then --publish overrides and additions. */
function publishedPorts(containers: ContainerSpec[], opts: PlanOptions, overrides: Mapping[]): Mapping[] {
  const out: Mapping[] = [];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      const protocol = (p.protocol ?? 'TCP').toLowerCase() as Mapping['protocol'];
      const o = overrides.find((x) => x.containerPort === p.containerPort && x.protocol === protocol);
      if (o) continue;
      if (p.hostPort) out.push({ hostIP: p.hostIP ?? '', hostPort: p.hostPort, containerPort: p.containerPort, protocol });
      else if (opts.publishAll) out.push({ hostIP: p.hostIP ?? '', hostPort: p.containerPort, containerPort: p.containerPort, protocol });
    }
  }
  return [...out, ...overrides];
}

type Obj = Record<string, any>;

/**
 * The fields each stage implements. `true` = the field and everything under it; an object = only
 * the listed sub-fields; `{ each }` marks an array whose items follow the nested tree; 'n/a' = a
 * field that cannot apply on one host (accepted, with a note).
 */
type Support = true | 'n/a' | { [k: string]: Support } | { each: Support };

const CONTAINER: Support = {
  name: true, image: true, command: true, args: true, workingDir: true, imagePullPolicy: true,
  env: { each: { name: true, value: true, valueFrom: true } },
  envFrom: true,
  ports: { each: { containerPort: true, hostPort: true, hostIP: true, protocol: true, name: true } },
  volumeMounts: { each: { name: true, mountPath: true, readOnly: true, subPath: true, subPathExpr: true } },
  resources: { limits: true, requests: true },
  lifecycle: { postStart: true, preStop: true, stopSignal: true },
  startupProbe: true, livenessProbe: true, readinessProbe: true,
  securityContext: {
    runAsUser: true, runAsGroup: true, runAsNonRoot: true, readOnlyRootFilesystem: true, privileged: true,
    allowPrivilegeEscalation: true, capabilities: true, procMount: true, seccompProfile: true, seLinuxOptions: true,
    windowsOptions: 'n/a', appArmorProfile: 'n/a',
  },
  terminationMessagePath: 'n/a', terminationMessagePolicy: 'n/a',
};

const INIT_CONTAINER: Support = { ...(CONTAINER as Record<string, Support>), restartPolicy: true };

const POD_SPEC: Support = {
  containers: { each: CONTAINER },
  initContainers: { each: INIT_CONTAINER },
  volumes: true,
  hostname: true, shareProcessNamespace: true, terminationGracePeriodSeconds: true, restartPolicy: true,
  hostNetwork: true, hostAliases: true, dnsPolicy: true, dnsConfig: true,
  securityContext: {
    runAsUser: true, runAsGroup: true, runAsNonRoot: true, supplementalGroups: true, supplementalGroupsPolicy: true, fsGroup: true, sysctls: true,
    seccompProfile: true, seLinuxOptions: true, windowsOptions: 'n/a', appArmorProfile: 'n/a', fsGroupChangePolicy: 'n/a',
  },
  nodeSelector: 'n/a', affinity: 'n/a', tolerations: 'n/a', nodeName: 'n/a', schedulerName: 'n/a',
  priority: 'n/a', priorityClassName: 'n/a', preemptionPolicy: 'n/a', topologySpreadConstraints: 'n/a',
  serviceAccountName: 'n/a', serviceAccount: 'n/a', automountServiceAccountToken: 'n/a',
  enableServiceLinks: true, runtimeClassName: 'n/a', subdomain: true, readinessGates: 'n/a',
  imagePullSecrets: true,
  resources: { limits: true, requests: true },
};

const METADATA: Support = {
  name: true, namespace: true, labels: true, annotations: true,
  uid: 'n/a', resourceVersion: 'n/a', generation: 'n/a', creationTimestamp: 'n/a', managedFields: 'n/a',
  ownerReferences: 'n/a', finalizers: 'n/a', selfLink: 'n/a',
};

const TEMPLATE: Support = { metadata: METADATA, spec: POD_SPEC };
const WORKLOAD_COMMON = { apiVersion: true, kind: true, metadata: METADATA, status: 'n/a' } as const;

const SUPPORT: Record<string, Support> = {
  Pod: { ...WORKLOAD_COMMON, spec: POD_SPEC },
  Deployment: { ...WORKLOAD_COMMON, spec: { replicas: true, selector: true, template: TEMPLATE, strategy: true, revisionHistoryLimit: true, progressDeadlineSeconds: true, minReadySeconds: true, paused: 'n/a' } },
  DaemonSet: { ...WORKLOAD_COMMON, spec: { selector: true, template: TEMPLATE, updateStrategy: 'n/a', revisionHistoryLimit: 'n/a', minReadySeconds: 'n/a' } },
  Job: { ...WORKLOAD_COMMON, spec: { template: TEMPLATE, completions: true, parallelism: true, backoffLimit: true, selector: 'n/a', manualSelector: 'n/a', ttlSecondsAfterFinished: 'n/a', activeDeadlineSeconds: 'n/a', completionMode: true, backoffLimitPerIndex: true, suspend: 'n/a' } },
  ConfigMap: { ...WORKLOAD_COMMON, data: true, binaryData: true, immutable: true },
  Secret: { ...WORKLOAD_COMMON, data: true, stringData: true, type: true, immutable: true },
  PersistentVolumeClaim: { ...WORKLOAD_COMMON, spec: 'n/a' },
  Service: {
    ...WORKLOAD_COMMON,
    spec: {
      type: true, selector: true, clusterIP: true, clusterIPs: true, sessionAffinity: true, sessionAffinityConfig: true,
      publishNotReadyAddresses: true, externalTrafficPolicy: true, externalName: true,
      ports: { each: { name: true, protocol: true, port: true, targetPort: true, nodePort: true, appProtocol: 'n/a' } },
      internalTrafficPolicy: 'n/a', ipFamilies: 'n/a', ipFamilyPolicy: 'n/a', allocateLoadBalancerNodePorts: 'n/a',
      loadBalancerClass: 'n/a', loadBalancerIP: 'n/a', loadBalancerSourceRanges: 'n/a', healthCheckNodePort: 'n/a', trafficDistribution: 'n/a',
    },
  },
};

/** The support trees, for the README's table (one source of truth). */
export const SUPPORTED_FIELDS = SUPPORT;

function walk(value: unknown, support: Support, path: PathSegment[], unsupported: PathSegment[][], notApplicable: PathSegment[][]): void {
  if (support === true || value === null || value === undefined) return;
  if (support === 'n/a') { notApplicable.push(path); return; }
  if ('each' in support && Object.keys(support).length === 1) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, (support as { each: Support }).each, [...path, i], unsupported, notApplicable));
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value as Obj)) {
    if (v === null || v === undefined) continue;
    const s = (support as Record<string, Support>)[k];
    if (s === undefined) unsupported.push([...path, k]);
    else walk(v, s, [...path, k], unsupported, notApplicable);
  }
}

function at(doc: ParsedDoc, path: PathSegment[], message: string, severity: 'error' | 'warning'): Diagnostic {
  const p = doc.position(path);
  return { file: doc.file, line: p.line, col: p.col, path: formatPath([...doc.basePath, ...path]), message, severity };
}

interface PodMeta { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> }

function containerSpec(podName: string, c: Obj, pod: PodSpec, meta: PodMeta, base: PathSegment[], ctx: PlanContext, problems: PlanProblem[], init: 'init' | 'sidecar' | undefined, podObj: Obj, podBase: PathSegment[]): ContainerSpec {
  const env = planEnv(c, base, meta, ctx);
  const mounts = planMounts(c, base, env.lookup);
  const sec = planSecurity(podObj, c, base, podBase, !!pod.hostNetwork);
  const probes = planProbes(c, base, init);
  problems.push(...env.problems, ...mounts.problems, ...sec.problems, ...probes.problems);
  return {
    name: `${podName}-${c.name}`,
    kubeName: c.name,
    image: c.image,
    kube: { command: expandArgs(c.command, env.lookup), args: expandArgs(c.args, env.lookup) },
    env: env.env,
    secretEnv: env.secretEnv.length ? env.secretEnv : undefined,
    podIPEnv: env.podIPEnv.length ? env.podIPEnv : undefined,
    workingDir: c.workingDir,
    ports: (c.ports ?? []).map((p: Obj) => ({ containerPort: p.containerPort, hostPort: p.hostPort, hostIP: p.hostIP, protocol: p.protocol ?? 'TCP', name: p.name })),
    volumeMounts: mounts.mounts.length ? mounts.mounts : undefined,
    restartPolicy: init === 'sidecar' ? 'Always' : pod.restartPolicy,
    stopTimeout: pod.terminationGracePeriodSeconds,
    init,
    security: sec.security,
    resources: planResources(c),
    lifecycle: lifecycleOf(c, base, problems),
    stopSignal: c.lifecycle?.stopSignal,
    pullPolicy: c.imagePullPolicy,
    pullSecrets: podObj.imagePullSecrets?.length ? podObj.imagePullSecrets.map((s: Obj) => s.name) : undefined,
    probes: probes.probes,
  };
}

/** postStart/preStop handlers: exec, httpGet (a named port is the container's), sleep. */
function lifecycleOf(c: Obj, base: PathSegment[], problems: PlanProblem[]): ContainerSpec['lifecycle'] {
  const out: NonNullable<ContainerSpec['lifecycle']> = {};
  for (const hook of ['postStart', 'preStop'] as const) {
    const h = c.lifecycle?.[hook];
    if (!h) continue;
    const p = [...base, 'lifecycle', hook];
    if (h.exec) out[hook] = { exec: h.exec.command ?? [] };
    else if (h.sleep) out[hook] = { sleep: Number(h.sleep.seconds) };
    else if (h.httpGet) {
      let port = h.httpGet.port;
      if (typeof port === 'string' && !/^\d+$/.test(port)) {
        port = (c.ports ?? []).find((x: Obj) => x.name === port)?.containerPort;
        if (!port) { problems.push({ path: [...p, 'httpGet', 'port'], message: `no container port named "${h.httpGet.port}"`, severity: 'error' }); continue; }
      }
      out[hook] = { httpGet: { path: h.httpGet.path, port: Number(port), host: h.httpGet.host, scheme: h.httpGet.scheme } };
    } else {
      problems.push({ path: p, message: 'handler not supported by peapod yet (supported: exec, httpGet, sleep)', severity: 'error' });
    }
  }
  return Object.keys(out).length ? out : undefined;
}

function podFrom(name: string, meta: Obj, spec: Obj, source: PlannedPod['source'], object: unknown, ctx: PlanContext, problems: PlanProblem[], basePath: PathSegment[]): PlannedPod {
  const pod: PodSpec = {
    name,
    hostname: spec.hostname,
    labels: meta.labels,
    annotations: meta.annotations,
    shareProcessNamespace: spec.shareProcessNamespace,
    restartPolicy: spec.restartPolicy ?? 'Always',
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
    kube: { kind: source.kind, name: source.name, file: source.file, object },
    hostNetwork: spec.hostNetwork || undefined,
    hostAliases: spec.hostAliases,
    dnsPolicy: spec.dnsPolicy,
    dnsConfig: spec.dnsConfig,
    fsGroup: spec.securityContext?.fsGroup,
    resources: planResources(spec),
    ...(spec.enableServiceLinks === false ? { enableServiceLinks: false } : {}),
    ...(typeof spec.subdomain === 'string' && spec.subdomain ? { subdomain: spec.subdomain } : {}),
  };
  if (pod.fsGroup === undefined) delete pod.fsGroup;
  if (pod.resources === undefined) delete pod.resources;
  planStaticIPs(pod, [...basePath.slice(0, -1), 'metadata'], problems);
  const pm: PodMeta = { name, namespace: meta.namespace ?? 'default', labels: meta.labels ?? {}, annotations: meta.annotations ?? {} };
  const vols = planVolumes(spec, pm, ctx);
  // planVolumes reports paths from the pod spec's object; they sit under basePath in the document
  problems.push(...vols.problems.map((p) => ({ ...p, path: [...basePath, ...p.path.slice(1)] })));
  if (vols.volumes.length) pod.volumes = vols.volumes;
  const inits = (spec.initContainers ?? []).map((c: Obj, i: number) =>
    containerSpec(name, c, pod, pm, [...basePath, 'initContainers', i], ctx, problems, c.restartPolicy === 'Always' ? 'sidecar' : 'init', spec, basePath));
  const apps = (spec.containers ?? []).map((c: Obj, i: number) => containerSpec(name, c, pod, pm, [...basePath, 'containers', i], ctx, problems, undefined, spec, basePath));
  return { pod, containers: [...inits, ...apps], source };
}

/** ConfigMaps and secret key lists of the play (and of --configmap files). */
function collectObjects(docs: readonly ParsedDoc[], extra: readonly ParsedDoc[]): { ctx: Omit<PlanContext, 'nodeName' | 'hostIP' | 'nodeCpus' | 'nodeMemoryBytes'>; secrets: PlannedSecret[]; claims: string[] } {
  const configMaps: PlanContext['configMaps'] = new Map();
  for (const d of [...extra, ...docs]) {
    const v = d.value as Obj;
    if (v?.kind === 'ConfigMap') configMaps.set(v.metadata.name, { data: v.data ?? {}, binaryData: v.binaryData ?? {} });
  }
  const secrets: PlannedSecret[] = [];
  const secretKeys: PlanContext['secretKeys'] = new Map();
  const claims: string[] = [];
  for (const d of docs) {
    const v = d.value as Obj;
    if (v?.kind === 'Secret') {
      const data: Record<string, string> = { ...(v.data ?? {}) };
      for (const [k, x] of Object.entries(v.stringData ?? {})) data[k] = Buffer.from(String(x)).toString('base64');
      secrets.push({ name: v.metadata.name, type: v.type, data, source: { file: d.file, name: v.metadata.name } });
      secretKeys.set(v.metadata.name, Object.keys(data));
    } else if (v?.kind === 'PersistentVolumeClaim') {
      claims.push(v.metadata.name);
    }
  }
  return { ctx: { configMaps, secretKeys }, secrets, claims };
}

/**
 * Services: a virtual IP with its rules and names (engine/network/services.ts). The nodePorts of
 * NodePort (and LoadBalancer) Services are kept aside on the pods the selector matches, for
 * rootless peapod, which has no Service rules and publishes them as the pods' host ports.
 */
function applyServices(docs: readonly ParsedDoc[], pods: PlannedPod[], diagnostics: Diagnostic[], services: PlannedService[]): void {
  for (const d of docs) {
    const v = d.value as Obj;
    if (v?.kind !== 'Service') continue;
    const planned = planService(v, d.file);
    for (const p of planned.problems) diagnostics.push(at(d, p.path, p.message, p.severity));
    if (planned.service) services.push(planned.service);
    const spec = v.spec ?? {};
    const type = spec.type ?? 'ClusterIP';
    const selector: Record<string, string> = spec.selector ?? {};
    const matched = pods.filter((p) => Object.keys(selector).length > 0 && Object.entries(selector).every(([k, x]) => p.pod.labels?.[k] === x));
    (spec.ports ?? []).forEach((port: Obj, i: number) => {
      if (!(type === 'NodePort' || type === 'LoadBalancer') || !port.nodePort) return;
      for (const p of matched) {
        const target = port.targetPort ?? port.port;
        let containerPort: number | undefined = typeof target === 'number' ? target : /^\d+$/.test(String(target)) ? Number(target) : undefined;
        if (containerPort === undefined) containerPort = p.containers.flatMap((c) => c.ports ?? []).find((x) => x.name === target)?.containerPort;
        if (!containerPort) {
          diagnostics.push(at(d, ['spec', 'ports', i, 'targetPort'], `no container port named "${target}" in pod ${p.pod.name}: the pod is no endpoint of this port`, 'warning'));
          continue;
        }
        const protocol = String(port.protocol ?? 'TCP').toLowerCase() as 'tcp' | 'udp' | 'sctp';
        (p.nodePorts ??= []).push({ hostIP: '', hostPort: port.nodePort, containerPort, protocol });
      }
    });
  }
}

const isIndexed = (v: Obj): boolean => v.kind === 'Job' && v.spec?.completionMode === 'Indexed';
const INDEX_ANNOTATION = 'batch.kubernetes.io/job-completion-index';

/**
 * The template of pod `index` of an Indexed Job: the index as annotation (and label, as since
 * Kubernetes 1.28) and as JOB_COMPLETION_INDEX, appended to every container's env as the Job
 * controller does (so the user's own variables cannot refer to it).
 */
function indexedTemplate(tmpl: Obj, meta: Obj, index: number): { spec: Obj; meta: Obj } {
  const withIndex = (c: Obj) => ({ ...c, env: [...(c.env ?? []), { name: 'JOB_COMPLETION_INDEX', value: String(index) }] });
  const spec = { ...(tmpl.spec ?? {}) };
  if (spec.containers) spec.containers = spec.containers.map(withIndex);
  if (spec.initContainers) spec.initContainers = spec.initContainers.map(withIndex);
  return {
    spec,
    meta: { ...meta, labels: { ...(meta.labels ?? {}), [INDEX_ANNOTATION]: String(index) }, annotations: { ...(meta.annotations ?? {}), [INDEX_ANNOTATION]: String(index) } },
  };
}

/** Builds the plan. Assumes the documents passed validation (types and required fields hold). */
export function planKube(docs: readonly ParsedDoc[], opts: PlanOptions = {}): Plan {
  const pods: PlannedPod[] = [];
  const diagnostics: Diagnostic[] = [];
  const overrides = (opts.publish ?? []).map(parsePublish);
  const objects = collectObjects(docs, opts.configMapDocs ?? []);
  const node = opts.node ?? { name: 'localhost', hostIP: '127.0.0.1', cpus: 1, memoryBytes: 1 << 30 };
  const ctx: PlanContext = { ...objects.ctx, nodeName: node.name, hostIP: node.hostIP, nodeCpus: node.cpus, nodeMemoryBytes: node.memoryBytes };
  // Documents apply in dependency order, whatever their order in the files.
  const ordered = [...docs].sort((a, b) => PLAN_ORDER.indexOf(String(a.kind)) - PLAN_ORDER.indexOf(String(b.kind)));
  for (const doc of ordered) {
    const v = doc.value as Obj;
    const source = { file: doc.file, kind: String(v.kind), name: String(v.metadata?.name) };
    const support = SUPPORT[String(v.kind)];
    if (!support) {
      diagnostics.push(at(doc, ['kind'], `kind ${v.kind} is not supported by play kube (supported: ${Object.keys(SUPPORT).join(', ')})`, 'error'));
      continue;
    }
    const problems: PlanProblem[] = [];
    if (v.kind === 'Pod') {
      pods.push({ ...podFrom(v.metadata.name, v.metadata, v.spec ?? {}, source, v, ctx, problems, ['spec']), at: { doc, base: ['spec'] } });
    } else if (kindInfo(v.kind)?.workload) {
      const workload = kindInfo(v.kind)!.workload!;
      const tmpl = v.spec?.template ?? {};
      const meta = { ...(tmpl.metadata ?? {}), namespace: v.metadata.namespace, annotations: { ...(v.metadata.annotations ?? {}), ...(tmpl.metadata?.annotations ?? {}) } };
      if (!Object.keys(meta.annotations).length) delete meta.annotations;
      const count = workload.count(v);
      for (let i = 0; i < count; i++) {
        const name = workload.name(v, i);
        const perPod: PlanProblem[] = [];
        const t = isIndexed(v) ? indexedTemplate(tmpl, meta, i) : { spec: tmpl.spec ?? {}, meta };
        const planned = podFrom(name, t.meta, t.spec, source, v, ctx, perPod, ['spec', 'template', 'spec']);
        // A Job retries a failing container (OnFailure) at most backoffLimit times (default 6); an
        // Indexed Job with backoffLimitPerIndex, that many times per index.
        if (v.kind === 'Job') for (const c of planned.containers) c.restartLimit = (isIndexed(v) ? v.spec?.backoffLimitPerIndex : undefined) ?? v.spec?.backoffLimit ?? 6;
        // A Job runs `parallelism` pods at once (Kubernetes' default 1); the others wait their turn.
        const deferred = v.kind === 'Job' && i >= (v.spec?.parallelism ?? 1);
        pods.push({ ...planned, ...(deferred ? { deferred } : {}), at: { doc, base: ['spec', 'template', 'spec'] } });
        if (i === 0) problems.push(...perPod);
      }
    }
    for (const p of problems) diagnostics.push(at(doc, p.path, p.message, p.severity));
    const unsupported: PathSegment[][] = [];
    const notApplicable: PathSegment[][] = [];
    walk(v, support, [], unsupported, notApplicable);
    for (const p of unsupported) diagnostics.push(at(doc, p, 'not supported by peapod yet', 'error'));
    // `status` is written by a cluster, never read from a manifest: ignored without a word, as the API server does
    for (const p of notApplicable) if (p[0] !== 'status') diagnostics.push(at(doc, p, 'does not apply on one host: ignored', 'warning'));
  }
  const services: PlannedService[] = [];
  applyServices(docs, pods, diagnostics, services);
  staticIPsFromFlags(pods, opts, diagnostics);
  for (const p of pods) {
    if (p.pod.hostNetwork) {
      // The pod uses the host's ports directly: nothing to forward.
      if (opts.network && opts.network !== 'host') diagnostics.push({ file: p.source.file, line: 1, col: 1, path: 'spec.hostNetwork', message: `hostNetwork pod "${p.pod.name}" cannot join network ${opts.network}`, severity: 'error' });
      delete p.pod.publish;
      continue;
    }
    if (opts.network === 'host') {
      p.pod.hostNetwork = true;
      if (p.pod.ips) diagnostics.push({ file: p.source.file, line: 1, col: 1, path: 'metadata.annotations', message: `pod "${p.pod.name}" has a static IP: it cannot join the host network`, severity: 'error' });
    } else if (opts.network) p.pod.network = opts.network;
    if (!p.pod.hostNetwork) {
      const ports = [...publishedPorts(p.containers, opts, overrides), ...(p.pod.publish ?? [])];
      if (ports.length) p.pod.publish = ports;
    }
  }
  // Deployment replicas with the same hostPort cannot all bind it on one host.
  const byHostPort = new Map<string, PlannedPod>();
  for (const p of pods) {
    for (const m of p.pod.publish ?? []) {
      const key = `${m.hostPort}/${m.protocol}`;
      const prev = byHostPort.get(key);
      if (prev && prev !== p) {
        diagnostics.push({
          ...hostPortPosition(p, m.hostPort),
          message: prev.source.name === p.source.name && p.source.kind === 'Deployment'
            ? `Deployment ${p.source.name}: ${pods.filter((x) => x.source.name === p.source.name).length} replicas cannot all publish host port ${key} on one host: use --publish to map the port, or replicas: 1`
            : `host port ${key} is published by both pod "${prev.pod.name}" and pod "${p.pod.name}"`,
          severity: 'error',
        });
        break;
      }
      byHostPort.set(key, p);
    }
  }
  // One static address, one pod (a Deployment's replicas cannot share one).
  const byIP = new Map<string, PlannedPod>();
  for (const p of pods) {
    for (const ip of p.pod.ips ?? []) {
      const key = `${p.pod.network ?? ''}/${ip}`;
      const prev = byIP.get(key);
      if (prev) {
        diagnostics.push({
          file: p.source.file, line: 1, col: 1, path: 'metadata.annotations',
          message: prev.source.name === p.source.name && prev.source.kind === p.source.kind
            ? `${p.source.kind} ${p.source.name}: its pods cannot all have the static IP ${ip}: give it replicas: 1, or play it with one --ip per pod`
            : `static IP ${ip} is given to both pod "${prev.pod.name}" and pod "${p.pod.name}"`,
          severity: 'error',
        });
      } else byIP.set(key, p);
    }
  }
  // Two objects that would make the same pod, in one play, are an error before anything runs.
  const seen = new Map<string, PlannedPod>();
  for (const p of pods) {
    const prev = seen.get(p.pod.name);
    if (prev) {
      diagnostics.push({ file: p.source.file, line: 1, col: 1, path: '', message: `pod "${p.pod.name}" is defined twice (also by ${prev.source.kind} ${prev.source.name} in ${prev.source.file})`, severity: 'error' });
    }
    seen.set(p.pod.name, p);
  }
  // Claims named by pods are made too; secrets named by pods but not in the play must exist already.
  const claims = new Set(objects.claims);
  const external = new Map<string, boolean>();
  for (const p of pods) {
    for (const v of p.pod.volumes ?? []) {
      if (v.type === 'persistentVolumeClaim') claims.add(v.claimName);
      if (v.type === 'secret' && v.source && !ctx.secretKeys.has(v.source)) external.set(v.source, (external.get(v.source) ?? true) && !!v.optional);
    }
    for (const c of p.containers) {
      for (const r of c.secretEnv ?? []) if (!ctx.secretKeys.has(r.secret)) external.set(r.secret, (external.get(r.secret) ?? true) && !!r.optional);
    }
  }
  return {
    pods,
    secrets: objects.secrets,
    claims: [...claims],
    externalSecrets: [...external].map(([name, optional]) => ({ name, optional })),
    services,
    diagnostics,
  };
}

/**
 * play kube --ip: the pods (those with a network of their own) take the addresses in order, as
 * Podman's; a pod beyond the last one keeps its annotation or gets a free address (a warning).
 */
function staticIPsFromFlags(pods: PlannedPod[], opts: PlanOptions, diagnostics: Diagnostic[]): void {
  if (!opts.ips?.length) return;
  const netted = pods.filter((p) => !p.pod.hostNetwork && opts.network !== 'host' && opts.network !== 'none');
  opts.ips.forEach((v, i) => {
    const r = parseStaticIPs(v);
    if (r.problem) throw new PeapodError('invalid', `invalid --ip "${v.length > 64 ? `${v.slice(0, 64)}...` : v}": static IP ${r.problem}`);
    const p = netted[i];
    if (p) p.pod.ips = r.ips;
  });
  const file = pods[0]?.source.file ?? '';
  if (opts.ips.length > netted.length) diagnostics.push({ file, line: 1, col: 1, path: '', message: `${opts.ips.length} --ip given for ${netted.length} pod${netted.length === 1 ? '' : 's'} with a network: the last ${opts.ips.length - netted.length} not used`, severity: 'warning' });
  else if (opts.ips.length < netted.length) diagnostics.push({ file, line: 1, col: 1, path: '', message: `${opts.ips.length} --ip given for ${netted.length} pods: no more static IPs left, pod ${netted[opts.ips.length].pod.name} and later ones get a free address`, severity: 'warning' });
}

/** Position of the hostPort field that publishes `port` in a planned pod's document. */
function hostPortPosition(p: PlannedPod, port: number): Pick<Diagnostic, 'file' | 'line' | 'col' | 'path'> {
  if (!p.at) return { file: p.source.file, line: 1, col: 1, path: '' };
  let spec: any = p.at.doc.value;
  for (const k of p.at.base) spec = spec?.[k];
  for (const list of ['initContainers', 'containers']) {
    const cs: any[] = spec?.[list] ?? [];
    for (let i = 0; i < cs.length; i++) {
      const j = (cs[i].ports ?? []).findIndex((x: any) => x.hostPort === port);
      if (j >= 0) {
        const path = [...p.at.base, list, i, 'ports', j, 'hostPort'];
        const pos = p.at.doc.position(path);
        return { file: p.at.doc.file, line: pos.line, col: pos.col, path: formatPath([...p.at.doc.basePath, ...path]) };
      }
    }
  }
  const pos = p.at.doc.position(p.at.base);
  return { file: p.at.doc.file, line: pos.line, col: pos.col, path: formatPath([...p.at.doc.basePath, ...p.at.base]) };
}

/** What a set of documents defines (for kube down), without validating them. */
export function podNamesOf(docs: readonly ParsedDoc[]): Array<{ kind: string; name: string }> {
  return docs.filter((d) => kindInfo(String(d.kind))?.down === 'pods').map((d) => ({ kind: d.kind!, name: d.name ?? '' }));
}

/** Services a set of documents defines (for kube down): namespace/name. */
export function servicesOf(docs: readonly ParsedDoc[]): string[] {
  return docs.filter((d) => d.kind === 'Service' && d.name).map((d) => `${(d.value as Obj)?.metadata?.namespace ?? 'default'}/${d.name}`);
}

/** Secrets and claims a set of documents defines (for kube down). */
export function configObjectsOf(docs: readonly ParsedDoc[]): { secrets: string[]; claims: string[] } {
  const names = (down: string) => docs.filter((d) => kindInfo(String(d.kind))?.down === down && d.name).map((d) => d.name!);
  return { secrets: names('secret'), claims: names('volume') };
}
