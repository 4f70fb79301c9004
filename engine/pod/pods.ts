import { promises as fs, existsSync, readFileSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { runProgram } from '../spawn.js';
import type { EventLog } from '../events.js';
import { PeapodError, stateError } from '../errors.js';
import { hostStateDir, type EngineConfig } from '../config.js';
import type { ContainerRecord, ContainerSpec, PodRecord, PodSpec, PodStatus, PodVolume } from '../types.js';
import type { StateStore } from '../state/store.js';
import { newId } from '../state/store.js';
import type { ImageStore } from '../image/store.js';
import type { Containers } from './containers.js';
import type { Launcher } from '../runtime/launcher.js';
import { cgroupResources, type EtcFiles, type PodContext } from '../runtime/spec.js';
import { ensureInfraImage } from './infra.js';
import { hostsFile, resolvConf } from '../runtime/hostfiles.js';
import { writeFileAtomic } from '../state/atomic.js';
import { readHostResolvConf } from './containers.js';
import { canKill, canRemove, hasEnded, isReady, isRunning, neverStarted, podStatus } from './status.js';
import { debug } from '../log.js';
import { pausePoint } from '../debug.js';
import { FileLock, procStartTime } from '../state/lock.js';
import { readJson, writeJsonAtomic } from '../state/atomic.js';
import type { NetworkBackend, PodNetworkRequest, PodNetworkStatus, PortMapping } from '../network/backend.js';
import { DEFAULT_NETWORK, Networks, portFree, bridgeHolder, claimBridge, isIPv4, nodePortHolder } from '../network/networks.js';
import { removeIdleNetavarkChains } from '../network/netavark.js';
import { checkUnprivilegedPorts } from '../network/pasta.js';
import { checkKeepId, keepIdUser, rootlessCgroups } from '../rootless/spec.js';
import { podUsernsPath } from '../rootless/podns.js';
import type { Secrets } from '../volume/secrets.js';
import type { Volumes } from '../volume/volumes.js';
import { preparePodVolumes, refreshFileVolumes } from '../volume/podvolumes.js';
import { checkObjectName, DNS1123_SUBDOMAIN } from '../names.js';
import { CLUSTER_DOMAIN, namespaceOf } from '../network/services.js';

/** What a pod's members share, made once per start (Pods.prepare). */
interface PreparedPod {
  infra: ContainerRecord;
  /** the context each member starts with */
  member: PodContext;
}

/** What a running pod's network is, kept in its run dir (needed again for teardown). */
export interface PodNetworkState {
  request: PodNetworkRequest;
  status: PodNetworkStatus;
}

function readText(file: string): string {
  try { return readFileSync(file, 'utf8'); } catch { return ''; }
}

/**
 * Writes one of a pod's /etc files only when its content changes. Every member's start prepares
 * them again, while other members' runtimes bind-mount them: a file replaced meanwhile (a new inode
 * under the same name) makes such a mount fail ("error mounting .../hosts to rootfs").
 */
async function writeEtcFile(file: string, content: string): Promise<void> {
  if (existsSync(file) && readText(file) === content) return;
  await writeFileAtomic(file, content);
}


const FILE_VOLUMES = new Set(['configMap', 'secret', 'downwardAPI']);

/**
 * Pods: an infra container creates the IPC, UTS (and PID) namespaces; the network namespace is a
 * persistent file made before any container, so that networking can be set up on it first.
 * Members join network, IPC and UTS (and PID with shareProcessNamespace) and share /dev/shm and
 * the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf.
 */
export class Pods {
  private networkLockOf?: FileLock;
  private readonly launcher: Launcher;
  private readonly checkedBridges = new Set<string>();
  /** Set by the engine: brings Services' endpoints up to date after a pod changed (never throws). */
  endpointsChanged?: () => Promise<void>;
  /** Set by the engine: the journal of pod events (create, start, stop, kill, remove). */
  events?: EventLog;
  /** Records a pod event (Podman's: the pod's ID and name, no attributes). */
  private event(pod: PodRecord, status: string): void {
    this.events?.write({ ID: pod.id, Name: pod.name, Status: status, Type: 'pod' });
  }
  /** Set by the engine: the Service variables of a container of this pod starting now. */
  serviceEnvFor?: (pod: PodRecord) => Promise<string[]>;

  constructor(
    readonly cfg: EngineConfig, readonly store: StateStore, readonly images: ImageStore, readonly containers: Containers,
    readonly networks: Networks, private readonly backend: () => NetworkBackend,
    readonly secrets: Secrets, readonly volumes: Volumes,
  ) {
    this.launcher = containers.launcher;
  }

  /**
   * netavark setup/teardown and the removal of its idle chains must not interleave across
   * processes, also of other peapod roots on this host: the iptables chains are the host's. Rootless
   * (pasta) touches no host-wide state: a lock of its own. Made on first use (the host-wide
   * directory is checked then).
   */
  private get networkLock(): FileLock {
    this.networkLockOf ??= new FileLock(this.cfg.rootlessUid !== undefined ? path.join(this.cfg.runroot, 'network.lock') : path.join(hostStateDir(), 'network.lock'));
    return this.networkLockOf;
  }

  /** 'host', 'none', or the name of the bridge network the pod joins. */
  networkMode(pod: PodRecord): string {
    if (pod.spec.hostNetwork) return 'host';
    return pod.spec.network || DEFAULT_NETWORK;
  }

  /** The pod's network as set up now (undefined when stopped, or on host/none networks). */
  async networkState(pod: PodRecord): Promise<PodNetworkState | undefined> {
    return readJson<PodNetworkState>(path.join(this.runDir(pod.id), 'network.json'));
  }

  /**
   * Refuses ports that something on the host holds, or that another running pod publishes
   * (netavark forwards with DNAT and binds nothing, so a bind test alone would not see those).
   */
  async checkPorts(ports: PortMapping[], exceptPods: string | string[] = []): Promise<void> {
    if (this.cfg.rootlessUid !== undefined) checkUnprivilegedPorts(ports);
    const except = new Set(Array.isArray(exceptPods) ? exceptPods : [exceptPods]);
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const p of ports) {
      const key = `${p.protocol}/${p.hostPort}`;
      if (seen.has(key)) problems.push(`host port ${p.hostPort}/${p.protocol} is published twice`);
      seen.add(key);
    }
    const others = await Promise.all((await this.store.listPods()).filter((o) => !except.has(o.id)).map(async (o) => ({ o, st: await this.networkState(o) })));
    for (const p of ports) {
      const owner = others.find(({ st }) => st?.request.ports.some((q) => q.hostPort === p.hostPort && q.protocol === p.protocol && (!q.hostIP || !p.hostIP || q.hostIP === p.hostIP)));
      const service = nodePortHolder(p.hostPort);
      if (owner) problems.push(`host port ${p.hostPort}/${p.protocol} is already published by pod ${owner.o.name}`);
      else if (service) problems.push(`host port ${p.hostPort} is the nodePort of service ${service.service}${service.root === this.store.root ? '' : ` of peapod root ${service.root}`}`);
      else if (!(await portFree(p))) problems.push(`host port ${p.hostIP ? `${p.hostIP}:` : ''}${p.hostPort}/${p.protocol} is already in use on this host`);
    }
    if (problems.length) throw new PeapodError('exists', problems.join('; '));
  }

  runDir(id: string): string {
    return path.join(this.cfg.runroot, 'pods', id);
  }

  /** Present while the pod is being stopped (removed with its run dir): no Service's endpoint then. */
  terminatingFile(id: string): string {
    return path.join(this.runDir(id), 'terminating');
  }

  /** The pid file of the pod's monitor (`<pid> <start time>`). */
  monitorFile(id: string): string {
    return path.join(this.runDir(id), 'monitor.pid');
  }

  /** The running monitor's pid, when the pod has one. */
  monitorPid(id: string): number | undefined {
    const [pid, start] = readText(this.monitorFile(id)).split(' ');
    return Number(pid) > 0 && procStartTime(Number(pid)) === start ? Number(pid) : undefined;
  }

  /**
   * Starts the pod's monitor (probes) unless it runs: a detached `peapod pod monitor ID`. Its pid
   * file is written here at once, so that a `pod stop` right after a play always finds it.
   */
  ensureMonitor(pod: PodRecord): void {
    if (this.monitorPid(pod.id)) return;
    const [node, ...script] = this.cfg.selfCommand;
    // A long-lived process: keep V8's heap small (it probes a few containers, nothing more).
    const small = path.basename(node).startsWith('node') ? ['--max-semi-space-size=1', '--max-old-space-size=32'] : [];
    // Rootless: the pod's address is pasta's copy of the host's, so httpGet/tcpSocket probes reach
    // the pod only from inside its network namespace: the monitor runs there (nsenter execs it).
    const inPodNet = this.cfg.rootlessUid !== undefined && !pod.spec.hostNetwork ? ['nsenter', `--net=${pod.netnsPath}`, '--'] : [];
    const [cmd, ...args] = [...inPodNet, node, ...small, ...script];
    const child = spawn(cmd, [...args, '--root', this.cfg.root, '--runroot', this.cfg.runroot, '--runtime', this.cfg.runtimePath, 'pod', 'monitor', pod.id], {
      detached: true, stdio: 'ignore', cwd: '/',
    });
    child.unref();
    if (child.pid) {
      mkdirSync(this.runDir(pod.id), { recursive: true });
      writeFileSync(this.monitorFile(pod.id), `${child.pid} ${procStartTime(child.pid)}`);
      debug(`pod ${pod.name}: monitor ${child.pid} started`);
    }
  }

  /** Ends the pod's monitor (SIGTERM; SIGKILL after 5 s) and waits until it is gone. */
  async stopMonitor(pod: PodRecord): Promise<void> {
    const pid = this.monitorPid(pod.id);
    if (pid) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      await this.launcher.waitGone(pid, 5000);
      if (this.monitorPid(pod.id) === pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    }
    await fs.rm(this.monitorFile(pod.id), { force: true });
  }

  hostnameOf(pod: PodRecord): string {
    return pod.spec.hostname || pod.name;
  }

  async create(spec: PodSpec, opts: { infraImage?: string; deferred?: boolean } = {}): Promise<PodRecord> {
    if (!spec.name) throw new PeapodError('invalid', 'a pod needs a name');
    if (spec.userns === 'keep-id') checkKeepId(this.cfg);
    checkObjectName('pod', spec.name);
    if (spec.hostname && (spec.hostname.length > 63 || !DNS1123_SUBDOMAIN.test(spec.hostname))) {
      throw new PeapodError('invalid', `pod hostname "${spec.hostname}": must be a lower-case RFC 1123 name of at most 63 characters`);
    }
    const infraImage = await ensureInfraImage(this.images, this.store.lock, opts.infraImage ?? this.cfg.infraImage);
    const id = newId();
    const pod: PodRecord = {
      id,
      name: spec.name,
      created: new Date().toISOString(),
      spec,
      infraId: '',
      netnsPath: path.join(this.cfg.runroot, 'netns', `peapod-${id.slice(0, 12)}`),
      cgroupParent: `${this.cfg.cgroupParent}/${id}`,
      ...(opts.deferred ? { deferred: true } : {}),
    };
    await this.store.lock.with(async () => {
      const used = await this.store.nameInUse(spec.name);
      if (used) throw new PeapodError('exists', `the pod name "${spec.name}" is already in use by ${used === 'pod' ? 'another pod' : 'a container'}: remove it or choose another name`);
      await this.store.savePod(pod);
      pausePoint('pod-record');
      try {
        const infra = await this.containers.create({
          name: `${id.slice(0, 12)}-infra`, image: infraImage.id, pod: id, isInfra: true,
          stopTimeout: spec.terminationGracePeriodSeconds, labels: undefined,
        });
        pod.infraId = infra.id;
        await this.store.savePod(pod);
      } catch (err) {
        await this.store.deletePod(id);
        throw err;
      }
    });
    this.event(pod, 'create');
    return pod;
  }

  /** Adds a container to a pod (created, not started). */
  async addContainer(podRef: string, spec: ContainerSpec, opts: { createCommand?: string[] } = {}): Promise<ContainerRecord> {
    const pod = await this.store.mustGetPod(podRef);
    // keep-id: the container runs as the user (same uid and gid as on the host) unless it says otherwise
    const user = pod.spec.userns === 'keep-id' && spec.user === undefined ? keepIdUser(this.cfg) : spec.user;
    return this.containers.create({ ...spec, user, pod: pod.id, stopTimeout: spec.stopTimeout ?? pod.spec.terminationGracePeriodSeconds }, opts);
  }

  /**
   * Gives a pod new contents for its configMap, secret and downwardAPI volumes (the same volumes,
   * by name and type) and new annotations; while it runs, the files change in place (atomically,
   * no container restarts), as the kubelet does for a changed ConfigMap. Returns the volumes rewritten.
   */
  async updateFileVolumes(ref: string, volumes: PodVolume[], annotations?: Record<string, string>): Promise<string[]> {
    const pod = await this.get(ref);
    const have = pod.spec.volumes ?? [];
    const fileType = (t: string) => t === 'configMap' || t === 'secret' || t === 'downwardAPI';
    const sameShape = have.length === volumes.length && have.every((v, i) => {
      const w = volumes[i];
      if (v.name !== w.name || v.type !== w.type) return false;
      return fileType(v.type) || JSON.stringify(v) === JSON.stringify(w);
    });
    if (!sameShape) throw new PeapodError('invalid', `pod ${pod.name}: only the files of configMap, secret and downwardAPI volumes change in place`);
    return this.store.podLock(pod.id).with(async () => {
      const fresh = await this.get(pod.id);
      fresh.spec.volumes = volumes;
      if (annotations) fresh.spec.annotations = annotations;
      await this.store.savePod(fresh);
      const net = this.networkMode(fresh) === 'host' ? undefined : await this.networkState(fresh);
      return refreshFileVolumes(fresh, this.runDir(fresh.id), this.secrets, net?.status.ip);
    });
  }

  async get(ref: string): Promise<PodRecord> {
    return this.store.mustGetPod(ref);
  }

  /** The pod a name or ID names, if any. */
  async find(ref: string): Promise<PodRecord | undefined> {
    return this.store.getPod(ref);
  }

  async list(): Promise<PodRecord[]> {
    return this.store.listPods();
  }

  /** The pod's containers, infra first, refreshed against reality. */
  async members(pod: PodRecord): Promise<ContainerRecord[]> {
    return this.membersOf(pod, await this.containers.list());
  }

  /** The pod's containers among `all`, infra first, then in order of creation. */
  membersOf(pod: PodRecord, all: ContainerRecord[]): ContainerRecord[] {
    return all.filter((c) => c.spec.pod === pod.id)
      .sort((a, b) => Number(!!b.spec.isInfra) - Number(!!a.spec.isInfra) || a.created.localeCompare(b.created));
  }

  async status(pod: PodRecord, members?: ContainerRecord[]): Promise<PodStatus> {
    const all = members ?? (await this.members(pod));
    if (this.initFailure(all)) return 'Error';
    // init containers that completed are done, not "exited" members of a degraded pod
    const relevant = all.filter((c) => !(c.spec.init === 'init' && hasEnded(c) && c.state.exitCode === 0));
    // A Job's pod whose workload has ended has exited, even while its infra still holds the
    // namespaces; any other pod with its infra running is Degraded then, as in Podman.
    const workload = relevant.filter((c) => !c.spec.isInfra);
    if (pod.spec.kube?.kind === 'Job' && workload.length && workload.every(hasEnded)) return 'Exited';
    return podStatus(relevant.map((c) => c.state.status));
  }

  /**
   * What `kubectl get pods` shows: READY (ready/all of the app containers and sidecars), RESTARTS
   * (their sum) and a reason when the pod is not simply running: Init:Error, CrashLoopBackOff,
   * OOMKilled, Error, Completed.
   */
  readiness(members: ContainerRecord[]): { ready: number; total: number; restarts: number; reason: string } {
    const apps = members.filter((c) => !c.spec.isInfra && c.spec.init !== 'init');
    const ready = apps.filter(isReady).length;
    const restarts = apps.reduce((n, c) => n + c.state.restartCount, 0);
    let reason = '';
    if (this.initFailure(members)) reason = 'Init:Error';
    else {
      const reasons = apps.map((c) => this.containers.reason(c)).filter(Boolean);
      reason = ['CrashLoopBackOff', 'OOMKilled', 'Error', 'CreateContainerError', 'HostRestarted'].find((r) => reasons.includes(r)) ?? '';
      if (!reason && apps.length && reasons.length === apps.length && reasons.every((r) => r === 'Completed')) reason = 'Completed';
    }
    return { ready, total: apps.length, restarts, reason };
  }

  /**
   * A Job runs at most `parallelism` pods at once: run by conmon's exit command after a container
   * of pod `podId` ended, this starts the next waiting pod of the same Job once `podId` has
   * finished (every app container ended for good). The pod is claimed under the state lock, so two
   * pods finishing at once start two different pods. Nothing starts after a user's stop.
   */
  async startNextOfJob(podId: string): Promise<void> {
    const pod = await this.store.getPod(podId);
    const job = pod?.spec.kube;
    if (!pod || job?.kind !== 'Job') return;
    const apps = (await this.members(pod)).filter((c) => !c.spec.isInfra && c.spec.init !== 'init');
    const finished = apps.every((c) => hasEnded(c) && this.containers.restartDelay(c) === undefined);
    if (!finished || apps.some((c) => c.state.stopRequested)) return;
    const next = await this.store.lock.with(async () => {
      const waiting = (await this.store.listPods())
        .filter((p) => p.deferred && p.spec.kube?.kind === 'Job' && p.spec.kube.name === job.name && p.spec.kube.file === job.file)
        .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
      if (!waiting.length) return undefined;
      const claimed = { ...waiting[0], deferred: undefined };
      await this.store.savePod(claimed);
      return claimed;
    });
    if (!next) return;
    debug(`Job ${job.name}: pod ${pod.name} finished, starting ${next.name}`);
    const r = await this.start(next.id);
    for (const e of r.errors) debug(`Job ${job.name}: starting ${e.container.name}: ${e.error.message}`);
  }

  /** An init container that failed while the app containers never started: the kubelet's Init:Error. */
  initFailure(members: ContainerRecord[]): { container: ContainerRecord; reason: string } | undefined {
    const failed = members.find((c) => c.spec.init === 'init' && hasEnded(c) && c.state.exitCode !== 0);
    if (!failed || !members.some((c) => !c.spec.init && !c.spec.isInfra && neverStarted(c))) return undefined;
    return { container: failed, reason: `Init:Error: init container ${failed.spec.kubeName ?? failed.name} exited with code ${failed.state.exitCode}; the app containers were not started` };
  }

  /**
   * Starts one container. A pod member gets its pod's context: the pod's shared resources are
   * made (and its infra started) first when they are not there yet.
   */
  async startContainer(ref: string): Promise<ContainerRecord> {
    const rec = await this.containers.get(ref);
    if (!rec.spec.pod) return this.containers.start(rec.id);
    const pod = await this.store.mustGetPod(rec.spec.pod);
    if (rec.spec.isInfra) return (await this.prepare(pod)).infra;
    const started = await this.startMember(pod, await this.prepare(pod), rec);
    await this.endpointsChanged?.();
    return started;
  }

  /**
   * Run by conmon's exit command after cleanup: waits the restart policy's back-off and starts the
   * container again, unless it was stopped or removed meanwhile. Daemonless: the exit command is
   * the supervisor, and it ends once the container runs again (its new conmon takes over).
   */
  async superviseRestart(id: string): Promise<void> {
    if (!(await this.containers.awaitRestart(id))) return;
    await this.startContainer(id).catch((err) => debug(`restart of ${id} failed: ${(err as Error).message}`));
  }

  /**
   * What every member of the pod shares, made once per start: the network namespace connected to
   * its network, /dev/shm, the /etc files, the volumes, and the infra container running.
   */
  private async prepare(pod: PodRecord): Promise<PreparedPod> {
    // a start after a stop that did not finish: the pod may serve again
    await fs.rm(this.terminatingFile(pod.id), { force: true });
    const res = await this.ensureResources(pod);
    const shm = { destination: '/dev/shm', type: 'bind', source: path.join(this.runDir(pod.id), 'shm'), options: ['rbind', 'rprivate'] };
    const hostNet = !!pod.spec.hostNetwork;
    // hostNetwork: the host's network namespace and, as in Kubernetes, its host name (no UTS namespace).
    const netNs = hostNet ? [] : [{ type: 'network' as const, path: pod.netnsPath }];
    // keep-id: the pod's user namespace is a file made with its netns (rootless/podns.ts), joined by
    // every container; on the host's network the infra makes it and the members join the infra's.
    const keepId = pod.spec.userns === 'keep-id';
    const userNs = (infraPid?: number) => (!keepId ? [] : hostNet
      ? [{ type: 'user' as const, ...(infraPid ? { path: `/proc/${infraPid}/ns/user` } : {}) }]
      : [{ type: 'user' as const, path: podUsernsPath(pod.netnsPath) }]);
    const base = { envHostname: res.hostname, mounts: [shm], cgroupParent: pod.cgroupParent, etcFiles: res.files };
    let infra = await this.containers.get(pod.infraId);
    if (!isRunning(infra)) {
      infra = await this.containers.start(pod.infraId, {
        ...base,
        namespaces: [{ type: 'pid' }, ...netNs, { type: 'ipc' }, ...(hostNet ? [] : [{ type: 'uts' as const }]), { type: 'mount' }, ...userNs()],
        hostname: hostNet ? undefined : this.hostnameOf(pod),
      });
    }
    const ns = (t: string) => `/proc/${infra.state.pid}/ns/${t}`;
    const shared = new Set(this.sharedNamespaces(pod));
    return {
      infra,
      member: {
        ...base,
        namespaces: [
          shared.has('pid') ? { type: 'pid', path: ns('pid') } : { type: 'pid' },
          // a member that does not share the pod's network has one of its own (loopback only)
          ...(shared.has('net') ? netNs : [{ type: 'network' as const }]),
          shared.has('ipc') ? { type: 'ipc', path: ns('ipc') } : { type: 'ipc' },
          ...(hostNet && shared.has('uts') ? [] : [shared.has('uts') ? { type: 'uts' as const, path: ns('uts') } : { type: 'uts' as const }]),
          { type: 'mount' },
          ...userNs(infra.state.pid),
        ],
        podName: pod.name,
        podIP: res.podIP,
        serviceEnv: (await this.serviceEnvFor?.(pod)) ?? undefined,
        volumes: res.volumes,
        // configMap, secret and downwardAPI volumes are read-only in the container, as in Kubernetes: peapod rewrites them
        readOnlyVolumes: (pod.spec.volumes ?? []).filter((v) => (v.type === 'persistentVolumeClaim' && v.readOnly) || FILE_VOLUMES.has(v.type)).map((v) => v.name),
      },
    };
  }

  private async startMember(pod: PodRecord, prepared: PreparedPod, c: ContainerRecord): Promise<ContainerRecord> {
    if (c.spec.probes) this.ensureMonitor(pod);
    // a member with a UTS namespace of its own has a host name of its own
    if (!this.sharedNamespaces(pod).includes('uts')) {
      const hostname = c.spec.hostname ?? c.id.slice(0, 12);
      return this.containers.start(c.id, { ...prepared.member, hostname, envHostname: hostname });
    }
    return this.containers.start(c.id, prepared.member);
  }

  /** The namespaces the members share with the infra (Podman's SharedNamespaces). */
  sharedNamespaces(pod: PodRecord): string[] {
    return pod.spec.share ?? ['ipc', 'net', 'uts', ...(pod.spec.shareProcessNamespace ? ['pid'] : [])];
  }

  /**
   * The exit policy `stop` (Podman's; play kube's pods have it): once every member has ended for
   * good (no restart pending), the infra stops too and the pod is Exited. Run by conmon's exit
   * command after a member's cleanup.
   */
  async applyExitPolicy(podId: string): Promise<void> {
    const pod = await this.store.getPod(podId);
    if (!pod || pod.spec.exitPolicy !== 'stop' || pod.deferred) return;
    const members = await this.members(pod);
    const apps = members.filter((c) => !c.spec.isInfra);
    if (!apps.length || !apps.every((c) => hasEnded(c) && this.containers.restartDelay(c) === undefined)) return;
    const infra = members.find((c) => c.spec.isInfra);
    if (infra && isRunning(infra)) {
      debug(`pod ${pod.name}: every container has ended, exit policy stop: stopping the infra`);
      await this.containers.stop(infra.id).catch((err) => debug(`stopping the infra of ${pod.name}: ${(err as Error).message}`));
    }
  }

  /**
   * Network namespace file (connected to the pod's network), shared /dev/shm and /etc files:
   * made once, before any container starts.
   */
  private async ensureResources(pod: PodRecord): Promise<{ files: EtcFiles; hostname: string; volumes: Record<string, string>; podIP?: string }> {
    const dir = this.runDir(pod.id);
    const files = { hosts: path.join(dir, 'hosts'), hostname: path.join(dir, 'hostname'), resolvConf: path.join(dir, 'resolv.conf') };
    return this.store.podLock(pod.id).with(async () => {
      await fs.mkdir(dir, { recursive: true });
      const mode = this.networkMode(pod);
      let net: PodNetworkState | undefined;
      if (mode !== 'host') {
        await this.launcher.makePodNetns(pod.netnsPath, { podName: pod.name, keepId: pod.spec.userns === 'keep-id' });
        pausePoint('netns');
        if (mode !== 'none') net = (await this.networkState(pod)) ?? (await this.connect(pod, mode));
      }
      await this.launcher.mountShm(path.join(dir, 'shm'), pod.name);
      pausePoint('shm');
      // Pod-level resources bound the pod's cgroup, so all its containers together.
      // (Rootless without a delegated cgroup: not applied, as play kube says.)
      if (pod.spec.resources && (this.cfg.rootlessUid === undefined || rootlessCgroups().usable)) await this.launcher.applyCgroupLimits(pod.cgroupParent, cgroupResources(pod.spec.resources) ?? {});
      const hostname = mode === 'host' ? os.hostname() : this.hostnameOf(pod);
      const extra = (pod.spec.hostAliases ?? []).map((a) => ({ ip: a.ip, names: a.hostnames }));
      const hostResolv = readHostResolvConf();
      await writeEtcFile(files.hosts, hostsFile({
        hostname,
        ip: net?.status.ip,
        names: net ? [pod.name].filter((n) => n !== hostname) : undefined,
        extra,
        base: mode === 'host' ? readText('/etc/hosts') : undefined,
      }));
      await writeEtcFile(files.hostname, `${hostname}\n`);
      await writeEtcFile(files.resolvConf, this.resolvFor(pod, hostResolv, net));
      const podIP = mode === 'host' ? undefined : net?.status.ip;
      const volumes = await preparePodVolumes(pod, { persistDir: this.store.podDir(pod.id), runDir: dir }, this.secrets, this.volumes, podIP);
      pausePoint('volumes');
      return { files, hostname, volumes, podIP };
    });
  }

  /** resolv.conf by dnsPolicy: ClusterFirst (default) asks the network's DNS first, Default the host's, None only dnsConfig. */
  private resolvFor(pod: PodRecord, hostResolv: string, net?: PodNetworkState): string {
    const cfg = pod.spec.dnsConfig ?? {};
    const opts = (cfg.options ?? []).map((o) => (o.value === undefined ? o.name : `${o.name}:${o.value}`));
    const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
    if (policy === 'None') {
      return resolvConf('', { nameservers: cfg.nameservers ?? [], searches: cfg.searches?.length ? cfg.searches : ['.'], options: opts });
    }
    if (pod.spec.hostNetwork || policy === 'Default' || !net?.status.dnsServers.length) {
      return resolvConf(hostResolv, { nameservers: cfg.nameservers, searches: cfg.searches, options: opts.length ? opts : undefined, keepHostServers: true, hostNetwork: pod.spec.hostNetwork });
    }
    if (pod.spec.kube) {
      // a pod of Kubernetes YAML: the kubelet's ClusterFirst file (its namespace's Service domains
      // first, ndots:5, the pod's dnsConfig options overriding by name, not the host's options)
      const ns = namespaceOf(pod);
      const named = (o: string) => o.split(':')[0];
      return resolvConf(hostResolv, {
        nameservers: [...net.status.dnsServers, ...(cfg.nameservers ?? [])],
        searches: [`${ns}.svc.${CLUSTER_DOMAIN}`, `svc.${CLUSTER_DOMAIN}`, CLUSTER_DOMAIN, ...net.status.dnsSearch, ...(cfg.searches ?? [])],
        options: [...['ndots:5'].filter((d) => !opts.some((o) => named(o) === named(d))), ...opts],
        keepHostServers: true,
        hostOptions: false,
      });
    }
    return resolvConf(hostResolv, {
      nameservers: [...net.status.dnsServers, ...(cfg.nameservers ?? [])],
      searches: [...net.status.dnsSearch, ...(cfg.searches ?? [])],
      options: opts.length ? opts : undefined,
      keepHostServers: true,
    });
  }

  /** Allocates the pod's address and connects its namespace to the bridge network. */
  private async connect(pod: PodRecord, networkName: string): Promise<PodNetworkState> {
    const network = await this.networks.mustGet(networkName);
    const bridge = network.driver === 'bridge';
    if (bridge) await this.checkBridge(network);
    const ports = pod.spec.publish ?? [];
    await this.checkPorts(ports, pod.id);
    // pasta (rootless) copies the host's address into the namespace: no address to hand out
    const ip = bridge ? await this.networks.allocate(network, pod.id, pod.spec.ips?.find(isIPv4)) : '';
    const members = (await this.store.listContainers()).filter((c) => c.spec.pod === pod.id && !c.spec.isInfra);
    const aliases = [...new Set([pod.name, this.hostnameOf(pod), ...members.map((c) => c.name), ...members.map((c) => c.spec.kubeName).filter((n): n is string => !!n)])];
    const request: PodNetworkRequest = { podId: pod.id, podName: pod.name, netnsPath: pod.netnsPath, network, ip, aliases, ports };
    // The request is on disk before netavark changes anything (network-setup.json), and stays
    // until network.json says what was set up: a command killed in between leaves a request that
    // the next teardown (down, rm, reset) undoes, never iptables rules nobody knows of.
    const pending = this.pendingNetworkFile(pod.id);
    const status = await this.networkLock.with(async () => {
      await writeJsonAtomic(pending, { request });
      pausePoint('network-setup');
      const st = await this.backend().setup(request);
      pausePoint('network-setup-done');
      return st;
    });
    const state = { request, status };
    await writeJsonAtomic(path.join(this.runDir(pod.id), 'network.json'), state);
    await fs.rm(pending, { force: true });
    debug(`pod ${pod.name} has address ${status.ip} on ${network.name}`);
    return state;
  }

  /**
   * A bridge of this name that carries another subnet belongs to another network (another peapod
   * root, or Podman's): joining it would mix two address spaces, so refuse with the reason.
   */
  private async checkBridge(network: { name: string; networkInterface: string; gateway: string; subnet: string }): Promise<void> {
    // Once per network and command: a play of many pods on one network asks `ip` once.
    const key = `${network.name}\0${network.networkInterface}\0${network.subnet}`;
    if (this.checkedBridges.has(key)) return;
    const holder = bridgeHolder(network.networkInterface, this.store.root);
    if (holder) {
      throw new PeapodError('state', `bridge ${network.networkInterface} of network ${network.name} is claimed by network ${holder.network} of peapod root ${holder.root}: recreate this network (peapod network rm ${network.name}) to get another bridge`);
    }
    await claimBridge(network.networkInterface, { root: this.store.root, network: network.name, subnet: network.subnet });
    if (!existsSync(`/sys/class/net/${network.networkInterface}`)) return;
    const r = await runProgram('ip', ['-4', '-j', 'addr', 'show', 'dev', network.networkInterface]);
    if (r.exitCode !== 0) return;
    const addrs: string[] = (JSON.parse(r.stdout || '[]')[0]?.addr_info ?? []).map((a: { local: string }) => a.local);
    if (addrs.length && !addrs.includes(network.gateway)) {
      throw new PeapodError('state', `bridge ${network.networkInterface} of network ${network.name} carries ${addrs.join(', ')}, not ${network.gateway} (${network.subnet}): another network uses that bridge (another peapod --root?)`);
    }
    this.checkedBridges.add(key);
  }

  /**
   * Takes the pod's namespace off its network (netavark teardown): the error, if any, is returned
   * for releaseResources to raise once everything else is released.
   */
  private async teardownNetwork(pod: PodRecord): Promise<unknown> {
    return this.teardownNetworkOf(pod.id);
  }

  /** The request of a network setup that was started and has not said what it set up (yet). */
  private pendingNetworkFile(podId: string): string {
    return path.join(this.runDir(podId), 'network-setup.json');
  }

  /**
   * Network teardown of a pod by ID (its record may be gone: system reset's orphans). Uses
   * network.json, else the request of a setup that was interrupted (network-setup.json), whose
   * teardown errors are ignored (netavark may have done nothing, or half of it).
   */
  private async teardownNetworkOf(podId: string): Promise<unknown> {
    return this.store.podLock(podId).with(async () => {
      const done = await readJson<PodNetworkState>(path.join(this.runDir(podId), 'network.json'), (v) => (v.request ? undefined : 'no request'));
      const pending = done ? undefined : (await readJson<{ request: PodNetworkRequest }>(this.pendingNetworkFile(podId), (v) => (v.request ? undefined : 'no request')))?.request;
      const request = done?.request ?? pending;
      try {
        if (request) {
          await this.networkLock.with(async () => {
            try {
              await this.backend().teardown(request);
            } catch (err) {
              if (!pending) throw err;
              debug(`teardown of the interrupted network setup of pod ${request.podName}: ${(err as Error).message}`);
            }
            if (this.cfg.rootlessUid === undefined && !this.otherPodsNetworked(podId)) await removeIdleNetavarkChains();
          });
        }
        await fs.rm(path.join(this.runDir(podId), 'network.json'), { force: true });
        await fs.rm(this.pendingNetworkFile(podId), { force: true });
        return undefined;
      } catch (err) {
        return err;
      }
    });
  }

  /** Whether a pod of this run root other than `except` has a network set up (or being set up). */
  private otherPodsNetworked(except: string): boolean {
    let ids: string[] = [];
    try { ids = readdirSync(path.join(this.cfg.runroot, 'pods')); } catch { /* none */ }
    return ids.some((id) => id !== except && (existsSync(path.join(this.runDir(id), 'network.json')) || existsSync(this.pendingNetworkFile(id))));
  }

  /**
   * What pods whose record is gone left in the run root (system reset): their monitor ended, their
   * network torn down (from network.json or an interrupted setup's request), their mounts and
   * namespace files released. Returns the failures, one line each; the rest is done regardless.
   */
  async releaseOrphans(): Promise<string[]> {
    const failures: string[] = [];
    let ids: string[] = [];
    try { ids = readdirSync(path.join(this.cfg.runroot, 'pods')); } catch { /* none */ }
    for (const id of ids) {
      const [pid, start] = readText(this.monitorFile(id)).split(' ');
      if (Number(pid) > 0 && procStartTime(Number(pid)) === start) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
      const err = await this.teardownNetworkOf(id);
      if (err) failures.push(`network of pod ${id}: ${(err as Error).message ?? String(err)}`);
      try {
        await this.launcher.releasePodMounts(this.runDir(id) + '/', []);
      } catch (e) {
        failures.push(`mounts of pod ${id}: ${(e as Error).message}`);
      }
    }
    return failures;
  }

  /**
   * Releases the pod's network (unless `network` says how its teardown went already), namespace
   * file, shm mount and run dir (nothing of the pod may run).
   */
  private async releaseResources(pod: PodRecord, network?: { teardownError: unknown }): Promise<void> {
    await this.store.podLock(pod.id).with(async () => {
      // Everything is released even when the network teardown fails; its error is raised after.
      const teardownError = network ? network.teardownError : await this.teardownNetwork(pod);
      // shm and every tmpfs volume (deepest first), then the netns (keep-id: and its user namespace file)
      const keepIdNs = pod.spec.userns === 'keep-id' ? [podUsernsPath(pod.netnsPath)] : [];
      await this.launcher.releasePodMounts(this.runDir(pod.id) + '/', [pod.netnsPath, ...keepIdNs]);
      if (!teardownError) await fs.rm(this.runDir(pod.id), { recursive: true, force: true });
      await this.launcher.removeCgroup(pod.cgroupParent);
      if (teardownError) throw teardownError;
    });
  }

  /** Starts the infra, then every member in parallel. Errors name the container that failed. */
  async start(ref: string): Promise<{ pod: PodRecord; errors: Array<{ container: ContainerRecord; error: Error }>; initFailed?: { container: ContainerRecord; exitCode: number } }> {
    const pod = await this.get(ref);
    const members = await this.members(pod);
    const prepared = await this.prepare(pod);
    const errors: Array<{ container: ContainerRecord; error: Error }> = [];
    // Init containers run one after the other, each to completion; a sidecar (restartPolicy
    // Always) is started and left running. A failing init container keeps the app containers from
    // starting, and the pod's status says so.
    for (const c of members.filter((m) => m.spec.init)) {
      try {
        if (c.spec.init === 'sidecar') {
          if (!isRunning(c)) await this.startMember(pod, prepared, c);
          continue;
        }
        await this.startMember(pod, prepared, c);
        const code = await this.containers.wait(c.id);
        if (code !== 0) {
          return { pod, errors, initFailed: { container: c, exitCode: code } };
        }
      } catch (err) {
        errors.push({ container: c, error: err as Error });
        return { pod, errors };
      }
    }
    await Promise.all(members.filter((c) => c.id !== pod.infraId && !c.spec.init && !isRunning(c)).map(async (c) => {
      try {
        await this.startMember(pod, prepared, c);
      } catch (err) {
        errors.push({ container: c, error: err as Error });
      }
    }));
    await this.endpointsChanged?.();
    this.event(pod, 'start');
    return { pod, errors };
  }

  /** Stops members in parallel (stop signal, grace period, then KILL), the infra last. */
  async stop(ref: string, timeout?: number): Promise<PodRecord> {
    const pod = await this.get(ref);
    await this.stopMonitor(pod);
    // A pod being stopped leaves its Services first, as a terminating pod leaves its endpoints,
    // so that no new connection reaches it during its grace period.
    if (existsSync(this.runDir(pod.id))) {
      await fs.writeFile(this.terminatingFile(pod.id), '').catch(() => undefined);
      await this.endpointsChanged?.();
    }
    const members = await this.members(pod);
    await Promise.all(members.filter((c) => c.id !== pod.infraId).map((c) => this.containers.stop(c.id, timeout)));
    // With the members stopped nothing uses the network: its teardown (netavark, ~200 ms) runs
    // while the infra stops, the infra's namespace file holding the namespace until released below.
    const [infra, network] = await Promise.allSettled([
      pod.infraId ? this.containers.stop(pod.infraId, timeout ?? 10) : undefined,
      this.teardownNetwork(pod),
    ]);
    if (infra.status === 'rejected') throw infra.reason;
    await this.releaseResources(pod, { teardownError: network.status === 'fulfilled' ? network.value : network.reason });
    await this.endpointsChanged?.();
    this.event(pod, 'stop');
    return pod;
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<PodRecord> {
    const pod = await this.get(ref);
    const running = (await this.members(pod)).filter(canKill);
    if (!running.length) throw stateError(`pod ${pod.name} has no running containers`);
    await Promise.all(running.filter((c) => c.id !== pod.infraId).map((c) => this.containers.kill(c.id, signal)));
    if (running.some((c) => c.id === pod.infraId)) await this.containers.kill(pod.infraId, signal);
    this.event(pod, 'kill');
    return pod;
  }

  async remove(ref: string, opts: { force?: boolean; timeout?: number } = {}): Promise<PodRecord> {
    const pod = await this.get(ref);
    const members = await this.members(pod);
    const running = members.filter((c) => !canRemove(c));
    // Only the infra running (its containers have ended) is no reason to refuse, as in Podman.
    if (running.some((c) => !c.spec.isInfra) && !opts.force) {
      throw stateError(`pod ${pod.name} has running containers (${running.filter((c) => !c.spec.isInfra).map((c) => c.name).join(', ')}): stop it first or use --force`);
    }
    if (running.length) await this.stop(pod.id, opts.timeout);
    else await this.stopMonitor(pod);
    await Promise.all(members.filter((c) => c.id !== pod.infraId).map((c) => this.containers.remove(c.id, { force: true, timeout: 0 })));
    if (pod.infraId) await this.containers.remove(pod.infraId, { force: true, timeout: 0, ofPod: true }).catch((e) => { if (!(e instanceof PeapodError && e.code === 'not-found')) throw e; });
    await this.releaseResources(pod);
    if (this.networkMode(pod) !== 'host' && this.networkMode(pod) !== 'none') await this.networks.release(this.networkMode(pod), pod.id);
    await this.store.deletePod(pod.id);
    await this.endpointsChanged?.();
    this.event(pod, 'remove');
    debug(`removed pod ${pod.name}`);
    return pod;
  }
}
