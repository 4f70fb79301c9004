import { promises as fs } from 'node:fs';
import path from 'node:path';
import { buildConfig, cgroupLayout, type EngineConfig, type EngineConfigInput } from './config.js';
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
import { debug } from './log.js';
import type { ImageRecord } from './types.js';
import { unmount } from './runtime/mounts.js';
import { policyPath } from './image/trust/policy.js';

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

  /** Removes every container and image of this root and the run root (Podman's `system reset`). */
  async systemReset(): Promise<void> {
    for (const p of await this.store.listPods()) {
      await this.pods.remove(p.id, { force: true, timeout: 0 }).catch(() => undefined);
    }
    for (const c of await this.store.listContainers()) {
      await this.containers.remove(c.id, { force: true, timeout: 0, ofPod: true }).catch(() => undefined);
    }
    await this.services.removeAll().catch((err) => debug(`removing services: ${(err as Error).message}`));
    for (const n of (await this.networks.list()).filter((x) => x.driver === 'bridge')) await releaseBridge(n.networkInterface, this.cfg.root);
    // Anything still mounted under the run root (a crashed start) is unmounted before deletion.
    const mounts = (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(this.cfg.runroot + '/'));
    for (const m of mounts.sort().reverse()) await unmount(m);
    await fs.rm(this.cfg.root, { recursive: true, force: true });
    await fs.rm(this.cfg.runroot, { recursive: true, force: true });
    // Rootless: with nothing left, the pause process that holds the user namespace goes too.
    if (this.cfg.rootlessUid !== undefined) stopPauseIfIdle(pauseDir(this.cfg.rootlessUid));
  }
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
