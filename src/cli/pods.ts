import { Option, type Command } from 'commander';
import { readFileSync, rmSync } from 'node:fs';
import { PeapodError } from '../../engine/errors.js';
import type { ContainerRecord, PodRecord } from '../../engine/types.js';
import type { Engine } from '../../engine/engine.js';
import { parseK8sLog } from '../../engine/runtime/logs.js';
import { getEngine } from './context.js';
import { isReady } from '../../engine/pod/ready.js';
import { printItems, printInspect, humanDuration, alignTable } from './format.js';

import { collect, int } from './flags.js';

function labelsOf(list: string[] = []): Record<string, string> | undefined {
  if (!list.length) return undefined;
  return Object.fromEntries(list.map((l) => { const i = l.indexOf('='); return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)]; }));
}

/** `pod ps --format json` entry (Podman's ListPodsReport); `known` are the pod's members when the caller has them. */
export async function podPsView(engine: Engine, pod: PodRecord, known?: ContainerRecord[]) {
  const members = known ?? (await engine.pods.members(pod));
  const r = engine.pods.readiness(members);
  return {
    Cgroup: engine.cfg.cgroupParent,
    Containers: members.map((c) => ({ Id: c.id, Names: c.name, Status: c.state.status })),
    Created: pod.created,
    Id: pod.id,
    InfraId: pod.infraId,
    Name: pod.name,
    Namespace: '',
    Networks: engine.pods.networkMode(pod) === 'host' ? [] : [engine.pods.networkMode(pod)],
    Status: await engine.pods.status(pod, members),
    Labels: pod.spec.labels ?? {},
    // beyond Podman 4.3: kubectl's READY, RESTARTS and status reason
    Ready: `${r.ready}/${r.total}`,
    Restarts: r.restarts,
    Reason: r.reason,
  };
}

/** `pod inspect` (Podman's InspectPodData). */
export async function podInspectView(engine: Engine, pod: PodRecord) {
  const members = await engine.pods.members(pod);
  const infra = members.find((c) => c.id === pod.infraId);
  const net = await engine.pods.networkState(pod);
  const mode = engine.pods.networkMode(pod);
  const r = engine.pods.readiness(members);
  const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of pod.spec.publish ?? []) (portBindings[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIP, HostPort: String(p.hostPort) });
  return {
    Id: pod.id,
    Name: pod.name,
    Namespace: '',
    Created: pod.created,
    CreateCommand: [],
    ExitPolicy: 'continue',
    State: await engine.pods.status(pod, members),
    Hostname: engine.pods.hostnameOf(pod),
    Labels: pod.spec.labels ?? {},
    CreateCgroup: true,
    CgroupParent: engine.cfg.cgroupParent,
    CgroupPath: pod.cgroupParent,
    CreateInfra: true,
    InfraContainerID: pod.infraId,
    InfraConfig: {
      PortBindings: portBindings, HostNetwork: mode === 'host', StaticIP: net?.status.ip ?? '', StaticMAC: '', NoManageResolvConf: false,
      DNSServer: pod.spec.dnsConfig?.nameservers ?? null, DNSSearch: pod.spec.dnsConfig?.searches ?? null, DNSOption: null, NoManageHosts: false,
      HostAdd: pod.spec.hostAliases?.flatMap((a) => a.hostnames.map((h) => `${h}:${a.ip}`)) ?? null,
      Networks: mode === 'host' ? null : [mode], NetworkOptions: null, pid_ns: pod.spec.shareProcessNamespace ? 'pod' : 'private', userns: pod.spec.userns ?? 'host',
    },
    SharedNamespaces: ['ipc', 'net', 'uts', ...(pod.spec.shareProcessNamespace ? ['pid'] : [])],
    NumContainers: members.length,
    Containers: members.map((c) => ({ Id: c.id, Name: c.name, State: c.state.status, Ready: isReady(c), RestartCount: c.state.restartCount, Reason: engine.containers.reason(c) })),
    InfraState: infra?.state.status ?? '',
    StatusReason: engine.pods.initFailure(members)?.reason ?? '',
    Ready: `${r.ready}/${r.total}`,
    Restarts: r.restarts,
    Reason: r.reason,
  };
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

async function startPod(engine: Engine, ref: string): Promise<string> {
  const { pod, errors } = await engine.pods.start(ref);
  if (errors.length) {
    throw new PeapodError(errors[0].error instanceof PeapodError ? errors[0].error.code : 'runtime',
      `starting container ${errors[0].container.name} of pod ${pod.name}: ${errors[0].error.message}`);
  }
  return pod.id;
}

function podProcesses(pod: PodRecord, members: ContainerRecord[], cgroupRoots: () => string[]): string[][] {
  const rows: string[][] = [['CONTAINER', 'USER', 'PID', 'PPID', 'ELAPSED', 'COMMAND']];
  const pidsRoot = cgroupRoots().find((r) => /\/(pids|unified)$/.test(r) || r === '/sys/fs/cgroup') ?? '/sys/fs/cgroup/pids';
  const boot = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  const hz = 100;
  for (const c of members) {
    let pids: string[] = [];
    try {
      pids = readFileSync(`${pidsRoot}${pod.cgroupParent}/${c.id}/cgroup.procs`, 'utf8').split('\n').filter(Boolean);
    } catch { continue; }
    for (const pid of pids) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const uid = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1] ?? '?';
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        const elapsed = boot - Number(f[19]) / hz;
        rows.push([c.name, uid, pid, f[1], humanDuration(elapsed * 1000), cmd]);
      } catch { /* exited meanwhile */ }
    }
  }
  return rows;
}

