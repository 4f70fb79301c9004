// `image trust show` and `image trust set`: the policy per scope, as Podman 4.3 shows and edits it.
// Show lists the default, then each docker scope; for signedBy the key owners (user IDs read from
// the keys with openpgp, only then loaded) and the lookaside from registries.d. Set replaces the
// requirements of one scope (or the default) and writes the file atomically.

import { readFileSync } from 'node:fs';
import { PeapodError } from '../../errors.js';
import { writeFileAtomic } from '../../state/atomic.js';
import { describeKeys } from './crypto.js';
import { loadPolicy, parsePolicy, parseRequirement, policyPath } from './policy.js';
import { loadRegistriesD, lookasideBase } from './registries-d.js';

/** One row of `image trust show` (Podman's JSON field names). */
export interface TrustRow {
  transport: string;
  name: string;
  repo_name: string;
  type: string;
  gpg_id?: string;
  sigstore?: string;
}

const TYPE_WORDS: Record<string, string> = {
  insecureAcceptAnything: 'accept', reject: 'reject', signedBy: 'signed', sigstoreSigned: 'sigstoreSigned',
};

async function keyOwners(paths: string[], data: Buffer[]): Promise<string> {
  const { loadGpgKeys } = await import('./crypto.js');
  try {
    const keys = await loadGpgKeys({ paths, data }) as Array<{ getUserIDs(): string[] }>;
    return keys.flatMap((k) => k.getUserIDs().map((u) => /<([^>]+)>/.exec(u)?.[1] ?? u)).join(', ');
  } catch (err) {
    return (err as Error).message;
  }
}

export function rawPolicy(file?: string): string {
  const { file: f, exists } = policyPath(file);
  if (!exists) throw new PeapodError('not-found', `no signature policy: ${f} does not exist`);
  return readFileSync(f, 'utf8');
}

export async function showTrust(file?: string): Promise<TrustRow[]> {
  const policy = loadPolicy(file);
  const rows: TrustRow[] = [];
  const conf = await loadRegistriesD();
  const describe = async (transport: string, name: string, repoName: string, reqs: unknown[]): Promise<void> => {
    for (const [i, r] of reqs.entries()) {
      const req = parseRequirement(r, policy.file ?? '(none)', `${name}[${i}]`);
      const row: TrustRow = { transport, name, repo_name: repoName, type: TYPE_WORDS[req.type] ?? req.type };
      if (req.type === 'signedBy') {
        row.gpg_id = await keyOwners(req.keys.paths, req.keys.data);
        if (transport === 'repository') row.sigstore = lookasideBase(conf, `${repoName}/x:latest`, false).replace(/\/x$/, '');
      } else if (req.type === 'sigstoreSigned') {
        row.gpg_id = describeKeys(req.keys);
      }
      rows.push(row);
    }
  };
  await describe('all', '* (default)', 'default', policy.default);
  for (const [transport, scopes] of Object.entries(policy.transports)) {
    for (const [scope, reqs] of Object.entries(scopes)) {
      if (transport === 'docker') await describe('repository', scope || '* (docker)', scope || 'default', reqs);
      else await describe(transport, scope || `* (${transport})`, scope || 'default', reqs);
    }
  }
  return rows;
}

export interface TrustSetOptions {
  type: string;
  pubkeysfile?: string[];
  policyPath?: string;
}

/** Replace the requirements of `scope` ("default" for the default). */
export async function setTrust(scope: string, opts: TrustSetOptions): Promise<string> {
  const type = ({ accept: 'insecureAcceptAnything', reject: 'reject', signedBy: 'signedBy', sigstoreSigned: 'sigstoreSigned' } as Record<string, string>)[opts.type];
  if (!type) throw new PeapodError('invalid', `invalid choice: ${opts.type} (choose from 'accept', 'reject', 'signedBy', 'sigstoreSigned')`);
  const keys = opts.pubkeysfile ?? [];
  if ((type === 'signedBy' || type === 'sigstoreSigned') && keys.length === 0) throw new PeapodError('invalid', `at least one public key must be defined for type '${opts.type}'`);
  if (type !== 'signedBy' && type !== 'sigstoreSigned' && keys.length > 0) throw new PeapodError('invalid', `--pubkeysfile is only meaningful with --type signedBy or sigstoreSigned`);
  if (scope !== 'default' && !/^(\*\.)?[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?(:[\w][\w.-]*|@sha256:[0-9a-f]{64})?$/.test(scope)) {
    throw new PeapodError('invalid', `"${scope}" is not a registry, repository or image scope (e.g. registry.example.com/ns/app)`);
  }
  const reqs = type === 'signedBy' ? keys.map((k) => ({ type, keyType: 'GPGKeys', keyPath: k }))
    : type === 'sigstoreSigned' ? keys.map((k) => ({ type, keyPath: k }))
      : [{ type }];
  const { file, exists } = policyPath(opts.policyPath, process.env, true);
  const current = exists ? parsePolicy(readFileSync(file, 'utf8'), file).raw : { default: [{ type: 'insecureAcceptAnything' }] };
  const next: Record<string, unknown> = { ...current };
  if (scope === 'default') next.default = reqs;
  else {
    const transports = { ...(current.transports as Record<string, Record<string, unknown>> | undefined ?? {}) };
    transports.docker = { ...(transports.docker ?? {}), [scope]: reqs };
    next.transports = transports;
  }
  // What is written must read back.
  const text = JSON.stringify(next, null, 4) + '\n';
  parsePolicy(text, file);
  await writeFileAtomic(file, Buffer.from(text), 0o644);
  return file;
}
