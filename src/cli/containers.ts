import type { Command } from 'commander';
import { Option } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../../engine/errors.js';
import type { ContainerRecord, ContainerSpec } from '../../engine/types.js';
import type { Engine } from '../../engine/engine.js';
import { getEngine, globals, setExit } from './context.js';
import { isRunning } from '../../engine/pod/status.js';
import { printItems, printInspect, humanDuration } from './format.js';
import { psView, psTemplateView, inspectView, imageInspectView } from '../app/views.js';
import { collect, int } from './flags.js';


function parseVolume(v: string): { source: string; destination: string; readOnly?: boolean } {
  const parts = v.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw new PeapodError('invalid', `invalid volume "${v}": use HOST-DIR:CONTAINER-DIR[:ro|rw]`);
  }
  if (!path.isAbsolute(parts[0])) throw new PeapodError('invalid', `invalid volume "${v}": named volumes are not supported yet; the host path must be absolute`);
  if (!path.isAbsolute(parts[1])) throw new PeapodError('invalid', `invalid container path "${parts[1]}": it must be absolute`);
  const mode = parts[2];
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw new PeapodError('invalid', `invalid volume option "${mode}" in "${v}": use ro or rw`);
  return { source: parts[0], destination: parts[1], readOnly: mode === 'ro' };
}

function parseEnv(list: string[] = []): string[] {
  return list.map((e) => {
    if (e.includes('=')) return e;
    // `-e NAME` takes the value from peapod's own environment, as in Podman.
    const v = process.env[e];
    return v === undefined ? undefined : `${e}=${v}`;
  }).filter((e): e is string => e !== undefined);
}

function parseLabels(list: string[] = []): Record<string, string> | undefined {
  if (!list.length) return undefined;
  return Object.fromEntries(list.map((l) => { const i = l.indexOf('='); return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)]; }));
}

interface CreateFlags {
  name?: string; env?: string[]; workdir?: string; entrypoint?: string; user?: string; rm?: boolean;
  volume?: string[]; label?: string[]; hostname?: string; stopSignal?: string; stopTimeout?: number; detach?: boolean; pod?: string;
  pull?: 'always' | 'missing' | 'never' | 'newer'; signaturePolicy?: string; securityOpt?: string[]; privileged?: boolean;
  tty?: boolean; interactive?: boolean; restart?: string; systemd?: string;
}

function addCreateFlags(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <K=V>', 'set environment variables', collect)
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('--entrypoint <cmd>', 'overwrite the image ENTRYPOINT (a string or a JSON array)')
    .option('-u, --user <user[:group]>', 'user and group to run as')
    .option('--rm', 'remove the container when it exits')
    .option('-v, --volume <HOST:CTR[:ro]>', 'bind mount a host directory', collect)
    .option('-l, --label <K=V>', 'set metadata labels', collect)
    .option('-h, --hostname <name>', 'container host name')
    .option('--stop-signal <sig>', 'signal to stop the container')
    .option('--stop-timeout <seconds>', 'seconds to wait before killing the container', int('stop-timeout'))
    .option('--pod <pod>', 'run the container in an existing pod, or in a new pod NAME with new:NAME')
    .option('-t, --tty', 'accepted for Podman scripts: no terminal is allocated yet (the process gets pipes)')
    .option('-i, --interactive', 'accepted for Podman scripts: stdin is not attached yet')
    .option('--restart <policy>', 'restart policy: no, always, on-failure[:N] or unless-stopped')
    .addOption(new Option('--systemd <mode>', 'systemd mode: always sets container_uuid (the first 32 characters of the ID), as Podman').choices(['true', 'false', 'always']))
    .option('--signature-policy <file>', 'containers-policy.json to use for the pull instead of the default one')
    .option('--security-opt <opt>', 'seccomp=unconfined, no-new-privileges, label=disable (as Podman)', collect)
    .option('--privileged', 'all capabilities, no seccomp filter, no masked paths, every device (see SECURITY.md)')
    .addOption(new Option('--pull <policy>', 'pull the image: always, missing, never or newer').choices(['always', 'missing', 'never', 'newer']).default('missing'))
    .argument('<image>', 'image to run')
    .argument('[command...]', 'command and arguments')
    .passThroughOptions();
}

