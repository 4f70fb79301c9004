import type { Command } from 'commander';
import { getEngine } from './context.js';
import { printItems, printInspect, humanDuration } from './format.js';

/** `volume` and `secret` commands. Secret values are never printed. */
export function registerStorageCommands(program: Command): void {
  const volume = program.command('volume').description('manage named volumes');
  volume.command('ls').alias('list').description('list volumes')
    .option('--format <format>', 'json, or a Go template')
    .option('-q, --quiet', 'print only volume names')
    .action(async (o: { format?: string; quiet?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const views = (await engine.volumes.list()).map((v) => ({ Name: v.name, Driver: 'local', Mountpoint: engine.volumes.dataDir(v.name), CreatedAt: v.created, Labels: v.labels ?? {}, Scope: 'local', Options: {} }));
      printItems(views, o.format, { headers: ['DRIVER', 'VOLUME NAME'], row: (v) => [v.Driver, v.Name] }, { quiet: (v) => v.Name, quietMode: o.quiet });
    });
  volume.command('inspect').description('show details of volumes').argument('<volumes...>')
    .option('-f, --format <format>', 'json, or a Go template')
    .action(async (names: string[], o: { format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const out = [];
      for (const n of names) {
        const v = await engine.volumes.mustGet(n);
        out.push({ Name: v.name, Driver: 'local', Mountpoint: engine.volumes.dataDir(v.name), CreatedAt: v.created, Labels: v.labels ?? {}, Scope: 'local', Options: {}, MountCount: 0, NeedsCopyUp: false, NeedsChown: false });
      }
      printInspect(out, o.format);
    });
  volume.command('rm').alias('remove').description('remove volumes').argument('<volumes...>')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      for (const n of names) {
        const users = (await engine.pods.list()).filter((p) => p.spec.volumes?.some((v) => v.type === 'persistentVolumeClaim' && v.claimName === n)).map((p) => `pod ${p.name}`);
        await engine.volumes.remove(n, users);
        process.stdout.write(`${n}\n`);
      }
    });

  const secret = program.command('secret').description('manage secrets');
  secret.command('ls').alias('list').description('list secrets (never their values)')
    .option('--format <format>', 'json, or a Go template')
    .action(async (o: { format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const views = (await engine.secrets.list()).map((s) => ({ ID: s.id, Name: s.name, Driver: 'file', CreatedAt: s.created, UpdatedAt: s.created, Keys: Object.keys(s.data).sort() }));
      printItems(views, o.format, {
        headers: ['ID', 'NAME', 'DRIVER', 'CREATED', 'UPDATED'],
        row: (v) => [v.ID, v.Name, v.Driver, `${humanDuration(Date.now() - Date.parse(v.CreatedAt))} ago`, `${humanDuration(Date.now() - Date.parse(v.UpdatedAt))} ago`],
      });
    });
  secret.command('rm').alias('remove').description('remove secrets').argument('<secrets...>')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      for (const n of names) {
        const s = await engine.secrets.mustGet(n);
        await engine.secrets.remove(n);
        process.stdout.write(`${s.id}\n`);
      }
    });
}
