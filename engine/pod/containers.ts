import { promises as fs, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PeapodError, stateError } from '../errors.js';
import type { EngineConfig } from '../config.js';
import type { ContainerRecord, ContainerSpec } from '../types.js';
import { StateStore, newId, bootId } from '../state/store.js';
import type { ImageStore } from '../image/store.js';
import { HostLauncher, type ContainerPaths, type ExecOptions, type Launcher } from '../runtime/launcher.js';
import { containerSpec, type EtcFiles, type PodContext } from '../runtime/spec.js';
import { resolveArgs, resolveKubeArgs } from '../runtime/command.js';
import { resolveContainerUser } from '../runtime/user.js';
import { hostsFile, resolvConf } from '../runtime/hostfiles.js';
import { seccompFor } from '../runtime/seccomp.js';
import { pausePoint } from '../debug.js';
import { debug } from '../log.js';
import { rootlessCgroupRoots, rootlessCgroups, rootlessIds } from '../rootless/spec.js';
import { containerCgroup, sampleCgroup, type CgroupSample } from '../runtime/stats.js';
import { httpGetInNetns } from '../network/pasta.js';
import { startEnv, type Secrets } from '../volume/secrets.js';
import { volumeMountSources } from '../volume/mounts.js';
import { releaseSubPaths } from '../volume/subpath.js';
import { sleep } from '../state/process.js';
import { canKill, canRemove, canRestart, canStop, isBeingRemoved, isRunning, mayHaveExited, neverStarted } from './status.js';
import { SYSTEMD_MANAGER_LABEL, SYSTEMD_UNIT_LABEL, checkObjectName } from '../names.js';
import type { EventLog } from '../events.js';

export type { PodContext } from '../runtime/spec.js';

/** The reason of a container whose run ended with the host (reboot, run root wiped), not by an exit of its own. */
export const HOST_RESTARTED = 'HostRestarted';


/**
 * Container lifecycle: create, start, stop, kill, remove, cleanup after exit, wait. Knows nothing
 * of pods: a pod member is started with the PodContext its pod made (Pods.startContainer).
 */


/** A container's labels with the unit it is made under (a label given by the user stays). */
function systemdLabels(labels: Record<string, string> | undefined, unit: { name: string; manager: string }): Record<string, string> {
  const out = { ...(labels ?? {}) };
  if (out[SYSTEMD_UNIT_LABEL] === undefined) {
    out[SYSTEMD_UNIT_LABEL] = unit.name;
    out[SYSTEMD_MANAGER_LABEL] = unit.manager;
  }
  return out;
}

export class Containers {
  constructor(
    readonly cfg: EngineConfig, readonly store: StateStore, readonly images: ImageStore, private readonly secrets: Secrets,
    readonly launcher: Launcher = new HostLauncher(cfg),
  ) {}

  /** Set by the engine: the journal of container events (create, init, start, kill, died, cleanup, stop, restart, remove). */
  events?: EventLog;

  /** Records a container event as Podman does: its image, name, pod, and labels (the image's under the container's) as attributes. */
  async event(rec: ContainerRecord, status: string, extra: { exitCode?: number } = {}): Promise<void> {
    if (!this.events) return;
    const image = await this.images.get(rec.imageId).catch(() => undefined);
    this.events.write({
      ContainerExitCode: extra.exitCode, ID: rec.id, Image: rec.imageName, Name: rec.name, Status: status, Type: 'container', PodID: rec.spec.pod,
      Attributes: { ...(image?.config.config?.Labels ?? {}), ...(rec.spec.labels ?? {}) },
    });
  }

  paths(id: string): ContainerPaths {
    const run = path.join(this.cfg.runroot, 'containers', id);
    const dir = this.store.containerDir(id);
    return {
      bundle: run,
      exitDir: path.join(this.cfg.runroot, 'exits'),
      persistDir: path.join(run, 'persist'),
      logPath: path.join(dir, 'ctr.log'),
      merged: path.join(run, 'merged'),
      upper: path.join(dir, 'upper'),
      work: path.join(dir, 'work'),
      etc: path.join(run, 'etc'),
    };
  }

  /** Where the container's persistent files (log, upper dir) live. */
  staticDir(id: string): string {
    return this.store.containerDir(id);
  }

