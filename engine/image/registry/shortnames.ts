// Short-name resolution (containers-registries.conf(5), "SHORT-NAME RESOLUTION"): which fully
// qualified references a pull of `REF` tries.
//   - a reference naming a registry is used as it is, normalised with Docker's rules
//     ("docker.io/nginx" -> "docker.io/library/nginx:latest");
//   - a short name with an [aliases] entry resolves to the alias only;
//   - otherwise the unqualified-search-registries, by short-name-mode: one registry is used as is;
//     with several, "enforcing" (the default) asks on a TTY and otherwise fails listing them
//     (never a guess), "permissive" asks on a TTY and otherwise tries them in order, "disabled"
//     tries them in order.

import { createInterface } from 'node:readline/promises';
import { PeapodError } from '../../errors.js';
import { normalizeImageName, parseReference } from '../reference.js';
import type { RegistriesConf } from './registries-conf.js';

export interface Resolution {
  /** Fully qualified references to try, in order. */
  candidates: string[];
  how: 'qualified' | 'alias' | 'search' | 'prompt';
}

export type Chooser = (shortName: string, candidates: string[]) => Promise<string>;

/** Ask on the terminal which candidate to use (only when stdin and stdout are TTYs). */
export const promptChoice: Chooser = async (shortName, candidates) => {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(`? Please select an image for "${shortName}":\n`);
    candidates.forEach((c, i) => process.stderr.write(`  ${i + 1}) ${c}\n`));
    for (;;) {
      const answer = (await rl.question(`  choice [1-${candidates.length}]: `)).trim();
      const n = Number(answer);
      if (Number.isInteger(n) && n >= 1 && n <= candidates.length) return candidates[n - 1]!;
      const byName = candidates.find((c) => c === answer);
      if (byName) return byName;
    }
  } finally {
    rl.close();
  }
};

export function canPrompt(): boolean {
  return !!process.stdin.isTTY && !!process.stdout.isTTY;
}

/**
 * Resolve `ref` to the references to pull. `choose` is called when a choice is needed and
 * allowed (interactive and on a TTY); pass undefined to never prompt.
 */
export async function resolvePullCandidates(ref: string, conf: RegistriesConf, choose?: Chooser): Promise<Resolution> {
  const parsed = parseReference(ref, { dockerRules: true });
  if (parsed.domain) return { candidates: [normalizeImageName(ref, { defaultDomain: 'docker.io' })], how: 'qualified' };
  const suffix = parsed.digest ? `@${parsed.digest}` : `:${parsed.tag ?? 'latest'}`;
  const alias = conf.aliases.get(parsed.path);
  if (alias) {
    try {
      return { candidates: [normalizeImageName(`${alias.value}${suffix}`, { defaultDomain: 'docker.io' })], how: 'alias' };
    } catch (err) {
      throw new PeapodError('invalid', `alias "${parsed.path}" = "${alias.value}" in ${alias.file} is not a valid image name: ${(err as Error).message}`);
    }
  }
  const registries = conf.unqualifiedSearchRegistries;
  const where = conf.searchRegistriesFile ?? (conf.files.length ? conf.files.join(', ') : 'registries.conf');
  if (registries.length === 0) {
    throw new PeapodError('invalid', `short name "${ref}" did not resolve to an alias and no unqualified-search-registries are defined (${conf.files.length ? `read: ${conf.files.join(', ')}` : 'no registries.conf found'}): use a fully qualified name such as ${normalizeImageName(`docker.io/${parsed.path}${suffix}`, { defaultDomain: 'docker.io' })}`, {
      hint: 'or set unqualified-search-registries or an [aliases] entry in registries.conf',
    });
  }
  const candidates = registries.map((r) => normalizeImageName(`${r}/${parsed.path}${suffix}`, { defaultDomain: 'docker.io' }));
  if (candidates.length === 1 || conf.shortNameMode === 'disabled') return { candidates, how: 'search' };
  if (choose) return { candidates: [await choose(ref, candidates)], how: 'prompt' };
  if (conf.shortNameMode === 'permissive') return { candidates, how: 'search' };
  throw new PeapodError('invalid', `short name "${ref}" is ambiguous: it could be ${candidates.join(', ')} (unqualified-search-registries in ${where}) and there is no terminal to ask: use a fully qualified name`, {
    hint: 'or add an [aliases] entry for it in registries.conf',
  });
}

/**
 * The fully qualified references an image of a Kubernetes manifest means, in the order the
 * kubelet's runtime tries them: a qualified name as it is (Docker's rules); a short name through
 * its [aliases] entry, else each unqualified-search-registry in order (CRI-O; never a prompt),
 * else docker.io (containerd). Never a local image of another registry: `busybox` is not
 * `localhost/busybox`.
 */
export function kubeImageCandidates(ref: string, conf: RegistriesConf): string[] {
  const parsed = parseReference(ref, { dockerRules: true });
  if (parsed.domain) return [normalizeImageName(ref, { defaultDomain: 'docker.io' })];
  const suffix = parsed.digest ? `@${parsed.digest}` : `:${parsed.tag ?? 'latest'}`;
  const alias = conf.aliases.get(parsed.path);
  if (alias) {
    try {
      return [normalizeImageName(`${alias.value}${suffix}`, { defaultDomain: 'docker.io' })];
    } catch (err) {
      throw new PeapodError('invalid', `alias "${parsed.path}" = "${alias.value}" in ${alias.file} is not a valid image name: ${(err as Error).message}`);
    }
  }
  const registries = conf.unqualifiedSearchRegistries.length ? conf.unqualifiedSearchRegistries : ['docker.io'];
  return registries.map((r) => normalizeImageName(`${r}/${parsed.path}${suffix}`, { defaultDomain: 'docker.io' }));
}
