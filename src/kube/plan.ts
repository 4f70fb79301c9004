// plan: validated Kubernetes objects -> what the engine must create. Pure: no processes, no I/O,
// so every mapping rule is unit-testable. Fields that validate but that peapod does not implement
// yet are reported as warnings with their position (never silently ignored).
import type { ContainerSpec, PodSpec } from '../../engine/types.js';
import { formatPath, type Diagnostic, type PathSegment } from './diagnostics.js';
import type { ParsedDoc } from './parse.js';

export interface PlannedPod {
  pod: PodSpec;
  /** member containers; `name` is the engine name `<pod>-<ctr>`, kubeName the name in the YAML */
  containers: ContainerSpec[];
  source: { file: string; kind: string; name: string };
}

export interface Plan {
  pods: PlannedPod[];
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
}

type Mapping = NonNullable<PodSpec['publish']>[number];

/** Parses Podman's --publish syntax: [[hostIP:]hostPort:]containerPort[/protocol]. */
export function parsePublish(spec: string): Mapping {
  const m = /^(?:(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d*):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(spec.trim());
  if (!m) throw new Error(`invalid --publish "${spec}": use [[HOST-IP:]HOST-PORT:]CONTAINER-PORT[/PROTOCOL]`);
  const containerPort = Number(m[3]);
  const hostPort = m[2] ? Number(m[2]) : containerPort;
  for (const [what, v] of [['container port', containerPort], ['host port', hostPort]] as const) {
    if (v < 1 || v > 65535) throw new Error(`invalid --publish "${spec}": ${what} ${v} is not in 1-65535`);
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
 * the listed sub-fields; `'each'` marks an array whose items follow the nested tree.
 */
type Support = true | { [k: string]: Support } | { each: Support };

const CONTAINER: Support = {
  name: true, image: true, command: true, args: true, workingDir: true, imagePullPolicy: true,
  env: { each: { name: true, value: true } },
  ports: { each: { containerPort: true, hostPort: true, hostIP: true, protocol: true, name: true } },
};

const POD_SPEC: Support = {
  containers: { each: CONTAINER },
  hostname: true, shareProcessNamespace: true, terminationGracePeriodSeconds: true, restartPolicy: true,
  hostNetwork: true, hostAliases: true, dnsPolicy: true, dnsConfig: true,
};

const METADATA: Support = { name: true, namespace: true, labels: true, annotations: true };

const POD: Support = { apiVersion: true, kind: true, metadata: METADATA, spec: POD_SPEC };
const DEPLOYMENT: Support = {
  apiVersion: true, kind: true, metadata: METADATA,
  spec: { replicas: true, selector: true, template: { metadata: METADATA, spec: POD_SPEC } },
};

function unsupported(value: unknown, support: Support, path: PathSegment[], out: PathSegment[][]): void {
  if (support === true || value === null || value === undefined) return;
  if ('each' in support && Object.keys(support).length === 1) {
    if (Array.isArray(value)) value.forEach((v, i) => unsupported(v, (support as { each: Support }).each, [...path, i], out));
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value as Obj)) {
    const s = (support as Record<string, Support>)[k];
    if (s === undefined) out.push([...path, k]);
    else unsupported(v, s, [...path, k], out);
  }
}

function at(doc: ParsedDoc, path: PathSegment[], message: string, severity: 'error' | 'warning'): Diagnostic {
  const p = doc.position(path);
  return { file: doc.file, line: p.line, col: p.col, path: formatPath([...doc.basePath, ...path]), message, severity };
}

function containerSpec(podName: string, c: Obj, pod: PodSpec): ContainerSpec {
  const env = (c.env ?? []).map((e: Obj) => `${e.name}=${e.value ?? ''}`);
  return {
    name: `${podName}-${c.name}`,
    kubeName: c.name,
    image: c.image,
    kube: { command: c.command, args: c.args },
    env,
    workingDir: c.workingDir,
    ports: (c.ports ?? []).map((p: Obj) => ({ containerPort: p.containerPort, hostPort: p.hostPort, hostIP: p.hostIP, protocol: p.protocol ?? 'TCP', name: p.name })),
    restartPolicy: pod.restartPolicy,
    stopTimeout: pod.terminationGracePeriodSeconds,
  };
}

function podFrom(name: string, meta: Obj, spec: Obj, source: PlannedPod['source'], object: unknown): PlannedPod {
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
  };
  return { pod, containers: (spec.containers ?? []).map((c: Obj) => containerSpec(name, c, pod)), source };
}

/** Builds the plan. Assumes the documents passed validation (types and required fields hold). */
export function planKube(docs: readonly ParsedDoc[], opts: PlanOptions = {}): Plan {
  const pods: PlannedPod[] = [];
  const diagnostics: Diagnostic[] = [];
  const overrides = (opts.publish ?? []).map(parsePublish);
  for (const doc of docs) {
    const v = doc.value as Obj;
    const source = { file: doc.file, kind: String(v.kind), name: String(v.metadata?.name) };
    let support: Support | undefined;
    if (v.kind === 'Pod') {
      support = POD;
      pods.push(podFrom(v.metadata.name, v.metadata, v.spec ?? {}, source, v));
    } else if (v.kind === 'Deployment') {
      support = DEPLOYMENT;
      const replicas = v.spec?.replicas ?? 1;
      const tmpl = v.spec?.template ?? {};
      const meta = { ...(tmpl.metadata ?? {}), annotations: { ...(v.metadata.annotations ?? {}), ...(tmpl.metadata?.annotations ?? {}) } };
      if (!Object.keys(meta.annotations).length) delete meta.annotations;
      for (let i = 0; i < replicas; i++) {
        pods.push(podFrom(`${v.metadata.name}-pod-${i}`, meta, tmpl.spec ?? {}, source, v));
      }
    } else {
      diagnostics.push(at(doc, ['kind'], `kind ${v.kind} is not supported by play kube yet (supported: Pod, Deployment)`, 'error'));
      continue;
    }
    const paths: PathSegment[][] = [];
    unsupported(v, support, [], paths);
    for (const p of paths) diagnostics.push(at(doc, p, 'not supported by peapod yet: ignored', 'warning'));
  }
  for (const p of pods) {
    if (p.pod.hostNetwork) {
      // The pod uses the host's ports directly: nothing to forward.
      if (opts.network && opts.network !== 'host') diagnostics.push({ file: p.source.file, line: 1, col: 1, path: 'spec.hostNetwork', message: `hostNetwork pod "${p.pod.name}" cannot join network ${opts.network}`, severity: 'error' });
      continue;
    }
    if (opts.network === 'host') p.pod.hostNetwork = true;
    else if (opts.network) p.pod.network = opts.network;
    if (!p.pod.hostNetwork) {
      const ports = publishedPorts(p.containers, opts, overrides);
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
          file: p.source.file, line: 1, col: 1, path: '',
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
  // Two objects that would make the same pod, in one play, are an error before anything runs.
  const seen = new Map<string, PlannedPod>();
  for (const p of pods) {
    const prev = seen.get(p.pod.name);
    if (prev) {
      diagnostics.push({ file: p.source.file, line: 1, col: 1, path: '', message: `pod "${p.pod.name}" is defined twice (also by ${prev.source.kind} ${prev.source.name} in ${prev.source.file})`, severity: 'error' });
    }
    seen.set(p.pod.name, p);
  }
  return { pods, diagnostics };
}

/** Names of the pods a set of documents defines (for kube down), without validating them. */
export function podNamesOf(docs: readonly ParsedDoc[]): Array<{ kind: string; name: string }> {
  return docs.filter((d) => d.kind === 'Pod' || d.kind === 'Deployment').map((d) => ({ kind: d.kind!, name: d.name ?? '' }));
}
