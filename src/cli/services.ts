import type { Command } from 'commander';
import { getEngine } from './context.js';
import { printInspect, printItems } from './format.js';

/** ENDPOINTS as kubectl shows them: ip:port of the first port, "+ N more", or <none>. */
function endpointsColumn(eps: Array<{ IP: string; Ports: Record<string, number> }>): string {
  if (!eps.length) return '<none>';
  const shown = eps.slice(0, 3).map((e) => { const p = Object.values(e.Ports)[0]; return p ? `${e.IP}:${p}` : e.IP; });
  return shown.join(',') + (eps.length > 3 ? ` + ${eps.length - 3} more...` : '');
}

export function registerServiceCommands(program: Command): void {
  const service = program.command('service').description('Services played from Kubernetes YAML (virtual IPs, names, endpoints)');

  service.command('ls').alias('list').description('list Services')
    .option('--format <format>', 'json, or a Go template')
    .option('-q, --quiet', 'print only Service names')
    .action(async (o: { format?: string; quiet?: boolean }, cmd: Command) => {
      const { listServices } = await import('../app/services.js');
      const items = await listServices(() => getEngine(cmd));
      printItems(items, o.format, {
        headers: ['NAME', 'TYPE', 'CLUSTER-IP', 'PORTS', 'ENDPOINTS'],
        row: (s) => [s.Namespace === 'default' ? s.Name : `${s.Namespace}/${s.Name}`, s.Type, s.ExternalName ? '<none>' : s.ClusterIP, s.Ports,
          s.ExternalName ? `${s.ExternalName} (${s.ExternalAddresses?.join(',') || 'no address'})` : endpointsColumn(s.Endpoints)],
      }, { quiet: (s) => s.Name, quietMode: o.quiet });
    });

  service.command('inspect').description('show details of Services').argument('<services...>')
    .option('-f, --format <format>', 'json, or a Go template')
    .action(async (refs: string[], o: { format?: string }, cmd: Command) => {
      const { inspectServices } = await import('../app/services.js');
      printInspect(await inspectServices(() => getEngine(cmd), refs), o.format);
    });
}
