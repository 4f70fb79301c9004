// parse: Kubernetes YAML text -> plain JS objects that remember where every node came from.
//
// YAML is read the way Kubernetes (and Podman) read it: sigs.k8s.io/yaml on top of go-yaml v2, i.e.
// YAML 1.1 scalars (`0644` is octal, `yes`/`no`/`on`/`off` are booleans) and merge keys (`<<: *a`),
// but timestamps stay strings and `1:20` is not a base-60 number. Every document of a file is
// returned; `kind: List` documents are expanded into their items.

import {
  LineCounter,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node,
  type Pair,
  type ParsedNode,
  type Tags,
  type YAMLError,
} from 'yaml';
import { formatPath, type Diagnostic, type PathSegment } from './diagnostics.js';

export type { PathSegment } from './diagnostics.js';

export interface Position {
  line: number;
  col: number;
}

export interface ParsedDoc {
  file: string;
  /** Number of the YAML document in its file, 0-based (counting empty documents too). */
  index: number;
  /** The object as plain JS (what JSON.parse would give for the same object). */
  value: unknown;
  kind?: string;
  apiVersion?: string;
  /** metadata.name, when it is a string. */
  name?: string;
  /**
   * Where this object sits in its YAML document: [] for a top-level object, ['items', 1] for the
   * second item of a `kind: List` (nested Lists give longer paths). Diagnostics show
   * basePath + the path inside the object, e.g. `items[1].spec.containers[0].image`.
   */
  basePath: PathSegment[];
  /** The `kind: List` document this object was expanded from (its value is the whole List). */
  list?: ParsedDoc;
  /**
   * Position (1-based) of the KEY of the field at `path` (relative to `value`), or of the node itself
   * for array items and for the object ([]). When the path does not exist, the position of its
   * nearest existing ancestor.
   */
  position(path: readonly PathSegment[]): Position;
}

export interface ParseResult {
  docs: ParsedDoc[];
  errors: Diagnostic[];
}

// go-yaml v2 resolves neither timestamps (into interface{}, they stay strings) nor base-60 numbers.
const customTags = (tags: Tags): Tags =>
  tags.filter((t) => typeof t === 'string' ||
    !(t.tag === 'tag:yaml.org,2002:timestamp' || (t as { format?: string }).format === 'TIME'));

/** Parses every document of a manifest file. Syntax errors and structural problems become diagnostics. */
export function parseManifests(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  const docs: ParsedDoc[] = [];
  const errors: Diagnostic[] = [];
  const yamlDocs = parseAllDocuments(text, {
    lineCounter,
    version: '1.1',
    customTags,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const pos = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, col };
  };
  const diag = (offset: number, path: readonly PathSegment[], message: string, severity: Diagnostic['severity'] = 'error') => {
    errors.push({ file, ...pos(offset), path: formatPath(path), message, severity });
  };

  let index = -1;
  for (const doc of yamlDocs) {
    index++;
    const root = doc.contents as ParsedNode | null;
    let fatal = false;
    for (const e of doc.errors) {
      if (e.code === 'DUPLICATE_KEY') {
        const path = pathAtOffset(root, e.pos[0]);
        const key = path.length > 0 ? String(path[path.length - 1]) : keyAt(text, e.pos[0]);
        diag(e.pos[0], path, `duplicate key ${JSON.stringify(key)}`);
      } else if (!fatal) {
        // Only the first syntax error of a document: the ones after it mostly follow from it. No
        // path either: where the parser noticed the problem is not always the node it belongs to.
        fatal = true;
        diag(e.pos[0], [], yamlMessage(e));
      }
    }
    for (const w of doc.warnings) {
      diag(w.pos[0], pathAtOffset(root, w.pos[0]), yamlMessage(w), 'warning');
    }
    if (fatal) continue; // the tree of a broken document is a guess: validating it would only add noise
    if (root === null || (isScalar(root) && root.value === null)) continue; // empty document
    if (!isMap(root)) {
      diag(root.range[0], [], `document must be a mapping (a Kubernetes object), got ${nodeKind(doc, root)}`);
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      diag(root.range[0], [], `invalid yaml: ${lowerFirst(err instanceof Error ? err.message : String(err))}`);
      continue;
    }
    addObject({ file, index, doc, node: root, value, basePath: [], pos, diag, docs });
  }
  return { docs, errors };
}

interface AddContext {
  file: string;
  index: number;
  doc: Document.Parsed;
  node: Node;
  value: unknown;
  basePath: PathSegment[];
  list?: ParsedDoc;
  pos: (offset: number) => Position;
  diag: (offset: number, path: readonly PathSegment[], message: string, severity?: Diagnostic['severity']) => void;
  docs: ParsedDoc[];
}

