// validate: parsed manifests -> every problem in them, at once, before anything is created.
//
// Two layers: ajv against the generated JSON Schemas in schemas/ (types, unknown fields, required
// fields, apiVersion/kind), then the checks the apiserver makes that a schema cannot express (names,
// uniqueness, references between fields, port ranges, restart policies, selectors).

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, ValidateFunction } from 'ajv';
import { formatPath, sortDiagnostics, type Diagnostic, type PathSegment } from './diagnostics.js';
import type { ParsedDoc } from './parse.js';
import { KINDS, LIST_KIND, type KindInfo as FullKindInfo } from './kinds.js';
import { CONFIG_KEY, DNS1035_LABEL, DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_VALUE, QUALIFIED_NAME } from '../../engine/names.js';

/** What validation needs of a kind (kinds.ts holds the rest). */
export type KindInfo = Pick<FullKindInfo, 'apiVersion' | 'kind' | 'schema'>;

/** The kinds `peapod play kube` accepts (the table of kinds.ts; scripts/gen-schemas.ts writes one schema for each). */
export const SUPPORTED_KINDS: readonly KindInfo[] = KINDS;
export { LIST_KIND };

export interface ValidateOptions {
  /** 'strict' (default of the CLI): unknown fields are errors; 'warn': they are warnings. */
  mode: 'strict' | 'warn';
}

type Path = PathSegment[];
type Obj = Record<string, unknown>;

/** Validates every document and returns all problems, sorted by file, line and column. */
export function validateDocs(docs: readonly ParsedDoc[], opts: ValidateOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  const lists = new Set<ParsedDoc>();
  for (const doc of docs) {
    for (let l = doc.list; l; l = l.list) {
      if (lists.has(l)) continue;
      lists.add(l);
      // The wrapper itself (apiVersion, metadata, stray fields); its items are validated one by one.
      const value = stripNulls(l.value);
      const wrapper = isObj(value) ? { ...value, items: [] } : value;
      out.push(...schemaDiagnostics(l, wrapper, LIST_KIND, opts));
    }
    out.push(...validateDoc(doc, opts));
  }
  return sortDiagnostics(out, [...new Set(docs.map((d) => d.file))]);
}

function validateDoc(doc: ParsedDoc, opts: ValidateOptions): Diagnostic[] {
  const value = stripNulls(doc.value);
  const report = reporter(doc);
  if (!isObj(value)) {
    report.error([], 'document must be a mapping (a Kubernetes object)');
    return report.diagnostics;
  }
  if (value.kind === undefined) {
    report.error([], 'missing required field "kind"');
    if (value.apiVersion === undefined) report.error([], 'missing required field "apiVersion"');
    return report.diagnostics;
  }
  if (typeof value.kind !== 'string') {
    report.error(['kind'], `expected string, got ${describe(value.kind)}`);
    return report.diagnostics;
  }
  const info = SUPPORTED_KINDS.find((k) => k.kind === value.kind);
  if (!info) {
    const near = SUPPORTED_KINDS.find((k) => k.kind.toLowerCase() === (value.kind as string).toLowerCase());
    const hint = near ? ` (did you mean "${near.kind}"?)` : '';
    report.error(['kind'], `unsupported kind ${JSON.stringify(value.kind)}${hint}; supported kinds: ${supportedKindsText()}`);
    return report.diagnostics;
  }
  const schemaDiags = schemaDiagnostics(doc, value, info, opts);
  const schemaPaths = new Set(schemaDiags.map((d) => d.path));
  kubeChecks(value, info, report);
  // A value the schema already rejected needs no second message from the checks below.
  return [...schemaDiags, ...report.diagnostics.filter((d) => !schemaPaths.has(d.path))];
}