  /** A foreground `run --rm` is the one to remove its container: cleanup leaves it while `pid` runs. */
  async setWaiter(id: string, pid: number): Promise<ContainerRecord> {
    return this.store.updateContainer(id, (r) => { r.state.waiterPid = pid; });
  }

  /** Where a container's subPaths are staged (volume/subpath.ts); outside the bundle, which is removed recursively. */
  subPathDir(id: string): string {
    return path.join(this.cfg.runroot, 'subpaths', id);
  }

  exitFile(id: string): string {
    return path.join(this.cfg.runroot, 'exits', id);
  }

  async create(spec: ContainerSpec, opts: { createCommand?: string[] } = {}): Promise<ContainerRecord> {
    if (spec.name) checkObjectName('container', spec.name);
    const image = await this.images.resolve(spec.image);
    const args = spec.kube
      ? resolveKubeArgs(image.config.config ?? {}, spec.kube)
      : resolveArgs(image.config.config ?? {}, { entrypoint: spec.entrypoint, cmd: spec.cmd });
    const id = newId();
    const rec: ContainerRecord = {
      id,
      name: spec.name || randomName(),
      created: new Date().toISOString(),
      imageId: image.id,
      imageName: image.names[0] ?? image.id,
      spec: { ...spec, name: spec.name, ...(this.cfg.systemdUnit ? { labels: systemdLabels(spec.labels, this.cfg.systemdUnit) } : {}) },
      args,
      runtime: this.cfg.runtimeName,
      createCommand: opts.createCommand,
      state: { status: 'created', pid: 0, conmonPid: 0, exitCode: 0, oomKilled: false, restartCount: 0 },
    };
    rec.spec.name = rec.name;
    // Name reservation and the record write happen under the global lock: two concurrent
    // creates can never take the same name, and neither record is lost.
    await this.store.lock.with(async () => {
      const used = await this.store.nameInUse(rec.name);
      if (used) {
        throw new PeapodError('exists', `the container name "${rec.name}" is already in use by ${used === 'pod' ? 'a pod' : 'another container'}: remove it or choose another name`);
      }
      await this.store.saveContainer(rec);
    });
    await this.event(rec, 'create');
    return rec;
  }

  /** Brings a record up to date with reality: an exit file, a dead conmon, or a reboot. */
  async refresh(rec: ContainerRecord): Promise<ContainerRecord> {
    if (!mayHaveExited(rec)) return rec;
    const rebooted = rec.state.bootId !== undefined && rec.state.bootId !== bootId();
    if (!rebooted && !existsSync(this.exitFile(rec.id)) && this.launcher.alive(rec.state.conmonPid)) return rec;
    return this.cleanup(rec.id);
  }

  /** The container a name or ID names, if any, as last recorded (not refreshed). */
  async find(ref: string): Promise<ContainerRecord | undefined> {
    return this.store.getContainer(ref);
  }

  async get(ref: string): Promise<ContainerRecord> {
    return this.refresh(await this.store.mustGetContainer(ref));
  }

  /** Every container as last recorded (not refreshed: no exit is noticed, nothing is cleaned up). */
  async records(): Promise<ContainerRecord[]> {
    return this.store.listContainers();
  }

  async list(): Promise<ContainerRecord[]> {
    const all = await this.store.listContainers();
    return Promise.all(all.map((c) => this.refresh(c).catch(() => c)));
  }

  /** Starts a container; a pod member only with its pod's context (Pods.startContainer makes it). */
  async start(ref: string, podCtx?: PodContext): Promise<ContainerRecord> {
    const rec0 = await this.get(ref);
    if (rec0.spec.pod && !podCtx) throw new PeapodError('internal', `container ${rec0.name} belongs to a pod: it is started through its pod`);
    return this.store.containerLock(rec0.id).with(async () => {
      const rec = await this.store.mustGetContainer(rec0.id);
      if (isRunning(rec)) return rec;
      if (isBeingRemoved(rec)) throw stateError(`container ${rec.name} is being removed`);
      try {
        await this.launch(rec, podCtx);
        if (rec.spec.lifecycle?.postStart) {
          // As the kubelet: a failing postStart hook kills the container.
          const why = await this.runHook(rec, rec.spec.lifecycle.postStart, 30_000);
          if (why) {
            await this.launcher.kill(rec.id, 'SIGKILL', true).catch(() => undefined);
            throw new PeapodError('runtime', `container ${rec.spec.kubeName ?? rec.name}: postStart hook failed: ${why}`);
          }
        }
      } catch (err) {
        await this.teardownRuntime(rec).catch((e) => debug(`teardown after failed start: ${e}`));
        if (isRunning(rec)) { rec.state.status = 'exited'; rec.state.pid = 0; rec.state.conmonPid = 0; }
        rec.state.error = (err as Error).message;
        await this.store.saveContainer(rec);
        throw err;
      }
      return rec;
    });
  }

