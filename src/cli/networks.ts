import type { Command } from 'commander';
import { PeapodError } from '../../engine/errors.js';
import type { Engine } from '../../engine/engine.js';
import { getEngine } from './context.js';
import { createNetwork, listNetworks, networkView, removeNetwork } from '../app/networks.js';
import { printItems, printInspect } from './format.js';

/** `port` lines of a pod: "8080/tcp -> 0.0.0.0:18080". */
export async function portLines(engine: Engine, ref: string): Promise<string[]> {
  const ctr = await engine.containers.find(ref);
  const pod = ctr?.spec.pod ? await engine.pods.find(ctr.spec.pod) : ctr ? undefined : await engine.pods.find(ref);
  if (!ctr && !pod) throw new PeapodError('not-found', `no container or pod with name or ID "${ref}" found`);
  if (!pod) return [];
  return (pod.spec.publish ?? []).map((p) => `${p.containerPort}/${p.protocol} -> ${p.hostIP || '0.0.0.0'}:${p.hostPort}`);
}

export function registerNetworkCommands(program: Command): void {
  const network = program.command('network').description('manage networks');

  network.command('ls').alias('list').description('list networks')
    .option('--format <format>', 'json, or a Go template')
    .option('-q, --quiet', 'print only network names')
    .action(async (o: { format?: string; quiet?: boolean }, cmd: Command) => {
      const views = (await listNetworks(await getEngine(cmd))).map(networkView);
      printItems(views, o.format, {
        headers: ['NETWORK ID', 'NAME', 'DRIVER'],
        row: (v) => [v.id.slice(0, 12), v.name, v.driver],
      }, { quiet: (v) => v.name, quietMode: o.quiet });
    });

  network.command('inspect').description('show details of networks').argument('<networks...>')
    .option('-f, --format <format>', 'json, or a Go template')
    .action(async (refs: string[], o: { format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const out = [];
      for (const r of refs) out.push(networkView(await engine.networks.mustGet(r)));
      printInspect(out, o.format);
    });

  network.command('create').description('create a bridge network').argument('[name]')
    .option('--subnet <cidr>', 'IPv4 subnet, e.g. 10.91.0.0/24 (default: the first free 10.90.N.0/24)')
    .option('--gateway <ip>', 'gateway address (default: the first address of the subnet)')
    .option('--disable-dns', 'no name resolution between pods on this network')
    .option('--internal', 'no traffic to or from outside the network')
    .option('-d, --driver <driver>', 'only bridge', 'bridge')
    .action(async (name: string | undefined, o: { subnet?: string; gateway?: string; disableDns?: boolean; internal?: boolean; driver: string }, cmd: Command) => {
      const cfg = await createNetwork(await getEngine(cmd), { name, subnet: o.subnet, gateway: o.gateway, disableDns: o.disableDns, internal: o.internal, driver: o.driver });
      process.stdout.write(`${cfg.name}\n`);
    });

  network.command('rm').alias('remove').description('remove networks').argument('<networks...>')
    .option('-f, --force', 'also remove the pods that use it')
    .action(async (refs: string[], o: { force?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      for (const r of refs) {
        const n = await removeNetwork(engine, r, { force: o.force });
        process.stdout.write(`${n.name}\n`);
      }
    });

  program.command('port').description('list the published ports of a pod or container').argument('<pod-or-container>')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const lines = await portLines(await getEngine(cmd), ref);
      if (lines.length) process.stdout.write(lines.join('\n') + '\n');
    });
}
