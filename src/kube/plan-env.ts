// Environment, command expansion and volumes of a Kubernetes container, as the kubelet builds them.
// Pure: ConfigMap contents and node facts come in; secret values never do (only references).
import type { ContainerSpec, PodVolume, SecretEnvRef, VolumeFile, VolumeMount } from '../../engine/types.js';
import { parseQuantity } from './validate.js';

type Obj = Record<string, any>;

/** What the planner knows besides the pod: objects of the play and facts of this host. */
export interface PlanContext {
  configMaps: Map<string, { data: Record<string, string>; binaryData: Record<string, string> }>;
  /** secrets defined in this play: name -> keys (values stay out of the plan's pod specs) */
  secretKeys: Map<string, string[]>;
  nodeName: string;
  hostIP: string;
  nodeCpus: number;
  nodeMemoryBytes: number;
}

/** A problem found while planning, at a path relative to the pod spec's object. */
export interface PlanProblem {
  path: Array<string | number>;
  message: string;
  severity: 'error' | 'warning';
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * Kubernetes' $(VAR) expansion: `$(NAME)` becomes the value of NAME when defined, and stays as it
 * is when not; `$$` is an escaped `$`; any other `$` is kept.
 */
export function expand(input: string, vars: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) { out += c; continue; }
    const n = input[i + 1];
    if (n === '$') { out += '$'; i++; continue; }
    if (n === '(') {
      const end = input.indexOf(')', i + 2);
      if (end < 0) { out += input.slice(i); break; }
      const name = input.slice(i + 2, end);
      const v = vars(name);
      out += v ?? `$(${name})`;
      i = end;
      continue;
    }
    out += c;
  }
  return out;
}

function fieldValue(fieldPath: string, pod: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string> }, ctx: PlanContext): string | undefined | null {
  const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? pod.labels : pod.annotations)[m[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name': return pod.name;
    case 'metadata.namespace': return pod.namespace;
    case 'metadata.labels': return Object.entries(pod.labels).sort().map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'metadata.annotations': return Object.entries(pod.annotations).sort().map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'spec.nodeName': return ctx.nodeName;
    case 'spec.serviceAccountName': return 'default';
    case 'status.hostIP': return ctx.hostIP;
    case 'status.podIP': return null; // known only when the pod's network is up
    default: return undefined;
  }
}

function resourceValue(ref: Obj, container: Obj, ctx: PlanContext): string | undefined {
  const res = container?.resources ?? {};
  const [kind, what] = String(ref.resource).split('.');
  const given = res[kind]?.[what] ?? (kind === 'requests' ? res.limits?.[what] : undefined);
  let value: number;
  if (what === 'cpu') value = parseQuantity(given) ?? (kind === 'limits' ? ctx.nodeCpus : 0);
  else if (what === 'memory' || what === 'ephemeral-storage') value = parseQuantity(given) ?? (kind === 'limits' ? ctx.nodeMemoryBytes : 0);
  else return undefined;
  const divisor = parseQuantity(ref.divisor ?? 1) || 1;
  return String(Math.ceil(value / divisor));
}

export interface PlannedEnv {
  env: string[];
  secretEnv: SecretEnvRef[];
  podIPEnv: string[];
  problems: PlanProblem[];
  lookup: (name: string) => string | undefined;
}