  /** Facts first (image, user, /etc files, volumes, env, seccomp, host), then the spec (pure), then conmon. */
  private async launch(rec: ContainerRecord, pod?: PodContext): Promise<void> {
    const p = this.paths(rec.id);
    const image = await this.images.resolve(rec.imageId);
    await fs.rm(this.exitFile(rec.id), { force: true });
    await this.launcher.mountRootfs(this.images.layerPaths(image), p);
    pausePoint(rec.spec.isInfra ? 'infra-rootfs' : 'rootfs');
    const imgCfg = image.config.config ?? {};
    const hostname = rec.spec.hostname ?? rec.id.slice(0, 12);
    const cgroupPath = path.posix.join(pod?.cgroupParent ?? this.cfg.cgroupParent, rec.id);
    const spec = containerSpec({
      id: rec.id,
      name: rec.name,
      spec: rec.spec,
      args: rec.args,
      image: imgCfg,
      rootfs: p.merged,
      user: await resolveContainerUser(p.merged, rec.spec, imgCfg.User),
      pod,
      hostname,
      etcFiles: pod?.etcFiles ?? (await this.writeEtcFiles(p, hostname)),
      volumeMounts: await volumeMountSources(rec, pod, this.subPathDir(rec.id), (src, target) => this.launcher.bindHeld(src, target)),
      startEnv: withServiceEnv(await startEnv(this.secrets, rec, pod?.podIP), pod?.serviceEnv),
      seccomp: seccompFor(rec.spec.security ?? {}, this.cfg.root),
      cgroupPath,
      host: this.launcher.hostFacts(),
      rootless: this.cfg.rootlessUid !== undefined ? { cgroups: rootlessCgroups(), ids: rootlessIds(this.cfg) } : undefined,
    });
    rec.state.cgroupPath = cgroupPath;

    const stopMarker = path.join(this.cfg.runroot, 'stopping', `${rec.id}-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(path.dirname(stopMarker), { recursive: true });
    const { pid, conmonPid } = await this.launcher.create({
      id: rec.id,
      name: rec.name,
      paths: p,
      spec,
      exitCommand: exitCommand(stopMarker, [...this.cfg.selfCommand, '--root', this.cfg.root, '--runroot', this.cfg.runroot, '--runtime', this.cfg.runtimePath, 'container', 'cleanup', rec.id]),
    });
    pausePoint(rec.spec.isInfra ? 'infra-created' : 'created');
    await this.event(rec, 'init');
    rec.state = {
      ...rec.state, status: 'running', pid, conmonPid, startedAt: new Date().toISOString(), finishedAt: undefined, exitCode: 0, error: undefined,
      oomKilled: false, bootId: bootId(), stopRequested: false, podIP: pod?.podIP, stopMarker,
      ready: undefined, started: undefined, probeMessage: undefined, killReason: undefined,
    };
    await this.store.saveContainer(rec);
    await this.launcher.start(rec.id);
    await this.event(rec, 'start');
    pausePoint(rec.spec.isInfra ? 'infra-started' : 'started');
  }

  /** A standalone container's own /etc/hosts, /etc/hostname and /etc/resolv.conf. */
  private async writeEtcFiles(p: ContainerPaths, hostname: string): Promise<EtcFiles> {
    const files = { hosts: path.join(p.etc, 'hosts'), hostname: path.join(p.etc, 'hostname'), resolvConf: path.join(p.etc, 'resolv.conf') };
    await this.launcher.writeFiles([
      { path: files.hosts, content: hostsFile({ hostname }) },
      { path: files.hostname, content: `${hostname}\n` },
      { path: files.resolvConf, content: resolvConf(readHostResolvConf(), {}) },
    ]);
    return files;
  }

  /** Runs a lifecycle handler; undefined when it succeeded, else why it failed. */
  private async runHook(rec: ContainerRecord, h: NonNullable<NonNullable<ContainerSpec['lifecycle']>['preStop']>, timeoutMs: number): Promise<string | undefined> {
    if ('exec' in h) {
      const code = await this.launcher.execQuiet(rec.id, h.exec, timeoutMs);
      return code === 0 ? undefined : code < 0 ? `timed out after ${timeoutMs} ms` : `exec ${JSON.stringify(h.exec)} exited with code ${code}`;
    }
    if ('sleep' in h) {
      await sleep(Math.min(h.sleep * 1000, timeoutMs));
      return undefined;
    }
    const g = h.httpGet;
    const host = g.host ?? rec.state.podIP ?? '127.0.0.1';
    const url = `${(g.scheme ?? 'HTTP').toLowerCase()}://${host}:${g.port}${g.path ?? '/'}`;
    const pod = this.cfg.rootlessUid !== undefined && !g.host && rec.spec.pod ? await this.store.getPod(rec.spec.pod) : undefined;
    if (pod && !pod.spec.hostNetwork) return httpGetInNetns(pod.netnsPath, url, timeoutMs); // rootless: see pasta.ts
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      return r.status >= 200 && r.status < 400 ? undefined : `GET ${url}: HTTP ${r.status}`;
    } catch (err) {
      return `GET ${url}: ${(err as Error).message}`;
    }
  }

