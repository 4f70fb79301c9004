import { promises as fs, existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { buildConfig, cgroupLayout, findProgram, type EngineConfig, type EngineConfigInput } from './config.js';
import { PeapodError } from './errors.js';
import { StateStore } from './state/store.js';
import { RecordStore } from './state/records.js';
import { ImageStore } from './image/store.js';
import { Containers } from './pod/containers.js';
import { Pods } from './pod/pods.js';
import { Networks, releaseBridge } from './network/networks.js';
import { NetavarkBackend, netavarkConfigDir } from './network/netavark.js';
import { PastaBackend } from './network/pasta.js';
import { rootlessCgroups } from './rootless/spec.js';
import { checkStoreOwner, ensurePrivateDir } from './state/owner.js';
import { pauseDir, stopPauseIfIdle } from './rootless/userns.js';
import type { NetworkBackend } from './network/backend.js';
import { Secrets } from './volume/secrets.js';
import { Volumes } from './volume/volumes.js';
import { Services, namespaceOf } from './network/services.js';
import type { ContainerRecord, ImageRecord, PodRecord } from './types.js';
import { cgroupRoots, removeCgroup, unmount } from './runtime/mounts.js';
import { runProgram } from './spawn.js';
import { debug, warn } from './log.js';
import { policyPath } from './image/trust/policy.js';
import { EventLog } from './events.js';

/** Where a run root's events journal lives. */
export function eventsDir(cfg: { runroot: string }): string {
  return path.join(cfg.runroot, 'events');
}

/** The engine library's entry point: one per CLI invocation. Knows nothing of YAML or the CLI. */
export class Engine {
  readonly store: StateStore;
  readonly images: ImageStore;
  readonly containers: Containers;
  readonly pods: Pods;
  readonly networks: Networks;
  readonly secrets: Secrets;
  readonly volumes: Volumes;
  readonly services: Services;
  /** The journal of lifecycle events of this run root (`events`). */
  readonly events: EventLog;
  private backend?: NetworkBackend;

  /** Named records a use case keeps between commands (`kind` is the folder under the root). */
  records<T>(kind: string): RecordStore<T> {
    return new RecordStore<T>(this.cfg.root, kind);
  }

  private constructor(readonly cfg: EngineConfig) {
    this.store = new StateStore(cfg.root);
    this.images = new ImageStore({ root: path.join(cfg.root, 'storage'), lock: this.store.lock });
    this.secrets = new Secrets(this.store);
    this.containers = new Containers(cfg, this.store, this.images, this.secrets);
    this.networks = new Networks(this.store, cfg.rootlessUid !== undefined);
    // The backend is made on first use: commands that never touch a network need no netavark.
    this.volumes = new Volumes(this.store);
    this.pods = new Pods(cfg, this.store, this.images, this.containers, this.networks, () => (this.backend ??= this.newBackend()), this.secrets, this.volumes);
    this.services = new Services(cfg, this.store, () => this.pods);
    this.events = new EventLog(eventsDir(cfg));
    this.images.events = this.events;
    this.containers.events = this.events;
    this.pods.events = this.events;
    // Endpoints follow the pods: every start, stop, removal (and the monitor's readiness verdicts,
    // conmon's exit command) brings the Services' rules and names up to date. Never fatal to the
    // pod operation that triggered it: the next sync repairs.
    this.pods.endpointsChanged = () => this.services.sync().catch((err) => debug(`syncing services: ${(err as Error).message}`));
    this.pods.serviceEnvFor = async (pod) => (pod.spec.enableServiceLinks === false ? [] : this.services.envFor(namespaceOf(pod)));
  }

  /** pasta for a rootless peapod (no bridge without root), netavark otherwise. */
  private newBackend(): NetworkBackend {
    if (this.cfg.rootlessUid !== undefined) return new PastaBackend((podId) => this.pods.runDir(podId));
    return new NetavarkBackend(netavarkConfigDir(this.cfg.runroot));
  }

  static open(input: EngineConfigInput): Engine {
    const cfg = buildConfig(input);
    checkStoreOwner(cfg.root, cfg.rootlessUid);
    ensurePrivateDir(cfg.root);
    ensurePrivateDir(cfg.runroot);
    return new Engine(cfg);
  }

  /**
   * Rootless without a delegated cgroup: why no resource limit (cpu, memory, pids) is applied, to be
   * said once per play; undefined when limits apply. `requested` names the containers that ask for limits.
   */
  rootlessLimitsNotice(requested: string[] = []): string | undefined {
    if (this.cfg.rootlessUid === undefined) return undefined;
    const cg = rootlessCgroups();
    if (cg.usable) return undefined;
    const which = requested.length ? ` (asked for by ${requested.join(', ')})` : '';
    return `rootless: resource limits${which} are not applied and containers run without cpu, memory and pids limits: ${cg.reason}`;
  }

  /** Removes an image; refused while containers use it unless force, which removes them first. */
  async removeImage(ref: string, force = false): Promise<{ untagged: string[]; deleted: string | undefined }> {
    const img = await this.images.resolve(ref);
    const users = (await this.store.listContainers()).filter((c) => c.imageId === img.id);
    const untagOnly = img.names.length > 1 && img.names.some((n: string) => n === ref || n.endsWith(`/${ref}`) || n.endsWith(`/${ref}:latest`));
    if (users.length && !untagOnly) {
      if (!force) {
        throw new PeapodError('state', `image used by ${users.map((u) => u.id).join(', ')}: image is in use by a container: consider listing external containers and force-removing image`, {
          hint: 'remove the containers first or use --force',
        });
      }
      for (const u of users) await this.containers.remove(u.id, { force: true });
    }
    return this.images.remove(ref, { force });
  }

  async imageInUse(img: ImageRecord): Promise<number> {
    return (await this.store.listContainers()).filter((c) => c.imageId === img.id).length;
  }

  info() {
    return {
      host: {
        arch: process.arch === 'x64' ? 'amd64' : process.arch,
        os: process.platform,
        cgroupVersion: cgroupLayout() === 'v2' ? 'v2' : 'v1',
        cgroupLayout: cgroupLayout(),
        ociRuntime: { name: this.cfg.runtimeName, path: this.cfg.runtimePath, reason: this.cfg.runtimeReason },
        conmon: { path: this.cfg.conmonPath },
        rootless: this.cfg.rootlessUid !== undefined,
        logDriver: 'k8s-file',
      },
      store: {
        graphRoot: path.join(this.cfg.root, 'storage'),
        runRoot: this.cfg.runroot,
        graphDriverName: 'overlay',
        stateRoot: this.cfg.root,
      },
      registries: { signaturePolicy: signaturePolicyInfo() },
    };
  }

  /**
   * Removes every container, pod and image of this root and the run root (Podman's `system reset`).
   * Always goes to the end: each step's failure is reported (a warning now, an error at the end)
   * and the next step runs anyway. Damaged records are skipped by the listings, so what their
   * objects left is collected from the host itself: runtime state under the run root (conmon and
   * the container killed), pod monitors and networks (from network.json or an interrupted setup's
   * request), cgroups named for this root's objects, every mount under the root and run root
   * (namespace files among them).
   */
  async systemReset(): Promise<void> {
    const failures: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        const more = await fn();
        if (Array.isArray(more)) for (const m of more) fail(what, m);
      } catch (err) {
        fail(what, err);
      }
    };
    const fail = (what: string, err: unknown) => {
      const msg = `${what}: ${err instanceof Error ? err.message : String(err)}`;
      failures.push(msg);
      warn(`system reset: ${msg}`);
    };
    let pods: PodRecord[] = [];
    await step('listing pods', async () => { pods = await this.store.listPods(); });
    for (const p of pods) await step(`removing pod ${p.name}`, () => this.pods.remove(p.id, { force: true, timeout: 0 }));
    let ctrs: ContainerRecord[] = [];
    await step('listing containers', async () => { ctrs = await this.store.listContainers(); });
    for (const c of ctrs) await step(`removing container ${c.name}`, () => this.containers.remove(c.id, { force: true, timeout: 0, ofPod: true }));
    // What is left belongs to objects whose record is gone or damaged.
    const ids = knownIds(this.cfg);
    const cgroups = bundleCgroups(this.cfg);
    await step('stopping containers without a record', () => killOrphanContainers(this.cfg));
    await step('releasing pods without a record', () => this.pods.releaseOrphans());
    await step('unmounting', () => unmountUnder([this.cfg.runroot, this.cfg.root]));
    await step('removing cgroups', () => removeOrphanCgroups(this.cfg.cgroupParent, ids, cgroups));
    // Services: rules found by the root's chain names, names by their entry prefix, claims by root
    await step('removing services', () => this.services.removeAll());
    await step('releasing bridges', async () => {
      for (const n of (await this.networks.list()).filter((x) => x.driver === 'bridge')) await releaseBridge(n.networkInterface, this.cfg.root);
    });
    await step(`removing ${this.cfg.root}`, () => fs.rm(this.cfg.root, { recursive: true, force: true }));
    await step(`removing ${this.cfg.runroot}`, () => fs.rm(this.cfg.runroot, { recursive: true, force: true }));
    // Rootless: with nothing left, the pause process that holds the user namespace goes too.
    if (this.cfg.rootlessUid !== undefined) await step('stopping the pause process', async () => stopPauseIfIdle(pauseDir(this.cfg.rootlessUid!)));
    if (failures.length) {
      throw new PeapodError('state', `system reset did everything else, but ${failures.length} step${failures.length > 1 ? 's' : ''} failed: ${failures.join('; ')}`);
    }
  }
}

