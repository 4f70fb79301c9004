// Pods as the CLI's pod commands use them: create, start (an error naming the member that
// failed), logs of all members, their processes.
import { readFileSync, rmSync } from 'node:fs';
import { PeapodError } from '../../engine/errors.js';
import type { ContainerRecord, PodRecord } from '../../engine/types.js';
import { parseK8sLog, printLogs, type LogOptions } from '../../engine/runtime/logs.js';
import { isRunning } from '../../engine/pod/status.js';
import type { Opener } from './engine.js';
import type { Engine } from '../../engine/engine.js';

export interface CreatePodOptions {
  name: string; hostname?: string; labels?: Record<string, string>; sharePid?: boolean;
  /** [[ip:]hostPort:]containerPort[/proto] */
  publish?: string[];
  network?: string;
  /** --ip: a static address on that network */
  ip?: string;
  userns?: string;
  /** Podman's --share: comma-separated namespaces, `+ns` adds to the default, `none` shares nothing */
  share?: string;
  /** --infra=false: the members share no namespace with the infra (peapod keeps the infra container) */
  infra?: boolean;
  exitPolicy?: string;
  /** image of the infra container (pulled when missing) */
  infraImage?: string;
  /** --replace: a pod of that name is removed first */
  replace?: boolean;
}

const SHAREABLE = ['cgroup', 'ipc', 'net', 'pid', 'uts'];
const DEFAULT_SHARE = ['ipc', 'net', 'uts'];

/** Podman's --share: `ipc,net`, `+pid` (added to the default), `none`. Podman's messages. */
export function parseShare(v: string): string[] {
  const add = v.startsWith('+');
  const list = (add ? v.slice(1) : v).split(',').map((x) => x.trim()).filter(Boolean);
  if (list.length === 1 && list[0] === 'none') return [];
  for (const ns of list) {
    if (!SHAREABLE.includes(ns)) throw new PeapodError('invalid', `invalid kernel namespace to share: ${ns}. Options are: cgroup, ipc, net, pid, uts or none`);
  }
  return [...new Set([...(add ? DEFAULT_SHARE : []), ...list])];
}

/**
 * The infra image a pod gets (--infra-image, else the configured one): pulled when missing, a
 * failure worded as Podman's ("initializing source docker://REF: ..."). Undefined: the built-in one.
 * The name is kept (the infra container's ImageName).
 */
async function infraImageId(engine: Engine, ref = engine.cfg.infraImage): Promise<string | undefined> {
  if (!ref) return undefined;
  if (await engine.images.get(ref)) return ref;
  try {
    await engine.images.pull(ref, { policy: 'missing', quiet: true });
    return ref;
  } catch (err) {
    const msg = (err as Error).message.replace(/^pulling \S+: /, '');
    throw new PeapodError(err instanceof PeapodError ? err.code : 'not-found', `initializing source docker://${ref}: ${msg}`);
  }
}

/** `pod create`: the ports are checked free, the network known, before anything is made. */
export async function createPod(open: Opener, o: CreatePodOptions): Promise<PodRecord> {
  if (o.exitPolicy !== undefined && o.exitPolicy !== 'continue' && o.exitPolicy !== 'stop') {
    throw new PeapodError('invalid', `running pod create option: invalid pod exit policy: "${o.exitPolicy}"`);
  }
  const share = o.infra === false ? [] : o.share !== undefined ? parseShare(o.share) : undefined;
  const engine = await open();
  const { parsePublish } = await import('../kube/plan.js');
  const publish = (o.publish ?? []).map(parsePublish);
  if (publish.length && o.network === 'host') throw new PeapodError('invalid', 'a pod on the host network publishes nothing: its ports are the host\'s');
  // Podman's "private" network is the default bridge
  const network = o.network === 'private' ? undefined : o.network;
  const net = network && network !== 'host' && network !== 'none' ? await engine.networks.mustGet(network) : undefined;
  let ips: string[] | undefined;
  if (o.ip !== undefined) {
    const { parseStaticIPs } = await import('../kube/plan-network.js');
    const r = parseStaticIPs(o.ip);
    if (r.problem) throw new PeapodError('invalid', `invalid --ip "${o.ip}": static IP ${r.problem}`);
    if (network === 'host' || network === 'none') throw new PeapodError('invalid', `a pod on the ${network} network cannot have a static IP`);
    const on = net ?? (await engine.networks.mustGet('peapod'));
    if (on.driver === 'pasta') throw new PeapodError('invalid', 'a static IP needs a network of its own; rootless pods share the host\'s address through pasta');
    const problems = await engine.networks.checkStatic(on, r.ips);
    if (problems.length) throw new PeapodError(problems.some((x) => x.includes('in use')) ? 'exists' : 'invalid', problems.join('; '));
    ips = r.ips;
  }
  if (o.replace && (await engine.pods.find(o.name))) await engine.pods.remove(o.name, { force: true });
  await engine.pods.checkPorts(publish);
  const infraImage = await infraImageId(engine, o.infraImage);
  return engine.pods.create({
    name: o.name, hostname: o.hostname, labels: o.labels,
    shareProcessNamespace: share ? share.includes('pid') || undefined : o.sharePid,
    ...(share ? { share } : {}),
    ...(o.exitPolicy ? { exitPolicy: o.exitPolicy as 'continue' | 'stop' } : {}),
    publish: publish.length ? publish : undefined,
    hostNetwork: network === 'host' || undefined,
    network: network && network !== 'host' ? network : undefined,
    ...(ips ? { ips } : {}),
    userns: o.userns === 'keep-id' ? 'keep-id' : undefined,
  }, { infraImage });
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
  const { readFileInRoot } = await import('../../engine/runtime/resolve.js');
  const { parsePasswd } = await import('../../engine/runtime/user.js');
  // USER as the container's /etc/passwd names it (Podman's top), read without following its links out
  const passwd = new Map(members.map((c) => {
    let text: string | undefined;
    try { text = readFileInRoot(engine.containers.paths(c.id).merged, '/etc/passwd', 1 << 20)?.toString('utf8'); } catch { /* not a file */ }
    return [c.id, parsePasswd(text)];
  }));
  return processesOf(pod, members, cgroupRoots(), (c) => passwd.get(c.id) ?? []);
}

function processesOf(pod: PodRecord, members: ContainerRecord[], roots: string[], names: (c: ContainerRecord) => Array<{ name: string; uid: number }>) {
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
        const uidNum = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1] ?? '?';
        const uid = names(c).find((u) => String(u.uid) === uidNum)?.name ?? uidNum;
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
