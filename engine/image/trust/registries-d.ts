// containers-registries.d(5): where GPG signatures of a registry's images live (the "lookaside"),
// where new ones are written (lookaside-staging) and whether sigstore signatures are read from
// the registry as attachments (use-sigstore-attachments).
//
// Directory: $PEAPOD_REGISTRIES_D (tests); else ~/.config/containers/registries.d when it exists;
// else /etc/containers/registries.d. Every *.yaml there is read; a scope defined twice is an error.
// Per field, the most specific scope that sets it wins, then default-docker, as containers/image.
// Without any lookaside, the built-in one is used: file:///var/lib/containers/sigstore (root) or
// ~/.local/share/containers/sigstore.

import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PeapodError } from '../../errors.js';
import { splitName } from '../reference.js';
import { dockerScopes } from './policy.js';

interface ScopeConfig {
  lookaside?: string;
  lookasideStaging?: string;
  useSigstoreAttachments?: boolean;
}

export interface RegistriesD {
  dir: string;
  defaultDocker?: ScopeConfig;
  docker: Map<string, ScopeConfig>;
}

function configHome(): string {
  return process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
}

export function registriesDDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PEAPOD_REGISTRIES_D) return env.PEAPOD_REGISTRIES_D;
  const user = path.join(configHome(), 'containers', 'registries.d');
  try {
    readdirSync(user);
    return user;
  } catch {
    return '/etc/containers/registries.d';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function scopeConfig(v: unknown, file: string, where: string): ScopeConfig {
  if (!isRecord(v)) throw new PeapodError('invalid', `registries.d ${file}: ${where} is not a mapping`);
  const url = (k: string): string | undefined => {
    const x = v[k];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'string' || !/^(file|https?):\/\//.test(x)) throw new PeapodError('invalid', `registries.d ${file}: ${where}.${k} must be a file://, http:// or https:// URL`);
    return x.replace(/\/+$/, '');
  };
  const attach = v['use-sigstore-attachments'];
  if (attach !== undefined && typeof attach !== 'boolean') throw new PeapodError('invalid', `registries.d ${file}: ${where}.use-sigstore-attachments must be true or false`);
  return {
    // "sigstore" and "sigstore-staging" are the old names (before containers/image 5.19).
    lookaside: url('lookaside') ?? url('sigstore'),
    lookasideStaging: url('lookaside-staging') ?? url('sigstore-staging'),
    useSigstoreAttachments: attach,
  };
}

/** Read every *.yaml of the directory (yaml is loaded only when a policy needs signatures). */
export async function loadRegistriesD(dir = registriesDDir()): Promise<RegistriesD> {
  const out: RegistriesD = { dir, docker: new Map() };
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(dir, f));
  } catch {
    return out;
  }
  const { parse } = await import('yaml');
  for (const file of files) {
    let v: unknown;
    try {
      v = parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new PeapodError('invalid', `registries.d ${file}: ${(err as Error).message.split('\n')[0]}`);
    }
    if (v === null || v === undefined) continue;
    if (!isRecord(v)) throw new PeapodError('invalid', `registries.d ${file}: not a mapping`);
    if (v['default-docker'] !== undefined) {
      if (out.defaultDocker) throw new PeapodError('invalid', `registries.d ${file}: default-docker is defined in more than one file`);
      out.defaultDocker = scopeConfig(v['default-docker'], file, 'default-docker');
    }
    if (v.docker !== undefined) {
      if (!isRecord(v.docker)) throw new PeapodError('invalid', `registries.d ${file}: docker is not a mapping`);
      for (const [scope, c] of Object.entries(v.docker)) {
        if (out.docker.has(scope)) throw new PeapodError('invalid', `registries.d ${file}: docker scope "${scope}" is defined in more than one file`);
        out.docker.set(scope, scopeConfig(c, file, `docker["${scope}"]`));
      }
    }
  }
  return out;
}

function field<K extends keyof ScopeConfig>(conf: RegistriesD, name: string, key: K): ScopeConfig[K] | undefined {
  for (const s of dockerScopes(name)) {
    const v = conf.docker.get(s)?.[key];
    if (v !== undefined) return v;
  }
  return conf.defaultDocker?.[key];
}

function builtinLookaside(): string {
  return process.getuid?.() === 0 ? 'file:///var/lib/containers/sigstore' : `file://${path.join(os.homedir(), '.local/share/containers/sigstore')}`;
}

/**
 * The lookaside base for an image: the configured URL plus the repository path (without the
 * host), as containers/image builds it. `write` prefers lookaside-staging.
 */
export function lookasideBase(conf: RegistriesD, name: string, write: boolean): string {
  const top = (write ? field(conf, name, 'lookasideStaging') : undefined) ?? field(conf, name, 'lookaside') ?? builtinLookaside();
  const repo = splitName(name).repository;
  const repoPath = repo.slice(repo.indexOf('/') + 1);
  return `${top}/${repoPath}`;
}

/** URL of the n-th (1-based) GPG signature of a manifest digest. */
export function lookasideUrl(base: string, digest: string, n: number): string {
  const [algo, hex] = digest.split(':');
  return `${base}@${algo}=${hex}/signature-${n}`;
}

export function usesSigstoreAttachments(conf: RegistriesD, name: string): boolean {
  return field(conf, name, 'useSigstoreAttachments') ?? false;
}
