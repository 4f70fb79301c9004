// Generates schemas/<kind>.json, the JSON Schemas (draft-07) that `peapod play kube` validates
// manifests against, from the models that @kubernetes/client-node generates from the Kubernetes
// OpenAPI spec: dist/gen/models/<Type>.js carries `attributeTypeMap` (every field's TS name, JSON
// name, type and format) and <Type>.d.ts marks optional fields with `?`.
//
//   npm run gen:schemas        (after bumping @kubernetes/client-node)
//
// Every object type gets `additionalProperties: false` so unknown fields (typos) are caught. The
// output is deterministic (sorted keys); test/unit/kube/schemas.test.ts checks that the committed
// files equal what this script generates, and pins their hashes.

import { existsSync, mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LIST_KIND, SUPPORTED_KINDS, type KindInfo } from '../src/kube/validate.js';

type Schema = { [key: string]: unknown };

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

/** Fields the OpenAPI spec types as resource.Quantity, which the model flattens to "string". */
const QUANTITY_FIELDS = new Set([
  'V1ResourceRequirements.limits',
  'V1ResourceRequirements.requests',
  'V1VolumeResourceRequirements.limits',
  'V1VolumeResourceRequirements.requests',
  'V1PodSpec.overhead',
  'V1EmptyDirVolumeSource.sizeLimit',
  'V1ResourceFieldSelector.divisor',
  'V1PersistentVolumeClaimStatus.allocatedResources',
  'V1PersistentVolumeClaimStatus.capacity',
  'V1ContainerStatus.allocatedResources',
]);

/**
 * resource.Quantity: a number in YAML (`cpu: 1`, `cpu: 0.5`) or a string with a suffix (`500m`,
 * `64Mi`, `1e3`). The pattern is the one the apiserver documents for Quantity.
 */
const QUANTITY_SCHEMA: Schema = {
  pattern: '^[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+))?$',
  type: ['number', 'string'],
};

/** intstr.IntOrString: a port number or a port name, a count or a percentage. */
const INT_OR_STRING_SCHEMA: Schema = { type: ['integer', 'string'] };

const INT32 = { maximum: 2147483647, minimum: -2147483648 };

const require = createRequire(import.meta.url);

export interface GeneratedSchemas {
  /** client-node's version, e.g. "1.4.0". */
  clientVersion: string;
  /** Kubernetes API version the models were generated from, e.g. "v1.34.0". */
  apiVersion: string;
  /** schema file name (e.g. "pod.json") -> file content (JSON with a trailing newline) */
  files: Record<string, string>;
}

/** The directory holding client-node's generated models. */
export function modelsDir(): string {
  const pkg = require.resolve('@kubernetes/client-node/package.json');
  return path.join(path.dirname(pkg), 'dist', 'gen', 'models');
}

class ModelReader {
  private readonly attrs = new Map<string, Attribute[]>();
  private readonly required = new Map<string, Set<string>>();
  constructor(readonly dir: string) {}

  exists(name: string): boolean {
    return /^[A-Za-z0-9_]+$/.test(name) && existsSync(path.join(this.dir, `${name}.js`));
  }

  async load(name: string): Promise<void> {
    if (this.attrs.has(name)) return;
    const mod = (await import(pathToFileURL(path.join(this.dir, `${name}.js`)).href)) as Record<string, unknown>;
    const cls = mod[name] as { attributeTypeMap?: Attribute[] } | undefined;
    if (!cls || !Array.isArray(cls.attributeTypeMap)) throw new Error(`${name}.js has no attributeTypeMap`);
    this.attrs.set(name, cls.attributeTypeMap);
    this.required.set(name, requiredFields(readFileSync(path.join(this.dir, `${name}.d.ts`), 'utf8'), name));
  }

  attributes(name: string): Attribute[] {
    return this.attrs.get(name) ?? [];
  }

  isRequired(name: string, tsName: string): boolean {
    return this.required.get(name)?.has(tsName) ?? false;
  }
}

