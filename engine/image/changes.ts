// `--change` instructions (import): a subset of Dockerfile instructions applied to an image's
// runtime config. Podman accepts USER, EXPOSE, ENV, ENTRYPOINT, CMD, VOLUME, WORKDIR, LABEL,
// STOPSIGNAL and ONBUILD; the value follows the instruction after a space (or, as Podman also
// allows, after "=": "CMD=/bin/sh").
//
// Where Podman's parser is laxer or narrower than Docker's, this follows Docker, which is what
// users write these lines from: "ENV K V" and several "K=V" pairs with quoting are accepted,
// WORKDIR is resolved against "/" (an OCI cwd must be absolute), STOPSIGNAL keeps the signal's
// name, EXPOSE takes several ports and sctp.

import path from 'node:path';
import { constants as osConstants } from 'node:os';
import { PeapodError } from '../errors.js';
import type { ImageRuntimeConfig } from '../types.js';

const INSTRUCTIONS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'] as const;

function bad(change: string, why: string): PeapodError {
  return new PeapodError('invalid', `invalid change "${change}": ${why}`);
}

/** The JSON (exec) form: a JSON array of strings, or undefined when the value is not one. */
function jsonArray(value: string): string[] | undefined {
  if (!value.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
  } catch { /* not JSON: shell form, as Docker does */ }
  return undefined;
}

/**
 * Split "K=V K2='v 2' K3=\"x\"" into words the way Dockerfile key=value lists are split:
 * whitespace separates words, single and double quotes group, backslash escapes (not inside
 * single quotes). Quotes are removed.
 */
