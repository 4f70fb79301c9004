// registries.conf (containers-registries.conf(5), version 2, TOML): where an image is pulled
// from. What peapod reads, in this order (a later file overrides an earlier one):
//
//   $PEAPOD_REGISTRIES_CONF          when set, the ONLY file read (tests use it; hermetic configs)
//   $CONTAINERS_REGISTRIES_CONF      when set, replaces the system file (as in Podman)
//   /etc/containers/registries.conf  + /etc/containers/registries.conf.d/*.conf (sorted)
//   ~/.config/containers/registries.conf (+ .d/)   for non-root users: used INSTEAD of the system
//                                    file when it exists, as containers/image does
//   peapod's own: /etc/peapod/registries.conf (root) or $XDG_CONFIG_HOME/peapod/registries.conf
//
// Merging follows the drop-in rules of containers/image: `unqualified-search-registries` and
// `short-name-mode` are replaced by a later file that sets them, `[aliases]` are merged key by
// key, `[[registry]]` entries are merged by prefix (a later entry replaces the whole entry).
// Version 1 files ([registries.search], [registries.insecure], [registries.block]) are read too.
//
// What is honoured: unqualified-search-registries, short-name-mode, [aliases], and per
// [[registry]]: prefix (exact, or "*.example.com"), location, insecure, blocked, mirror
// (location, insecure, pull-from-mirror), mirror-by-digest-only.

import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { PeapodError } from '../../errors.js';

export interface MirrorEntry {
  location: string;
  insecure: boolean;
  /** "all" (default), "digest-only" or "tag-only": which references may use this mirror. */
  pullFromMirror: 'all' | 'digest-only' | 'tag-only';
}

export interface RegistryEntry {
  /** What references this entry applies to: "host[:port][/path]" or "*.domain". */
  prefix: string;
  /** Where the prefix really lives (the prefix itself unless remapped); empty for wildcard prefixes. */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: MirrorEntry[];
  mirrorByDigestOnly: boolean;
  /** File that defined the entry, for messages. */
  file: string;
}

export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

export interface RegistriesConf {
  unqualifiedSearchRegistries: string[];
  /** File that set unqualified-search-registries, for messages. */
  searchRegistriesFile?: string;
  shortNameMode: ShortNameMode;
  /** Short name (no tag) -> fully qualified repository (no tag). */
  aliases: Map<string, { value: string; file: string }>;
  registries: RegistryEntry[];
  /** The files read, in order. */
  files: string[];
}

/** One place an image is pulled from: the primary location or a mirror. */
export interface PullSource {
  /** host[:port] to connect to. */
  host: string;
  /** Repository path on that host (no host, no tag). */
  repository: string;
  /** The reference as fetched there, for messages: host/repository:tag or @digest. */
  reference: string;
  insecure: boolean;
  mirror: boolean;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function configHome(): string {
  return process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
}

function readDir(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.conf')).sort().map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

function fileExists(file: string): boolean {
  try {
    readFileSync(file);
    return true;
  } catch {
    return false;
  }
}

/** The files to read, in order (see the file comment). */
export function registriesConfFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.PEAPOD_REGISTRIES_CONF) return [env.PEAPOD_REGISTRIES_CONF];
  const files: string[] = [];
  const system = env.CONTAINERS_REGISTRIES_CONF || '/etc/containers/registries.conf';
  const user = path.join(configHome(), 'containers', 'registries.conf');
  if (!isRoot() && !env.CONTAINERS_REGISTRIES_CONF && fileExists(user)) {
    files.push(user, ...readDir(`${user}.d`));
  } else {
    files.push(system);
    if (!env.CONTAINERS_REGISTRIES_CONF) files.push(...readDir('/etc/containers/registries.conf.d'));
  }
  files.push(isRoot() ? '/etc/peapod/registries.conf' : path.join(configHome(), 'peapod', 'registries.conf'));
  return files;
}

