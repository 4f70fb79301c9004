// Podman's exists and prune commands under each object group (container, pod, image, network,
// volume), as scripts and Podman's own tests use them. Thin: one use case of src/app/bulk.ts each.
import type { Command } from 'commander';
import { getEngine } from './context.js';
import { collect } from './flags.js';
import { printBulk } from './containers.js';
import type { ExistsKind, PruneKind } from '../app/bulk.js';

function group(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

export function registerCompatCommands(program: Command): void {
  const groups: Array<[ExistsKind & PruneKind, string]> = [['container', 'manage containers'], ['pod', 'manage pods'], ['image', 'manage images'], ['network', 'manage networks'], ['volume', 'manage named volumes']];
  for (const [kind, desc] of groups) {
    const g = group(program, kind, desc);
    g.command('exists').description(`exit 0 if the ${kind} exists, 1 if not`).argument('<name>')
      .action(async (ref: string, _o: unknown, cmd: Command) => {
        const { exists } = await import('../app/bulk.js');
        if (!(await exists(await getEngine(cmd), kind, ref))) process.exitCode = 1;
      });
    const prune = g.command('prune').description(`remove every unused ${kind}`)
      .option('-f, --force', 'do not ask for confirmation (peapod never asks)')
      .option('--filter <key=value>', 'only those matching', collect);
    if (kind === 'image') prune.option('-a, --all', 'every unused image, not only dangling ones');
    prune.action(async (o: { all?: boolean; filter?: string[] }, cmd: Command) => {
      const { prune: pruneAll } = await import('../app/bulk.js');
      printBulk(await pruneAll(await getEngine(cmd), kind, { all: o.all, filters: o.filter }));
    });
  }
}