function specFromFlags(image: string, command: string[], f: CreateFlags): ContainerSpec {
  let entrypoint: string[] | undefined;
  if (f.entrypoint !== undefined) {
    const ep = f.entrypoint.trim();
    entrypoint = ep.startsWith('[') ? JSON.parse(ep) : ep === '' ? [] : [ep];
  }
  return {
    name: f.name ?? '',
    image,
    entrypoint,
    cmd: command.length ? command : undefined,
    env: parseEnv(f.env),
    workingDir: f.workdir,
    user: f.user,
    hostname: f.hostname,
    labels: parseLabels(f.label),
    volumes: (f.volume ?? []).map(parseVolume),
    autoRemove: !!f.rm,
    stopSignal: f.stopSignal,
    stopTimeout: f.stopTimeout,
    security: securityFromFlags(f),
    ...(f.restart !== undefined ? restartSpec(f.restart) : {}),
    ...(f.systemd === 'always' ? { systemd: 'always' as const } : {}),
  };
}

/** Podman's --restart as the engine's restart policy (the kubelet's names; `unless-stopped` is `always`: a stop is never undone). */
function restartSpec(v: string): Pick<ContainerSpec, 'restart' | 'restartPolicy' | 'restartLimit'> {
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(v);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) throw new PeapodError('invalid', `invalid restart policy "${v}": use no, always, on-failure[:N] or unless-stopped`);
  const policy = m[1] === 'no' ? 'Never' : m[1] === 'on-failure' ? 'OnFailure' : 'Always';
  return { restart: v, restartPolicy: policy, ...(m[2] !== undefined ? { restartLimit: Number(m[2]) } : {}) };
}

/** Podman's --security-opt values peapod knows, and --privileged; anything else is an error naming it. */
function securityFromFlags(f: CreateFlags): ContainerSpec['security'] {
  const sec: NonNullable<ContainerSpec['security']> = {};
  for (const opt of f.securityOpt ?? []) {
    if (opt === 'seccomp=unconfined') sec.seccomp = { type: 'Unconfined' };
    else if (opt === 'no-new-privileges' || opt === 'no-new-privileges=true') sec.allowPrivilegeEscalation = false;
    else if (opt === 'label=disable' || opt === 'label:disable') continue; // no SELinux labels here
    else throw new PeapodError('invalid', `--security-opt ${opt}: not supported (peapod takes seccomp=unconfined, no-new-privileges, label=disable; a custom seccomp profile goes under <root>/seccomp, named by a pod's seccompProfile Localhost)`);
  }
  if (f.privileged) sec.privileged = true;
  return Object.keys(sec).length ? sec : undefined;
}

async function createFromFlags(cmd: Command, spec: ContainerSpec, f: CreateFlags) {
  const { createContainer } = await import('../app/containers.js');
  const { ProgressRenderer } = await import('./registry.js');
  const renderer = process.stderr.isTTY ? new ProgressRenderer() : undefined;
  try {
    return await createContainer(() => getEngine(cmd), spec, { pod: f.pod, pull: f.pull, signaturePolicy: f.signaturePolicy, createCommand: process.argv.slice(1), progress: renderer?.handle, interactive: !!process.stdin.isTTY });
  } finally {
    renderer?.finish();
  }
}

