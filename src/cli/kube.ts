import type { Command } from 'commander';
import { Option } from 'commander';
import { readFile, readdir, stat } from 'node:fs/promises';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import path from 'node:path';
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
    const { fetchManifest } = await import('../app/manifest-url.js');
    return { text: await fetchManifest(file), name: file };
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
  publish?: string[]; publishAll?: boolean; network?: string; ip?: string[]; serviceContainer?: boolean; userns?: string; configmap?: string[]; dryRun?: boolean; force?: boolean; wait?: boolean; waitReady?: boolean; timeout?: number;
  annotation?: string[]; serviceExitCodePropagation?: 'all' | 'any' | 'none';
}

async function play(files: string[], o: PlayFlags, cmd: Command): Promise<void> {
  if (o.down) return down(files, { force: o.force }, cmd);
  const { playKube, servePods, parseAnnotations, propagatedExitCode } = await import('../app/kube.js');
  const open = () => getEngine(cmd);
  if (o.serviceExitCodePropagation && !o.wait) throw new PeapodError('invalid', '--service-exit-code-propagation needs --wait (the exit code is that of the served pods)');
  const annotations = await parseAnnotations(o.annotation);
  const renderer = await pullRenderer(!!o.quiet);
  let r;
  try {
    r = await playKube(open, await readAll(files), {
      ...o, annotations, configMaps: o.configmap && (await readAll(o.configmap)), timeoutSeconds: o.timeout,
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
    const served = await untilSignal((signal) => servePods(open, r.pods.map((p) => p.id), signal));
    const code = propagatedExitCode(served, o.serviceExitCodePropagation ?? 'none');
    if (code) process.exitCode = code;
    return;
  }
  if (o.quiet) return;
  process.stdout.write(r.pods.map((p) => `Pod:\n${p.id}\n${p.containers.length ? `${p.containers.length === 1 ? 'Container' : 'Containers'}:\n${p.containers.join('\n')}\n` : ''}\n`).join(''));
}

/** Runs fn with a signal that SIGINT or SIGTERM aborts (--wait: Ctrl-C takes the pods down). */
async function untilSignal<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ac.signal);
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
  files = await expandSources(files);
  const r = await downKube(() => getEngine(cmd), await readAll(files), { force: o.force, onDiagnostics: (d) => report(d, files) });
  let out = '';
  if (r.stopped.length) out += `Pods stopped:\n${r.stopped.join('\n')}\n`;
  if (r.removed.length) out += `Pods removed:\n${r.removed.join('\n')}\n`;
  if (r.secrets.length) out += `Secrets removed:\n${r.secrets.join('\n')}\n`;
  if (r.volumes.length) out += `Volumes removed:\n${r.volumes.join('\n')}\n`;
  if (r.services.length) out += `Services removed:\n${r.services.join('\n')}\n`;
  process.stdout.write(out);
}

