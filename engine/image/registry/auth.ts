// Registry credentials: the containers auth.json format (containers-auth.json(5)), Docker's
// config.json as a fallback, and Kubernetes' kubernetes.io/dockerconfigjson Secrets.
//
// Files:
//   written by login/logout:  --authfile, else $REGISTRY_AUTH_FILE, else /run/containers/0/auth.json
//                             for root (as Podman), else ${XDG_RUNTIME_DIR}/containers/auth.json
//   read by pulls:            that file; unless one was named explicitly, then also
//                             ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json and Docker's
//                             ${DOCKER_CONFIG:-~/.docker}/config.json
// Keys are "registry[:port]" or "registry/namespace[/repo]"; the most specific key that matches
// the repository wins. Credential helpers (credHelpers, credsStore) are not supported.

import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PeapodError } from '../../errors.js';
import { writeFileAtomic } from '../../state/atomic.js';
import { normalizeImageName, parseReference, splitName } from '../reference.js';

/** Explicit credentials: a user and password, or an identity (refresh) token. */
export type Credentials = { username: string; password: string } | { identityToken: string };

export interface FoundCredentials {
  credentials: Credentials;
  /** Where they came from (a file path, or "explicit"), for messages. */
  source: string;
  /** The key that matched. */
  key: string;
}

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The auth.json that login and logout write. */
export function defaultAuthFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/containers/0/auth.json';
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return `/run/containers/${uid}/auth.json`;
}

/** The files a pull reads credentials from, in order. */
export function authFilesToRead(authFile?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (authFile) return [authFile];
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const home = os.homedir();
  return [
    defaultAuthFile(env),
    path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'containers', 'auth.json'),
    path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'config.json'),
  ];
}

/**
 * Normalise a key of an auths map: no scheme, no trailing "/" or "/v1/", Docker Hub's many names
 * as "docker.io" (so "https://index.docker.io/v1/" is "docker.io").
 */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  k = k.replace(/\/v[12]$/, '');
  const slash = k.indexOf('/');
  const host = (slash === -1 ? k : k.slice(0, slash)).toLowerCase();
  const rest = slash === -1 ? '' : k.slice(slash);
  return `${DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host}${rest}`;
}

/** Keys that can hold credentials for repository "host/a/b", most specific first. */
export function authKeysFor(repo: string): string[] {
  const parts = normalizeAuthKey(repo).split('/');
  const keys: string[] = [];
  for (let n = parts.length; n >= 1; n--) keys.push(parts.slice(0, n).join('/'));
  return keys;
}

