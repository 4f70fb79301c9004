import type { Command } from 'commander';
import { Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { PeapodError } from '../../engine/errors.js';
import type { Diagnostic } from '../kube/diagnostics.js';
import type { PullProgress } from '../app/kube.js';
import { formatDiagnostic, sortDiagnostics } from '../kube/diagnostics.js';
import { getEngine } from './context.js';
import { collect, durationMs } from './flags.js';
import { addGenerateKube } from './generate.js';

const parseBool = (v: string | undefined) => v === undefined || v === '' || v === 'true';

async function readSource(file: string): Promise<{ text: string; name: string }> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return { text: Buffer.concat(chunks).toString('utf8'), name: '<stdin>' };
  }
  if (/^https?:\/\//.test(file)) {
    const r = await fetch(file);
    if (!r.ok) throw new PeapodError('invalid', `fetching ${file}: HTTP ${r.status}`);
    return { text: await r.text(), name: file };
  }
  try {
    return { text: await readFile(file, 'utf8'), name: file };
  } catch (err: any) {
    throw new PeapodError('invalid', `reading ${file}: ${err?.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
}

async function readAll(files: string[]): Promise<Array<{ text: string; name: string }>> {
  const out = [];
  for (const f of files) out.push(await readSource(f));
  return out;
}

function report(diags: Diagnostic[], files: string[]): void {
  for (const d of sortDiagnostics(diags, files)) process.stderr.write(`${formatDiagnostic(d)}\n`);
}

interface PlayFlags {
  start: boolean; replace?: boolean; down?: boolean; validate: 'strict' | 'warn'; quiet?: boolean;
  publish?: string[]; publishAll?: boolean; network?: string; userns?: string; configmap?: string[]; dryRun?: boolean; force?: boolean; wait?: boolean; waitReady?: boolean; timeout?: number;
}

async function play(files: string[], o: PlayFlags, cmd: Command): Promise<void> {
  if (o.down) return down(files, { force: o.force }, cmd);
  const { playKube, waitForPods } = await import('../app/kube.js');
  const open = () => getEngine(cmd);
  const renderer = await pullRenderer(!!o.quiet);
  let r;
  try {
    r = await playKube(open, await readAll(files), {
      ...o, configMaps: o.configmap && (await readAll(o.configmap)), timeoutSeconds: o.timeout,
      onDiagnostics: (d) => report(d, files), onWarning: (w) => process.stderr.write(`warning: ${w}\n`),
      pullProgress: renderer?.forImage,
    });
  } finally {
    renderer?.finish();
  }
  if (o.dryRun) return void process.stdout.write(describePlan(r.plan));
  for (const p of r.pods) if (p.initFailed) process.stderr.write(`warning: ${p.initFailed}\n`);
  if (o.wait) {
    if (!o.quiet) process.stdout.write(r.pods.map((p) => `Pod: ${p.id}\n`).join(''));
    return untilSignal((signal) => waitForPods(open, r.pods.map((p) => p.id), signal));
  }
  if (o.quiet) return;
  process.stdout.write(r.pods.map((p) => `Pod:\n${p.id}\n${p.containers.length ? `${p.containers.length === 1 ? 'Container' : 'Containers'}:\n${p.containers.join('\n')}\n` : ''}\n`).join(''));
}

/** Runs fn with a signal that SIGINT or SIGTERM aborts (--wait: Ctrl-C takes the pods down). */
async function untilSignal(fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await fn(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Pull progress of a play on stderr: bars on a terminal, as `pull`; otherwise one line per image
 * that was pulled (none for images already present). Nothing with --quiet.
 */
async function pullRenderer(quiet: boolean): Promise<{ forImage: (image: string) => ((e: PullProgress) => void) | undefined; finish(): void } | undefined> {
  if (quiet) return undefined;
  if (process.stderr.isTTY) {
    const { ProgressRenderer } = await import('./registry.js');
    const bars = new ProgressRenderer();
    return { forImage: () => bars.handle, finish: () => bars.finish() };
  }
  return {
    forImage: (image) => (e) => {
      if (e.type === 'stored') process.stderr.write(`Pulled ${e.reference}${e.reference === image ? '' : ` (for ${image})`}: ${e.imageId.slice(0, 12)}\n`);
    },
    finish: () => undefined,
  };
}

/** --dry-run: what would be created, secret values left out. */
function describePlan(plan: import('../kube/plan.js').Plan): string {
  let out = '';
  for (const s of plan.secrets) out += `Secret ${s.name}: keys ${Object.keys(s.data).sort().join(', ') || '(none)'}\n`;
  for (const c of plan.claims) out += `Volume ${c} (PersistentVolumeClaim)\n`;
  for (const s of plan.services) {
    const ip = s.spec.headless ? 'headless' : s.spec.clusterIP ?? 'a cluster IP';
    out += `Service ${s.spec.name} (${s.spec.type}, ${ip}, ports ${s.spec.ports.map((p) => `${p.port}->${p.targetPort}/${p.protocol}`).join(' ') || '(none)'})\n`;
  }
  for (const p of plan.pods) {
    const net = p.pod.hostNetwork ? 'host' : p.pod.network ?? 'peapod';
    out += `Pod ${p.pod.name} (${p.source.kind} ${p.source.name}, network ${net}${p.pod.publish?.length ? `, ports ${p.pod.publish.map((m) => `${m.hostIP ? `${m.hostIP}:` : ''}${m.hostPort}->${m.containerPort}/${m.protocol}`).join(' ')}` : ''}${p.deferred ? ', waits for an earlier pod of its Job' : ''})\n`;
    for (const v of p.pod.volumes ?? []) out += `  volume ${v.name}: ${v.type}\n`;
    for (const c of p.containers) {
      out += `  ${c.init ? `${c.init} ` : ''}container ${c.name}: image ${c.image}`;
      if (c.kube?.command) out += `, command ${JSON.stringify(c.kube.command)}`;
      if (c.kube?.args) out += `, args ${JSON.stringify(c.kube.args)}`;
      out += '\n';
    }
  }
  return out;
}

async function down(files: string[], o: { force?: boolean }, cmd: Command): Promise<void> {
  const { downKube } = await import('../app/kube.js');
  const r = await downKube(() => getEngine(cmd), await readAll(files), { force: o.force, onDiagnostics: (d) => report(d, files) });
  let out = '';
  if (r.stopped.length) out += `Pods stopped:\n${r.stopped.join('\n')}\n`;
  if (r.removed.length) out += `Pods removed:\n${r.removed.join('\n')}\n`;
  if (r.secrets.length) out += `Secrets removed:\n${r.secrets.join('\n')}\n`;
  if (r.volumes.length) out += `Volumes removed:\n${r.volumes.join('\n')}\n`;
  if (r.services.length) out += `Services removed:\n${r.services.join('\n')}\n`;
  process.stdout.write(out);
}

function addPlay(c: Command): Command {
  return c.description('create pods from Kubernetes YAML')
    .argument('<files...>', 'YAML files, - for stdin, or URLs')
    .addOption(new Option('--start [bool]', 'start the pods after creating them').argParser(parseBool).default(true))
    .option('--replace', 'remove pods of the same name first')
    .option('--down', 'stop and remove the pods the files define (same as kube down)')
    .option('-q, --quiet', 'print nothing on success')
    .option('--publish <[[ip:]hostPort:]containerPort[/proto]>', 'publish a port (adds to or overrides the hostPorts in the YAML)', collect)
    .option('--publish-all', 'publish every containerPort, also those without hostPort, on the same host port')
    .option('--network <name>', 'network of the pods: a bridge network, host or none')
    .addOption(new Option('--userns <mode>', 'user namespace of the pods: host, or keep-id (rootless: the user\'s uid is the same inside)').choices(['host', 'keep-id']))
    .option('--configmap <file>', 'YAML file with ConfigMaps the pods use (repeatable)', collect)
    .option('--dry-run', 'validate and print what would be created, create nothing')
    .option('-w, --wait', 'stay in the foreground; when every container has exited, or on Ctrl-C, take the pods down')
    .option('--wait-ready', 'return only when every pod is ready (readiness probes pass) or completed; also written --wait=ready')
    .option('--timeout <duration>', 'with --wait-ready: give up after this long (300s, 5m, 90); the pods stay', (v: string) => durationMs('timeout', v) / 1000)
    .option('--force', 'with --down: also remove the volumes of PersistentVolumeClaims')
    .addOption(new Option('--validate <mode>', 'unknown fields: strict (errors) or warn').choices(['strict', 'warn']).default('strict'))
    .action(async (files: string[], o: PlayFlags, cmd: Command) => play(files, o, cmd));
}

export function registerKubeCommands(program: Command): void {
  const playCmd = program.command('play').description('play Kubernetes YAML');
  addPlay(playCmd.command('kube'));
  const kube = program.command('kube').description('play, take down and generate Kubernetes YAML');
  addPlay(kube.command('play'));
  kube.command('down').description('stop and remove the pods that Kubernetes YAML defines')
    .argument('<files...>', 'YAML files, - for stdin, or URLs')
    .option('--force', 'also remove the volumes of PersistentVolumeClaims')
    .action(async (files: string[], o: { force?: boolean }, cmd: Command) => down(files, o, cmd));
  // `kube generate`: the same as `generate kube` (src/cli/generate.ts)
  addGenerateKube(kube.command('generate'));
}
