// The README's supported-fields table, made from the planner's support trees (the one source of
// truth) and the field lists of the generated schemas, with Podman 4.3's support beside ours.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SUPPORTED_FIELDS } from './plan.js';
import { schemasDir } from './validate.js';
import { CONTROLLER_KINDS, KINDS } from './kinds.js';

type Support = true | 'n/a' | { [k: string]: Support } | { each: Support };

/** Podman 4.3.1's `kube play` support, per its docs/kubernetes_support.md (our own summary). */
const PODMAN: Record<string, string> = {
  'Service spec.ports': 'nodePort only', 'Service spec.selector': 'yes', 'Service spec.type': 'NodePort only',
  'Pod spec.containers': 'yes', 'Pod spec.initContainers': 'yes', 'Pod spec.volumes': 'yes', 'Pod spec.restartPolicy': 'yes',
  'Pod spec.terminationGracePeriodSeconds': 'yes', 'Pod spec.hostname': 'yes', 'Pod spec.hostAliases': 'yes', 'Pod spec.dnsConfig': 'yes',
  'Pod spec.hostNetwork': 'yes', 'Pod spec.hostPID': 'yes', 'Pod spec.hostIPC': 'yes', 'Pod spec.shareProcessNamespace': 'yes',
  'Pod spec.securityContext': 'partly', 'Pod spec.nodeSelector': 'n/a', 'Pod spec.nodeName': 'n/a', 'Pod spec.affinity': 'n/a',
  'Pod spec.tolerations': 'n/a', 'Pod spec.schedulerName': 'n/a', 'Pod spec.topologySpreadConstraints': 'n/a',
  'container name': 'yes', 'container image': 'yes', 'container imagePullPolicy': 'yes', 'container command': 'yes', 'container args': 'yes',
  'container workingDir': 'yes', 'container ports': 'yes', 'container env': 'yes', 'container envFrom': 'partly (no prefix)',
  'container volumeMounts': 'partly (no subPathExpr)', 'container resources': 'yes', 'container lifecycle': 'stopSignal only',
  'container livenessProbe': 'yes', 'container securityContext': 'partly',
  'Deployment spec.replicas': 'forced to 1', 'Deployment spec.selector': 'yes', 'Deployment spec.template': 'yes',
  'DaemonSet spec.selector': 'yes', 'DaemonSet spec.template': 'yes', 'Job spec.template': 'yes',
  'ConfigMap data': 'yes', 'ConfigMap binaryData': 'yes', 'Secret data': 'yes', 'Secret stringData': 'yes',
};

function ours(s: Support | undefined): string {
  if (s === undefined) return 'no: an error names it';
  if (s === 'n/a') return 'n/a: accepted with a note';
  if (s === true) return 'yes';
  const keys = 'each' in s && Object.keys(s).length === 1 ? Object.keys((s as { each: Record<string, Support> }).each) : Object.keys(s);
  const inner = 'each' in s && Object.keys(s).length === 1 ? (s as { each: Record<string, Support> }).each : (s as Record<string, Support>);
  const yes = keys.filter((k) => inner[k] !== 'n/a');
  return `yes: ${yes.join(', ')}`;
}

function schemaProps(file: string, def: string): string[] {
  const s = JSON.parse(readFileSync(path.join(schemasDir(), file), 'utf8'));
  return Object.keys((s.definitions ?? s.$defs)[def]?.properties ?? {}).sort();
}

/** Markdown table: object/field, peapod, Podman 4.3. */
export function supportTable(): string {
  const rows: string[][] = [];
  const add = (label: string, key: string, s: Support | undefined) => rows.push([label, ours(s), PODMAN[key] ?? 'no']);
  const pod = SUPPORTED_FIELDS.Pod as Record<string, Record<string, Support>>;
  for (const f of schemaProps('pod.json', 'V1PodSpec')) add(`Pod \`spec.${f}\``, `Pod spec.${f}`, pod.spec[f]);
  const container = (pod.spec.containers as { each: Record<string, Support> }).each;
  for (const f of schemaProps('pod.json', 'V1Container')) add(`container \`${f}\``, `container ${f}`, container[f]);
  for (const kind of CONTROLLER_KINDS) {
    const spec = (SUPPORTED_FIELDS[kind] as Record<string, Record<string, Support>>).spec;
    const def = `V1${kind}Spec`;
    const file = `${kind.toLowerCase()}.json`;
    for (const f of schemaProps(file, def)) add(`${kind} \`spec.${f}\``, `${kind} spec.${f}`, spec[f]);
  }
  for (const kind of KINDS.filter((k) => k.plan === 'config' && k.down !== 'volume').map((k) => k.kind)) {
    const top = SUPPORTED_FIELDS[kind] as Record<string, Support>;
    for (const f of Object.keys(top).filter((k) => !['apiVersion', 'kind', 'metadata', 'status'].includes(k))) add(`${kind} \`${f}\``, `${kind} ${f}`, top[f]);
  }
  add('PersistentVolumeClaim `spec`', 'PersistentVolumeClaim spec', 'n/a');
  const service = (SUPPORTED_FIELDS.Service as Record<string, Record<string, Support>>).spec;
  for (const f of schemaProps('service.json', 'V1ServiceSpec')) add(`Service \`spec.${f}\``, `Service spec.${f}`, service[f]);
  const head = '| object / field | peapod | Podman 4.3 |\n| --- | --- | --- |\n';
  return head + rows.map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n';
}

export const TABLE_START = '<!-- fields:start (made by `npm run fields-table` from src/kube/plan.ts) -->';
export const TABLE_END = '<!-- fields:end -->';

/** README text with the table between its markers replaced. */
export function withTable(readme: string): string {
  const a = readme.indexOf(TABLE_START);
  const b = readme.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error('README.md has no fields table markers');
  return `${readme.slice(0, a + TABLE_START.length)}\n${supportTable()}${readme.slice(b)}`;
}