export function registerPodCommands(program: Command): void {
  const pod = program.command('pod').description('manage pods');

  pod.command('create').description('create a pod (its infra container holds the shared namespaces)')
    .option('--name <name>', 'pod name')
    .option('--hostname <name>', 'host name of the pod')
    .option('-l, --label <K=V>', 'labels', collect)
    .option('--share-pid', 'share the PID namespace between the containers')
    .option('-p, --publish <[[ip:]hostPort:]containerPort[/proto]>', 'publish a port of the pod on the host', collect)
    .option('--network <name>', 'network: a bridge network, host or none')
    .addOption(new Option('--userns <mode>', 'user namespace of the pod: host, or keep-id (rootless: the user\'s uid is the same inside)').choices(['host', 'keep-id']))
    .action(async (o: { name?: string; hostname?: string; label?: string[]; sharePid?: boolean; publish?: string[]; network?: string; userns?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const name = o.name ?? `pod_${Math.random().toString(36).slice(2, 10)}`;
      const { parsePublish } = await import('../kube/plan.js');
      let publish;
      try {
        publish = (o.publish ?? []).map(parsePublish);
      } catch (err) {
        throw new PeapodError('invalid', (err as Error).message);
      }
      if (publish.length && o.network === 'host') throw new PeapodError('invalid', 'a pod on the host network publishes nothing: its ports are the host\'s');
      if (o.network && o.network !== 'host' && o.network !== 'none') await engine.networks.mustGet(o.network);
      await engine.pods.checkPorts(publish);
      const rec = await engine.pods.create({
        name, hostname: o.hostname, labels: labelsOf(o.label), shareProcessNamespace: o.sharePid,
        publish: publish.length ? publish : undefined,
        hostNetwork: o.network === 'host' || undefined,
        network: o.network && o.network !== 'host' ? o.network : undefined,
        userns: o.userns === 'keep-id' ? 'keep-id' : undefined,
      });
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
    .action(async (refs: string[], _o: unknown, cmd: Command) => eachPod(refs, async (r) => startPod((await getEngine(cmd)), r)));

  pod.command('stop').description('stop pods: members in parallel, the infra last').argument('<pods...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing', int('time'))
    .action(async (refs: string[], o: { time?: number }, cmd: Command) => eachPod(refs, async (r) => (await (await getEngine(cmd)).pods.stop(r, o.time)).id));

  pod.command('restart').description('restart pods').argument('<pods...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing', int('time'))
    .action(async (refs: string[], o: { time?: number }, cmd: Command) => eachPod(refs, async (r) => {
      const engine = await getEngine(cmd);
      await engine.pods.stop(r, o.time);
      return startPod(engine, r);
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
      const engine = await getEngine(cmd);
      const p = await engine.pods.get(ref);
      let members = (await engine.pods.members(p)).filter((c) => !c.spec.isInfra);
      if (o.container) {
        members = members.filter((c) => c.name === o.container || c.spec.kubeName === o.container || c.id.startsWith(o.container!));
        if (!members.length) throw new PeapodError('not-found', `no container "${o.container}" in pod ${p.name}`);
      }
      const { printLogs } = await import('../../engine/runtime/logs.js');
      const prefix = members.length > 1;
      if (!o.follow) {
        // interleave by time, as the lines were written
        const lines = members.flatMap((c) => {
          let content = '';
          try { content = readFileSync(engine.containers.paths(c.id).logPath, 'utf8'); } catch { /* no output yet */ }
          let l = parseK8sLog(content);
          if (o.tail !== undefined) l = l.slice(Math.max(0, l.length - o.tail));
          return l.map((x) => ({ ...x, c }));
        }).sort((a, b) => a.time.localeCompare(b.time));
        for (const l of lines) {
          const text = `${prefix ? `${l.c.id.slice(0, 12)} ` : ''}${o.timestamps ? `${l.time} ` : ''}${l.text}${l.complete ? '\n' : ''}`;
          (l.stream === 'stderr' ? process.stderr : process.stdout).write(text);
        }
        return;
      }
      await Promise.all(members.map((c) => printLogs(engine.containers.paths(c.id).logPath, {
        follow: true, tail: o.tail, timestamps: o.timestamps, prefix: prefix ? `${c.id.slice(0, 12)} ` : '',
        isRunning: async () => (await engine.containers.get(c.id)).state.status === 'running',
      })));
    });

  pod.command('monitor', { hidden: true }).argument('<id>').description("run the pod's probes (started by peapod itself)")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      process.chdir('/');
      const engine = await getEngine(cmd);
      // Started detached with its pid file written by the starter: a second monitor of the same pod exits.
      if (engine.pods.monitorPid(id) !== process.pid) return;
      const stop = new AbortController();
      for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => stop.abort());
      const { monitorPod } = await import('../../engine/pod/monitor.js');
      try {
        await monitorPod(engine.store, engine.containers, id, { signal: stop.signal });
      } finally {
        if (engine.pods.monitorPid(id) === process.pid) rmSync(engine.pods.monitorFile(id), { force: true });
      }
    });

  pod.command('top').description('show the processes of a pod').argument('<pod>')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      const p = await engine.pods.get(ref);
      const members = (await engine.pods.members(p)).filter((c) => c.state.status === 'running');
      if (!members.length) throw new PeapodError('state', `pod ${p.name} is not running`);
      const { cgroupRoots } = await import('../../engine/runtime/mounts.js');
      process.stdout.write(alignTable(podProcesses(p, members, cgroupRoots)));
    });
}
