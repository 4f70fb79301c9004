// containers-policy.json(5): which images a pull may accept. Read on every pull (it is small and
// plain JSON); the crypto it may demand is loaded only then (verify.ts).
//
// Where: --signature-policy FILE; else $PEAPOD_SIGNATURE_POLICY (hermetic tests); else
// ~/.config/containers/policy.json when it exists; else /etc/containers/policy.json. When none
// exists peapod accepts every image (and `info` says so) instead of refusing every pull as
// containers/image does: a host without the containers-common package must still pull.
//
// Scopes of the docker transport, most specific first (the first that has requirements wins):
//   host/ns/repo:tag (or @digest), host/ns/repo, host/ns, host, *.sub.example.com, *.example.com,
//   the transport's "" entry, then the top-level "default".

import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PeapodError } from '../../errors.js';
import { splitName } from '../reference.js';

export type SignedIdentity =
  | { type: 'matchExact' }
  | { type: 'matchRepoDigestOrExact' }
  | { type: 'matchRepository' }
  | { type: 'exactReference'; dockerReference: string }
  | { type: 'exactRepository'; dockerRepository: string }
  | { type: 'remapIdentity'; prefix: string; signedPrefix: string };

/** Where public keys come from: files or inline data, as the policy says. */
export interface KeySource {
  paths: string[];
  data: Buffer[];
}

export type Requirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | { type: 'signedBy'; keyType: 'GPGKeys'; keys: KeySource; signedIdentity: SignedIdentity }
  | { type: 'sigstoreSigned'; keys: KeySource; signedIdentity: SignedIdentity };

export interface Policy {
  /** The file read; undefined when no policy file exists (everything is accepted). */
  file?: string;
  default: unknown[];
  /** transport -> scope -> raw requirements (parsed when a pull needs them, so that a bad entry for another registry does not break every pull). */
  transports: Record<string, Record<string, unknown[]>>;
  /** The JSON as read, for `image trust show/set`. */
  raw: Record<string, unknown>;
}

