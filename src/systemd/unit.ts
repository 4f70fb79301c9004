// Unit files as data: sections of key=value lines, rendered in the order given, and read back.
// Pure.

export type Section = Array<readonly [key: string, value: string]>;

export interface UnitFile {
  /** the unit's file name, e.g. `pod-web.service` */
  name: string;
  /** comment lines at the top (without `# `) */
  header: string[];
  sections: Array<{ name: string; entries: Section }>;
}

/** Text of a unit file: the header as comments, a blank line, then each section. */
export function renderUnit(u: UnitFile): string {
  const head = u.header.map((l) => `# ${l}`.trimEnd()).join('\n');
  const body = u.sections
    .filter((s) => s.entries.length)
    .map((s) => `[${s.name}]\n${s.entries.map(([k, v]) => `${k}=${v}`).join('\n')}\n`)
    .join('\n');
  return `${head ? `${head}\n\n` : ''}${body}`;
}

/** A parsed unit file: section -> key -> values in order (keys may repeat). */
export type ParsedUnit = Record<string, Record<string, string[]>>;

/**
 * Reads a unit file as systemd does: `#`/`;` comments, `[Section]` headers, `Key=Value` with
 * surrounding whitespace trimmed, a trailing backslash continuing the line (joined with a space).
 */
export function parseUnit(text: string): ParsedUnit {
  const out: ParsedUnit = {};
  let section: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const next = lines[++i];
      const t = next.trim();
      if (t.startsWith('#') || t.startsWith(';')) continue; // comments inside a continuation are skipped
      line = `${line.slice(0, -1)} ${t}`;
    }
    const m = /^\[([^\]]+)\]$/.exec(line);
    if (m) {
      section = m[1];
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) throw new Error(`unit file line ${i + 1}: expected [Section] or Key=Value: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    (out[section][key] ??= []).push(value);
  }
  return out;
}
