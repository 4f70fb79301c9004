import type { Command } from 'commander';
import { Option } from 'commander';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { PeapodError } from '../../engine/errors.js';
import type { ParsedDoc } from '../kube/parse.js';
import type { Diagnostic } from '../kube/diagnostics.js';
import type { PullProgress } from '../../engine/image/registry/index.js';
import { formatDiagnostic, hasErrors, sortDiagnostics } from '../kube/diagnostics.js';
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

/** Reads every file; all diagnostics (all files, all documents) come back together. */
async function load(files: string[], mode: 'strict' | 'warn', validate: boolean): Promise<{ docs: ParsedDoc[]; diags: Diagnostic[] }> {
  const { parseManifests } = await import('../kube/parse.js');
  const docs: ParsedDoc[] = [];
  const diags: Diagnostic[] = [];
  for (const f of files) {
    const { text, name } = await readSource(f);
    const r = parseManifests(text, name);
    docs.push(...r.docs);
    diags.push(...r.errors);
  }
  if (validate) {
    const { validateDocs } = await import('../kube/validate.js');
    diags.push(...validateDocs(docs, { mode }));
  }
  return { docs, diags };
}

function report(diags: Diagnostic[], files: string[]): void {
  for (const d of sortDiagnostics(diags, files)) process.stderr.write(`${formatDiagnostic(d)}\n`);
}

/**
 * --wait: stays in the foreground until every app container of the played pods has exited, or
 * until SIGINT/SIGTERM; then the pods are taken down (removed), as Podman's `kube play --wait`.
 */
async function waitAndTearDown(engine: Awaited<ReturnType<typeof getEngine>>, podIds: string[]): Promise<void> {
  let stop = false;
  const onSignal = () => { stop = true; };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    while (!stop) {
      let running = false;
      for (const id of podIds) {
        const pod = await engine.store.getPod(id);
        if (!pod) continue;
        const members = await engine.pods.members(pod);
        if (members.some((c) => !c.spec.isInfra && (c.state.status === 'running' || (c.state.status === 'created' && !engine.pods.initFailure(members))))) running = true;
      }
      if (!running) break;
      await new Promise((res) => setTimeout(res, 200));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  for (const id of podIds) {
    if (await engine.store.getPod(id)) await engine.pods.remove(id, { force: true });
  }
}

interface PlayFlags {
  start: boolean; replace?: boolean; down?: boolean; validate: 'strict' | 'warn'; quiet?: boolean;
  publish?: string[]; publishAll?: boolean; network?: string; userns?: string; configmap?: string[]; dryRun?: boolean; force?: boolean; wait?: boolean; waitReady?: boolean; timeout?: number;
}

/** Facts of this host that fieldRef and resourceFieldRef name. */
function nodeFacts() {
  const addr = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  return { name: os.hostname(), hostIP: addr?.address ?? '127.0.0.1', cpus: os.cpus().length, memoryBytes: os.totalmem() };
}

async function play(files: string[], o: PlayFlags, cmd: Command): Promise<void> {
  if (o.down) return down(files, { force: o.force }, cmd);
  const { docs, diags } = await load(files, o.validate, true);
  let configMapDocs: ParsedDoc[] = [];
  if (o.configmap?.length) {
    const cm = await load(o.configmap, o.validate, true);
    diags.push(...cm.diags);
    for (const d of cm.docs) {
      if (d.kind !== 'ConfigMap') {
        const p = d.position(['kind']);
        diags.push({ file: d.file, line: p.line, col: p.col, path: 'kind', message: `--configmap files hold ConfigMaps only, not ${d.kind}`, severity: 'error' });
      }
    }
    configMapDocs = cm.docs;
  }
  if (hasErrors(diags)) {
    report(diags, files);
    const n = diags.filter((d) => d.severity === 'error').length;
    throw new PeapodError('invalid', `${n} problem${n === 1 ? '' : 's'} in ${files.join(', ')}: nothing was created`);
  }
  const { planKube } = await import('../kube/plan.js');
  const { playPlan } = await import('../kube/apply.js');
  let plan;
  try {
    plan = planKube(docs, { publish: o.publish, publishAll: o.publishAll, network: o.network, configMapDocs, node: nodeFacts() });
  } catch (err) {
    throw new PeapodError('invalid', (err as Error).message);
  }
  const all = [...diags, ...plan.diagnostics];
  report(all, files);
  if (hasErrors(plan.diagnostics)) throw new PeapodError('invalid', `cannot play ${files.join(', ')}: nothing was created`);
  if (o.dryRun) {
    process.stdout.write(describePlan(plan));
    return;
  }
  if (o.userns === 'keep-id') for (const p of plan.pods) p.pod.userns = 'keep-id';
  const engine = await getEngine(cmd);
  const asks = (r?: object) => !!r && Object.values(r).some((v) => v !== undefined);
  const limited = plan.pods.flatMap((p) => [...(asks(p.pod.resources) ? [`pod ${p.pod.name}`] : []), ...p.containers.filter((c) => asks(c.resources)).map((c) => c.name)]);
  const notice = engine.rootlessLimitsNotice(limited);
  if (notice) process.stderr.write(`warning: ${notice}\n`);
  const renderer = await pullRenderer(!!o.quiet);
  let r;
  try {
    r = await playPlan(engine, plan, { start: o.start, replace: !!o.replace, pullProgress: renderer?.forImage });
  } finally {
    renderer?.finish();
  }
  for (const p of r.pods) if (p.initFailed) process.stderr.write(`warning: ${p.initFailed}\n`);
  if (o.waitReady) {
    const { waitReady } = await import('../kube/apply.js');
    await waitReady(engine, r.pods.map((p) => p.id), (o.timeout ?? 300) * 1000);
  }
  if (o.wait) {
    if (!o.quiet) process.stdout.write(r.pods.map((p) => `Pod: ${p.id}\n`).join(''));
    await waitAndTearDown(engine, r.pods.map((p) => p.id));
    return;
  }
  if (o.quiet) return;
  let out = '';
  for (const p of r.pods) {
    out += `Pod:\n${p.id}\n`;
    if (p.containers.length) out += `${p.containers.length === 1 ? 'Container' : 'Containers'}:\n${p.containers.join('\n')}\n`;
    out += '\n';
  }
  process.stdout.write(out);
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
  const { docs, diags } = await load(files, 'warn', false);
  if (hasErrors(diags)) {
    report(diags, files);
    throw new PeapodError('invalid', `cannot read ${files.join(', ')}`);
  }
  const { podNamesOf, configObjectsOf } = await import('../kube/plan.js');
  const { downPods } = await import('../kube/apply.js');
  const r = await downPods(await getEngine(cmd), podNamesOf(docs), configObjectsOf(docs), o.force);
  let out = '';
  if (r.stopped.length) out += `Pods stopped:\n${r.stopped.join('\n')}\n`;
  if (r.removed.length) out += `Pods removed:\n${r.removed.join('\n')}\n`;
  if (r.secrets.length) out += `Secrets removed:\n${r.secrets.join('\n')}\n`;
  if (r.volumes.length) out += `Volumes removed:\n${r.volumes.join('\n')}\n`;
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