/** "Pod (v1), Deployment (apps/v1), ..." */
export function supportedKindsText(): string {
  return [...SUPPORTED_KINDS, LIST_KIND].map((k) => `${k.kind} (${k.apiVersion})`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Schemas

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();
let schemasDirCache: string | undefined;

/**
 * The schemas/ directory of the package: the nearest ancestor of this module's directory that
 * holds schemas/ (src/kube/ when run from source, dist/src/kube/ when compiled).
 */
export function schemasDir(): string {
  if (schemasDirCache) return schemasDirCache;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'schemas');
    if (existsSync(path.join(candidate, SUPPORTED_KINDS[0].schema))) return (schemasDirCache = candidate);
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the schemas/ directory above ${path.dirname(fileURLToPath(import.meta.url))}`);
    dir = up;
  }
}

/**
 * The one ajv configuration of peapod; `source` keeps the generated code, for the validators that
 * `npm run build` precompiles (scripts/gen-validators.ts) with exactly these options.
 */
export function newAjv(source = false): Ajv {
  // Loaded only here: with the precompiled validators, play kube never loads ajv's compiler (60 modules).
  const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  // optimize: false halves the compile time of these large schemas; validation stays as fast.
  const a = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, strict: true, code: { optimize: false, source } });
  a.addFormat('date-time', RFC3339);
  a.addFormat('byte', BASE64);
  return a;
}

/** Where `npm run build` puts the precompiled validator of a schema (next to this module in dist/). */
export function precompiledPath(schema: string): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'validators', schema.replace(/\.json$/, '.cjs'));
}

/** The schema text's digest: a precompiled validator is used only for the schema it was made from. */
export function schemaDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function validator(info: KindInfo): ValidateFunction {
  let fn = compiled.get(info.schema);
  if (fn) return fn;
  const text = readFileSync(path.join(schemasDir(), info.schema), 'utf8');
  fn = precompiled(info.schema, text);
  if (!fn) {
    // Compiling a schema costs 50-200 ms per kind: the build precompiles them; this path serves
    // runs from source (tests) and a schema changed since the last build.
    ajv ??= newAjv();
    fn = ajv.compile(JSON.parse(text) as object);
  }
  compiled.set(info.schema, fn);
  return fn;
}

function precompiled(schema: string, text: string): ValidateFunction | undefined {
  const file = precompiledPath(schema);
  if (!existsSync(file)) return undefined;
  try {
    const mod = createRequire(import.meta.url)(file) as ValidateFunction & { schemaDigest?: string };
    return mod.schemaDigest === schemaDigest(text) ? mod : undefined;
  } catch {
    return undefined;
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function schemaDiagnostics(doc: ParsedDoc, value: unknown, info: KindInfo, opts: ValidateOptions): Diagnostic[] {
  const validate = validator(info);
  if (validate(value)) return [];
  const report = reporter(doc);
  for (const e of validate.errors ?? []) {
    const at = instancePath(e.instancePath, value);
    // a Secret's values are never shown: the message names the key and the kind of value only
    const show = info.kind === 'Secret' && (at[0] === 'data' || at[0] === 'stringData') && at.length > 1 ? describeHidden : describe;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String((e.params as { additionalProperty: string }).additionalProperty);
        const props = (e.parentSchema as { properties?: Obj } | undefined)?.properties ?? {};
        const suggestion = didYouMean(key, Object.keys(props));
        const msg = suggestion ? `unknown field (did you mean ${JSON.stringify(suggestion)}?)` : 'unknown field';
        report.add([...at, key], msg, opts.mode === 'warn' ? 'warning' : 'error');
        break;
      }
      case 'required':
        report.error(at, `missing required field ${JSON.stringify((e.params as { missingProperty: string }).missingProperty)}`);
        break;
      case 'type':
        report.error(at, `expected ${typeNames((e.params as { type: string | string[] }).type)}, got ${show(e.data)}`);
        break;
      case 'const': {
        const allowed = (e.params as { allowedValue: unknown }).allowedValue;
        if (at.length === 1 && at[0] === 'apiVersion') {
          report.error(at, `unsupported apiVersion ${JSON.stringify(e.data)} for kind ${info.kind} (expected ${JSON.stringify(allowed)})`);
        } else {
          report.error(at, `must be ${JSON.stringify(allowed)} (got ${show(e.data)})`);
        }
        break;
      }
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
        report.error(at, `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')} (got ${show(e.data)})`);
        break;
      }
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        const p = e.params as { comparison: string; limit: number };
        report.error(at, `must be ${p.comparison} ${p.limit} (got ${show(e.data)})`);
        break;
      }
      case 'pattern':
        if (e.schemaPath.includes('/Quantity/')) {
          report.error(at, `invalid quantity ${JSON.stringify(e.data)} (expected a number with an optional suffix, e.g. 500m, 1, 64Mi, 1Gi)`);
        } else {
          report.error(at, `must match ${(e.params as { pattern: string }).pattern} (got ${show(e.data)})`);
        }
        break;
      case 'format': {
        const format = (e.params as { format: string }).format;
        if (format === 'byte') report.error(at, `expected base64-encoded data, got ${show(e.data)} (use stringData for plain text)`);
        else if (format === 'date-time') report.error(at, `expected an RFC 3339 date-time, got ${show(e.data)}`);
        else report.error(at, `expected format ${format}, got ${show(e.data)}`);
        break;
      }
      case 'if':
        break; // the failing `then` branch reports the actual problems
      default:
        report.error(at, e.message ?? `failed ${e.keyword}`);
    }
  }
  return report.diagnostics;
}