  /** Sends a signal to a running container. */
  async kill(ref: string, signal = 'SIGKILL'): Promise<ContainerRecord> {
    const rec = await this.get(ref);
    if (!canKill(rec)) throw stateError(`can only kill running containers. ${rec.id} is in state ${rec.state.status}: container state improper`);
    await this.launcher.kill(rec.id, normalizeSignal(signal));
    await this.event(rec, 'kill');
    return rec;
  }

  /**
   * The running container's figures now (cgroup files, its network namespace's counters); undefined
   * when it is not running. The cgroup is where peapod runs it, checked against the record.
   */
  stats(rec: ContainerRecord): CgroupSample | undefined {
    if (!isRunning(rec)) return undefined;
    const cgroup = containerCgroup(this.cfg.cgroupParent, rec.id, rec.spec.pod, rec.state.cgroupPath, rec.name);
    let mounts: Map<string, string> | undefined;
    if (this.cfg.rootlessUid !== undefined) {
      const [root] = rootlessCgroupRoots();
      if (!root) throw new PeapodError('prerequisite', `stats of ${rec.name}: rootless without a delegated cgroup v2 the container has no cgroup of its own to read (${rootlessCgroups().reason})`);
      // the containers' cgroups are made under the delegated one: read from there
      mounts = new Map([['', root]]);
    }
    return sampleCgroup(cgroup, mounts);
  }

  /** Runs a command in a running container attached to this process's stdio; its exit code. */
  async exec(id: string, opts: ExecOptions): Promise<number> {
    return this.launcher.exec(id, opts);
  }

  /** Stops a running container: its stop signal, `timeout` seconds of grace, then SIGKILL. */
  async stop(ref: string, timeout?: number): Promise<ContainerRecord> {
    let rec = await this.get(ref);
    // A stopped container stays stopped: its restart policy (and a pending restart) must not revive it.
    if (!rec.state.stopRequested) rec = await this.store.updateContainer(rec.id, (r) => { r.state.stopRequested = true; });
    if (!canStop(rec)) return rec;
    const conmonPid = rec.state.conmonPid;
    // This stop records the exit and cleans up itself (below): conmon's exit command, seeing the
    // marker, then ends at once instead of starting the CLI for the same work (and, stopRequested
    // being set, there is no restart to supervise). Exits that stop() did not cause (a crash, a
    // probe's kill) find no marker.
    if (rec.state.stopMarker) await fs.writeFile(rec.state.stopMarker, '').catch((e) => debug(`stop marker: ${e}`));
    await this.terminate(rec, timeout);
    const done = await this.cleanup(rec.id);
    await this.event(done, 'stop');
    debug(`container ${rec.name} stopped; waiting for conmon ${conmonPid} to finish its exit command`);
    // conmon exits right after starting its exit command: once it is gone, stop leaves no monitor.
    await this.launcher.waitGone(conmonPid, 5000);
    debug(`conmon ${conmonPid} of ${rec.name} is gone`);
    return done;
  }

