// The one table of the Kubernetes kinds peapod knows: how each validates (its schema), plans,
// generates and goes down. validate.ts, plan.ts, generate.ts, src/app (generate, down), the CLI's
// flags and the fields table read it; a new kind is one row here (and its schema, plan, generate).
// A leaf: imports nothing, so the CLI may read it at start-up.

/** A workload's controller: its template makes `count` pods named `name(i)`. */
export interface WorkloadRule {
  count: (object: any) => number;
  name: (object: any, i: number) => string;
}

export interface KindInfo {
  apiVersion: string;
  kind: string;
  /** schema file under schemas/ (scripts/gen-schemas.ts writes one for each) */
  schema: string;
  /**
   * How play plans it: 'pod' one pod, 'workload' pods from its template, 'config' an object the
   * pods use (Secret, ConfigMap, claim), 'service' ports of the pods it selects.
   */
  plan: 'pod' | 'workload' | 'config' | 'service';
  /** pods from a template (plan: 'workload') */
  workload?: WorkloadRule;
  /** `generate kube --type` that writes it (pods and workloads) */
  generateType?: 'pod' | 'deployment' | 'daemonset' | 'job';
  /** what `kube down` removes for it: its pods, the Secret, the claim's volume (with --force), the Service, or nothing */
  down: 'pods' | 'secret' | 'volume' | 'service' | 'none';
  /** play plans documents in this order: what pods use first, then Services, then the pods */
  planOrder: number;
}

/** In the order `play kube` names them in its messages. */
export const KINDS: readonly KindInfo[] = [
  { apiVersion: 'v1', kind: 'Pod', schema: 'pod.json', plan: 'pod', generateType: 'pod', down: 'pods', planOrder: 4 },
  {
    apiVersion: 'apps/v1', kind: 'Deployment', schema: 'deployment.json', plan: 'workload', generateType: 'deployment', down: 'pods', planOrder: 5,
    workload: { count: (v) => v.spec?.replicas ?? 1, name: (v, i) => `${v.metadata.name}-pod-${i}` },
  },
  {
    apiVersion: 'apps/v1', kind: 'DaemonSet', schema: 'daemonset.json', plan: 'workload', generateType: 'daemonset', down: 'pods', planOrder: 6,
    workload: { count: () => 1, name: (v) => `${v.metadata.name}-pod` },
  },
  {
    apiVersion: 'batch/v1', kind: 'Job', schema: 'job.json', plan: 'workload', generateType: 'job', down: 'pods', planOrder: 7,
    // an Indexed Job's pods are named (and have as host name) `<job>-<index>`, as the Job controller's
    workload: { count: (v) => v.spec?.completions ?? 1, name: (v, i) => (v.spec?.completionMode === 'Indexed' ? `${v.metadata.name}-${i}` : `${v.metadata.name}-pod-${i}`) },
  },
  { apiVersion: 'v1', kind: 'ConfigMap', schema: 'configmap.json', plan: 'config', down: 'none', planOrder: 1 },
  { apiVersion: 'v1', kind: 'Secret', schema: 'secret.json', plan: 'config', down: 'secret', planOrder: 0 },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim', schema: 'persistentvolumeclaim.json', plan: 'config', down: 'volume', planOrder: 2 },
  { apiVersion: 'v1', kind: 'Service', schema: 'service.json', plan: 'service', down: 'service', planOrder: 3 },
];

/** v1 List, the wrapper `kubectl get -o yaml` writes; parse expands it into its items. */
export const LIST_KIND = { apiVersion: 'v1', kind: 'List', schema: 'list.json' } as const;

export const kindInfo = (kind: string): KindInfo | undefined => KINDS.find((k) => k.kind === kind);

/** Kinds that make pods (Pod and the workloads), in table order. */
export const POD_KINDS: readonly string[] = KINDS.filter((k) => k.plan === 'pod' || k.plan === 'workload').map((k) => k.kind);
/** Workload controllers (their pods are `<name>-pod[-N]`). */
export const CONTROLLER_KINDS: readonly string[] = KINDS.filter((k) => k.plan === 'workload').map((k) => k.kind);
/** The order play plans documents in. */
export const PLAN_ORDER: readonly string[] = [...KINDS].sort((a, b) => a.planOrder - b.planOrder).map((k) => k.kind);

export type GenerateType = NonNullable<KindInfo['generateType']>;
/** `generate kube --type` values. */
export const GENERATE_TYPES: readonly GenerateType[] = KINDS.flatMap((k) => (k.generateType ? [k.generateType] : []));
/** The kind a `--type` writes. */
export const kindOfType = (t: GenerateType): KindInfo => KINDS.find((k) => k.generateType === t)!;
