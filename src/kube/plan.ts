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
  };
  return { pod, containers: (spec.containers ?? []).map((c: Obj) => containerSpec(name, c, pod)), source };
}

/** Builds the plan. Assumes the documents passed validation (types and required fields hold). */
export function planKube(docs: readonly ParsedDoc[]): Plan {
  const pods: PlannedPod[] = [];
  const diagnostics: Diagnostic[] = [];
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