function bad(file: string, why: string): PeapodError {
  return new PeapodError('invalid', `registries configuration ${file}: ${why}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function str(v: unknown, file: string, key: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(file, `"${key}" must be a string`);
  return v;
}

function bool(v: unknown, file: string, key: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw bad(file, `"${key}" must be true or false`);
  return v;
}

function strList(v: unknown, file: string, key: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(file, `"${key}" must be a list of strings`);
  return v as string[];
}

/** "host[:port][/path]" without scheme; refuses what cannot be a registry location. */
function checkLocation(loc: string, file: string, what: string): string {
  if (/^[a-z]+:\/\//i.test(loc)) throw bad(file, `${what} "${loc}" must not contain a scheme (write host[:port][/path])`);
  if (loc.endsWith('/')) loc = loc.replace(/\/+$/, '');
  return loc;
}

interface PartialConf {
  search?: string[];
  shortNameMode?: ShortNameMode;
  aliases: Map<string, string>;
  registries: RegistryEntry[];
}

/** Parse one file's text (exported for unit tests). */
export function parseRegistriesConf(text: string, file: string): PartialConf {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw bad(file, `not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: PartialConf = { aliases: new Map(), registries: [] };
  out.search = strList(doc['unqualified-search-registries'], file, 'unqualified-search-registries')?.map((r) => checkLocation(r, file, 'search registry'));
  const mode = str(doc['short-name-mode'], file, 'short-name-mode');
  if (mode !== undefined && mode !== '') {
    if (mode !== 'enforcing' && mode !== 'permissive' && mode !== 'disabled') throw bad(file, `short-name-mode "${mode}" is not one of enforcing, permissive, disabled`);
    out.shortNameMode = mode;
  }
  if (doc.aliases !== undefined) {
    if (!isRecord(doc.aliases)) throw bad(file, '[aliases] must be a table');
    for (const [k, v] of Object.entries(doc.aliases)) {
      if (typeof v !== 'string') throw bad(file, `alias "${k}" must be a string`);
      out.aliases.set(k, checkLocation(v, file, `alias "${k}"`));
    }
  }
  // Version 1: [registries.search] registries = [...], [registries.insecure], [registries.block].
  if (isRecord(doc.registries)) {
    const v1 = doc.registries;
    const list = (k: string): string[] => (isRecord(v1[k]) ? strList((v1[k] as Record<string, unknown>).registries, file, `registries.${k}.registries`) ?? [] : []);
    if (out.search === undefined && isRecord(v1.search)) out.search = list('search');
    const byPrefix = new Map<string, RegistryEntry>();
    const entry = (p: string): RegistryEntry => {
      let e = byPrefix.get(p);
      if (!e) {
        e = { prefix: p, location: p, insecure: false, blocked: false, mirrors: [], mirrorByDigestOnly: false, file };
        byPrefix.set(p, e);
      }
      return e;
    };
    for (const r of list('insecure')) entry(r).insecure = true;
    for (const r of list('block')) entry(r).blocked = true;
    out.registries.push(...byPrefix.values());
  } else if (doc.registry !== undefined) {
    if (!Array.isArray(doc.registry)) throw bad(file, '[[registry]] must be an array of tables');
    for (const [i, r] of (doc.registry as unknown[]).entries()) {
      const where = `[[registry]] #${i + 1}`;
      if (!isRecord(r)) throw bad(file, `${where} is not a table`);
      const location = checkLocation(str(r.location, file, 'location') ?? '', file, `${where} location`);
      const prefix = checkLocation(str(r.prefix, file, 'prefix') ?? location, file, `${where} prefix`);
      if (!prefix) throw bad(file, `${where} needs a location or a prefix`);
      if (prefix.startsWith('*.') ? location !== '' : location === '') {
        throw bad(file, prefix.startsWith('*.') ? `${where}: a wildcard prefix "${prefix}" cannot have a location` : `${where} needs a location`);
      }
      if (prefix.includes('*') && !/^\*\.[^*/]+$/.test(prefix)) throw bad(file, `${where}: wildcard prefix "${prefix}" must look like "*.example.com"`);
      const mirrors: MirrorEntry[] = [];
      if (r.mirror !== undefined) {
        if (!Array.isArray(r.mirror)) throw bad(file, `${where}: mirror must be an array of tables ([[registry.mirror]])`);
        for (const [j, m] of (r.mirror as unknown[]).entries()) {
          if (!isRecord(m)) throw bad(file, `${where} mirror #${j + 1} is not a table`);
          const loc = checkLocation(str(m.location, file, 'mirror location') ?? '', file, `${where} mirror location`);
          if (!loc) throw bad(file, `${where} mirror #${j + 1} needs a location`);
          const pfm = str(m['pull-from-mirror'], file, 'pull-from-mirror') ?? 'all';
          if (pfm !== 'all' && pfm !== 'digest-only' && pfm !== 'tag-only') throw bad(file, `${where}: pull-from-mirror "${pfm}" is not one of all, digest-only, tag-only`);
          mirrors.push({ location: loc, insecure: bool(m.insecure, file, 'mirror insecure') ?? false, pullFromMirror: pfm });
        }
      }
      out.registries.push({
        prefix,
        location,
        insecure: bool(r.insecure, file, 'insecure') ?? false,
        blocked: bool(r.blocked, file, 'blocked') ?? false,
        mirrors,
        mirrorByDigestOnly: bool(r['mirror-by-digest-only'], file, 'mirror-by-digest-only') ?? false,
        file,
      });
    }
  }
  return out;
}

/** Read and merge the configuration files (missing files are skipped, unreadable ones are errors). */
export function loadRegistriesConf(files: string[] = registriesConfFiles()): RegistriesConf {
  const conf: RegistriesConf = { unqualifiedSearchRegistries: [], shortNameMode: 'enforcing', aliases: new Map(), registries: [], files: [] };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // An explicitly named file must exist; the default locations are optional.
      if (code === 'ENOENT' && file !== process.env.PEAPOD_REGISTRIES_CONF && file !== process.env.CONTAINERS_REGISTRIES_CONF) continue;
      throw bad(file, code === 'ENOENT' ? 'no such file' : (err as Error).message);
    }
    const part = parseRegistriesConf(text, file);
    conf.files.push(file);
    if (part.search !== undefined) {
      conf.unqualifiedSearchRegistries = part.search;
      conf.searchRegistriesFile = file;
    }
    if (part.shortNameMode) conf.shortNameMode = part.shortNameMode;
    for (const [k, v] of part.aliases) conf.aliases.set(k, { value: v, file });
    for (const r of part.registries) {
      const at = conf.registries.findIndex((e) => e.prefix === r.prefix);
      if (at === -1) conf.registries.push(r);
      else conf.registries[at] = r;
    }
  }
  return conf;
}