const ID_RE = /^(?:\.removing-)?([0-9a-f]{64})$/;

/** IDs of every container and pod this root and run root know of, records damaged or not. */
function knownIds(cfg: EngineConfig): Set<string> {
  const ids = new Set<string>();
  const dirs = [path.join(cfg.root, 'containers'), path.join(cfg.root, 'pods'), path.join(cfg.runroot, 'pods'), path.join(cfg.runroot, 'containers'),
    path.join(cfg.runroot, 'runc'), path.join(cfg.runroot, 'crun')];
  for (const d of dirs) {
    let names: string[] = [];
    try { names = readdirSync(d); } catch { /* none */ }
    for (const n of names) {
      const m = ID_RE.exec(n);
      if (m) ids.add(m[1]!);
    }
  }
  return ids;
}

/** The cgroups the bundles under the run root name (a pod member's: <parent>/<pod id>/<container id>). */
function bundleCgroups(cfg: EngineConfig): string[] {
  const out: string[] = [];
  let ids: string[] = [];
  try { ids = readdirSync(path.join(cfg.runroot, 'containers')); } catch { /* none */ }
  for (const id of ids) {
    try {
      const p = JSON.parse(readText(path.join(cfg.runroot, 'containers', id, 'config.json')))?.linux?.cgroupsPath;
      if (typeof p === 'string' && p.startsWith(cfg.cgroupParent + '/') && !p.split('/').includes('..')) out.push(p);
    } catch { /* damaged: its ID is known anyway */ }
  }
  return out;
}