  /**
   * Ends a failing container the kubelet's way (a liveness or startup probe gave up): the reason is
   * recorded, then preStop, stop signal, grace, SIGKILL. Nothing is marked as stopped: conmon's exit
   * command records the exit and the restart policy decides, as after a crash. False when the
   * container is no longer the run the caller saw.
   */
  async probeKill(id: string, startedAt: string, reason: string, grace?: number): Promise<boolean> {
    let current = true;
    const rec = await this.store.updateContainer(id, (r) => {
      current = isRunning(r) && r.state.startedAt === startedAt && !r.state.stopRequested;
      if (current) { r.state.killReason = reason; r.state.ready = false; }
    });
    if (!current) return false;
    await this.terminate(rec, grace);
    return true;
  }

  /** preStop, the stop signal, `timeout` seconds of grace (less what preStop took), then SIGKILL; waits for the exit. */
  private async terminate(rec: ContainerRecord, timeout?: number): Promise<void> {
    let grace = timeout ?? rec.spec.stopTimeout ?? 10;
    // No grace at all: SIGKILL at once, as Podman's stop -t 0 does (the stop signal would be
    // followed by SIGKILL before any handler could act; one runtime process less per container).
    const signalFirst = grace > 0 || !!rec.spec.lifecycle?.preStop;
    if (rec.spec.lifecycle?.preStop) {
      // preStop runs before the stop signal and counts against the grace period.
      const t0 = Date.now();
      const why = await this.runHook(rec, rec.spec.lifecycle.preStop, Math.max(1, grace) * 1000);
      if (why) debug(`preStop hook of ${rec.name}: ${why}`);
      grace = Math.max(0, grace - (Date.now() - t0) / 1000);
    }
    let exited = false;
    if (signalFirst) {
      const image = await this.images.get(rec.imageId);
      const signal = normalizeSignal(rec.spec.stopSignal ?? image?.config.config?.StopSignal ?? 'SIGTERM');
      try {
        await this.launcher.kill(rec.id, signal);
      } catch (err) {
        debug(`stop signal: ${(err as Error).message}`);
      }
      exited = await this.waitExitFile(rec.id, grace * 1000);
    }
    if (!exited) {
      try {
        await this.launcher.kill(rec.id, 'SIGKILL', true);
      } catch (err) {
        debug(`kill: ${(err as Error).message}`);
      }
      await this.waitExitFile(rec.id, 10_000);
    }
  }

  /** Polls for conmon's exit file; true once it exists. */
  async waitExitFile(id: string, timeoutMs: number): Promise<boolean> {
    const file = this.exitFile(id);
    const deadline = Date.now() + timeoutMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
      if (existsSync(file)) return true;
      const rec = await this.store.getContainer(id);
      if (!rec || !isRunning(rec)) return true;
      if (!this.launcher.alive(rec.state.conmonPid)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(delay);
    }
  }