/** Whether `repo` ("host/path", no tag) falls under `prefix`; returns the length matched, or -1. */
function prefixMatch(repo: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const host = repo.split('/')[0]!.replace(/:\d+$/, '');
    return host.endsWith(prefix.slice(1)) ? prefix.length : -1;
  }
  if (repo === prefix) return prefix.length;
  if (repo.startsWith(prefix) && '/:@'.includes(repo[prefix.length]!)) return prefix.length;
  return -1;
}

/** The [[registry]] entry with the longest prefix matching `repo` ("host/path", no tag), if any. */
export function findRegistry(conf: RegistriesConf, repo: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  let bestLen = -1;
  for (const r of conf.registries) {
    const n = prefixMatch(repo, r.prefix);
    // Exact prefixes beat wildcards of the same length.
    if (n > bestLen || (n === bestLen && n >= 0 && best?.prefix.startsWith('*.') && !r.prefix.startsWith('*.'))) {
      best = r;
      bestLen = n;
    }
  }
  return best;
}

function splitLocation(loc: string): { host: string; path: string } {
  const slash = loc.indexOf('/');
  return slash === -1 ? { host: loc, path: '' } : { host: loc.slice(0, slash), path: loc.slice(slash + 1) };
}

/**
 * Where to pull `repo` (normalised "host/path") from, in order: the mirrors that apply
 * (pull-from-mirror, mirror-by-digest-only), then the primary location. A blocked registry is an
 * error. `tagOrDigest` is ":tag" or "@sha256:...".
 */
export function pullSources(conf: RegistriesConf, repo: string, tagOrDigest: string, insecureAll = false): PullSource[] {
  const entry = findRegistry(conf, repo);
  const byDigest = tagOrDigest.startsWith('@');
  // A wildcard prefix matches (and a mirror of it replaces) the host part.
  const matched = !entry ? repo.length : entry.prefix.startsWith('*.') ? repo.split('/')[0]!.length : entry.prefix.length;
  const make = (location: string, insecure: boolean, mirror: boolean): PullSource => {
    const full = location + repo.slice(matched);
    const { host, path: repository } = splitLocation(full);
    return { host, repository, reference: `${full}${tagOrDigest}`, insecure: insecure || insecureAll, mirror };
  };
  if (!entry) return [make(repo, false, false)];
  if (entry.blocked) {
    throw new PeapodError('invalid', `registry ${entry.prefix} is blocked in ${entry.file}`, { hint: 'remove "blocked = true" from its [[registry]] entry' });
  }
  const out: PullSource[] = [];
  for (const m of entry.mirrors) {
    const mode = entry.mirrorByDigestOnly ? 'digest-only' : m.pullFromMirror;
    if (mode === 'digest-only' && !byDigest) continue;
    if (mode === 'tag-only' && byDigest) continue;
    out.push(make(m.location, m.insecure, true));
  }
  out.push(make(entry.location || repo.slice(0, matched), entry.insecure, false));
  return out;
}

/** Whether connections to `host` (host[:port]) are insecure per [[registry]] (used by login). */
export function hostInsecure(conf: RegistriesConf, host: string): boolean {
  return findRegistry(conf, host)?.insecure ?? false;
}
