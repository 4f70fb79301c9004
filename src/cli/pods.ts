import { Option, type Command } from 'commander';
import { writeFileSync } from 'node:fs';
import type { PodRecord } from '../../engine/types.js';
import { getEngine } from './context.js';
import { podPsView, podInspectView } from '../app/views.js';
import { printItems, printInspect, humanDuration, alignTable } from './format.js';

import { collect, int } from './flags.js';

function labelsOf(list: string[] = []): Record<string, string> | undefined {
  if (!list.length) return undefined;
  return Object.fromEntries(list.map((l) => { const i = l.indexOf('='); return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)]; }));
}

async function eachPod(refs: string[], fn: (ref: string) => Promise<string | void>): Promise<void> {
  let first: unknown;
  for (const ref of refs) {
    try {
      const out = await fn(ref);
      if (out) process.stdout.write(`${out}\n`);
    } catch (err) {
      if (first) process.stderr.write(`Error: ${(err as Error).message}\n`);
      else first = err;
    }
  }
  if (first) throw first;
}

async function startPod(cmd: Command, ref: string): Promise<string> {
  const { startPod: start } = await import('../app/pods.js');
  return start(() => getEngine(cmd), ref);
}

export function registerPodCommands(program: Command): void {
  const pod = program.command('pod').description('manage pods');

  pod.command('create').description('create a pod (its infra container holds the shared namespaces)')
    .argument('[name]', 'pod name (same as --name)')
    .option('--name <name>', 'pod name')
    .option('--hostname <name>', 'host name of the pod')
    .option('-l, --label <K=V>', 'labels', collect)
    .option('--share-pid', 'share the PID namespace between the containers')
    .option('-p, --publish <[[ip:]hostPort:]containerPort[/proto]>', 'publish a port of the pod on the host', collect)
    .option('--network <name>', 'network: a bridge network, host or none')
    .option('--ip <address>', 'static IPv4 address of the pod on its network')
    .addOption(new Option('--userns <mode>', 'user namespace of the pod: host, or keep-id (rootless: the user\'s uid is the same inside)').choices(['host', 'keep-id']))
    .option('--share <namespaces>', 'namespaces the members share: some of cgroup, ipc, net, pid, uts (+ns adds to ipc,net,uts), or none')
    .option('--infra', 'members share the infra container\'s namespaces (the default)')
    .option('--no-infra', 'members share no namespace (peapod keeps the infra container: it holds the pod\'s cgroup and files)')
    .option('--infra-image <image>', 'image of the infra container (pulled when missing)')
    .option('--exit-policy <policy>', 'continue (the default), or stop: the pod stops when its last container has exited')
    .option('--replace', 'remove a pod of the same name first')
    .option('--pod-id-file <file>', 'write the pod\'s ID to this file')
    .action(async (name: string | undefined, o: { name?: string; hostname?: string; label?: string[]; sharePid?: boolean; publish?: string[]; network?: string; ip?: string; userns?: string; share?: string; infra?: boolean; infraImage?: string; exitPolicy?: string; replace?: boolean; podIdFile?: string }, cmd: Command) => {
      const { createPod } = await import('../app/pods.js');
      const rec = await createPod(() => getEngine(cmd), { ...o, name: o.name ?? name ?? `pod_${Math.random().toString(36).slice(2, 10)}`, labels: labelsOf(o.label) });
      if (o.podIdFile) writeFileSync(o.podIdFile, rec.id);
      process.stdout.write(`${rec.id}\n`);
    });

  pod.command('ps').alias('ls').alias('list').description('list pods')
    .option('--format <format>', 'json, or a Go template')
    .option('-q, --quiet', 'print only pod IDs')
    .option('--no-trunc', 'do not truncate IDs')
    .option('-n, --noheading', 'do not print column headings')
    .option('-f, --filter <key=value>', 'only pods matching (label, name, id, status, ctr-names, ctr-ids, ctr-number, ctr-status)', collect)
    .option('--ctr-names', 'accepted for Podman scripts')
    .option('--ctr-ids', 'accepted for Podman scripts')
    .option('--ctr-status', 'accepted for Podman scripts')
    .action(async (o: { format?: string; quiet?: boolean; trunc: boolean; noheading?: boolean; filter?: string[] }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const { podFilter } = await import('../app/bulk.js');
      const match = await podFilter(engine, o.filter);
      // Every container is read once for all pods (not once per pod), in the order pods.members() gives.
      const [pods, all] = await Promise.all([engine.pods.list(), engine.containers.list()]);
      const chosen: PodRecord[] = [];
      for (const p of pods) if (await match(p, engine.pods.membersOf(p, all))) chosen.push(p);
      const views = await Promise.all(chosen.map((p) => podPsView(engine, p, engine.pods.membersOf(p, all))));
      const id = (s: string) => (o.trunc ? s.slice(0, 12) : s);
      printItems(views, o.format, {
        headers: ['POD ID', 'NAME', 'STATUS', 'READY', 'RESTARTS', 'REASON', 'CREATED', 'INFRA ID', '# OF CONTAINERS'],
        row: (v) => [id(v.Id), v.Name, v.Status, v.Ready, String(v.Restarts), v.Reason, `${humanDuration(Date.now() - Date.parse(v.Created))} ago`, id(v.InfraId), String(v.Containers.length)],
      }, {
        quiet: (v) => id(v.Id), quietMode: o.quiet, noHeading: o.noheading,
        // Podman's pod ps template fields
        templateView: (v) => ({
          ...v, ID: id(v.Id), InfraID: id(v.InfraId), NumberOfContainers: v.Containers.length, Networks: v.Networks.join(','),
          Created: `${humanDuration(Date.now() - Date.parse(v.Created))} ago`,
          ContainerNames: v.Containers.map((c) => c.Names).join(','), ContainerIds: v.Containers.map((c) => id(c.Id)).join(','), ContainerStatuses: v.Containers.map((c) => c.Status).join(','),
        }),
      });
    });

  pod.command('inspect').description('show details of pods')
    .option('-f, --format <format>', 'json, or a Go template')
    .argument('<pods...>')
    .action(async (refs: string[], o: { format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const out = [];
      for (const r of refs) out.push(await podInspectView(engine, await engine.pods.get(r)));
      // Podman 4.3 prints a single pod as an object, several as an array.
      if (out.length === 1 && (!o.format || o.format === 'json')) process.stdout.write(JSON.stringify(out[0], null, 4) + '\n');
      else printInspect(out, o.format);
    });

  pod.command('start').description('start pods').argument('<pods...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => eachPod(refs, async (r) => startPod(cmd, r)));

  pod.command('stop').description('stop pods: members in parallel, the infra last').argument('<pods...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing', int('time'))
    .action(async (refs: string[], o: { time?: number }, cmd: Command) => eachPod(refs, async (r) => (await (await getEngine(cmd)).pods.stop(r, o.time)).id));

  pod.command('restart').description('restart pods').argument('<pods...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing', int('time'))
    .action(async (refs: string[], o: { time?: number }, cmd: Command) => eachPod(refs, async (r) => {
      await (await getEngine(cmd)).pods.stop(r, o.time);
      return startPod(cmd, r);
    }));

  pod.command('kill').description('send a signal to the containers of pods').argument('<pods...>')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .action(async (refs: string[], o: { signal: string }, cmd: Command) => eachPod(refs, async (r) => (await (await getEngine(cmd)).pods.kill(r, o.signal)).id));

  pod.command('rm').description('remove pods').argument('[pods...]')
    .option('-a, --all', 'remove all pods')
    .option('-f, --force', 'stop running pods first')
    .option('-i, --ignore', 'ignore pods that do not exist')
    .option('-t, --time <seconds>', 'seconds to wait before killing', int('time'))
    .action(async (refs: string[], o: { all?: boolean; force?: boolean; ignore?: boolean; time?: number }, cmd: Command) => {
      const { removePods } = await import('../app/bulk.js');
      const { printBulk } = await import('./containers.js');
      printBulk(await removePods(await getEngine(cmd), refs, { all: o.all, force: o.force, ignore: o.ignore, timeout: o.time }));
    });

  pod.command('logs').description("show the output of a pod's containers")
    .option('-c, --container <name>', 'only this container')
    .option('-f, --follow', 'follow the output')
    .option('--tail <n>', 'only the last N lines of each container', int('tail'))
    .option('-t, --timestamps', 'show timestamps')
    .argument('<pod>')
    .action(async (ref: string, o: { container?: string; follow?: boolean; tail?: number; timestamps?: boolean }, cmd: Command) => {
      const { podLogsOf } = await import('../app/pods.js');
      await podLogsOf(() => getEngine(cmd), ref, o);
    });

  pod.command('monitor', { hidden: true }).argument('<id>').description("run the pod's probes (started by peapod itself)")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      process.chdir('/');
      const stop = new AbortController();
      for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => stop.abort());
      const { monitorPod } = await import('../app/pods.js');
      await monitorPod(() => getEngine(cmd), id, stop.signal);
    });

  pod.command('top').description('show the processes of a pod').argument('<pod>')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { podProcesses } = await import('../app/pods.js');
      const rows = (await podProcesses(() => getEngine(cmd), ref)).map((r) => [r.container, r.uid, r.pid, r.ppid, humanDuration(r.elapsedMs), r.command]);
      process.stdout.write(alignTable([['CONTAINER', 'USER', 'PID', 'PPID', 'ELAPSED', 'COMMAND'], ...rows]));
    });
}