/**
 * Containers the runtime still knows under this run root (their record gone or damaged): conmon is
 * killed first (so that no exit command recreates the root being removed), then the container with
 * `runtime delete --force`. Returns the failures.
 */
async function killOrphanContainers(cfg: EngineConfig): Promise<string[]> {
  const failures: string[] = [];
  let bundles: string[] = [];
  try { bundles = readdirSync(path.join(cfg.runroot, 'containers')); } catch { /* none */ }
  for (const id of bundles) {
    const pid = Number(readText(path.join(cfg.runroot, 'containers', id, 'conmon.pid')).trim());
    if (pid > 0 && readText(`/proc/${pid}/comm`).trim() === 'conmon') {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  for (const name of ['runc', 'crun'] as const) {
    const stateRoot = path.join(cfg.runroot, name);
    let ids: string[] = [];
    try { ids = readdirSync(stateRoot); } catch { continue; }
    const prog = name === cfg.runtimeName ? cfg.runtimePath : findProgram(name);
    if (!prog) {
      if (ids.length) failures.push(`${ids.length} ${name} containers under ${stateRoot}, and ${name} is not installed`);
      continue;
    }
    for (const id of ids.filter((i) => /^[0-9a-f]{64}$/.test(i))) {
      const r = await runProgram(prog, [`--root=${stateRoot}`, 'delete', '--force', id]);
      if (r.exitCode !== 0 && existsSync(path.join(stateRoot, id))) failures.push(`${name} delete --force ${id}: ${r.stderr.trim()}`);
    }
  }
  return failures;
}

/** Unmounts everything mounted under the given directories, deepest first (lazily when busy). */
async function unmountUnder(dirs: string[]): Promise<void> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const mounts = info.split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => !!m && dirs.some((d) => m.startsWith(d + '/')));
  for (const m of [...new Set(mounts)].sort().reverse()) await unmount(m);
}

/**
 * The cgroups of this root's pods and containers, found by name under the cgroup parent in every
 * hierarchy (<parent>/<pod id>/<container id>, <parent>/<container id>): processes left in them
 * are killed, then the directories removed, deepest first; the parent goes when empty.
 */
async function removeOrphanCgroups(parent: string, ids: Set<string>, paths: string[]): Promise<string[]> {
  const failures: string[] = [];
  const rel = parent.split('/').filter(Boolean);
  for (const root of cgroupRoots()) {
    const base = path.join(root, ...rel);
    // the bundles' own cgroups first, then the pod cgroups that held them when empty
    for (const p of paths) {
      const dir = path.join(root, p);
      const err = await removeCgroupTree(dir);
      if (err) failures.push(err);
      for (let up = path.dirname(dir); up.startsWith(base + '/'); up = path.dirname(up)) {
        try { await fs.rmdir(up); } catch { break; }
      }
    }
    let names: string[] = [];
    try { names = readdirSync(base); } catch { continue; }
    for (const n of names.filter((x) => ids.has(x))) {
      const err = await removeCgroupTree(path.join(base, n));
      if (err) failures.push(err);
    }
  }
  if (!failures.length) await removeCgroup(parent);
  return failures;
}

async function removeCgroupTree(dir: string): Promise<string | undefined> {
  let kids: string[] = [];
  try { kids = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { return undefined; }
  for (const k of kids) {
    const err = await removeCgroupTree(path.join(dir, k));
    if (err) return err;
  }
  for (let i = 0; ; i++) {
    try {
      await fs.rmdir(dir);
      return undefined;
    } catch (err: any) {
      if (err?.code === 'ENOENT') return undefined;
      if (err?.code !== 'EBUSY' || i >= 50) return `cgroup ${dir}: ${err.message}`;
    }
    for (const pid of readText(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readText(file: string): string {
  try { return readFileSync(file, 'utf8'); } catch { return ''; }
}

/** Which containers-policy.json pulls obey (info): the file, or that none exists and every image is accepted. */
function signaturePolicyInfo(): string {
  try {
    const p = policyPath();
    return p.exists ? p.file : `none (${p.file} does not exist: every image is accepted)`;
  } catch (err) {
    return (err as Error).message;
  }
}