  /**
   * Records the exit and releases everything the running container held: runtime state, rootfs
   * mount, cgroups, bundle. Idempotent; run by conmon's exit command and by any command that
   * notices an exit first.
   */
  async cleanup(id: string): Promise<ContainerRecord> {
    const lock = this.store.containerLock(id);
    let exited = false;
    const rec = await lock.with(async () => {
      const r = await this.store.getContainer(id);
      if (!r) throw new PeapodError('not-found', `no container with ID "${id}" found: no such container`);
      if (mayHaveExited(r)) {
        exited = true;
        const exit = readExitFile(this.exitFile(id));
        // No exit recorded and the run's state gone with the host (another boot, or the run root
        // (tmpfs) wiped): the host restarted under the container. It is shown as exited for that
        // reason, never as running; no restart policy waits on it (nothing supervises it any more).
        const hostRestarted = exit === undefined && (r.state.bootId !== bootId() || !existsSync(this.paths(id).bundle));
        r.state.status = 'exited';
        r.state.exitCode = exit ?? (hostRestarted ? 255 : 137);
        r.state.oomKilled = existsSync(path.join(this.paths(id).persistDir, 'oom'));
        r.state.finishedAt = new Date().toISOString();
        r.state.pid = 0;
        r.state.conmonPid = 0;
        r.state.ready = false;
        r.state.probeMessage = undefined;
        r.state.lastTermination = {
          reason: hostRestarted ? HOST_RESTARTED : r.state.oomKilled ? 'OOMKilled' : r.state.exitCode === 0 ? 'Completed' : 'Error',
          exitCode: r.state.exitCode,
          finishedAt: r.state.finishedAt,
          message: hostRestarted ? 'host restarted: the container\'s runtime state is gone (another boot, or the run root was wiped)' : r.state.killReason,
        };
        r.state.killReason = undefined;
        await this.store.saveContainer(r);
        await this.event(r, 'died', { exitCode: r.state.exitCode });
      }
      await this.teardownRuntime(r);
      if (exited) await this.event(r, 'cleanup');
      return r;
    });
    if (rec.spec.autoRemove && !(rec.state.waiterPid !== undefined && this.launcher.alive(rec.state.waiterPid))) {
      return (await this.remove(id, { force: true }).catch(() => undefined)) ?? rec;
    }
    return rec;
  }

  /**
   * The restart policy's decision after an exit, the kubelet's way: Always restarts, OnFailure
   * restarts after a non-zero exit, Never does not; back-off 10 s doubling to 5 min, reset after
   * 10 minutes of running; at most spec.restartLimit restarts. Returns the delay, or undefined.
   */
  restartDelay(rec: ContainerRecord): number | undefined {
    const policy = rec.spec.restartPolicy;
    if (rec.spec.isInfra || rec.spec.init === 'init' || rec.state.stopRequested || !canRestart(rec)) return undefined;
    if (rec.state.lastTermination?.reason === HOST_RESTARTED) return undefined;
    // A container a liveness/startup probe ended restarts under OnFailure whatever its exit code (the kubelet's rule).
    const probeKilled = /^(Liveness|Startup) probe failed/.test(rec.state.lastTermination?.message ?? '');
    if (!(policy === 'Always' || (policy === 'OnFailure' && (rec.state.exitCode !== 0 || probeKilled)))) return undefined;
    if (rec.spec.restartLimit !== undefined && rec.state.restartCount >= rec.spec.restartLimit) return undefined;
    const ran = Date.parse(rec.state.finishedAt ?? '') - Date.parse(rec.state.startedAt ?? '');
    const level = ran > 600_000 ? 0 : (rec.state.backoffLevel ?? 0);
    const base = Number(process.env.PEAPOD_RESTART_BACKOFF_MS) || 10_000;
    return Math.min(base * 2 ** level, Math.max(base, 300_000));
  }

  /**
   * The reason kubectl would show for a container that is not running: CrashLoopBackOff while
   * its restart policy waits out the back-off, else how its last run ended (Completed, Error,
   * OOMKilled); '' while it runs or before it ever ran.
   */
  reason(rec: ContainerRecord): string {
    if (isRunning(rec)) return '';
    if (neverStarted(rec)) return rec.state.error ? 'CreateContainerError' : '';
    if (this.restartDelay(rec) !== undefined) return 'CrashLoopBackOff';
    return rec.state.lastTermination?.reason ?? (rec.state.oomKilled ? 'OOMKilled' : rec.state.exitCode === 0 ? 'Completed' : 'Error');
  }

  /**
   * The restart policy's wait after an exit (run by conmon's exit command after cleanup): waits the
   * back-off; true when the container is to start again (counted), false when it was stopped or
   * removed meanwhile or is not to restart. Its pod starts it (Pods.superviseRestart).
   */
  async awaitRestart(id: string): Promise<boolean> {
    const first = await this.store.getContainer(id);
    if (!first) return false;
    const delay = this.restartDelay(first);
    if (delay === undefined) return false;
    const ran = Date.parse(first.state.finishedAt ?? '') - Date.parse(first.state.startedAt ?? '');
    const level = ran > 600_000 ? 0 : (first.state.backoffLevel ?? 0);
    debug(`restarting ${first.name} in ${delay} ms (restart policy ${first.spec.restartPolicy})`);
    const until = Date.now() + delay;
    while (Date.now() < until) {
      await sleep(Math.min(200, until - Date.now()));
      const now = await this.store.getContainer(id);
      if (!now || !canRestart(now) || now.state.stopRequested) return false;
    }
    const counted = await this.store.updateContainer(id, (r) => {
      r.state.restartCount += 1;
      r.state.backoffLevel = level + 1;
    });
    await this.event(counted, 'restart');
    return true;
  }