/** ajv's JSON pointer -> path segments (numbers only where the data is an array). */
function instancePath(pointer: string, data: unknown): Path {
  if (pointer === '') return [];
  const out: Path = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur) && /^\d+$/.test(key)) {
      out.push(Number(key));
      cur = cur[Number(key)];
    } else {
      out.push(key);
      cur = isObj(cur) ? cur[key] : undefined;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Did you mean

/** The closest allowed name: a case-insensitive match, or within Damerau-Levenshtein distance 2. */
export function didYouMean(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = allowed.find((a) => a.toLowerCase() === lower);
  if (exact) return exact;
  let best: string | undefined;
  let bestDist = Infinity;
  for (const a of [...allowed].sort()) {
    const d = editDistance(lower, a.toLowerCase());
    if (d < bestDist) {
      best = a;
      bestDist = d;
    }
  }
  return bestDist <= 2 && bestDist < key.length ? best : undefined;
}

/** Optimal string alignment distance (Levenshtein plus transposition of adjacent characters). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

// ---------------------------------------------------------------------------------------------
// Kubernetes checks the schema cannot express (what the apiserver's validation rejects)

interface Reporter {
  diagnostics: Diagnostic[];
  error(path: Path, message: string): void;
  warning(path: Path, message: string): void;
  add(path: Path, message: string, severity: Diagnostic['severity']): void;
}

function reporter(doc: ParsedDoc): Reporter {
  const diagnostics: Diagnostic[] = [];
  const add = (p: Path, message: string, severity: Diagnostic['severity']) => {
    const { line, col } = doc.position(p);
    diagnostics.push({ file: doc.file, line, col, path: formatPath([...doc.basePath, ...p]), message, severity });
  };
  return {
    diagnostics,
    add,
    error: (p, m) => add(p, m, 'error'),
    warning: (p, m) => add(p, m, 'warning'),
  };
}


const LABEL_RULE = "must be a lowercase RFC 1123 label: lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters";
const SUBDOMAIN_RULE = "must be a lowercase RFC 1123 subdomain: lower case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";
const DNS1035_RULE = "must be a lowercase RFC 1035 label: lower case letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters";

function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** IANA_SVC_NAME, the rule for port names. */
function isPortName(s: string): boolean {
  return s.length >= 1 && s.length <= 15 && /^[-a-z0-9]+$/.test(s) && /[a-z]/.test(s) &&
    !s.includes('--') && !s.startsWith('-') && !s.endsWith('-');
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

function kubeChecks(obj: Obj, info: KindInfo, r: Reporter): void {
  const nameRule = info.kind === 'Service' ? 'dns1035' : 'subdomain';
  checkObjectName(obj, nameRule, r);
  checkLabels(obj.metadata, ['metadata'], r);
  const spec = obj.spec;
  switch (info.kind) {
    case 'Pod':
      checkPodSpec(spec, ['spec'], 'Pod', r);
      break;
    case 'Deployment':
    case 'DaemonSet':
    case 'Job': {
      if (!isObj(spec)) break;
      if (info.kind === 'Deployment' && typeof spec.replicas === 'number' && spec.replicas < 0) {
        r.error(['spec', 'replicas'], `must be greater than or equal to 0 (got ${spec.replicas})`);
      }
      const template = spec.template;
      if (!isObj(template)) break;
      checkLabels(template.metadata, ['spec', 'template', 'metadata'], r);
      checkPodSpec(template.spec, ['spec', 'template', 'spec'], info.kind, r);
      if (info.kind !== 'Job' || spec.selector !== undefined) checkSelector(spec, template, r, info.kind);
      break;
    }
    case 'ConfigMap':
      checkDataKeys(obj, ['data', 'binaryData'], r);
      break;
    case 'Secret':
      checkDataKeys(obj, ['data', 'stringData'], r, true);
      break;
    default:
      break;
  }
}

function checkObjectName(obj: Obj, rule: 'subdomain' | 'dns1035', r: Reporter): void {
  const meta = obj.metadata;
  const name = isObj(meta) ? meta.name : undefined;
  if (name === undefined) {
    const generate = isObj(meta) && meta.generateName !== undefined ? ' (generateName is not supported)' : '';
    r.error(['metadata'], `missing required field "name"${generate}`);
    return;
  }
  if (typeof name !== 'string') return; // the schema reports the type
  if (name === '') r.error(['metadata', 'name'], 'must not be empty');
  else if (rule === 'subdomain' && !isDns1123Subdomain(name)) r.error(['metadata', 'name'], `invalid name ${JSON.stringify(name)}: ${SUBDOMAIN_RULE}`);
  else if (rule === 'dns1035' && !(name.length <= 63 && DNS1035_LABEL.test(name))) r.error(['metadata', 'name'], `invalid name ${JSON.stringify(name)}: ${DNS1035_RULE}`);
}

function checkLabels(meta: unknown, at: Path, r: Reporter): void {
  if (!isObj(meta) || !isObj(meta.labels)) return;
  for (const [key, value] of Object.entries(meta.labels)) {
    const p = [...at, 'labels', key];
    const problem = labelKeyProblem(key);
    if (problem) r.error(p, `invalid label key ${JSON.stringify(key)}: ${problem}`);
    if (typeof value === 'string' && (value.length > 63 || !LABEL_VALUE.test(value))) {
      r.error(p, `invalid label value ${JSON.stringify(value)}: must be at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit (or empty)`);
    }
  }
}

function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDns1123Subdomain(prefix)) return `the prefix ${SUBDOMAIN_RULE}`;
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "the name must be at most 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit (with an optional DNS subdomain prefix and '/')";
  }
  return undefined;
}

