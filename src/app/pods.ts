// Pods as the CLI's pod commands use them: create, start (an error naming the member that
// failed), logs of all members, their processes.
import { readFileSync, rmSync } from 'node:fs';
import { PeapodError } from '../../engine/errors.js';
import type { ContainerRecord, PodRecord } from '../../engine/types.js';
import { parseK8sLog, printLogs, type LogOptions } from '../../engine/runtime/logs.js';
import { isRunning } from '../../engine/pod/status.js';
import type { Opener } from './engine.js';

export interface CreatePodOptions {
  name: string; hostname?: string; labels?: Record<string, string>; sharePid?: boolean;
  /** [[ip:]hostPort:]containerPort[/proto] */
  publish?: string[];
  network?: string;
  userns?: string;
}

/** `pod create`: the ports are checked free, the network known, before anything is made. */
export async function createPod(open: Opener, o: CreatePodOptions): Promise<PodRecord> {
  const engine = await open();
  const { parsePublish } = await import('../kube/plan.js');
  const publish = (o.publish ?? []).map(parsePublish);
  if (publish.length && o.network === 'host') throw new PeapodError('invalid', 'a pod on the host network publishes nothing: its ports are the host\'s');
  if (o.network && o.network !== 'host' && o.network !== 'none') await engine.networks.mustGet(o.network);
  await engine.pods.checkPorts(publish);
  return engine.pods.create({
    name: o.name, hostname: o.hostname, labels: o.labels, shareProcessNamespace: o.sharePid,
    publish: publish.length ? publish : undefined,
    hostNetwork: o.network === 'host' || undefined,
    network: o.network && o.network !== 'host' ? o.network : undefined,
    userns: o.userns === 'keep-id' ? 'keep-id' : undefined,
  });
}

/** `pod start`: the pod's ID; the first member that failed to start is the error. */
export async function startPod(open: Opener, ref: string): Promise<string> {
  const { pod, errors } = await (await open()).pods.start(ref);
  if (errors.length) {
    throw new PeapodError(errors[0].error instanceof PeapodError ? errors[0].error.code : 'runtime',
      `starting container ${errors[0].container.name} of pod ${pod.name}: ${errors[0].error.message}`);
  }
  return pod.id;
}

export interface PodLogsOptions {
  /** only this member (name, Kubernetes name or ID prefix) */
  container?: string;
  follow?: boolean; tail?: number; timestamps?: boolean;
  write?: LogOptions['write'];
}

const defaultWrite: NonNullable<LogOptions['write']> = (stream, data) => { (stream === 'stderr' ? process.stderr : process.stdout).write(data); };

/** `pod logs`: the members' output, interleaved by time (each line prefixed by its container when there are several). */
export async function podLogsOf(open: Opener, ref: string, o: PodLogsOptions): Promise<void> {
  const engine = await open();
  const p = await engine.pods.get(ref);
  let members = (await engine.pods.members(p)).filter((c) => !c.spec.isInfra);
  if (o.container) {
    members = members.filter((c) => c.name === o.container || c.spec.kubeName === o.container || c.id.startsWith(o.container!));
    if (!members.length) throw new PeapodError('not-found', `no container "${o.container}" in pod ${p.name}`);
  }
  const prefix = members.length > 1;
  const write = o.write ?? defaultWrite;
  if (!o.follow) {
    // interleave by time, as the lines were written
    const lines = members.flatMap((c) => {
      let content = '';
      try { content = readFileSync(engine.containers.paths(c.id).logPath, 'utf8'); } catch { /* no output yet */ }
      let l = parseK8sLog(content);
      if (o.tail !== undefined) l = l.slice(Math.max(0, l.length - o.tail));
      return l.map((x) => ({ ...x, c }));
    }).sort((a, b) => a.time.localeCompare(b.time));
    for (const l of lines) write(l.stream, `${prefix ? `${l.c.id.slice(0, 12)} ` : ''}${o.timestamps ? `${l.time} ` : ''}${l.text}${l.complete ? '\n' : ''}`);
    return;
  }
  await Promise.all(members.map((c) => printLogs(engine.containers.paths(c.id).logPath, {
    follow: true, tail: o.tail, timestamps: o.timestamps, prefix: prefix ? `${c.id.slice(0, 12)} ` : '', write: o.write,
    isRunning: async () => isRunning(await engine.containers.get(c.id)),
  })));
}

/** `pod top`: rows of CONTAINER, USER, PID, PPID, ELAPSED (ms), COMMAND of every process of the running members. */
export async function podProcesses(open: Opener, ref: string): Promise<Array<{ container: string; uid: string; pid: string; ppid: string; elapsedMs: number; command: string }>> {
  const engine = await open();
  const pod = await engine.pods.get(ref);
  const members = (await engine.pods.members(pod)).filter(isRunning);
  if (!members.length) throw new PeapodError('state', `pod ${pod.name} is not running`);
  const { cgroupRoots } = await import('../../engine/runtime/mounts.js');
  return processesOf(pod, members, cgroupRoots());
}

function processesOf(pod: PodRecord, members: ContainerRecord[], roots: string[]) {
  const rows = [];
  const pidsRoot = roots.find((r) => /\/(pids|unified)$/.test(r) || r === '/sys/fs/cgroup') ?? '/sys/fs/cgroup/pids';
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
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        rows.push({ container: c.name, uid, pid, ppid: f[1], elapsedMs: (boot - Number(f[19]) / hz) * 1000, command });
      } catch { /* exited meanwhile */ }
    }
  }
  return rows;
}

/**
 * The hidden `pod monitor`: runs the pod's probes until `signal` aborts. Started detached by
 * Pods.ensureMonitor with its pid file written by the starter: a second monitor of the same pod
 * (whose pid is not in that file) ends at once.
 */
export async function monitorPod(open: Opener, id: string, signal: AbortSignal): Promise<void> {
  const engine = await open();
  if (engine.pods.monitorPid(id) !== process.pid) return;
  const { monitorPod: run } = await import('../../engine/pod/monitor.js');
  try {
    await run(engine.store, engine.containers, id, { signal, onReadiness: () => engine.services.sync().catch(() => undefined) });
  } finally {
    if (engine.pods.monitorPid(id) === process.pid) rmSync(engine.pods.monitorFile(id), { force: true });
  }
}
