import { promises as fs, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PeapodError, stateError } from '../errors.js';
import type { EngineConfig } from '../config.js';
import type { ContainerRecord, ContainerSpec, Mount } from '../types.js';
import { StateStore, newId, bootId } from '../state/store.js';
import type { ImageStore } from '../image/store.js';
import { OciRuntime, type BundlePaths } from '../runtime/oci.js';
import { buildOciSpec, type SpecInput } from '../runtime/spec.js';
import { resolveArgs, resolveKubeArgs } from '../runtime/command.js';
import { resolveUser, mergeEnv, resolveInRoot } from '../runtime/user.js';
import { hostsFile, resolvConf } from '../runtime/hostfiles.js';
import { mountOverlay, unmount, removeCgroup, hostNofileHard } from '../runtime/mounts.js';
import { boundingSetFromProcStatus, parseProcLimits, mergeCapabilities, DEFAULT_CAPABILITIES } from '../runtime/spec.js';
import { toOciSeccomp, readProfile, RUNTIME_DEFAULT_PROFILE } from '../runtime/seccomp.js';
import { writeFileAtomic } from '../state/atomic.js';
import { debug } from '../log.js';
import { waitForExit } from '../spawn.js';
import { adaptSpecForRootless, rootlessCgroups, rootlessIds } from '../rootless/spec.js';
import { httpGetInNetns } from '../network/pasta.js';

/** Extra namespaces and mounts a container gets from its pod (filled in by the pod layer). */
export interface PodContext {
  namespaces: SpecInput['namespaces'];
  hostname?: string;            // set only for the container that creates the UTS namespace
  mounts?: Mount[];
  cgroupParent: string;         // e.g. /peapod/<podid>
  /** the pod's address, when it has one on a bridge network */
  podIP?: string;
  etcFiles?: { hosts: string; hostname: string; resolvConf: string };
  /** host paths of the pod's volumes by name (PodSpec.volumes) */
  volumes?: Record<string, string>;
  /** env resolved when the container starts (secrets, the pod's address): never stored. envBefore
   * (envFrom secrets) yields to the container's own env; extraEnv (secretKeyRef, status.podIP) does not. */
  envBefore?: string[];
  extraEnv?: string[];
  /** volumes mounted read-only whatever the mount says (persistentVolumeClaim readOnly) */
  readOnlyVolumes?: string[];
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Container lifecycle: create, start, stop, kill, remove, cleanup after exit, wait. */
export class Containers {
  readonly runtime: OciRuntime;

  private podContext?: (rec: ContainerRecord) => Promise<PodContext>;

  constructor(readonly cfg: EngineConfig, readonly store: StateStore, readonly images: ImageStore) {
    this.runtime = new OciRuntime(cfg);
  }

  /** The pod layer supplies namespaces and mounts of pod members (containers know nothing of pods). */
  setPodContextProvider(fn: (rec: ContainerRecord) => Promise<PodContext>): void {
    this.podContext = fn;
  }