function checkSelector(spec: Obj, template: Obj, r: Reporter, kind: string): void {
  const selector = spec.selector;
  if (!isObj(selector)) return; // required: the schema reports it missing
  const matchLabels = isObj(selector.matchLabels) ? selector.matchLabels : {};
  const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  if (Object.keys(matchLabels).length === 0 && exprs.length === 0) {
    r.error(['spec', 'selector'], `empty selector is invalid for a ${kind}`);
    return;
  }
  const meta = isObj(template.metadata) ? template.metadata : {};
  const labels = isObj(meta.labels) ? meta.labels : {};
  let matches = Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
  for (const e of exprs) {
    if (!isObj(e) || typeof e.key !== 'string') continue;
    const values = Array.isArray(e.values) ? e.values : [];
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case 'In': matches &&= has && values.includes(labels[e.key]); break;
      case 'NotIn': matches &&= !has || !values.includes(labels[e.key]); break;
      case 'Exists': matches &&= has; break;
      case 'DoesNotExist': matches &&= !has; break;
      default:
        r.error(['spec', 'selector', 'matchExpressions', exprs.indexOf(e), 'operator'],
          `must be one of "In", "NotIn", "Exists", "DoesNotExist" (got ${describe(e.operator)})`);
    }
  }
  if (!matches) {
    r.error(['spec', 'template', 'metadata', 'labels'], 'selector does not match template labels (spec.selector must select the pods of spec.template)');
  }
}

function checkDataKeys(obj: Obj, fields: string[], r: Reporter, secret = false): void {
  const seen = new Map<string, string>();
  for (const field of fields) {
    const data = obj[field];
    if (!isObj(data)) continue;
    for (const key of Object.keys(data)) {
      const p = [field, key];
      if (key.length > 253 || !CONFIG_KEY.test(key) || key === '.' || key === '..' || key.startsWith('..')) {
        r.error(p, `invalid key ${JSON.stringify(key)}: must consist of letters, digits, '-', '_' or '.', at most 253 characters, not starting with ".."`);
      }
      const other = seen.get(key);
      // Secret: stringData overrides data on write, which is allowed; ConfigMap forbids the overlap.
      if (other !== undefined && !secret) r.error(p, `duplicate key ${JSON.stringify(key)} (also in ${other})`);
      seen.set(key, field);
    }
  }
}