function addObject(ctx: AddContext): void {
  const { file, index, doc, node, value, basePath, list, pos } = ctx;
  const obj = isRecord(value) ? value : {};
  const metadata = obj.metadata;
  const parsed: ParsedDoc = {
    file,
    index,
    value,
    kind: typeof obj.kind === 'string' ? obj.kind : undefined,
    apiVersion: typeof obj.apiVersion === 'string' ? obj.apiVersion : undefined,
    name: isRecord(metadata) && typeof metadata.name === 'string' ? metadata.name : undefined,
    basePath,
    list,
    position: (path) => pos(locate(doc, node, path)),
  };
  if (parsed.kind !== 'List') {
    ctx.docs.push(parsed);
    return;
  }
  // kind: List (what `kubectl get -o yaml` writes for several objects): play its items.
  const items = obj.items;
  const itemsNode = mapValue(doc, node, 'items');
  if (items === undefined || items === null || (Array.isArray(items) && items.length === 0)) {
    ctx.diag(node.range?.[0] ?? 0, basePath, 'List has no items', 'warning');
    return;
  }
  if (!Array.isArray(items) || !isSeq(itemsNode)) {
    ctx.diag(locate(doc, node, ['items']), [...basePath, 'items'], `expected array, got ${typeof items === 'object' ? 'object' : typeof items}`);
    return;
  }
  items.forEach((item, i) => {
    const itemNode = resolve(doc, itemsNode.items[i] as Node | null);
    const path = [...basePath, 'items', i];
    if (!isRecord(item) || !isMap(itemNode)) {
      ctx.diag(locate(doc, node, ['items', i]), path, `list item must be a mapping (a Kubernetes object), got ${describeJs(item)}`);
      return;
    }
    addObject({ ...ctx, node: itemNode, value: item, basePath: path, list: parsed });
  });
}

/** Offset of the key at `path` below `node` (or of the nearest existing ancestor). */
function locate(doc: Document.Parsed, node: Node, path: readonly PathSegment[]): number {
  let cur: Node | null = resolve(doc, node);
  let offset = node.range?.[0] ?? 0;
  for (const seg of path) {
    if (isMap(cur)) {
      const pair = findPair(doc, cur, String(seg));
      if (!pair) break;
      const key = pair.key as Node | null;
      offset = key?.range?.[0] ?? offset;
      cur = resolve(doc, pair.value as Node | null);
    } else if (isSeq(cur) && typeof seg === 'number') {
      const item = cur.items[seg] as Node | null | undefined;
      if (item === undefined) break;
      if (item !== null && item.range) offset = item.range[0];
      cur = resolve(doc, item);
    } else {
      break; // a scalar, or `key:` with no value: deeper paths end here
    }
  }
  return offset;
}

/** The pair for `key` in a map, looking through merge keys (`<<: *base`) the way toJS does. */
function findPair(doc: Document.Parsed, map: Node, key: string, depth = 0): Pair | undefined {
  if (!isMap(map) || depth > 10) return undefined;
  const pairs = map.items as Pair[];
  for (let i = pairs.length - 1; i >= 0; i--) { // last one wins, as in toJS
    const pair = pairs[i];
    if (keyString(pair.key) === key && !isMergeKey(pair.key)) return pair;
  }
  for (const pair of pairs) {
    if (!isMergeKey(pair.key)) continue;
    const source = resolve(doc, pair.value as Node | null);
    const sources = isSeq(source) ? source.items.map((s) => resolve(doc, s as Node | null)) : [source];
    for (const s of sources) {
      const found = s ? findPair(doc, s, key, depth + 1) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

function mapValue(doc: Document.Parsed, node: Node, key: string): Node | null {
  const pair = findPair(doc, node, key);
  return pair ? resolve(doc, pair.value as Node | null) : null;
}

function isMergeKey(key: unknown): boolean {
  // With merge keys enabled, yaml gives a plain `<<` key a symbol value.
  return isScalar(key) && key.type === 'PLAIN' && (typeof key.value === 'symbol' || key.value === '<<');
}

function keyString(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function resolve(doc: Document.Parsed, node: Node | null | undefined): Node | null {
  let cur = node ?? null;
  for (let i = 0; i < 100 && isAlias(cur); i++) cur = (cur.resolve(doc) as Node | undefined) ?? null;
  return cur;
}

/** The YAML path of the deepest node whose source range holds `offset` (for syntax errors). */
function pathAtOffset(root: Node | null, offset: number): PathSegment[] {
  const path: PathSegment[] = [];
  let cur: Node | null = root;
  for (let depth = 0; depth < 1000 && cur; depth++) {
    let next: Node | null = null;
    if (isMap(cur)) {
      for (const pair of cur.items as Pair[]) {
        const key = pair.key as Node | null;
        const val = pair.value as Node | null;
        const k = keyString(key);
        if (k === undefined) continue;
        if (key?.range && offset >= key.range[0] && offset < key.range[2]) {
          path.push(k);
          return path;
        }
        if (val?.range && offset >= val.range[0] && offset < val.range[2]) {
          path.push(k);
          next = val;
          break;
        }
      }
    } else if (isSeq(cur)) {
      cur.items.forEach((item, i) => {
        const n = item as Node | null;
        if (!next && n?.range && offset >= n.range[0] && offset < n.range[2]) {
          path.push(i);
          next = n;
        }
      });
    }
    cur = next;
  }
  return path;
}

function yamlMessage(e: YAMLError): string {
  const msg = e.message.split('\n')[0].replace(/\s+at line \d+, column \d+:?$/, '');
  return `invalid yaml: ${lowerFirst(msg)}`;
}

function keyAt(text: string, offset: number): string {
  const m = /^[^:\n]*/.exec(text.slice(offset));
  return m ? m[0].trim() : '';
}

function lowerFirst(s: string): string {
  return s.length > 1 && /^[A-Z][a-z]/.test(s) ? s[0].toLowerCase() + s.slice(1) : s;
}

function nodeKind(doc: Document.Parsed, node: Node): string {
  if (isSeq(node)) return 'a sequence';
  if (isScalar(node)) return `a scalar (${describeJs(node.toJS(doc))})`;
  return 'something else';
}

function describeJs(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return 'object';
  return `${typeof v} ${String(v)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