  private async teardownRuntime(rec: ContainerRecord): Promise<void> {
    await this.launcher.release(rec.id, this.paths(rec.id), rec.state.cgroupPath);
    await releaseSubPaths(this.subPathDir(rec.id));
  }

  /** Removes a container; a running one only with force (it is stopped first). */
  /** `ofPod`: the pod itself is being removed, the only way its infra container goes (as in Podman). */
  async remove(ref: string, opts: { force?: boolean; timeout?: number; ofPod?: boolean } = {}): Promise<ContainerRecord> {
    let rec = await this.get(ref);
    if (rec.spec.isInfra && rec.spec.pod && !opts.ofPod && await this.store.getPod(rec.spec.pod)) {
      throw stateError(`container ${rec.id} is the infra container of pod ${rec.spec.pod} and cannot be removed without removing the pod`);
    }
    if (!canRemove(rec)) {
      if (!opts.force) throw stateError(`cannot remove container ${rec.id} as it is running - running or paused containers cannot be removed without force: container state improper`);
      rec = await this.stop(rec.id, opts.timeout ?? 10);
    }
    await this.store.containerLock(rec.id).with(async () => {
      await this.teardownRuntime(rec);
      await this.store.deleteContainer(rec.id);
    });
    await this.event(rec, 'remove');
    return rec;
  }

  /** Waits until the container is no longer running; resolves with its exit code. */
  async wait(ref: string): Promise<number> {
    const rec = await this.get(ref);
    if (isRunning(rec)) {
      await this.waitExitFile(rec.id, Number.MAX_SAFE_INTEGER);
      const code = readExitFile(this.exitFile(rec.id));
      const after = await this.store.getContainer(rec.id);
      if (!after) return code ?? 0;
      return (await this.refresh(after)).state.exitCode;
    }
    return rec.state.exitCode;
  }
}

/**
 * conmon's exit command: a shell that ends at once when stop() left the marker (removing it), and
 * otherwise runs the CLI's `container cleanup` (crash, kill from outside, end of the process: the
 * exit is recorded and the restart policy supervised).
 */
export function exitCommand(marker: string, cleanup: string[]): string[] {
  return ['/bin/sh', '-c', 'if [ -e "$1" ]; then rm -f "$1"; exit 0; fi; shift; exec "$@"', 'peapod-exit', marker, ...cleanup];
}

export function readHostResolvConf(): string {
  try { return readFileSync('/etc/resolv.conf', 'utf8'); } catch { return ''; }
}

export function readExitFile(file: string): number | undefined {
  try {
    const t = readFileSync(file, 'utf8').trim();
    return t === '' ? undefined : Number(t);
  } catch {
    return undefined;
  }
}

export function normalizeSignal(sig: string | number): string {
  const s = String(sig).toUpperCase();
  if (/^\d+$/.test(s)) return s;
  return s.startsWith('SIG') ? s : `SIG${s}`;
}

const ADJ = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'quirky', 'sharp', 'witty', 'zen'];
const NOUN = ['pea', 'pod', 'bean', 'lentil', 'sprout', 'vine', 'seed', 'shoot', 'leaf', 'root', 'stem', 'tendril'];
function randomName(): string {
  const pick = (a: string[]) => a[Math.floor(Math.random() * a.length)];
  return `${pick(ADJ)}_${pick(NOUN)}_${Math.floor(Math.random() * 10000)}`;
}

/** Service variables come first: the container's own env overrides them, as the kubelet's. */
function withServiceEnv(env: { before: string[]; after: string[] }, serviceEnv?: string[]): { before: string[]; after: string[] } {
  return serviceEnv?.length ? { before: [...serviceEnv, ...env.before], after: env.after } : env;
}