function splitWords(change: string, value: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quote) {
      if (c === quote) { quote = undefined; continue; }
      if (c === '\\' && quote === '"' && i + 1 < value.length) { cur += value[++i]; continue; }
      cur += c;
      continue;
    }
    if (c === '"' || c === "'") { quote = c; inWord = true; continue; }
    if (c === '\\' && i + 1 < value.length) { cur += value[++i]; inWord = true; continue; }
    if (/\s/.test(c)) {
      if (inWord) { words.push(cur); cur = ''; inWord = false; }
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (quote) throw bad(change, `unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (inWord) words.push(cur);
  return words;
}

/** Strip one pair of surrounding quotes, for the single-pair "ENV K V" form. */
function unquote(s: string): string {
  if (s.length >= 2 && (s[0] === '"' || s[0] === "'") && s[s.length - 1] === s[0]) return s.slice(1, -1);
  return s;
}

/** "K=V ..." pairs (ENV, LABEL) or, when the first word has no "=", Docker's legacy "K V" form. */
function keyValues(change: string, instruction: string, value: string, allowLegacy: boolean): Array<[string, string]> {
  const firstWord = value.split(/\s+/, 1)[0] ?? '';
  if (!firstWord.includes('=')) {
    if (!allowLegacy) throw bad(change, `${instruction} must be formatted as key=value`);
    const m = /^(\S+)\s+([\s\S]*)$/.exec(value);
    if (!m) throw bad(change, `${instruction} must be formatted as key=value or "key value"`);
    return [[unquote(m[1]!), unquote(m[2]!.trim())]];
  }
  const pairs: Array<[string, string]> = [];
  for (const word of splitWords(change, value)) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw bad(change, `${instruction} must be formatted as key=value (got "${word}")`);
    pairs.push([word.slice(0, eq), word.slice(eq + 1)]);
  }
  return pairs;
}

function parseSignal(change: string, value: string): string {
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) {
    const n = Number(v);
    if (n >= 1 && n <= 64) return v;
    throw bad(change, `STOPSIGNAL must be a valid signal, "${v}" is out of range`);
  }
  const upper = v.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (name in osConstants.signals) return name;
  if (/^SIGRTM(IN|AX)([+-][0-9]+)?$/.test(name)) return name;
  throw bad(change, `STOPSIGNAL must be a valid signal, "${v}" is not one`);
}

function parseExpose(change: string, value: string): string[] {
  const ports: string[] = [];
  for (const word of value.split(/\s+/).filter(Boolean)) {
    const m = /^([0-9]+)(?:-([0-9]+))?(?:\/([a-zA-Z]+))?$/.exec(word);
    if (!m) throw bad(change, `EXPOSE port must be formatted as PORT[/PROTO], got "${word}"`);
    const proto = (m[3] ?? 'tcp').toLowerCase();
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw bad(change, `EXPOSE protocol must be tcp, udp or sctp, got "${m[3]}"`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (first < 1 || last > 65535 || last < first) throw bad(change, `EXPOSE port "${word}" is not a valid port number or range`);
    for (let p = first; p <= last; p++) ports.push(`${p}/${proto}`);
  }
  if (ports.length === 0) throw bad(change, 'EXPOSE needs at least one port');
  return ports;
}

function setEnv(env: string[], key: string, val: string): string[] {
  // ENV replaces an earlier value of the same variable instead of appending a duplicate.
  return [...env.filter((e) => e.split('=', 1)[0] !== key), `${key}=${val}`];
}

/**
 * Apply Dockerfile-like `changes` to a copy of `base` and return it. An unknown instruction or a
 * malformed value is a PeapodError('invalid') naming the change.
 */
export function applyChanges(base: ImageRuntimeConfig, changes: readonly string[]): ImageRuntimeConfig {
  const cfg: ImageRuntimeConfig = structuredClone(base);
  for (const change of changes) {
    const m = /^\s*([A-Za-z]+)(?:\s+|=)([\s\S]*)$/.exec(change) ?? /^\s*([A-Za-z]+)\s*$/.exec(change);
    if (!m) throw bad(change, 'must be formatted as INSTRUCTION VALUE');
    const instruction = m[1]!.toUpperCase();
    const value = (m[2] ?? '').trim();
    if (!(INSTRUCTIONS as readonly string[]).includes(instruction)) {
      throw bad(change, `unknown instruction ${instruction} (supported: ${INSTRUCTIONS.join(', ')})`);
    }
    switch (instruction) {
      case 'CMD': {
        if (value === '') throw bad(change, 'CMD needs a command');
        cfg.Cmd = jsonArray(value) ?? ['/bin/sh', '-c', value];
        break;
      }
      case 'ENTRYPOINT': {
        // An empty ENTRYPOINT clears it, as in Podman and Docker.
        cfg.Entrypoint = value === '' ? [] : jsonArray(value) ?? ['/bin/sh', '-c', value];
        break;
      }
      case 'ENV': {
        if (value === '') throw bad(change, 'ENV needs at least one variable');
        let env = cfg.Env ?? [];
        for (const [k, v] of keyValues(change, 'ENV', value, true)) {
          if (k === '') throw bad(change, 'ENV variable names must not be empty');
          env = setEnv(env, k, v);
        }
        cfg.Env = env;
        break;
      }
      case 'LABEL': {
        if (value === '') throw bad(change, 'LABEL needs at least one key=value');
        const labels = { ...(cfg.Labels ?? {}) };
        for (const [k, v] of keyValues(change, 'LABEL', value, true)) {
          if (k === '') throw bad(change, 'LABEL keys must not be empty');
          labels[k] = v;
        }
        cfg.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const exposed = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of parseExpose(change, value)) exposed[p] = {};
        cfg.ExposedPorts = exposed;
        break;
      }
      case 'VOLUME': {
        const paths = jsonArray(value) ?? value.split(/\s+/).filter(Boolean);
        if (paths.length === 0) throw bad(change, 'VOLUME needs at least one path');
        const volumes = { ...(cfg.Volumes ?? {}) };
        for (const p of paths) {
          if (p === '') throw bad(change, 'VOLUME paths must not be empty');
          volumes[p] = {};
        }
        cfg.Volumes = volumes;
        break;
      }
      case 'WORKDIR': {
        if (value === '') throw bad(change, 'WORKDIR needs a path');
        // Relative paths are relative to the previous WORKDIR (Podman and Docker), and to "/"
        // at first: the runtime needs an absolute cwd.
        cfg.WorkingDir = path.posix.resolve('/', cfg.WorkingDir ?? '/', value);
        break;
      }
      case 'USER': {
        if (value === '') throw bad(change, 'USER needs a user');
        cfg.User = value;
        break;
      }
      case 'STOPSIGNAL': {
        if (value === '') throw bad(change, 'STOPSIGNAL needs a signal');
        cfg.StopSignal = parseSignal(change, value);
        break;
      }
      case 'ONBUILD': {
        if (value === '') throw bad(change, 'ONBUILD needs an instruction');
        cfg.OnBuild = [...(cfg.OnBuild ?? []), value];
        break;
      }
    }
  }
  return cfg;
}
