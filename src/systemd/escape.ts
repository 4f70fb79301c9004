// systemd's syntax for command lines and unit names (systemd.service(5) "Command lines",
// systemd.unit(5) "Specifiers", systemd-escape(1)). Pure: both directions, so that what the
// generator writes is exactly what systemd will run (tests read the units back with splitExecLine).

/** An argument written as is, not escaped: a specifier such as `%I` or `%t/x`. */
export interface Raw { raw: string }
export type ExecArg = string | Raw;

const C_ESCAPES: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\v': '\\v', '\f': '\\f', '\b': '\\b', '\x07': '\\a' };

/**
 * One word for a unit file: `%` becomes `%%` (no specifier; `percent: false` keeps a word that is
 * already in unit syntax, specifiers and all), `$` becomes `$$` (no environment variable, where
 * `env`), and a word with whitespace, quotes, backslashes or control characters (or an empty one)
 * is put in double quotes with C escapes. A lone `;` is written `\;`.
 */
export function quoteWord(word: string, opts: { env?: boolean; percent?: boolean } = {}): string {
  let w = opts.percent === false ? word : word.replace(/%/g, '%%');
  if (opts.env !== false) w = w.replace(/\$/g, '$$$$');
  if (w === ';') return '\\;';
  if (w !== '' && !/[\s"'\\]|[\x00-\x1f\x7f]/.test(w)) return w;
  let out = '';
  for (const ch of w) {
    if (ch === '\\' || ch === '"') out += `\\${ch}`;
    else if (C_ESCAPES[ch]) out += C_ESCAPES[ch];
    else if (/[\x00-\x1f\x7f]/.test(ch)) out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `"${out}"`;
}

/** A command line for ExecStart= and friends; `prefix` is systemd's `-` (failure is ignored) etc. */
export function execLine(argv: readonly ExecArg[], prefix = ''): string {
  return prefix + argv.map((a) => (typeof a === 'string' ? quoteWord(a) : a.raw)).join(' ');
}

export interface ParsedExec {
  /** the prefixes before the executable: `-`, `@`, `:`, `+`, `!`, `!!` */
  prefix: string;
  /** the words after unquoting and C unescaping, specifiers and `$` left as written */
  words: string[];
}

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', v: '\v', f: '\f', b: '\b', a: '\x07', s: ' ', '\\': '\\', '"': '"', "'": "'", ';': ';' };

/** Splits a command line as systemd does (quotes, C escapes); specifiers and `$` are left alone. */
export function splitExecLine(line: string): ParsedExec {
  const words = splitWords(line);
  let prefix = '';
  if (words.length) {
    const m = /^[-@:+!]*/.exec(words[0])![0];
    prefix = m;
    words[0] = words[0].slice(m.length);
    if (words[0] === '') words.shift();
  }
  return { prefix, words };
}

/**
 * Splits a value into words as systemd does for lists and command lines: whitespace separates,
 * single or double quotes group, C escapes (`\n`, `\x41`, `\u00e9`, ...) are resolved; specifiers
 * and `$` are left as written.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = line.length;
  const ws = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  while (i < n) {
    while (i < n && ws(line[i])) i++;
    if (i >= n) break;
    let word = '';
    let quote: string | undefined;
    for (; i < n; i++) {
      const c = line[i];
      if (!quote && ws(c)) break;
      if (c === '\\') {
        const next = line[++i];
        if (next === undefined) throw new Error(`command line ends in a backslash: ${line}`);
        if (next === 'x') {
          word += String.fromCharCode(parseInt(line.slice(i + 1, i + 3), 16));
          i += 2;
        } else if (/[0-7]/.test(next)) {
          word += String.fromCharCode(parseInt(line.slice(i, i + 3), 8));
          i += 2;
        } else if (next === 'u' || next === 'U') {
          const len = next === 'u' ? 4 : 8;
          word += String.fromCodePoint(parseInt(line.slice(i + 1, i + 1 + len), 16));
          i += len;
        } else if (SIMPLE_ESCAPES[next] !== undefined) {
          word += SIMPLE_ESCAPES[next];
        } else {
          word += `\\${next}`; // systemd keeps unknown escapes (relaxed)
        }
        continue;
      }
      if (quote) {
        if (c === quote) { quote = undefined; continue; }
        word += c;
        continue;
      }
      if (c === '"' || c === "'") { quote = c; continue; }
      word += c;
    }
    if (quote) throw new Error(`unbalanced quotes in command line: ${line}`);
    words.push(word);
  }
  return words;
}

/**
 * Resolves specifiers (`%%` and those given, e.g. { n: 'pod-x.service', t: '/run' }) and then `$$`
 * and `${VAR}`/`$VAR` from env, in systemd's order (env null: no variables, as in Environment=).
 * A specifier not given is an error.
 */
export function resolveWord(word: string, specifiers: Record<string, string>, env: Record<string, string | undefined> | null = {}): string {
  const spec = word.replace(/%(.)/g, (_m, c: string) => {
    if (c === '%') return '%';
    const v = specifiers[c];
    if (v === undefined) throw new Error(`unknown specifier %${c} in "${word}"`);
    return v;
  });
  if (env === null) return spec;
  return spec.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a?: string, b?: string) => (m === '$$' ? '$' : env[(a ?? b)!] ?? ''));
}

/**
 * systemd-escape(1) without --path: `/` becomes `-`, and every byte other than [A-Za-z0-9:_.]
 * (and a leading `.`) becomes `\xNN`. `%I` in a template unit gives the original string back.
 */
export function systemdEscape(s: string): string {
  let out = '';
  const bytes = Buffer.from(s, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    const ch = String.fromCharCode(b);
    if (ch === '/') out += '-';
    else if ((i === 0 && ch === '.') || !/[A-Za-z0-9:_.]/.test(ch) || b > 0x7f) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** The reverse of systemdEscape (what `%I` gives). */
export function systemdUnescape(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '-') bytes.push(0x2f);
    else if (s[i] === '\\' && s[i + 1] === 'x') { bytes.push(parseInt(s.slice(i + 2, i + 4), 16)); i += 3; }
    else bytes.push(s.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}