/** Decode one entry of an auths map ({auth}, {username, password} or {identitytoken}). */
export function decodeAuthEntry(entry: unknown, where: string): Credentials | undefined {
  if (!isRecord(entry)) return undefined;
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) return { identityToken: entry.identitytoken };
  if (typeof entry.auth === 'string' && entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new PeapodError('invalid', `${where}: "auth" is not base64 of "user:password"`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  return undefined;
}

/** The auths map of a parsed auth file (containers/Docker format, or the legacy .dockercfg form). */
function authsOf(doc: unknown): Record<string, unknown> {
  if (!isRecord(doc)) return {};
  if (isRecord(doc.auths)) return doc.auths;
  // Legacy ~/.dockercfg and some dockercfg Secrets: the map itself, keys are registries.
  const looksLegacy = Object.values(doc).every((v) => isRecord(v) && ('auth' in v || 'username' in v || 'identitytoken' in v));
  return looksLegacy ? doc : {};
}

/** Find credentials for `repo` ("host/path") in one parsed auth document. */
export function credentialsIn(doc: unknown, repo: string, where: string): { credentials: Credentials; key: string } | undefined {
  const auths = authsOf(doc);
  const byKey = new Map<string, string>();
  for (const k of Object.keys(auths)) {
    const n = normalizeAuthKey(k);
    if (!byKey.has(n)) byKey.set(n, k);
  }
  for (const want of authKeysFor(repo)) {
    const original = byKey.get(want);
    if (original === undefined) continue;
    const creds = decodeAuthEntry(auths[original], `${where}: auths["${original}"]`);
    if (creds) return { credentials: creds, key: original };
  }
  return undefined;
}

function readAuthDoc(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new PeapodError('invalid', `reading auth file ${file}: ${(err as Error).message}`);
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new PeapodError('invalid', `auth file ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Credentials for repository `repo` ("host/path", normalised) from the auth files. */
export function lookupCredentials(repo: string, authFile?: string): FoundCredentials | undefined {
  for (const file of authFilesToRead(authFile)) {
    const hit = credentialsIn(readAuthDoc(file), repo, file);
    if (hit) return { ...hit, source: file };
  }
  return undefined;
}

/** The repository ("host/path") of an image reference, Docker's rules for names without registry. */
export function repositoryOf(imageRef: string): string {
  return splitName(normalizeImageName(imageRef, { defaultDomain: 'docker.io' })).repository;
}

/**
 * Credentials for pulling `imageRef` from the decoded `.dockerconfigjson` of a
 * kubernetes.io/dockerconfigjson Secret (also accepts the legacy `.dockercfg` form), or
 * undefined when the secret has none for that registry. Matching follows the kubelet: the most
 * specific key wins; keys may carry a scheme and a path; "*.example.com" matches one subdomain
 * level. A name without registry means docker.io, as in Kubernetes.
 */
export function credentialsFromDockerConfigJson(content: string | Buffer | object, imageRef: string): Credentials | undefined {
  let doc: unknown = content;
  if (typeof content === 'string' || Buffer.isBuffer(content)) {
    try {
      doc = JSON.parse(content.toString()) as unknown;
    } catch (err) {
      throw new PeapodError('invalid', `.dockerconfigjson is not valid JSON: ${(err as Error).message}`);
    }
  }
  const repo = repositoryOf(imageRef);
  const exact = credentialsIn(doc, repo, '.dockerconfigjson');
  if (exact) return exact.credentials;
  // Wildcard keys ("*.example.com", "*.example.com/ns").
  const auths = authsOf(doc);
  const [host, ...pathParts] = repo.split('/');
  let best: { creds: Credentials; len: number } | undefined;
  for (const [k, v] of Object.entries(auths)) {
    const n = normalizeAuthKey(k);
    if (!n.startsWith('*.')) continue;
    const [kHost, ...kPath] = n.split('/');
    const hostLabels = host!.replace(/:\d+$/, '').split('.');
    const keyLabels = kHost!.replace(/:\d+$/, '').split('.');
    if (hostLabels.length !== keyLabels.length) continue;
    if (!keyLabels.every((l, i) => l === '*' || l === hostLabels[i])) continue;
    if (kPath.length > pathParts.length || !kPath.every((p, i) => p === pathParts[i])) continue;
    const creds = decodeAuthEntry(v, `.dockerconfigjson: auths["${k}"]`);
    if (creds && (!best || n.length > best.len)) best = { creds, len: n.length };
  }
  return best?.creds;
}

/**
 * The key login/logout use for a registry argument: "host[:port]" or "host/namespace...", no
 * scheme, no tag; Docker Hub as "docker.io".
 */
export function loginKey(registry: string): string {
  const k = normalizeAuthKey(registry);
  if (!k) throw new PeapodError('invalid', 'a registry is needed, e.g. quay.io or 127.0.0.1:5000');
  const host = k.split('/')[0]!;
  if (k.includes('/')) {
    // "host/ns/repo": must be a valid repository name, without tag or digest.
    const p = parseReference(k, { dockerRules: true });
    if (p.tag || p.digest) throw new PeapodError('invalid', `"${registry}": a registry or repository without tag or digest is needed`);
  } else if (!/^[a-zA-Z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/.test(host)) {
    throw new PeapodError('invalid', `"${registry}" is not a registry host name`);
  }
  return k;
}

async function readAuthFileForWrite(file: string): Promise<Record<string, unknown>> {
  const doc = readAuthDoc(file);
  if (doc === undefined) return { auths: {} };
  if (!isRecord(doc)) throw new PeapodError('invalid', `auth file ${file}: not a JSON object`);
  if (doc.auths !== undefined && !isRecord(doc.auths)) throw new PeapodError('invalid', `auth file ${file}: "auths" is not an object`);
  return { ...doc, auths: { ...(doc.auths as Record<string, unknown> | undefined) } };
}

async function writeAuthFile(file: string, doc: Record<string, unknown>): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(doc, null, '\t')}\n`, 0o600);
}

/** Store credentials for `registry` (a login key) in the auth file. */
export async function storeCredentials(registry: string, creds: Credentials, authFile?: string): Promise<string> {
  const file = authFile ?? defaultAuthFile();
  const key = loginKey(registry);
  const doc = await readAuthFileForWrite(file);
  const auths = doc.auths as Record<string, unknown>;
  for (const k of Object.keys(auths)) if (normalizeAuthKey(k) === key) delete auths[k];
  auths[key] = 'identityToken' in creds
    ? { auth: '', identitytoken: creds.identityToken }
    : { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await writeAuthFile(file, doc);
  return file;
}

/**
 * Remove the credentials of `registry` (or of every registry with `all`) from the auth file.
 * Throws PeapodError('not-found') when there were none (Podman: "not logged into ...").
 */
export async function removeCredentials(registry: string | undefined, opts: { all?: boolean; authFile?: string } = {}): Promise<string> {
  const file = opts.authFile ?? defaultAuthFile();
  if (opts.all) {
    await fs.rm(file, { force: true });
    return file;
  }
  if (!registry) throw new PeapodError('invalid', 'a registry is needed (or --all)');
  const key = loginKey(registry);
  const doc = await readAuthFileForWrite(file);
  const auths = doc.auths as Record<string, unknown>;
  const matching = Object.keys(auths).filter((k) => normalizeAuthKey(k) === key);
  if (matching.length === 0) {
    const elsewhere = authFilesToRead(opts.authFile).slice(1).find((f) => credentialsIn(readAuthDoc(f), key, f)?.key !== undefined && normalizeAuthKey(credentialsIn(readAuthDoc(f), key, f)!.key) === key);
    throw new PeapodError('not-found', elsewhere
      ? `not logged into ${key} in ${file}: the credentials in ${elsewhere} were not written by peapod; edit that file to remove them`
      : `not logged into ${key}`);
  }
  for (const k of matching) delete auths[k];
  await writeAuthFile(file, doc);
  return file;
}