export function registerContainerCommands(program: Command): void {
  addCreateFlags(program.command('run').description('run a command in a new container'))
    .option('-d, --detach', 'run in the background and print the container ID')
    .action(async (image: string, command: string[], f: CreateFlags, cmd: Command) => {
      const app = await import('../app/containers.js');
      const spec = specFromFlags(image, command, f);
      const rec = await createFromFlags(cmd, spec, f);
      if (f.detach) {
        await app.startContainer(() => getEngine(cmd), rec.id);
        process.stdout.write(`${rec.id}\n`);
        return;
      }
      setExit(await app.runAttached(() => getEngine(cmd), rec.id, {
        autoRemove: !!spec.autoRemove,
        // Signals reach the container, as Podman's --sig-proxy does.
        forwardSignals: (send) => { for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => send(sig)); },
      }));
    });

  addCreateFlags(program.command('create').description('create a container without starting it'))
    .action(async (image: string, command: string[], f: CreateFlags, cmd: Command) => {
      const rec = await createFromFlags(cmd, specFromFlags(image, command, f), f);
      process.stdout.write(`${rec.id}\n`);
    });

  const multi = (name: string, desc: string, fn: (engine: Engine, ref: string, opts: any) => Promise<string | void>) =>
    program.command(`${name}`).description(desc).argument('<containers...>').action(async (refs: string[], opts: any, cmd: Command) => {
      const engine = await getEngine(cmd);
      let firstErr: unknown;
      for (const ref of refs) {
        try {
          const out = await fn(engine, ref, opts);
          if (out !== undefined) process.stdout.write(`${out}\n`);
        } catch (err) {
          if (firstErr) process.stderr.write(`Error: ${(err as Error).message}\n`);
          else firstErr = err;
        }
      }
      if (firstErr) throw firstErr;
    });

  multi('start', 'start one or more containers', async (e, ref) => { await e.pods.startContainer(ref); return ref; });
  program.command('stop').description('stop one or more containers').argument('[containers...]')
    .option('-a, --all', 'stop all running containers')
    .option('-i, --ignore', 'ignore containers that do not exist')
    .option('--filter <key=value>', 'only containers matching (label, name, id, status, pod)', collect)
    .option('-t, --time <seconds>', 'seconds to wait for the stop signal before killing', int('time'))
    .action(async (refs: string[], o: { all?: boolean; ignore?: boolean; filter?: string[]; time?: number }, cmd: Command) => {
      const { stopContainers } = await import('../app/bulk.js');
      printBulk(await stopContainers(await getEngine(cmd), refs, { all: o.all, ignore: o.ignore, filters: o.filter, timeout: o.time }));
    });
  multi('kill', 'send a signal to one or more containers', async (e, ref, o) => { await e.containers.kill(ref, o.signal); return ref; })
    .option('-s, --signal <signal>', 'signal to send', 'KILL');
  program.command('rm').description('remove one or more containers').argument('[containers...]')
    .option('-a, --all', 'remove all containers (a pod\'s infra container with its pod)')
    .option('-f, --force', 'stop and remove running containers')
    .option('-i, --ignore', 'ignore containers that do not exist')
    .option('--filter <key=value>', 'only containers matching (label, name, id, status, pod)', collect)
    .option('-t, --time <seconds>', 'seconds to wait before killing a running container with --force', int('time'))
    .option('-v, --volumes', 'accepted for Podman scripts: peapod containers have no anonymous volumes')
    .option('--depend', 'also remove the containers that depend on it (an infra container: its whole pod)')
    .action(async (refs: string[], o: { all?: boolean; force?: boolean; ignore?: boolean; filter?: string[]; time?: number; depend?: boolean }, cmd: Command) => {
      const { removeContainers } = await import('../app/bulk.js');
      printBulk(await removeContainers(await getEngine(cmd), refs, { all: o.all, force: o.force, ignore: o.ignore, filters: o.filter, timeout: o.time, depend: o.depend }));
    });
  multi('wait', 'wait for containers to exit and print their exit codes', async (e, ref) => String(await e.containers.wait(ref)));

  program.command('ps').description('list containers')
    .option('-a, --all', 'show all containers, not only running ones')
    .option('-q, --quiet', 'print only container IDs')
    .option('--no-trunc', 'do not truncate output')
    .option('--format <format>', 'json, or a Go template')
    .option('-f, --filter <key=value>', 'only containers matching (label, name, id, status, pod, exited, ancestor)', collect)
    .option('-n, --noheading', 'do not print column headings')
    .option('-p, --pod', 'show the pod of each container')
    .option('--external', 'accepted for Podman scripts: peapod has no external (buildah) containers')
    .action(async (o: { all?: boolean; quiet?: boolean; trunc: boolean; format?: string; filter?: string[]; noheading?: boolean; pod?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const { containerFilter } = await import('../app/bulk.js');
      const [all, pods] = await Promise.all([engine.containers.list(), engine.pods.list()]);
      const match = containerFilter(o.filter, pods);
      // a status filter decides which states show, as in Podman
      const list = all.filter((c) => (o.all || o.filter?.some((f) => f.startsWith('status=')) || isRunning(c)) && match(c));
      const podName = (c: ContainerRecord) => pods.find((p) => p.id === c.spec.pod)?.name;
      const views = list.map((c) => psView(c, podName(c), engine.containers.reason(c)));
      const id = (s: string) => (o.trunc ? s.slice(0, 12) : s);
      printItems(views, o.format, {
        headers: ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES', ...(o.pod ? ['POD ID', 'PODNAME'] : [])],
        row: (v) => [id(v.Id), v.Image, truncate(v.Command.join(' '), o.trunc ? 20 : 1e9), `${ago(v.Created)}`, v.Status, '', v.Names.join(','), ...(o.pod ? [id(v.Pod), v.PodName] : [])],
      }, { quiet: (v) => id(v.Id), quietMode: o.quiet, noHeading: o.noheading, templateView: (v) => psTemplateView(v, o.trunc) });
    });

  program.command('inspect').description('show details of containers or images')
    .option('-f, --format <format>', 'json, or a Go template such as {{.State.Pid}}')
    .addOption(new Option('-t, --type <type>', 'only this kind of object').choices(['all', 'container', 'image']).default('all'))
    .argument('<names...>')
    .action(async (refs: string[], o: { format?: string; type: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const { inspectContainer } = await import('../app/containers.js');
      const out: unknown[] = [];
      let err: PeapodError | undefined;
      for (const ref of refs) {
        if (o.type !== 'image') {
          const c = await inspectContainer(() => getEngine(cmd), ref);
          if (c) { out.push(inspectView(engine, c.rec, c.pod, c.imageUser)); continue; }
        }
        if (o.type !== 'container') {
          const img = await engine.images.get(ref);
          if (img) { out.push(imageInspectView(engine, img)); continue; }
        }
        const e = new PeapodError('not-found', `inspecting object: no such object: "${ref}"`);
        if (err) process.stderr.write(`Error: ${e.message}\n`);
        err ??= e;
      }
      printInspect(out, o.format);
      if (err) throw err;
    });

  program.command('logs').description("show a container's output")
    .option('-f, --follow', 'follow the output')
    .option('--tail <n>', 'show only the last N lines', int('tail'))
    .option('-t, --timestamps', 'show timestamps')
    .argument('<container>')
    .action(async (ref: string, o: { follow?: boolean; tail?: number; timestamps?: boolean }, cmd: Command) => {
      const { logsOf } = await import('../app/containers.js');
      await logsOf(() => getEngine(cmd), ref, o);
    });

  program.command('exec').description('run a process in a running container')
    .option('-e, --env <K=V>', 'set environment variables', collect)
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user[:group]>', 'user to run as')
    .option('-d, --detach', 'not supported yet')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .action(async (ref: string, command: string[], o: { env?: string[]; workdir?: string; user?: string; detach?: boolean }, cmd: Command) => {
      if (o.detach) throw new PeapodError('invalid', 'exec --detach is not supported yet');
      const { execIn } = await import('../app/containers.js');
      setExit(await execIn(() => getEngine(cmd), ref, { args: command, env: parseEnv(o.env), cwd: o.workdir, user: o.user }));
    });

  const container = program.command('container').description('manage containers');
  container.command('cleanup', { hidden: true }).argument('<id>').action(async (id: string, _o: unknown, cmd: Command) => {
    // Run by conmon's exit command: records the exit and releases everything. conmon's working
    // directory is the bundle, which cleanup removes: work from / so that later spawns still work.
    process.chdir('/');
    // A container removed meanwhile (system reset, rm -f) has nothing to clean up: opening the
    // engine would create the root again, behind a reset that just removed it.
    const { root } = globals(cmd);
    if (root && !existsSync(path.join(root, 'containers', id))) return;
    const { cleanupContainer } = await import('../app/containers.js');
    await cleanupContainer(() => getEngine(cmd), id);
  });
  for (const alias of ['ls', 'list']) {
    container.command(alias).description('list containers (same as ps)').allowUnknownOption().allowExcessArguments()
      .action(async (_o: unknown, cmd: Command) => { await program.parseAsync(['ps', ...cmd.args], { from: 'user' }); });
  }
}

/** Prints the IDs acted on, every error but the first on stderr; the first ends the command. */
export function printBulk(r: { done: string[]; errors: Error[] }): void {
  if (r.done.length) process.stdout.write(r.done.map((id) => `${id}\n`).join(''));
  for (const e of r.errors.slice(1)) process.stderr.write(`Error: ${e.message}\n`);
  if (r.errors.length) throw r.errors[0];
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 3)}...` : s;
}

function ago(unixSec: number): string {
  return `${humanDuration(Date.now() - unixSec * 1000)} ago`;
}