function checkPodSpec(spec: unknown, at: Path, owner: string, r: Reporter): void {
  if (!isObj(spec)) return;

  // Volumes: valid, unique names.
  const volumes = new Map<string, Path>();
  if (Array.isArray(spec.volumes)) {
    spec.volumes.forEach((v, i) => {
      if (!isObj(v) || typeof v.name !== 'string') return;
      const p = [...at, 'volumes', i, 'name'];
      if (!isDns1123Label(v.name)) r.error(p, `invalid volume name ${JSON.stringify(v.name)}: ${LABEL_RULE}`);
      const first = volumes.get(v.name);
      if (first) r.error(p, `duplicate volume name ${JSON.stringify(v.name)} (first declared at ${formatPath(first)})`);
      else volumes.set(v.name, [...at, 'volumes', i]);
    });
  }

  // Containers: names unique across containers, initContainers and ephemeralContainers.
  const names = new Map<string, Path>();
  for (const list of CONTAINER_LISTS) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    containers.forEach((c, i) => {
      if (!isObj(c)) return;
      const cp = [...at, list, i];
      if (typeof c.name === 'string') {
        if (!isDns1123Label(c.name)) r.error([...cp, 'name'], `invalid container name ${JSON.stringify(c.name)}: ${LABEL_RULE}`);
        const first = names.get(c.name);
        if (first) r.error([...cp, 'name'], `duplicate container name ${JSON.stringify(c.name)} (first declared at ${formatPath(first)})`);
        else names.set(c.name, cp);
      }
      checkContainer(c, cp, volumes, r);
    });
  }

  // Durations the apiserver wants non-negative.
  for (const f of ['terminationGracePeriodSeconds', 'activeDeadlineSeconds']) {
    if (typeof spec[f] === 'number' && spec[f] < (f === 'activeDeadlineSeconds' ? 1 : 0)) {
      r.error([...at, f], `must be ${f === 'activeDeadlineSeconds' ? 'a positive integer' : 'greater than or equal to 0'} (got ${spec[f]})`);
    }
  }

  // Restart policy: the pod's, and what the owning controller allows.
  const policy = spec.restartPolicy;
  const pp = [...at, 'restartPolicy'];
  if (typeof policy === 'string' && !RESTART_POLICIES.includes(policy)) {
    r.error(pp, `must be one of ${quoteAll(RESTART_POLICIES)} (got ${JSON.stringify(policy)})`);
  } else if ((owner === 'Deployment' || owner === 'DaemonSet') && typeof policy === 'string' && policy !== 'Always') {
    r.error(pp, `must be "Always" for a ${owner} (got ${JSON.stringify(policy)})`);
  } else if (owner === 'Job') {
    if (policy === undefined) r.error(at, 'missing required field "restartPolicy" (a Job\'s pods need "OnFailure" or "Never")');
    else if (policy === 'Always') r.error(pp, 'must be "OnFailure" or "Never" for a Job (got "Always")');
  }
}

