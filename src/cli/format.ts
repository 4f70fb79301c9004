// Output formatting shared by listing and inspect commands: `json`, Go-template style
// `{{.State.Pid}}` (with `table` prefix, `json`, `upper`, `lower`, `join`, `index`, `len`), or a table.

type Row = Record<string, unknown>;

function lookup(obj: unknown, pathExpr: string): unknown {
  if (pathExpr === '.') return obj;
  let cur: any = obj;
  for (const key of pathExpr.replace(/^\./, '').split('.')) {
    if (cur === null || cur === undefined) return undefined;
    if (key in Object(cur)) { cur = cur[key]; continue; }
    // Go templates are case-sensitive, but Podman's listing fields also answer in other cases
    // (e.g. {{.ID}} and {{.Id}}): fall back to a case-insensitive match.
    const k = Object.keys(cur).find((x) => x.toLowerCase() === key.toLowerCase());
    cur = k === undefined ? undefined : cur[k];
  }
  return cur;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (typeof v === 'object') return `map[${Object.entries(v as Row).sort().map(([k, x]) => `${k}:${show(x)}`).join(' ')}]`;
  return String(v);
}

function tokenize(expr: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(expr))) out.push(m[1] !== undefined ? JSON.stringify(JSON.parse(`"${m[1]}"`)) : m[2]);
  return out;
}

function evalArg(tok: string, data: unknown): unknown {
  if (tok.startsWith('"')) return JSON.parse(tok);
  if (tok.startsWith('.')) return lookup(data, tok);
  if (/^-?\d+$/.test(tok)) return Number(tok);
  return tok;
}

const FUNCS: Record<string, (...a: unknown[]) => unknown> = {
  json: (v) => JSON.stringify(v),
  upper: (v) => String(v).toUpperCase(),
  lower: (v) => String(v).toLowerCase(),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : Object.keys(Object(v)).length),
  join: (v, sep) => (Array.isArray(v) ? v.join(String(sep)) : show(v)),
  index: (v, k) => (v as any)?.[k as any],
  printf: (f, ...a) => String(f).replace(/%[sdv]/g, () => show(a.shift())),
};

function evalPipeline(expr: string, data: unknown): unknown {
  let value: unknown = undefined;
  let first = true;
  for (const stage of expr.split('|').map((s) => s.trim())) {
    const toks = tokenize(stage);
    if (!toks.length) continue;
    const fn = FUNCS[toks[0]];
    if (fn) {
      const args = toks.slice(1).map((t) => evalArg(t, data));
      if (!first) args.push(value);
      value = fn(...args);
    } else {
      if (toks.length > 1) throw new Error(`template: function "${toks[0]}" not defined`);
      value = evalArg(toks[0], data);
    }
    first = false;
  }
  return value;
}

export function renderTemplate(tpl: string, data: unknown): string {
  const unescaped = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return unescaped.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_m, expr: string) => {
    const v = evalPipeline(expr, data);
    return typeof v === 'string' ? v : show(v);
  });
}

/** Lays out tab-separated rows like Go's tabwriter with two spaces of padding. */
export function alignTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { if (i < r.length - 1) widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i] + 2) : c)).join('').trimEnd()).join('\n') + (rows.length ? '\n' : '');
}

export interface TableSpec<T> {
  headers: string[];
  row: (item: T) => string[];
}

/**
 * Prints items as JSON (`json`), through a Go-style template, or as the default table.
 * `asArray`: JSON output is an array (listing/inspect) rather than one object per line.
 */
export function printItems<T>(items: T[], format: string | undefined, table: TableSpec<T>, opts: { quiet?: (t: T) => string; quietMode?: boolean; noHeading?: boolean; templateView?: (t: T) => unknown; json?: (t: T) => unknown } = {}): void {
  let out = '';
  // Go templates see Podman's template fields (`{{.Names}}` a string, `{{.ID}}` short), JSON its report.
  const tv = (i: T) => (opts.templateView ? opts.templateView(i) : i);
  if (opts.quietMode && opts.quiet) {
    out = items.map((i) => opts.quiet!(i) + '\n').join('');
  } else if (format === 'json') {
    out = JSON.stringify(opts.json ? items.map(opts.json) : items, null, 4) + '\n';
  } else if (format && format !== 'table') {
    const isTable = /^table\s/.test(format);
    const tpl = format.replace(/^table\s+/, '');
    if (isTable) {
      const header = tpl.replace(/\{\{\s*\.?(\w+)[^}]*\}\}/g, (_m, f: string) => f.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase());
      const rows = [...(opts.noHeading ? [] : [header]), ...items.map((i) => renderTemplate(tpl, tv(i)))].map((l) => l.replace(/\\t/g, '\t').split('\t'));
      out = alignTable(rows);
    } else {
      out = items.map((i) => renderTemplate(tpl, tv(i)) + '\n').join('');
    }
  } else {
    const rows = [...(opts.noHeading ? [] : [table.headers]), ...items.map(table.row)];
    out = alignTable(rows);
  }
  process.stdout.write(out);
}

/** Inspect output: a JSON array, or one template rendering per object. */
export function printInspect(items: unknown[], format?: string): void {
  if (!format || format === 'json') {
    process.stdout.write(JSON.stringify(items, null, 4) + '\n');
    return;
  }
  process.stdout.write(items.map((i) => renderTemplate(format, i) + '\n').join(''));
}

export { humanDuration } from '../app/views.js';

export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toPrecision(3).replace(/\.?0+$/, '')} ${units[i]}`;
}
