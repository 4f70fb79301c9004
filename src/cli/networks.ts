import type { Command } from 'commander';
import { PeapodError } from '../../engine/errors.js';
import type { NetworkConfig } from '../../engine/network/backend.js';
import type { Engine } from '../../engine/engine.js';
import { getEngine } from './context.js';
import { printItems, printInspect } from './format.js';

/** Podman's network JSON (netavark format) for ls --format json and inspect. */
export function networkView(n: NetworkConfig) {
  return {
    name: n.name,
    id: n.id,
    driver: n.driver,
    network_interface: n.networkInterface,
    created: n.created,
    subnets: [{ subnet: n.subnet, gateway: n.gateway }],
    ipv6_enabled: false,
    internal: n.internal,
    dns_enabled: n.dnsEnabled,
    labels: n.labels ?? {},
    ipam_options: { driver: 'host-local' },
  };
}

/** Pods (by name) that use a network. */
async function usersOf(engine: Engine, name: string): Promise<string[]> {
  return (await engine.pods.list()).filter((p) => engine.pods.networkMode(p) === name).map((p) => p.name);
}

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
      const engine = await getEngine(cmd);
      await engine.networks.get('peapod'); // the default network always exists, as Podman's does
      const views = (await engine.networks.list()).map(networkView);
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
      if (o.driver !== 'bridge') throw new PeapodError('invalid', `unsupported driver ${o.driver}: only bridge networks are available`);
      const engine = await getEngine(cmd);
      let n = name;
      if (!n) {
        const have = new Set((await engine.networks.list()).map((x) => x.name));
        for (let i = 1; !n; i++) if (!have.has(`peapod${i}`)) n = `peapod${i}`;
      }
      const cfg = await engine.networks.create({ name: n, subnet: o.subnet, gateway: o.gateway, dnsEnabled: !o.disableDns, internal: o.internal });
      process.stdout.write(`${cfg.name}\n`);
    });

  network.command('rm').alias('remove').description('remove networks').argument('<networks...>')
    .option('-f, --force', 'also remove the pods that use it')
    .action(async (refs: string[], o: { force?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      for (const r of refs) {
        const n = await engine.networks.mustGet(r);
        let users = await usersOf(engine, n.name);
        if (users.length && o.force) {
          for (const u of users) await engine.pods.remove(u, { force: true, timeout: 0 });
          users = [];
        }
        await engine.networks.remove(n.name, users.map((u) => `pod ${u}`));
        process.stdout.write(`${n.name}\n`);
      }
    });

  program.command('port').description('list the published ports of a pod or container').argument('<pod-or-container>')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const lines = await portLines(await getEngine(cmd), ref);
      if (lines.length) process.stdout.write(lines.join('\n') + '\n');
    });
}