async function quadlet(file: string, o: { dir?: string; name?: string; validate: 'strict' | 'warn' }): Promise<void> {
  if (file === '-' || /^https?:\/\//.test(file)) throw new PeapodError('invalid', `kube quadlet needs a local file, not ${file}: the unit plays it at every start`);
  const { kubeQuadlet } = await import('../app/kube.js');
  const abs = path.resolve(file);
  const src = await readSource(abs);
  const r = await kubeQuadlet({ ...src, path: abs }, { validate: o.validate, name: o.name, onDiagnostics: (d) => report(d, [abs]) });
  if (o.dir === undefined) return void process.stdout.write(r.text);
  const out = path.join(o.dir, r.fileName);
  const { writeFile } = await import('node:fs/promises');
  try {
    await writeFile(out, r.text, { flag: 'wx', mode: 0o644 });
  } catch (err: any) {
    throw new PeapodError('invalid', `writing ${out}: ${err?.code === 'EEXIST' ? 'the file exists (remove it first)' : err?.code === 'ENOENT' ? 'no such directory' : err.message}`);
  }
  process.stdout.write(`${out}\n`);
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
    .option('--service-container', 'also run a service container (<sha256 of the YAML, 12>-service) while the pods run, as Podman does for systemd units (--service-container=true|false)')
    .option('--no-service-container', 'no service container (the default)')
    .addOption(new Option('--log-driver <driver>', 'log driver of the containers: k8s-file (json-file is taken as k8s-file, as Podman does); the only one peapod has').choices(['k8s-file', 'json-file']))
    .option('--ip <address>', 'static IP of a pod on its network (repeatable: one per pod, in order; over its peapod.io/ip annotation)', collect)
    .addOption(new Option('--userns <mode>', 'user namespace of the pods: host, or keep-id (rootless: the user\'s uid is the same inside)').choices(['host', 'keep-id']))
    .option('--configmap <file>', 'YAML file with ConfigMaps the pods use (repeatable)', collect)
    .option('--dry-run', 'validate and print what would be created, create nothing')
    .option('-w, --wait', 'stay in the foreground; when every container has exited, or on Ctrl-C/SIGTERM, take the pods down; under a Type=notify unit, tell systemd READY=1 once every pod is ready')
    .option('--wait-ready', 'return only when every pod is ready (readiness probes pass) or completed; also written --wait=ready')
    .option('--timeout <duration>', 'with --wait-ready: give up after this long (300s, 5m, 90); the pods stay', (v: string) => durationMs('timeout', v) / 1000)
    .option('--annotation <key=value>', 'add an annotation to every pod and its containers (over the YAML\'s), e.g. io.containers.autoupdate=registry (repeatable)', collect)
    .addOption(new Option('--service-exit-code-propagation <how>', 'with --wait: exit with a failed container\'s code when any or all of them failed (default none: 0)').choices(['all', 'any', 'none']))
    .option('--force', 'with --down: also remove the volumes of PersistentVolumeClaims')
    .addOption(new Option('--validate <mode>', 'unknown fields: strict (errors) or warn').choices(['strict', 'warn']).default('strict'))
    .action(async (files: string[], o: PlayFlags, cmd: Command) => play(files, o, cmd));
}

/** FILE|DIR|- arguments of apply and diff: a directory gives its *.yaml, *.yml and *.json files, in name order. */
async function expandSources(args: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    const st = a === '-' || /^https?:\/\//.test(a) ? undefined : await stat(a).catch(() => undefined);
    if (st?.isDirectory()) {
      const files = (await readdir(a)).filter((f) => /\.(ya?ml|json)$/i.test(f) && !f.startsWith('.')).sort();
      if (!files.length) throw new PeapodError('invalid', `directory ${a} has no *.yaml, *.yml or *.json files`);
      out.push(...files.map((f) => path.join(a, f)));
    } else {
      out.push(a);
    }
  }
  return out;
}

async function applySetName(args: string[], given?: string): Promise<string> {
  if (given) return given;
  const { setNameOf } = await import('../app/apply.js');
  const n = setNameOf(args[0]);
  if (!n) throw new PeapodError('invalid', `name the apply set of ${args[0]} with --applyset NAME`);
  return n;
}

interface ApplyFlags { applyset?: string; validate: 'strict' | 'warn'; watch?: boolean; downOnExit?: boolean; quiet?: boolean; force?: boolean; pruneVolumes?: boolean }

async function apply(args: string[], o: ApplyFlags, cmd: Command): Promise<void> {
  const { applyKube } = await import('../app/apply.js');
  const set = await applySetName(args, o.applyset);
  const open = () => getEngine(cmd);
  let runs = 0;
  // --watch: after the first apply, only what changed is told (an editor's save of an unchanged file says nothing)
  const say = (l: string) => { if (!o.quiet && !(runs > 1 && / unchanged$/.test(l))) process.stdout.write(`${l}\n`); };
  const once = async () => {
    runs++;
    const files = await expandSources(args);
    await applyKube(open, await readAll(files), { set, validate: o.validate, force: o.force, pruneVolumes: o.pruneVolumes, onDiagnostics: (d) => report(d, files), onAction: say });
    return files;
  };
  if (!o.watch) return void (await once());
  if (args.includes('-')) throw new PeapodError('invalid', '--watch needs files or directories, not -');
  await watchLoop(args, once, say);
  if (o.downOnExit) await down(await expandSources(args), {}, cmd);
}

/**
 * --watch: applies, then again whenever a file of the set (or a directory's list) changes,
 * debounced; an apply that fails (an invalid edit) says why and changes nothing, and the loop goes
 * on. Returns on SIGINT/SIGTERM, leaving the pods running.
 */