function checkContainer(c: Obj, cp: Path, volumes: Map<string, Path>, r: Reporter): void {
  if (c.image === undefined) r.error(cp, 'missing required field "image"');
  else if (c.image === '') r.error([...cp, 'image'], 'must not be empty');

  checkResources(c.resources, [...cp, 'resources'], r);

  const portNames = new Map<string, Path>();
  if (Array.isArray(c.ports)) {
    c.ports.forEach((port, i) => {
      if (!isObj(port)) return;
      const p = [...cp, 'ports', i];
      if (typeof port.containerPort === 'number' && !(port.containerPort >= 1 && port.containerPort <= 65535)) {
        r.error([...p, 'containerPort'], `must be between 1 and 65535 (got ${port.containerPort})`);
      }
      if (typeof port.hostPort === 'number' && !(port.hostPort >= 0 && port.hostPort <= 65535)) {
        r.error([...p, 'hostPort'], `must be between 0 and 65535 (got ${port.hostPort})`);
      }
      if (typeof port.protocol === 'string' && !PROTOCOLS.includes(port.protocol)) {
        r.error([...p, 'protocol'], `must be one of ${quoteAll(PROTOCOLS)} (got ${JSON.stringify(port.protocol)})`);
      }
      if (typeof port.name === 'string') {
        if (!isPortName(port.name)) {
          r.error([...p, 'name'], `invalid port name ${JSON.stringify(port.name)}: must be at most 15 characters: lower case letters, digits and '-', with at least one letter, no '--', not starting or ending with '-'`);
        }
        const first = portNames.get(port.name);
        if (first) r.error([...p, 'name'], `duplicate port name ${JSON.stringify(port.name)} (first declared at ${formatPath(first)})`);
        else portNames.set(port.name, p);
      }
    });
  }

  if (Array.isArray(c.env)) {
    c.env.forEach((e, i) => {
      if (!isObj(e) || typeof e.name !== 'string') return;
      const p = [...cp, 'env', i, 'name'];
      if (e.name === '') r.error(p, 'must not be empty');
      else if (e.name.includes('=') || !/^[\x20-\x7e]+$/.test(e.name)) {
        r.error(p, `invalid environment variable name ${JSON.stringify(e.name)}: must consist of printable ASCII characters other than '='`);
      }
    });
  }

  if (Array.isArray(c.volumeMounts)) {
    const mountPaths = new Map<string, Path>();
    c.volumeMounts.forEach((m, i) => {
      if (!isObj(m)) return;
      const p = [...cp, 'volumeMounts', i];
      if (typeof m.name === 'string' && !volumes.has(m.name)) {
        r.error([...p, 'name'], `volume ${JSON.stringify(m.name)} is not declared in the pod's volumes`);
      }
      if (typeof m.mountPath === 'string') {
        if (m.mountPath === '') r.error([...p, 'mountPath'], 'must not be empty');
        const first = mountPaths.get(m.mountPath);
        if (first) r.error([...p, 'mountPath'], `duplicate mountPath ${JSON.stringify(m.mountPath)} (first at ${formatPath(first)})`);
        else mountPaths.set(m.mountPath, p);
      }
    });
  }

  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const pr = c[probe];
    if (!isObj(pr)) continue;
    for (const handler of ['httpGet', 'tcpSocket', 'grpc']) {
      const h = pr[handler];
      if (!isObj(h)) continue;
      const p = [...cp, probe, handler, 'port'];
      const port = h.port;
      if (typeof port === 'number' && !(port >= 1 && port <= 65535)) {
        r.error(p, `must be between 1 and 65535 (got ${port})`);
      } else if (typeof port === 'string') {
        if (!isPortName(port)) r.error(p, `invalid port name ${JSON.stringify(port)}: must be a port number or the name of one of the container's ports`);
        else if (!portNames.has(port)) r.warning(p, `port ${JSON.stringify(port)} is not a named port of this container: the probe will fail`);
      }
    }
  }
}

function checkResources(res: unknown, at: Path, r: Reporter): void {
  if (!isObj(res)) return;
  const limits = isObj(res.limits) ? res.limits : {};
  const requests = isObj(res.requests) ? res.requests : {};
  for (const [field, map] of [['limits', limits], ['requests', requests]] as const) {
    for (const [name, q] of Object.entries(map)) {
      const v = parseQuantity(q);
      if (v !== undefined && v < 0) r.error([...at, field, name], `must be greater than or equal to 0 (got ${String(q)})`);
    }
  }
  for (const [name, q] of Object.entries(requests)) {
    const req = parseQuantity(q);
    const lim = parseQuantity(limits[name]);
    if (req !== undefined && lim !== undefined && lim >= 0 && req > lim) {
      r.error([...at, 'requests', name], `must be less than or equal to the ${name} limit (${String(limits[name])})`);
    }
  }
}

const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;
const QUANTITY_SUFFIX: Record<string, number> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/**
 * The value of a resource.Quantity (`500m` -> 0.5, `64Mi` -> 67108864, `1e3` -> 1000, `2` -> 2),
 * or undefined when it is not one. Floating point: good for comparisons, not for exact bytes.
 */
export function parseQuantity(q: unknown): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  if (typeof q !== 'string') return undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  if (/^[eE]/.test(suffix)) return n * 10 ** Number(suffix.slice(1));
  return n * QUANTITY_SUFFIX[suffix];
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A copy without null-valued fields: Kubernetes reads `field: null` (or `field:`) as unset. */
function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = stripNulls(x);
    return out;
  }
  return v;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function quoteAll(values: readonly string[]): string {
  return values.map((v) => JSON.stringify(v)).join(', ');
}

/** `string "abc"`, `integer 3`, `number 1.5`, `boolean true`, `object`, `array`, `null`. */
/** A value's kind without the value: for what a Secret holds. */
function describeHidden(v: unknown): string {
  const kind = describe(v).split(' ')[0];
  return `${kind} (a Secret's value, not shown)`;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'string':
      return `string ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`;
    case 'number':
      return `${Number.isInteger(v) ? 'integer' : 'number'} ${v}`;
    case 'boolean':
      return `boolean ${v}`;
    case 'object':
      return 'object';
    default:
      return typeof v;
  }
}

function typeNames(t: string | string[]): string {
  const list = Array.isArray(t) ? t : t.split(',');
  return list.length <= 1 ? list.join('') : `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
}
