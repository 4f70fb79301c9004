// Diagnostics: one problem in a manifest, with where it is (file:line:col and the YAML path) and
// what is wrong. parse.ts and validate.ts produce them; the CLI prints them with formatDiagnostic.

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  file: string;
  /** 1-based line of the offending key (or node). */
  line: number;
  /** 1-based column of the offending key (or node). */
  col: number;
  /** YAML path formatted by formatPath, e.g. `spec.containers[0].comand`; '' for the document itself. */
  path: string;
  message: string;
  severity: Severity;
}

export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Formats a path: dotted keys, `[i]` for array indices, keys that are not identifiers quoted:
 * `metadata.labels["app.kubernetes.io/name"]`, `spec.containers[0].ports[1].containerPort`.
 */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/**
 * `web.yaml:9:5: spec.containers[0].comand: unknown field (did you mean "command"?)`, warnings as
 * `web.yaml:9:5: warning: spec...`. A diagnostic about the whole document has no path part.
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.col}: `;
  const severity = d.severity === 'warning' ? 'warning: ' : '';
  const path = d.path === '' ? '' : `${d.path}: `;
  return `${where}${severity}${path}${d.message}`;
}

/**
 * Sorts diagnostics by file, then line, column, path and message, and removes exact duplicates.
 * Files listed in `fileOrder` (e.g. in the order given on the command line) come first, in that
 * order; other files follow in lexicographic order. Returns a new array.
 */
export function sortDiagnostics(diags: readonly Diagnostic[], fileOrder: readonly string[] = []): Diagnostic[] {
  const rank = new Map<string, number>();
  fileOrder.forEach((f, i) => { if (!rank.has(f)) rank.set(f, i); });
  const fileCmp = (a: string, b: string): number => {
    const ra = rank.get(a);
    const rb = rank.get(b);
    if (ra !== undefined && rb !== undefined) return ra - rb;
    if (ra !== undefined) return -1;
    if (rb !== undefined) return 1;
    return cmp(a, b);
  };
  const seen = new Set<string>();
  const unique: Diagnostic[] = [];
  for (const d of diags) {
    const key = JSON.stringify([d.file, d.line, d.col, d.path, d.message, d.severity]);
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(d);
  }
  return unique.sort((a, b) =>
    fileCmp(a.file, b.file) ||
    a.line - b.line ||
    a.col - b.col ||
    cmp(a.path, b.path) ||
    cmp(a.message, b.message) ||
    cmp(a.severity, b.severity));
}

/** True when at least one diagnostic is an error (warnings alone do not stop a play). */
export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