async function watchLoop(args: string[], once: () => Promise<string[]>, say: (l: string) => void): Promise<void> {
  let watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const rewatch = (files: string[]) => {
    for (const w of watchers) w.close();
    // Editors save by rename: watching the directories sees that, a watch on the file would not.
    const dirs = new Set([...args.filter((a) => !files.includes(a)), ...files.map((f) => path.dirname(f))]);
    watchers = [...dirs].map((d) => fsWatch(d, () => schedule()));
  };
  const run = () => {
    running = running.then(async () => {
      try {
        rewatch(await once());
      } catch (err) {
        process.stderr.write(`Error: ${(err as Error).message}\n`);
      }
      say(`watching ${args.join(', ')} (Ctrl-C to stop; the pods keep running)`);
    });
  };
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, 150);
  };
  run();
  await new Promise<void>((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  if (timer) clearTimeout(timer);
  for (const w of watchers) w.close();
  await running;
}

async function diff(args: string[], o: { applyset?: string; validate: 'strict' | 'warn' }, cmd: Command): Promise<void> {
  const { diffKube, describeAction } = await import('../app/apply.js');
  const set = await applySetName(args, o.applyset);
  const files = await expandSources(args);
  const r = await diffKube(() => getEngine(cmd), await readAll(files), { set, validate: o.validate, onDiagnostics: (d) => report(d, files) });
  process.stdout.write(r.actions.map((a) => `${describeAction(a).replace(/ (created|replaced|updated in place|scaled|rolled out|pruned|unchanged)\b/, (m) => ` would be${m}`).replace('would be unchanged', 'unchanged')}\n`).join('') + r.diff);
  // kubectl diff: 0 nothing would change, 1 something would, >1 an error
  if (r.changed) process.exitCode = 1;
}

/** kubectl's ways to name a Deployment: NAME, deployment/NAME, deployments/NAME, deploy/NAME, deployment.apps/NAME. */
function deploymentName(arg: string): string {
  const m = /^(?:deployments?|deploy)(?:\.apps)?\/(.+)$/.exec(arg);
  if (m) return m[1];
  if (arg.includes('/')) throw new PeapodError('invalid', `${arg}: rollout works on Deployments only (deployment/NAME)`);
  return arg;
}

function addRollout(kube: Command): void {
  const rollout = kube.command('rollout').description('status, history, undo, restart, pause and resume of a Deployment made by kube apply');
  const setOpt = () => new Option('--applyset <name>', 'the apply set (default: the one that has the Deployment)');
  rollout.command('status').description('how the rollout of a Deployment stands').argument('<deployment>').addOption(setOpt())
    .action(async (arg: string, o: { applyset?: string }, cmd: Command) => {
      const name = deploymentName(arg);
      const { rolloutStatus } = await import('../app/apply.js');
      const r = await rolloutStatus(() => getEngine(cmd), name, { set: o.applyset });
      const line = r.paused
        ? `deployment "${name}" is paused (revision ${r.revision}, ${r.ready}/${r.replicas} ready): peapod kube rollout resume deployment/${name}`
        : r.status === 'complete'
        ? `deployment "${name}" successfully rolled out (revision ${r.revision}, ${r.ready}/${r.replicas} ready)`
        : r.status === 'failed'
          ? `deployment "${name}" rollout to revision ${r.revision} failed: ${r.message}`
          : `deployment "${name}": revision ${r.revision}, ${r.updated} of ${r.replicas} updated, ${r.ready} ready, ${r.total} pods in all`;
      process.stdout.write(`${line}\n`);
      if (r.status === 'failed') process.exitCode = 1;
    });
  rollout.command('history').description('the revisions of a Deployment kept (revisionHistoryLimit)').argument('<deployment>').addOption(setOpt())
    .action(async (arg: string, o: { applyset?: string }, cmd: Command) => {
      const name = deploymentName(arg);
      const { rolloutHistory } = await import('../app/apply.js');
      const r = await rolloutHistory(() => getEngine(cmd), name, { set: o.applyset });
      process.stdout.write(`deployment "${name}" (apply set ${r.set})\nREVISION  HASH        CHANGE-CAUSE\n${r.revisions.map((v) => `${String(v.revision).padEnd(9)} ${v.hash.padEnd(11)} ${v.cause}${v.revision === r.current ? ' (current)' : ''}\n`).join('')}`);
    });
  rollout.command('undo').description('roll a Deployment back to its previous revision (or --to-revision)').argument('<deployment>').addOption(setOpt())
    .option('--to-revision <n>', 'the revision to go back to', (v: string) => Number(v))
    .action(async (arg: string, o: { applyset?: string; toRevision?: number }, cmd: Command) => {
      const name = deploymentName(arg);
      const { rolloutUndo } = await import('../app/apply.js');
      const r = await rolloutUndo(() => getEngine(cmd), name, { set: o.applyset, toRevision: o.toRevision, onAction: (l) => process.stdout.write(`${l}\n`) });
      process.stdout.write(`deployment "${name}" rolled back to the template of revision ${r.revision}\n`);
    });
  rollout.command('restart').description('replace every pod of a Deployment by a rolling update (kubectl.kubernetes.io/restartedAt)').argument('<deployment>').addOption(setOpt())
    .action(async (arg: string, o: { applyset?: string }, cmd: Command) => {
      const name = deploymentName(arg);
      const { rolloutRestart } = await import('../app/apply.js');
      await rolloutRestart(() => getEngine(cmd), name, { set: o.applyset, onAction: (l) => process.stdout.write(`${l}\n`) });
      process.stdout.write(`deployment.apps/${name} restarted\n`);
    });
  rollout.command('pause').description('keep template changes of a Deployment from rolling out until resume').argument('<deployment>').addOption(setOpt())
    .action(async (arg: string, o: { applyset?: string }, cmd: Command) => {
      const name = deploymentName(arg);
      const { rolloutPause } = await import('../app/apply.js');
      await rolloutPause(() => getEngine(cmd), name, { set: o.applyset });
      process.stdout.write(`deployment.apps/${name} paused\n`);
    });
  rollout.command('resume').description('roll out what was applied to a paused Deployment').argument('<deployment>').addOption(setOpt())
    .action(async (arg: string, o: { applyset?: string }, cmd: Command) => {
      const name = deploymentName(arg);
      const { rolloutResume } = await import('../app/apply.js');
      await rolloutResume(() => getEngine(cmd), name, { set: o.applyset, onAction: (l) => process.stdout.write(`${l}\n`) });
      process.stdout.write(`deployment.apps/${name} resumed\n`);
    });
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
  kube.command('apply').description('make the pods of Kubernetes YAML match the files: create, keep, replace, scale, roll out, prune')
    .argument('<files...>', 'YAML files, directories (their *.yaml, *.yml, *.json) or - for stdin')
    .option('--applyset <name>', 'name of the apply set (default: the first file or directory\'s name)')
    .option('--watch', 'stay in the foreground and apply again when a file changes')
    .option('--down-on-exit', 'with --watch: take the pods down on Ctrl-C')
    .option('-q, --quiet', 'print nothing on success')
    .option('--force', 'replace the pods of a Job whose template changed')
    .option('--prune-volumes', 'also delete the volumes of the set\'s PersistentVolumeClaims gone from the files (kept otherwise)')
    .addOption(new Option('--validate <mode>', 'unknown fields: strict (errors) or warn').choices(['strict', 'warn']).default('strict'))
    .action(async (files: string[], o: ApplyFlags, cmd: Command) => apply(files, o, cmd));
  kube.command('diff').description('what kube apply would do (exit 0: nothing, 1: changes, >1: error)')
    .argument('<files...>', 'YAML files, directories or - for stdin')
    .option('--applyset <name>', 'name of the apply set (default: the first file or directory\'s name)')
    .addOption(new Option('--validate <mode>', 'unknown fields: strict (errors) or warn').choices(['strict', 'warn']).default('strict'))
    .action(async (files: string[], o: { applyset?: string; validate: 'strict' | 'warn' }, cmd: Command) => diff(files, o, cmd));
  kube.command('quadlet').description('write a Quadlet .kube file that plays a YAML file as a systemd service (peapod-generator reads it)')
    .argument('<file>', 'the YAML file (a local file: the unit plays it by its absolute path)')
    .option('--dir <dir>', 'write DIR/NAME.kube (never over an existing file) and print its path; default: print the file')
    .option('--name <name>', 'the .kube file\'s (and the unit\'s) name (default: the YAML file\'s name)')
    .addOption(new Option('--validate <mode>', 'unknown fields: strict (errors) or warn').choices(['strict', 'warn']).default('strict'))
    .action(async (file: string, o: { dir?: string; name?: string; validate: 'strict' | 'warn' }) => quadlet(file, o));
  addRollout(kube);
  // `kube generate`: the same as `generate kube` (src/cli/generate.ts)
  addGenerateKube(kube.command('generate'));
}