/** The requirements that apply to a reference, and the scope they came from (for messages). */
export interface ScopedRequirements {
  /** "default", or `docker:SCOPE` ("docker:" for the transport's own default). */
  scope: string;
  requirements: Requirement[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function configHome(): string {
  return process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
}

/** The policy file a pull reads (or would write, for `image trust set`), and whether it exists. */
export function policyPath(explicit?: string, env: NodeJS.ProcessEnv = process.env, forWrite = false): { file: string; exists: boolean } {
  const candidates = explicit ? [explicit] : env.PEAPOD_SIGNATURE_POLICY ? [env.PEAPOD_SIGNATURE_POLICY]
    : [path.join(configHome(), 'containers', 'policy.json'), '/etc/containers/policy.json'];
  for (const file of candidates) {
    try {
      readFileSync(file);
      return { file, exists: true };
    } catch (err) {
      // An explicit file that cannot be read is an error, not "no policy".
      if ((explicit || env.PEAPOD_SIGNATURE_POLICY) && !(forWrite && (err as NodeJS.ErrnoException).code === 'ENOENT')) {
        throw new PeapodError('invalid', `signature policy ${file}: ${(err as Error).message}`);
      }
    }
  }
  return { file: candidates[candidates.length - 1]!, exists: false };
}

function bad(file: string, where: string, why: string): PeapodError {
  return new PeapodError('invalid', `signature policy ${file}: ${where}: ${why}`);
}

/** Parse policy.json text. Only the structure is checked here; requirements are parsed when used. */
export function parsePolicy(text: string, file: string): Policy {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new PeapodError('invalid', `signature policy ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(v)) throw bad(file, 'top level', 'not a JSON object');
  for (const k of Object.keys(v)) if (k !== 'default' && k !== 'transports') throw bad(file, 'top level', `unknown key "${k}"`);
  if (!Array.isArray(v.default)) throw bad(file, 'default', 'missing or not a list of requirements');
  const transports: Policy['transports'] = {};
  if (v.transports !== undefined) {
    if (!isRecord(v.transports)) throw bad(file, 'transports', 'not an object');
    for (const [t, scopes] of Object.entries(v.transports)) {
      if (!isRecord(scopes)) throw bad(file, `transports.${t}`, 'not an object');
      transports[t] = {};
      for (const [scope, reqs] of Object.entries(scopes)) {
        if (!Array.isArray(reqs)) throw bad(file, `transports.${t}["${scope}"]`, 'not a list of requirements');
        transports[t]![scope] = reqs;
      }
    }
  }
  return { file, default: v.default, transports, raw: v };
}

/** Read the policy in force (see the file comment). */
export function loadPolicy(explicit?: string): Policy {
  const { file, exists } = policyPath(explicit);
  if (!exists) return { default: [{ type: 'insecureAcceptAnything' }], transports: {}, raw: {} };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PeapodError('invalid', `signature policy ${file}: ${(err as Error).message}`);
  }
  return parsePolicy(text, file);
}

/** The docker transport's scopes for a normalised reference, most specific first. */
export function dockerScopes(name: string): string[] {
  const { repository, tag, digest } = splitName(name);
  const out: string[] = [];
  if (digest) out.push(`${repository}@${digest}`);
  else out.push(`${repository}:${tag ?? 'latest'}`);
  const parts = repository.split('/');
  for (let i = parts.length; i >= 1; i--) out.push(parts.slice(0, i).join('/'));
  // Wildcards: "*.example.com" for host "a.example.com" (never the port-qualified host itself).
  const host = parts[0]!.replace(/:\d+$/, '');
  const labels = host.split('.');
  for (let i = 1; i < labels.length; i++) out.push(`*.${labels.slice(i).join('.')}`);
  return out;
}

function keySource(r: Record<string, unknown>, file: string, where: string, baseDir: string): KeySource {
  const given = ['keyPath', 'keyPaths', 'keyData'].filter((k) => r[k] !== undefined);
  if (given.length !== 1) throw bad(file, where, `exactly one of keyPath, keyPaths and keyData is needed (found ${given.length ? given.join(', ') : 'none'})`);
  const abs = (p: unknown, w: string): string => {
    if (typeof p !== 'string' || p === '') throw bad(file, where, `${w} must be a non-empty string`);
    return path.resolve(baseDir, p);
  };
  if (r.keyPath !== undefined) return { paths: [abs(r.keyPath, 'keyPath')], data: [] };
  if (r.keyPaths !== undefined) {
    if (!Array.isArray(r.keyPaths) || r.keyPaths.length === 0) throw bad(file, where, 'keyPaths must be a non-empty list');
    return { paths: r.keyPaths.map((p, i) => abs(p, `keyPaths[${i}]`)), data: [] };
  }
  if (typeof r.keyData !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(r.keyData)) throw bad(file, where, 'keyData must be base64');
  return { paths: [], data: [Buffer.from(r.keyData, 'base64')] };
}

function signedIdentity(v: unknown, file: string, where: string): SignedIdentity {
  if (v === undefined) return { type: 'matchRepoDigestOrExact' };
  if (!isRecord(v) || typeof v.type !== 'string') throw bad(file, `${where}.signedIdentity`, 'must be an object with a type');
  const str = (k: string): string => {
    if (typeof v[k] !== 'string' || v[k] === '') throw bad(file, `${where}.signedIdentity`, `${v.type} needs a non-empty "${k}"`);
    return v[k] as string;
  };
  switch (v.type) {
    case 'matchExact': case 'matchRepoDigestOrExact': case 'matchRepository':
      return { type: v.type };
    case 'exactReference': return { type: 'exactReference', dockerReference: str('dockerReference') };
    case 'exactRepository': return { type: 'exactRepository', dockerRepository: str('dockerRepository') };
    case 'remapIdentity': return { type: 'remapIdentity', prefix: str('prefix'), signedPrefix: str('signedPrefix') };
    default: throw bad(file, `${where}.signedIdentity`, `unknown type "${v.type}"`);
  }
}

/** One requirement of the policy, checked. `baseDir` resolves relative key paths (the policy's directory). */
export function parseRequirement(v: unknown, file: string, where: string): Requirement {
  if (!isRecord(v) || typeof v.type !== 'string') throw bad(file, where, 'a requirement must be an object with a "type"');
  const baseDir = path.dirname(file || '/');
  switch (v.type) {
    case 'insecureAcceptAnything': case 'reject':
      return { type: v.type };
    case 'signedBy': {
      if (v.keyType !== 'GPGKeys') {
        throw bad(file, where, `signedBy keyType "${String(v.keyType)}" is not supported (only GPGKeys, as in containers/image)`);
      }
      return { type: 'signedBy', keyType: 'GPGKeys', keys: keySource(v, file, where, baseDir), signedIdentity: signedIdentity(v.signedIdentity, file, where) };
    }
    case 'sigstoreSigned': {
      if (v.fulcio !== undefined || v.rekorPublicKeyPath !== undefined || v.rekorPublicKeyData !== undefined) {
        throw bad(file, where, 'sigstoreSigned with fulcio or rekor is not supported by peapod: use keyPath, keyPaths or keyData (a public key)');
      }
      return { type: 'sigstoreSigned', keys: keySource(v, file, where, baseDir), signedIdentity: signedIdentity(v.signedIdentity, file, where) };
    }
    default:
      throw bad(file, where, `unknown requirement type "${v.type}"`);
  }
}

/** The requirements for a docker reference (normalised name), from the most specific scope. */
export function requirementsFor(policy: Policy, name: string): ScopedRequirements {
  const file = policy.file ?? '(none)';
  const docker = policy.transports.docker;
  let scope = 'default';
  let raw = policy.default;
  if (docker) {
    for (const s of [...dockerScopes(name), '']) {
      if (docker[s] !== undefined) {
        scope = `docker:${s}`;
        raw = docker[s]!;
        break;
      }
    }
  }
  const where = scope === 'default' ? 'default' : `transports.docker["${scope.slice('docker:'.length)}"]`;
  if (raw.length === 0) throw bad(file, where, 'an empty list of requirements (use [{"type": "reject"}] or [{"type": "insecureAcceptAnything"}])');
  return { scope, requirements: raw.map((r, i) => parseRequirement(r, file, `${where}[${i}]`)) };
}