/** env and envFrom of one container; explicit env beats envFrom, later entries beat earlier ones. */
export function planEnv(c: Obj, base: Array<string | number>, pod: Parameters<typeof fieldValue>[1], ctx: PlanContext): PlannedEnv {
  const values = new Map<string, string>();
  const secretEnv: SecretEnvRef[] = [];
  const podIPEnv: string[] = [];
  const problems: PlanProblem[] = [];
  const set = (name: string, v: string) => { values.delete(name); values.set(name, v); };
  (c.envFrom ?? []).forEach((src: Obj, i: number) => {
    const prefix = src.prefix ?? '';
    if (src.configMapRef) {
      const cm = ctx.configMaps.get(src.configMapRef.name);
      if (!cm) {
        if (!src.configMapRef.optional) problems.push({ path: [...base, 'envFrom', i, 'configMapRef', 'name'], message: `configmap "${src.configMapRef.name}" not found (define it in the play or pass --configmap)`, severity: 'error' });
        return;
      }
      for (const [k, v] of Object.entries(cm.data).sort()) {
        if (ENV_NAME.test(prefix + k)) set(prefix + k, v);
        else problems.push({ path: [...base, 'envFrom', i], message: `key "${k}" of configmap ${src.configMapRef.name} is not a valid environment variable name: skipped`, severity: 'warning' });
      }
    } else if (src.secretRef) {
      secretEnv.push({ name: '', secret: src.secretRef.name, prefix, optional: !!src.secretRef.optional });
    }
  });
  const lookup = (name: string) => values.get(name);
  (c.env ?? []).forEach((e: Obj, i: number) => {
    const p = [...base, 'env', i];
    if (!e.valueFrom) {
      set(e.name, expand(String(e.value ?? ''), lookup));
      return;
    }
    const vf = e.valueFrom;
    if (vf.configMapKeyRef) {
      const cm = ctx.configMaps.get(vf.configMapKeyRef.name);
      const v = cm?.data[vf.configMapKeyRef.key];
      if (v === undefined) {
        if (!vf.configMapKeyRef.optional) {
          problems.push({ path: [...p, 'valueFrom', 'configMapKeyRef'], message: cm ? `configmap "${vf.configMapKeyRef.name}" has no key "${vf.configMapKeyRef.key}"` : `configmap "${vf.configMapKeyRef.name}" not found (define it in the play or pass --configmap)`, severity: 'error' });
        }
        return;
      }
      set(e.name, v);
    } else if (vf.secretKeyRef) {
      const keys = ctx.secretKeys.get(vf.secretKeyRef.name);
      if (keys && !keys.includes(vf.secretKeyRef.key) && !vf.secretKeyRef.optional) {
        problems.push({ path: [...p, 'valueFrom', 'secretKeyRef'], message: `secret "${vf.secretKeyRef.name}" has no key "${vf.secretKeyRef.key}"`, severity: 'error' });
        return;
      }
      values.delete(e.name);
      secretEnv.push({ name: e.name, secret: vf.secretKeyRef.name, key: vf.secretKeyRef.key, optional: !!vf.secretKeyRef.optional });
    } else if (vf.fieldRef) {
      const v = fieldValue(vf.fieldRef.fieldPath, pod, ctx);
      if (v === null) { values.delete(e.name); podIPEnv.push(e.name); return; }
      if (v === undefined) {
        problems.push({ path: [...p, 'valueFrom', 'fieldRef', 'fieldPath'], message: `unsupported fieldPath "${vf.fieldRef.fieldPath}" (supported: metadata.name, metadata.namespace, metadata.labels['k'], metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.hostIP, status.podIP)`, severity: 'error' });
        return;
      }
      set(e.name, v);
    } else if (vf.resourceFieldRef) {
      const v = resourceValue(vf.resourceFieldRef, c, ctx);
      if (v === undefined) {
        problems.push({ path: [...p, 'valueFrom', 'resourceFieldRef', 'resource'], message: `unsupported resource "${vf.resourceFieldRef.resource}" (supported: limits/requests cpu, memory, ephemeral-storage)`, severity: 'error' });
        return;
      }
      set(e.name, v);
    }
  });
  return { env: [...values].map(([k, v]) => `${k}=${v}`), secretEnv, podIPEnv, problems, lookup };
}