/** TS names of the fields declared without `?` in `export declare class <name> { ... }`. */
export function requiredFields(dts: string, name: string): Set<string> {
  const start = dts.indexOf(`export declare class ${name} `);
  if (start < 0) throw new Error(`${name}.d.ts: class ${name} not found`);
  const body = dts.slice(start);
  const out = new Set<string>();
  // Fields are declared at one indentation level: `    'name'?: Type;` or `    'name': Type;`.
  for (const m of body.matchAll(/^ {4}'([^']+)'(\??):/gm)) {
    if (m[2] === '') out.add(m[1]);
  }
  return out;
}

/** Walks the models reachable from `roots` and returns their JSON Schema definitions. */
async function buildDefinitions(reader: ModelReader, roots: string[]): Promise<Map<string, Schema>> {
  const defs = new Map<string, Schema>();
  const quantities = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (defs.has(name)) continue;
    await reader.load(name);
    const properties: Schema = {};
    const required: string[] = [];
    for (const attr of reader.attributes(name)) {
      const field = `${name}.${attr.baseName}`;
      let schema: Schema;
      if (QUANTITY_FIELDS.has(field)) {
        quantities.add(field);
        if (attr.type === 'string') schema = { $ref: '#/definitions/Quantity' };
        else if (attr.type === '{ [key: string]: string; }') {
          schema = { additionalProperties: { $ref: '#/definitions/Quantity' }, type: 'object' };
        } else throw new Error(`${field}: listed as a quantity but typed ${attr.type}`);
      } else {
        schema = typeSchema(attr.type, attr.format, (ref) => {
          if (!reader.exists(ref)) throw new Error(`${field}: unknown type ${ref}`);
          if (!defs.has(ref)) queue.push(ref);
        });
      }
      properties[attr.baseName] = schema;
      if (reader.isRequired(name, attr.name)) required.push(attr.baseName);
    }
    const def: Schema = { additionalProperties: false, properties, type: 'object' };
    if (required.length > 0) def.required = required.sort();
    defs.set(name, def);
  }
  const unused = [...QUANTITY_FIELDS].filter((f) => !quantities.has(f));
  if (unused.length > 0) throw new Error(`quantity fields not found in the models (renamed?): ${unused.join(', ')}`);
  return defs;
}

/** JSON Schema for one client-node type string. */
export function typeSchema(type: string, format: string, ref: (name: string) => void): Schema {
  const t = type.trim();
  const array = /^Array<(.+)>$/.exec(t);
  if (array) return { items: typeSchema(array[1], format, ref), type: 'array' };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
  if (map) return { additionalProperties: typeSchema(map[1], format, ref), type: 'object' };
  switch (t) {
    case 'string':
      if (format === 'byte') return { format: 'byte', type: 'string' };
      if (format === 'date-time') return { format: 'date-time', type: 'string' };
      return { type: 'string' };
    case 'number':
      if (format === 'int32') return { ...INT32, type: 'integer' };
      if (format === 'int64') return { type: 'integer' };
      return { type: 'number' };
    case 'boolean':
      return { type: 'boolean' };
    case 'Date':
      return { format: 'date-time', type: 'string' };
    case 'any':
      return {};
    case 'IntOrString':
      return { $ref: '#/definitions/IntOrString' };
    default:
      if (!/^[A-Za-z0-9_]+$/.test(t)) throw new Error(`unsupported type ${JSON.stringify(t)}`);
      ref(t);
      return { $ref: `#/definitions/${t}` };
  }
}

/** Pins apiVersion and kind of a top-level kind and makes them required. */
function asKind(def: Schema, info: KindInfo): Schema {
  const properties = { ...(def.properties as Schema) };
  properties.apiVersion = { const: info.apiVersion, type: 'string' };
  properties.kind = { const: info.kind, type: 'string' };
  const required = new Set([...((def.required as string[] | undefined) ?? []), 'apiVersion', 'kind']);
  return { ...def, properties, required: [...required].sort() };
}

/** Only the definitions reachable from `root` (so each file holds what its kind needs). */
function reachable(defs: Map<string, Schema>, roots: string[]): string[] {
  const seen = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === '$ref' && typeof x === 'string') {
          const name = x.replace('#/definitions/', '');
          if (!seen.has(name)) {
            seen.add(name);
            visit(defs.get(name));
          }
        } else visit(x);
      }
    }
  };
  for (const r of roots) {
    seen.add(r);
    visit(defs.get(r));
  }
  return [...seen].sort();
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null) {
    const out: Schema = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Schema)[k]);
    return out;
  }
  return v;
}

