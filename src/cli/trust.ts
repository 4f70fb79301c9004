// `image trust show|set`: the signature policy per scope (thin: flags, one engine call, output as Podman's).
import type { Command } from 'commander';
import { PeapodError } from '../../engine/errors.js';

function table(rows: Array<Record<string, string | undefined>>, noHeading: boolean): string {
  const cols = ['transport', 'name', 'type', 'gpg_id', 'sigstore'];
  const heads = ['TRANSPORT', 'NAME', 'TYPE', 'ID', 'STORE'];
  const cells = [...(noHeading ? [] : [heads]), ...rows.map((r) => cols.map((c) => r[c] ?? ''))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd()).join('\n') + '\n';
}

export function registerTrustCommands(image: Command): void {
  const trust = image.command('trust').description('manage the container image trust policy (policy.json)');
  trust.command('show').description('show the trust policy per scope')
    .argument('[registry]', 'only this scope')
    .option('-j, --json', 'output as JSON')
    .option('--raw', 'output the policy file as it is')
    .option('-n, --noheading', 'no heading in the table')
    .option('--policypath <file>', 'the policy file (default: the one pulls use)')
    .action(async (registry: string | undefined, o: { json?: boolean; raw?: boolean; noheading?: boolean; policypath?: string }) => {
      const { rawTrustPolicy, showTrust } = await import('../app/images.js');
      if (o.raw) {
        process.stdout.write(await rawTrustPolicy(o.policypath));
        return;
      }
      let rows = await showTrust(o.policypath);
      if (registry) rows = rows.filter((r) => r.repo_name === registry || r.name === registry);
      process.stdout.write(o.json ? JSON.stringify(rows, null, 4) + '\n' : table(rows as unknown as Array<Record<string, string>>, !!o.noheading));
    });
  trust.command('set').description('set the trust policy of a scope (a registry, repository, or "default")')
    .argument('<registry>', 'scope: registry[/repository], or default')
    .requiredOption('-t, --type <type>', 'accept, reject, signedBy or sigstoreSigned')
    .option('-f, --pubkeysfile <file>', 'public key file (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--policypath <file>', 'the policy file to change (default: the one pulls use)')
    .action(async (registry: string, o: { type: string; pubkeysfile?: string[]; policypath?: string }) => {
      if (!registry) throw new PeapodError('invalid', 'a registry scope is needed');
      const { setTrust } = await import('../app/images.js');
      await setTrust(registry, { type: o.type, pubkeysfile: o.pubkeysfile, policyPath: o.policypath });
    });
}