/** The pod's volumes, in the engine's terms. */
export function planVolumes(spec: Obj, pod: Parameters<typeof fieldValue>[1], ctx: PlanContext): { volumes: PodVolume[]; problems: PlanProblem[] } {
  const volumes: PodVolume[] = [];
  const problems: PlanProblem[] = [];
  (spec.volumes ?? []).forEach((v: Obj, i: number) => {
    const p = ['spec', 'volumes', i];
    const mode = (m: unknown) => (typeof m === 'number' ? m : undefined);
    if (v.hostPath) {
      volumes.push({ name: v.name, type: 'hostPath', path: v.hostPath.path, hostPathType: v.hostPath.type || undefined });
    } else if (v.emptyDir) {
      volumes.push({ name: v.name, type: 'emptyDir', medium: v.emptyDir.medium || undefined, sizeLimit: v.emptyDir.sizeLimit === undefined ? undefined : parseQuantity(v.emptyDir.sizeLimit) });
    } else if (v.persistentVolumeClaim) {
      volumes.push({ name: v.name, type: 'persistentVolumeClaim', claimName: v.persistentVolumeClaim.claimName, readOnly: v.persistentVolumeClaim.readOnly || undefined });
    } else if (v.configMap) {
      const cm = ctx.configMaps.get(v.configMap.name);
      if (!cm) {
        if (!v.configMap.optional) problems.push({ path: [...p, 'configMap', 'name'], message: `configmap "${v.configMap.name}" not found (define it in the play or pass --configmap)`, severity: 'error' });
        volumes.push({ name: v.name, type: 'configMap', source: v.configMap.name, optional: true, files: [] });
        return;
      }
      const all: Record<string, string> = { ...Object.fromEntries(Object.entries(cm.data).map(([k, x]) => [k, Buffer.from(x).toString('base64')])), ...cm.binaryData };
      const items: Obj[] = v.configMap.items ?? Object.keys(all).sort().map((k) => ({ key: k, path: k }));
      const files: VolumeFile[] = [];
      items.forEach((it, j) => {
        if (all[it.key] === undefined) {
          if (!v.configMap.optional) problems.push({ path: [...p, 'configMap', 'items', j, 'key'], message: `configmap "${v.configMap.name}" has no key "${it.key}"`, severity: 'error' });
          return;
        }
        files.push({ path: it.path, mode: mode(it.mode), content: all[it.key] });
      });
      volumes.push({ name: v.name, type: 'configMap', source: v.configMap.name, optional: v.configMap.optional || undefined, defaultMode: mode(v.configMap.defaultMode), files });
    } else if (v.secret) {
      const keys = ctx.secretKeys.get(v.secret.secretName);
      const items: Obj[] | undefined = v.secret.items ?? keys?.slice().sort().map((k) => ({ key: k, path: k }));
      const files: VolumeFile[] = (items ?? []).map((it) => ({ path: it.path, mode: mode(it.mode), secretKey: it.key }));
      if (keys && v.secret.items) {
        v.secret.items.forEach((it: Obj, j: number) => {
          if (!keys.includes(it.key) && !v.secret.optional) problems.push({ path: [...p, 'secret', 'items', j, 'key'], message: `secret "${v.secret.secretName}" has no key "${it.key}"`, severity: 'error' });
        });
      }
      // Without items and not in the play: every key of the stored secret, read when the pod starts.
      volumes.push({ name: v.name, type: 'secret', source: v.secret.secretName, optional: v.secret.optional || undefined, defaultMode: mode(v.secret.defaultMode), files });
    } else if (v.downwardAPI) {
      const files: VolumeFile[] = [];
      (v.downwardAPI.items ?? []).forEach((it: Obj, j: number) => {
        if (it.fieldRef) {
          const val = fieldValue(it.fieldRef.fieldPath, pod, ctx);
          if (val === null) files.push({ path: it.path, mode: mode(it.mode), fieldPath: it.fieldRef.fieldPath });
          else if (val === undefined) problems.push({ path: [...p, 'downwardAPI', 'items', j, 'fieldRef', 'fieldPath'], message: `unsupported fieldPath "${it.fieldRef.fieldPath}"`, severity: 'error' });
          else files.push({ path: it.path, mode: mode(it.mode), content: Buffer.from(val).toString('base64') });
        } else if (it.resourceFieldRef) {
          const container = (spec.containers ?? []).find((c: Obj) => c.name === it.resourceFieldRef.containerName) ?? {};
          const val = resourceValue(it.resourceFieldRef, container, ctx);
          if (val === undefined) problems.push({ path: [...p, 'downwardAPI', 'items', j, 'resourceFieldRef'], message: `unsupported resource "${it.resourceFieldRef.resource}"`, severity: 'error' });
          else files.push({ path: it.path, mode: mode(it.mode), content: Buffer.from(val).toString('base64') });
        }
      });
      volumes.push({ name: v.name, type: 'downwardAPI', defaultMode: mode(v.downwardAPI.defaultMode), files });
    } else {
      const kind = Object.keys(v).find((k) => k !== 'name') ?? 'an empty source';
      problems.push({ path: [...p, kind], message: `volume type ${kind} is not supported by peapod yet (supported: hostPath, emptyDir, configMap, secret, persistentVolumeClaim, downwardAPI)`, severity: 'error' });
    }
  });
  return { volumes, problems };
}

/** volumeMounts of a container; subPathExpr expanded with the container's env. */
export function planMounts(c: Obj, base: Array<string | number>, lookup: (n: string) => string | undefined): { mounts: VolumeMount[]; problems: PlanProblem[] } {
  const problems: PlanProblem[] = [];
  const mounts: VolumeMount[] = (c.volumeMounts ?? []).map((m: Obj, i: number) => {
    let subPath: string | undefined = m.subPath || undefined;
    if (m.subPathExpr) subPath = expand(m.subPathExpr, lookup);
    if (subPath !== undefined && (subPath.startsWith('/') || subPath.split('/').includes('..'))) {
      problems.push({ path: [...base, 'volumeMounts', i, m.subPathExpr ? 'subPathExpr' : 'subPath'], message: `subPath "${subPath}" must be a relative path without ".."`, severity: 'error' });
    }
    return { name: m.name, mountPath: m.mountPath, readOnly: m.readOnly || undefined, subPath };
  });
  return { mounts, problems };
}

/** Kubernetes expands $(VAR) in command and args with the container's env. */
export function expandArgs(list: string[] | undefined, lookup: (n: string) => string | undefined): string[] | undefined {
  return list?.map((a) => expand(String(a), lookup));
}

export type { ContainerSpec };