function modelName(info: KindInfo): string {
  return `V1${info.kind}`;
}

/** Generates every schema file in memory. */
export async function generateSchemas(dir = modelsDir()): Promise<GeneratedSchemas> {
  const reader = new ModelReader(dir);
  const pkgJson = JSON.parse(readFileSync(path.join(dir, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  const podModel = readFileSync(path.join(dir, 'V1Pod.js'), 'utf8');
  const apiVersion = /OpenAPI spec version: (\S+)/.exec(podModel)?.[1] ?? 'unknown';
  const comment = `generated by scripts/gen-schemas.ts from @kubernetes/client-node ${pkgJson.version} ` +
    `(Kubernetes API ${apiVersion}); do not edit`;

  const roots = SUPPORTED_KINDS.map(modelName);
  for (const r of roots) if (!reader.exists(r)) throw new Error(`client-node has no model ${r}`);
  const defs = await buildDefinitions(reader, [...roots, 'V1ListMeta']);
  defs.set('Quantity', QUANTITY_SCHEMA);
  defs.set('IntOrString', INT_OR_STRING_SCHEMA);
  for (const info of SUPPORTED_KINDS) defs.set(modelName(info), asKind(defs.get(modelName(info))!, info));

  // v1 List (metav1.List): items may be any of the supported kinds, chosen by their `kind`.
  defs.set('List', {
    additionalProperties: false,
    properties: {
      apiVersion: { const: LIST_KIND.apiVersion, type: 'string' },
      items: { items: { $ref: '#/definitions/ListItem' }, type: 'array' },
      kind: { const: LIST_KIND.kind, type: 'string' },
      metadata: { $ref: '#/definitions/V1ListMeta' },
    },
    required: ['apiVersion', 'items', 'kind'],
    type: 'object',
  });
  defs.set('ListItem', {
    allOf: SUPPORTED_KINDS.map((info) => ({
      if: { properties: { kind: { const: info.kind } }, required: ['kind'], type: 'object' },
      then: { $ref: `#/definitions/${modelName(info)}` },
    })),
    properties: {
      apiVersion: { type: 'string' },
      kind: { enum: SUPPORTED_KINDS.map((k) => k.kind), type: 'string' },
    },
    required: ['apiVersion', 'kind'],
    type: 'object',
  });

  const files: Record<string, string> = {};
  const kinds: Array<{ info: KindInfo; root: string }> = [
    ...SUPPORTED_KINDS.map((info) => ({ info, root: modelName(info) })),
    { info: LIST_KIND, root: 'List' },
  ];
  for (const { info, root } of kinds) {
    const definitions: Schema = {};
    for (const name of reachable(defs, [root])) definitions[name] = defs.get(name);
    const schema = {
      $comment: comment,
      $ref: `#/definitions/${root}`,
      $schema: 'http://json-schema.org/draft-07/schema#',
      definitions,
      title: `${info.kind} (${info.apiVersion})`,
    };
    files[info.schema] = JSON.stringify(sortKeys(schema), null, 2) + '\n';
  }
  return { clientVersion: pkgJson.version, apiVersion, files };
}

/** The project's schemas/ directory (scripts/ or dist/scripts/ -> the package root). */
export function schemasOutDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'scripts'))) return path.join(dir, 'schemas');
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the package root (a directory with package.json and scripts/)');
    dir = up;
  }
}

async function main(): Promise<void> {
  const out = schemasOutDir();
  const { files, clientVersion, apiVersion } = await generateSchemas();
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(out)) {
    if (f.endsWith('.json') && !(f in files)) unlinkSync(path.join(out, f));
  }
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(out, name), content);
  process.stdout.write(`wrote ${Object.keys(files).length} schemas to ${out} ` +
    `(@kubernetes/client-node ${clientVersion}, Kubernetes API ${apiVersion})\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`gen-schemas: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