  paths(id: string): BundlePaths & { merged: string; upper: string; work: string; etc: string } {
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

  exitFile(id: string): string {
    return path.join(this.cfg.runroot, 'exits', id);
  }

  async create(spec: ContainerSpec, opts: { createCommand?: string[] } = {}): Promise<ContainerRecord> {
    if (spec.name && !NAME_RE.test(spec.name)) {
      throw new PeapodError('invalid', `container name "${spec.name}": names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    }
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
      spec: { ...spec, name: spec.name },
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
    return rec;
  }

  /** Brings a record up to date with reality: an exit file, a dead conmon, or a reboot. */
  async refresh(rec: ContainerRecord): Promise<ContainerRecord> {
    if (rec.state.status !== 'running') return rec;
    const rebooted = rec.state.bootId !== undefined && rec.state.bootId !== bootId();
    if (!rebooted && !existsSync(this.exitFile(rec.id)) && processAlive(rec.state.conmonPid)) return rec;
    return this.cleanup(rec.id);
  }

  async get(ref: string): Promise<ContainerRecord> {
    return this.refresh(await this.store.mustGetContainer(ref));
  }

  async list(): Promise<ContainerRecord[]> {
    const all = await this.store.listContainers();
    return Promise.all(all.map((c) => this.refresh(c).catch(() => c)));
  }

  async start(ref: string, podCtx?: PodContext): Promise<ContainerRecord> {
    const rec0 = await this.get(ref);
    return this.store.containerLock(rec0.id).with(async () => {
      const rec = await this.store.mustGetContainer(rec0.id);
      if (rec.state.status === 'running') return rec;
      if (rec.state.status === 'removing') throw stateError(`container ${rec.name} is being removed`);
      try {
        if (!podCtx && rec.spec.pod) {
          if (!this.podContext) throw new PeapodError('internal', `container ${rec.name} belongs to a pod but no pod layer is loaded`);
          podCtx = await this.podContext(rec);
        }
        await this.launch(rec, podCtx);
        if (rec.spec.lifecycle?.postStart) {
          // As the kubelet: a failing postStart hook kills the container.
          const why = await this.runHook(rec, rec.spec.lifecycle.postStart, 30_000);
          if (why) {
            await this.runtime.kill(rec.id, 'SIGKILL', true).catch(() => undefined);
            throw new PeapodError('runtime', `container ${rec.spec.kubeName ?? rec.name}: postStart hook failed: ${why}`);
          }
        }
      } catch (err) {
        await this.teardownRuntime(rec).catch((e) => debug(`teardown after failed start: ${e}`));
        const reached: string = rec.state.status;
        if (reached === 'running') { rec.state.status = 'exited'; rec.state.pid = 0; rec.state.conmonPid = 0; }
        rec.state.error = (err as Error).message;
        await this.store.saveContainer(rec);
        throw err;
      }
      return rec;
    });
  }

  private async launch(rec: ContainerRecord, podCtx?: PodContext): Promise<void> {
    const p = this.paths(rec.id);
    const image = await this.images.resolve(rec.imageId);
    await fs.rm(this.exitFile(rec.id), { force: true });
    await fs.mkdir(p.bundle, { recursive: true });
    await mountOverlay(this.images.layerPaths(image), p.upper, p.work, p.merged);

    const imgCfg = image.config.config ?? {};
    const sec = rec.spec.security ?? {};
    // runAsUser/runAsGroup beat the image's USER; a uid without runAsGroup takes its passwd group.
    const userSpec = sec.runAsUser !== undefined ? `${sec.runAsUser}${sec.runAsGroup !== undefined ? `:${sec.runAsGroup}` : ''}` : rec.spec.user ?? imgCfg.User;
    const user = await resolveUser(p.merged, userSpec);
    if (sec.runAsUser === undefined && sec.runAsGroup !== undefined) user.gid = sec.runAsGroup;
    for (const g of [...(sec.supplementalGroups ?? []), ...(sec.fsGroup !== undefined ? [sec.fsGroup] : [])]) {
      if (!user.additionalGids.includes(g)) user.additionalGids.push(g);
    }
    if (sec.runAsNonRoot && user.uid === 0) {
      throw new PeapodError('invalid', `container ${rec.spec.kubeName ?? rec.name} has runAsNonRoot and image will run as root: set runAsUser, or a USER in the image`);
    }
    const hostname = podCtx?.hostname ?? rec.spec.hostname ?? rec.id.slice(0, 12);
    const env = mergeEnv(imgCfg.Env ?? [], [...(podCtx?.envBefore ?? []), ...(rec.spec.env ?? []), ...(podCtx?.extraEnv ?? [])]);

    const mounts: Mount[] = [];
    if (podCtx?.etcFiles) {
      mounts.push(bind(podCtx.etcFiles.hosts, '/etc/hosts'), bind(podCtx.etcFiles.hostname, '/etc/hostname'), bind(podCtx.etcFiles.resolvConf, '/etc/resolv.conf'));
    } else {
      await fs.mkdir(p.etc, { recursive: true });
      const hosts = path.join(p.etc, 'hosts');
      const hn = path.join(p.etc, 'hostname');
      const rc = path.join(p.etc, 'resolv.conf');
      await writeFileAtomic(hosts, hostsFile({ hostname }));
      await writeFileAtomic(hn, `${hostname}\n`);
      await writeFileAtomic(rc, resolvConf(readHostResolvConf(), {}));
      mounts.push(bind(hosts, '/etc/hosts'), bind(hn, '/etc/hostname'), bind(rc, '/etc/resolv.conf'));
    }
    for (const v of rec.spec.volumes ?? []) {
      mounts.push({ destination: v.destination, type: 'bind', source: v.source, options: ['rbind', v.readOnly ? 'ro' : 'rw'] });
    }
    mounts.push(...(podCtx?.mounts ?? []));
    for (const m of rec.spec.volumeMounts ?? []) {
      const base = podCtx?.volumes?.[m.name];
      if (!base) throw new PeapodError('invalid', `container ${rec.name}: volumeMount "${m.name}" names no volume of its pod`);
      let source = base;
      if (m.subPath) {
        // Resolved inside the volume as if it were "/": a symlink in the volume never leads out of it.
        source = await resolveInRoot(base, m.subPath);
        if (!existsSync(source)) await fs.mkdir(source, { recursive: true, mode: 0o755 });
      }
      const ro = m.readOnly || podCtx?.readOnlyVolumes?.includes(m.name);
      mounts.push({ destination: m.mountPath, type: 'bind', source, options: ['rbind', ro ? 'ro' : 'rw'] });
    }

    const cgroupPath = path.posix.join(podCtx?.cgroupParent ?? this.cfg.cgroupParent, rec.id);
    rec.state.cgroupPath = cgroupPath;
    const spec = buildOciSpec({
      rootfs: p.merged,
      args: rec.args,
      env,
      cwd: rec.spec.workingDir || imgCfg.WorkingDir || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids, home: user.home || '/' },
      hostname: podCtx ? podCtx.hostname : hostname,
      envHostname: podCtx?.etcFiles ? readHostname(podCtx.etcFiles.hostname) : hostname,
      namespaces: podCtx?.namespaces ?? [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      mounts,
      cgroupsPath: cgroupPath,
      ...hostFacts(),
      resources: rec.spec.isInfra ? { pidsLimit: 0 } : cgroupResources(rec.spec.resources),
      readonlyRootfs: sec.readOnlyRootFilesystem,
      privileged: sec.privileged,
      capabilities: sec.capAdd || sec.capDrop ? { add: sec.capAdd, drop: sec.capDrop } : undefined,
      noNewPrivileges: sec.allowPrivilegeEscalation === false,
      sysctl: sec.sysctls,
      unmaskedProc: sec.procMount === 'Unmasked',
      seccomp: await this.seccompFor(sec),
      annotations: { 'io.peapod.container.name': rec.name },
    });
    if (this.cfg.rootlessUid !== undefined) adaptSpecForRootless(spec, rootlessCgroups(), rootlessIds(this.cfg));
    await writeFileAtomic(path.join(p.bundle, 'config.json'), JSON.stringify(spec));

    const stopMarker = path.join(this.cfg.runroot, 'stopping', `${rec.id}-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(path.dirname(stopMarker), { recursive: true });
    const { pid, conmonPid } = await this.runtime.createWithConmon({
      id: rec.id,
      name: rec.name,
      paths: p,
      exitCommand: exitCommand(stopMarker, [...this.cfg.selfCommand, '--root', this.cfg.root, '--runroot', this.cfg.runroot, '--runtime', this.cfg.runtimePath, 'container', 'cleanup', rec.id]),
    });
    rec.state = {
      ...rec.state, status: 'running', pid, conmonPid, startedAt: new Date().toISOString(), finishedAt: undefined, exitCode: 0, error: undefined,
      oomKilled: false, bootId: bootId(), stopRequested: false, podIP: podCtx?.podIP, stopMarker,
      ready: undefined, started: undefined, probeMessage: undefined, killReason: undefined,
    };
    await this.store.saveContainer(rec);
    await this.runtime.start(rec.id);
  }

  /** Runs a lifecycle handler; undefined when it succeeded, else why it failed. */
  private async runHook(rec: ContainerRecord, h: NonNullable<NonNullable<ContainerSpec['lifecycle']>['preStop']>, timeoutMs: number): Promise<string | undefined> {
    if ('exec' in h) {
      const code = await this.runtime.execQuiet(rec.id, h.exec, timeoutMs);
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

  /** linux.seccomp for a securityContext's seccompProfile (none: no filter, as Kubernetes' Unconfined default). */
  private async seccompFor(sec: NonNullable<ContainerSpec['security']>): Promise<unknown> {
    const s = sec.seccomp;
    if (!s || s.type === 'Unconfined' || sec.privileged) return undefined;
    const caps = mergeCapabilities(DEFAULT_CAPABILITIES, sec.capAdd, sec.capDrop);
    if (s.type === 'RuntimeDefault') {
      return toOciSeccomp(readProfile(RUNTIME_DEFAULT_PROFILE, 'apt-get install golang-github-containers-common'), caps);
    }
    const name = s.localhostProfile ?? '';
    if (!name || name.split('/').includes('..') || path.isAbsolute(name)) throw new PeapodError('invalid', `seccomp localhostProfile "${name}" must be a relative path without ".."`);
    return toOciSeccomp(readProfile(path.join(this.cfg.root, 'seccomp', name), `put the profile under ${path.join(this.cfg.root, 'seccomp')}`), caps);
  }

  /** Sends a signal to a running container. */
  async kill(ref: string, signal = 'SIGKILL'): Promise<ContainerRecord> {
    const rec = await this.get(ref);
    if (rec.state.status !== 'running') throw stateError(`can only kill running containers. ${rec.id} is in state ${rec.state.status}: container state improper`);
    await this.runtime.kill(rec.id, normalizeSignal(signal));
    return rec;
  }

  /** Stops a running container: its stop signal, `timeout` seconds of grace, then SIGKILL. */
  async stop(ref: string, timeout?: number): Promise<ContainerRecord> {
    let rec = await this.get(ref);
    // A stopped container stays stopped: its restart policy (and a pending restart) must not revive it.
    if (!rec.state.stopRequested) rec = await this.store.updateContainer(rec.id, (r) => { r.state.stopRequested = true; });
    if (rec.state.status !== 'running') return rec;
    const conmonPid = rec.state.conmonPid;
    // This stop records the exit and cleans up itself (below): conmon's exit command, seeing the
    // marker, then ends at once instead of starting the CLI for the same work (and, stopRequested
    // being set, there is no restart to supervise). Exits that stop() did not cause (a crash, a
    // probe's kill) find no marker.
    if (rec.state.stopMarker) await fs.writeFile(rec.state.stopMarker, '').catch((e) => debug(`stop marker: ${e}`));
    await this.terminate(rec, timeout);
    const done = await this.cleanup(rec.id);
    debug(`container ${rec.name} stopped; waiting for conmon ${conmonPid} to finish its exit command`);
    // conmon exits right after starting its exit command: once it is gone, stop leaves no monitor.
    await waitGone(conmonPid, 5000);
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
      current = r.state.status === 'running' && r.state.startedAt === startedAt && !r.state.stopRequested;
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
        await this.runtime.kill(rec.id, signal);
      } catch (err) {
        debug(`stop signal: ${(err as Error).message}`);
      }
      exited = await this.waitExitFile(rec.id, grace * 1000);
    }
    if (!exited) {
      try {
        await this.runtime.kill(rec.id, 'SIGKILL', true);
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
      if (!rec || rec.state.status !== 'running') return true;
      if (!processAlive(rec.state.conmonPid)) return true;
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
    const rec = await lock.with(async () => {
      const r = await this.store.getContainer(id);
      if (!r) throw new PeapodError('not-found', `no container with ID "${id}" found: no such container`);
      if (r.state.status === 'running') {
        const exit = readExitFile(this.exitFile(id));
        r.state.status = 'exited';
        r.state.exitCode = exit ?? (r.state.bootId !== bootId() ? 255 : 137);
        r.state.oomKilled = existsSync(path.join(this.paths(id).persistDir, 'oom'));
        r.state.finishedAt = new Date().toISOString();
        r.state.pid = 0;
        r.state.conmonPid = 0;
        r.state.ready = false;
        r.state.probeMessage = undefined;
        r.state.lastTermination = {
          reason: r.state.oomKilled ? 'OOMKilled' : r.state.exitCode === 0 ? 'Completed' : 'Error',
          exitCode: r.state.exitCode,
          finishedAt: r.state.finishedAt,
          message: r.state.killReason,
        };
        r.state.killReason = undefined;
        await this.store.saveContainer(r);
      }
      await this.teardownRuntime(r);
      return r;
    });
    if (rec.spec.autoRemove && !waiterAlive(rec)) {
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
    if (!rec.spec.pod || rec.spec.isInfra || rec.spec.init === 'init' || rec.state.stopRequested || rec.state.status !== 'exited') return undefined;
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
    if (rec.state.status === 'running') return '';
    if (rec.state.status === 'created') return rec.state.error ? 'CreateContainerError' : '';
    if (this.restartDelay(rec) !== undefined) return 'CrashLoopBackOff';
    return rec.state.lastTermination?.reason ?? (rec.state.oomKilled ? 'OOMKilled' : rec.state.exitCode === 0 ? 'Completed' : 'Error');
  }

  /**
   * Run by conmon's exit command after cleanup: waits the back-off and starts the container again,
   * unless it was stopped or removed meanwhile. Daemonless: the exit command is the supervisor, and
   * it ends once the container runs again (its new conmon takes over).
   */
  async superviseRestart(id: string): Promise<void> {
    const first = await this.store.getContainer(id);
    if (!first) return;
    const delay = this.restartDelay(first);
    if (delay === undefined) return;
    const ran = Date.parse(first.state.finishedAt ?? '') - Date.parse(first.state.startedAt ?? '');
    const level = ran > 600_000 ? 0 : (first.state.backoffLevel ?? 0);
    debug(`restarting ${first.name} in ${delay} ms (restart policy ${first.spec.restartPolicy})`);
    const until = Date.now() + delay;
    while (Date.now() < until) {
      await sleep(Math.min(200, until - Date.now()));
      const now = await this.store.getContainer(id);
      if (!now || now.state.status !== 'exited' || now.state.stopRequested) return;
    }
    await this.store.updateContainer(id, (r) => {
      r.state.restartCount += 1;
      r.state.backoffLevel = level + 1;
    });
    await this.start(id).catch((err) => debug(`restart of ${first.name} failed: ${(err as Error).message}`));
  }

  private async teardownRuntime(rec: ContainerRecord): Promise<void> {
    const p = this.paths(rec.id);
    await this.runtime.delete(rec.id);
    await unmount(p.merged);
    if (rec.state.cgroupPath) await removeCgroup(rec.state.cgroupPath);
    await fs.rm(p.bundle, { recursive: true, force: true });
    await fs.rm(this.exitFile(rec.id), { force: true });
  }

  /** Removes a container; a running one only with force (it is stopped first). */
  async remove(ref: string, opts: { force?: boolean; timeout?: number } = {}): Promise<ContainerRecord> {
    let rec = await this.get(ref);
    if (rec.state.status === 'running') {
      if (!opts.force) throw stateError(`container ${rec.name} is running: stop it first or use --force`);
      rec = await this.stop(rec.id, opts.timeout ?? 10);
    }
    await this.store.containerLock(rec.id).with(async () => {
      await this.teardownRuntime(rec);
      await this.store.deleteContainer(rec.id);
    });
    return rec;
  }

  /** Waits until the container is no longer running; resolves with its exit code. */
  async wait(ref: string): Promise<number> {
    const rec = await this.get(ref);
    if (rec.state.status === 'running') {
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

/** Kubernetes limits/requests as cgroup settings: cpu quota over a 100 ms period, shares from the request. */
export function cgroupResources(r: ContainerSpec['resources']): SpecInput['resources'] {
  if (!r) return undefined;
  const out: NonNullable<SpecInput['resources']> = {};
  if (r.memoryLimit !== undefined) out.memoryLimit = Math.floor(r.memoryLimit);
  if (r.memoryRequest !== undefined && r.memoryRequest !== r.memoryLimit) out.memoryReservation = Math.floor(r.memoryRequest);
  if (r.cpuLimit !== undefined) { out.cpuPeriod = 100_000; out.cpuQuota = Math.max(1000, Math.round(r.cpuLimit * 100_000)); }
  if (r.cpuRequest !== undefined) out.cpuShares = Math.max(2, Math.round(r.cpuRequest * 1024));
  if (r.pidsLimit !== undefined) out.pidsLimit = r.pidsLimit;
  return out;
}

let facts: Pick<SpecInput, 'hostRlimitNofileHard' | 'hostRlimits' | 'hostPidMax' | 'hostCapabilities'> | undefined;
/** What this host allows a container (limits, capabilities); read once per process. */
function hostFacts() {
  if (!facts) {
    const read = (f: string) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } };
    const pidMax = Number(read('/proc/sys/kernel/pid_max').trim());
    facts = {
      hostRlimitNofileHard: hostNofileHard(),
      hostRlimits: parseProcLimits(read('/proc/self/limits')),
      hostPidMax: pidMax > 0 ? pidMax : undefined,
      hostCapabilities: boundingSetFromProcStatus(read('/proc/self/status')),
    };
  }
  return facts;
}

function bind(source: string, destination: string): Mount {
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate'] };
}

function readHostname(file: string): string {
  try { return readFileSync(file, 'utf8').trim(); } catch { return ''; }
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

/**
 * True while pid runs. A zombie counts as gone: conmon is reparented to PID 1, which may reap
 * late (on this host's init, up to ~2 s), and a zombie does nothing more.
 */
export function processAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** A foreground `run --rm` removes its container itself after reading the exit code. */
function waiterAlive(rec: ContainerRecord): boolean {
  const w = rec.state.waiterPid;
  return w !== undefined && processAlive(w);
}

export function normalizeSignal(sig: string | number): string {
  const s = String(sig).toUpperCase();
  if (/^\d+$/.test(s)) return s;
  return s.startsWith('SIG') ? s : `SIG${s}`;
}

/** Waits until pid is gone (a zombie counts as gone), at most timeoutMs. */
export async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Woken by the exit itself where peapod-spawn can watch a pidfd (engine/spawn.ts); the loop then
  // only confirms, and polls where it cannot.
  if (processAlive(pid)) await waitForExit(pid, timeoutMs);
  for (let d = 2; processAlive(pid) && Date.now() < deadline; d = Math.min(d * 2, 50)) await sleep(d);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ADJ = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'quirky', 'sharp', 'witty', 'zen'];
const NOUN = ['pea', 'pod', 'bean', 'lentil', 'sprout', 'vine', 'seed', 'shoot', 'leaf', 'root', 'stem', 'tendril'];
function randomName(): string {
  const pick = (a: string[]) => a[Math.floor(Math.random() * a.length)];
  return `${pick(ADJ)}_${pick(NOUN)}_${Math.floor(Math.random() * 10000)}`;
}
