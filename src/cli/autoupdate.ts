// `auto-update` (Podman's flags, table, JSON and exit codes): thin, the work is src/app/autoupdate.ts.
import type { Command } from 'commander';
import { PeapodError } from '../../engine/errors.js';
import { engineOpener, setExit } from './context.js';
import { printItems } from './format.js';

/** Podman's boolean flag values (`--rollback=false`). */
function bool(flag: string) {
  return (v: string): boolean => {
    if (/^(true|1|t|yes)$/i.test(v)) return true;
    if (/^(false|0|f|no)$/i.test(v)) return false;
    throw new PeapodError('invalid', `invalid argument "${v}" for "${flag}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`);
  };
}

export function registerAutoUpdateCommand(program: Command): void {
  program.command('auto-update')
    .description('update the images of containers whose io.containers.autoupdate policy asks for it, and restart their systemd units (rolling back a failed restart)')
    .option('--dry-run', 'only check for updates: report them as pending, pull and restart nothing')
    .option('--rollback [bool]', 'after a failed restart, restart again with the old image (default true)', bool('--rollback'), true)
    .option('--authfile <file>', 'path of the authentication file (registry checks and pulls)')
    .option('--format <format>', 'json, or a Go template (fields Unit, Container, ContainerName, ContainerID, Image, Policy, Updated)')
    .action(async (o: { dryRun?: boolean; rollback: boolean; authfile?: string; format?: string }, cmd: Command) => {
      const { autoUpdate } = await import('../app/autoupdate.js');
      const { reports, errors } = await autoUpdate(engineOpener(cmd), {
        dryRun: o.dryRun, rollback: o.rollback, authFile: o.authfile,
        onPull: (name) => process.stderr.write(`Trying to pull ${name}...\n`),
      });
      if (reports.length) {
        printItems(reports, o.format, {
          headers: ['UNIT', 'CONTAINER', 'IMAGE', 'POLICY', 'UPDATED'],
          row: (r) => [r.Unit, r.Container, r.Image, r.Policy, r.Updated],
        });
      }
      for (const e of errors) process.stderr.write(`Error: ${e}\n`);
      if (errors.length) setExit(125);
    });
}
