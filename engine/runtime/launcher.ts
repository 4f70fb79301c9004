// The one seam between the container/pod lifecycles and the host's kernel: everything starting or
// stopping a container or a pod does to the host (mounts, namespaces, cgroups, conmon and the OCI
// runtime) goes through a Launcher. Containers and Pods decide what to do; the Launcher does it.
// HostLauncher is the real one; a unit test gives Pods and Containers a fake one to run the
// lifecycle without processes (test/unit/pod/lifecycle.test.ts).
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import type { EngineConfig } from '../config.js';
import { OciRuntime, type BundlePaths } from './oci.js';
import type { OciSpec, SpecInput } from './spec.js';
import { boundingSetFromProcStatus, parseProcLimits } from './spec.js';
import { mountOverlay, unmount, unmountAll, removeCgroup, applyCgroupLimits, hostNofileHard, isMountPoint, type CgroupLimits } from './mounts.js';
import { writeFileAtomic } from '../state/atomic.js';
import { runProgram } from '../spawn.js';
import { processAlive, waitGone } from '../state/process.js';
import { keepIdMappings, rootlessIds } from '../rootless/spec.js';
import { makeKeepIdNamespaces, podUsernsPath } from '../rootless/podns.js';

/** Paths of one container's bundle, rootfs and private /etc files. */
export interface ContainerPaths extends BundlePaths {
  merged: string;
  upper: string;
  work: string;
  etc: string;
}

/** What this host allows a container (limits, capabilities). */
export type HostFacts = Pick<SpecInput, 'hostRlimitNofileHard' | 'hostRlimits' | 'hostPidMax' | 'hostCapabilities'>;

export interface ContainerLaunch {
  id: string;
  name: string;
  paths: ContainerPaths;
  spec: OciSpec;
  /** argv of the command conmon runs after the container exits */
  exitCommand: string[];
}

export interface ExecOptions {
  args: string[]; env?: string[]; cwd?: string; user?: string; tty?: boolean;
  /** the process's stdio as streams (an API client's); without it the caller's stdio is inherited */
  io?: ExecIO;
}

/** Where an exec's output goes and its input comes from, for a caller that is not a terminal (the API). */
export interface ExecIO { stdin?: NodeJS.ReadableStream; stdout: (d: Buffer) => void; stderr: (d: Buffer) => void; onPid?: (pid: number) => void }

export interface Launcher {
  /** What this host allows a container; read once per process. */
  hostFacts(): HostFacts;
  /** True while pid runs (a zombie counts as gone). */
  alive(pid: number): boolean;
  /** Waits until pid is gone, at most timeoutMs. */
  waitGone(pid: number, timeoutMs: number): Promise<void>;

  // ---- containers ----
  /** Mounts the image's layers (top first) as the container's rootfs at paths.merged. */
  mountRootfs(layers: string[], paths: ContainerPaths): Promise<void>;
  /** Writes files whole (aside, then renamed over). */
  writeFiles(files: Array<{ path: string; content: string }>): Promise<void>;
  /** Writes config.json and creates the container under conmon; it is created, not started. */
  create(l: ContainerLaunch): Promise<{ pid: number; conmonPid: number }>;
  start(id: string): Promise<void>;
  kill(id: string, signal: string, all?: boolean): Promise<void>;
  /** Runs a command in the container without a terminal; its exit code, negative after a timeout. */
  execQuiet(id: string, args: string[], timeoutMs: number): Promise<number>;
  /** Runs a command in the container attached to this process's stdio; its exit code. */
  exec(id: string, opts: ExecOptions): Promise<number>;
  /** Releases what a container held: runtime state, rootfs mount, cgroup, bundle. Idempotent. */
  release(id: string, paths: ContainerPaths, cgroupPath?: string): Promise<void>;
  /** Bind-mounts a held fd (/proc/<pid>/fd/N) onto target, without resolving it to a path again (a subPath). */
  bindHeld(fdPath: string, target: string): Promise<void>;

  // ---- pods ----
  /** Makes the pod's network namespace file with its loopback up, unless it exists (keep-id: with its user namespace). */
  makePodNetns(netnsPath: string, opts: { podName: string; keepId: boolean }): Promise<void>;
  /** Mounts the pod's shared /dev/shm (a tmpfs) at dir, unless mounted. */
  mountShm(dir: string, podName: string): Promise<void>;
  applyCgroupLimits(cgroupPath: string, limits: CgroupLimits): Promise<void>;
  /** Unmounts everything under dirPrefix (deepest first) and the namespace files, then removes those files. */
  releasePodMounts(dirPrefix: string, nsFiles: string[]): Promise<void>;
  removeCgroup(cgroupPath: string): Promise<void>;
}

let facts: HostFacts | undefined;

/** The real host: overlayfs, conmon and runc/crun, unshare/nsenter, cgroupfs. */
export class HostLauncher implements Launcher {
  private readonly runtime: OciRuntime;

  constructor(private readonly cfg: EngineConfig) {
    this.runtime = new OciRuntime(cfg);
  }

  hostFacts(): HostFacts {
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

  alive(pid: number): boolean {
    return processAlive(pid);
  }

  waitGone(pid: number, timeoutMs: number): Promise<void> {
    return waitGone(pid, timeoutMs);
  }

  async mountRootfs(layers: string[], p: ContainerPaths): Promise<void> {
    await fs.mkdir(p.bundle, { recursive: true, mode: 0o700 });
    await mountOverlay(layers, p.upper, p.work, p.merged);
  }

  async writeFiles(files: Array<{ path: string; content: string }>): Promise<void> {
    for (const f of files) {
      await fs.mkdir(path.dirname(f.path), { recursive: true });
      await writeFileAtomic(f.path, f.content);
    }
  }

  async create(l: ContainerLaunch): Promise<{ pid: number; conmonPid: number }> {
    // 0600: it holds the env, secret values among them
    await writeFileAtomic(path.join(l.paths.bundle, 'config.json'), JSON.stringify(l.spec), 0o600);
    return this.runtime.createWithConmon({ id: l.id, name: l.name, paths: l.paths, exitCommand: l.exitCommand });
  }

  start(id: string): Promise<void> {
    return this.runtime.start(id);
  }

  kill(id: string, signal: string, all = false): Promise<void> {
    return this.runtime.kill(id, signal, all);
  }

  execQuiet(id: string, args: string[], timeoutMs: number): Promise<number> {
    return this.runtime.execQuiet(id, args, timeoutMs);
  }

  exec(id: string, opts: ExecOptions): Promise<number> {
    return this.runtime.exec(id, opts);
  }

  async release(id: string, p: ContainerPaths, cgroupPath?: string): Promise<void> {
    await this.runtime.delete(id);
    await unmount(p.merged);
    if (cgroupPath) await removeCgroup(cgroupPath);
    await fs.rm(p.bundle, { recursive: true, force: true });
    await fs.rm(path.join(p.exitDir, id), { force: true });
  }

  async bindHeld(fdPath: string, target: string): Promise<void> {
    // --no-canonicalize: mount(8) must not turn the magic link back into a path string
    const r = await runProgram('mount', ['--no-canonicalize', '--bind', fdPath, target]);
    if (r.exitCode !== 0) throw new PeapodError('runtime', r.stderr.trim() || `mount exited ${r.exitCode}`);
  }

  async makePodNetns(netnsPath: string, opts: { podName: string; keepId: boolean }): Promise<void> {
    if (isMountPoint(netnsPath)) return;
    await fs.mkdir(path.dirname(netnsPath), { recursive: true });
    if (opts.keepId) {
      const ids = rootlessIds(this.cfg);
      await makeKeepIdNamespaces(podUsernsPath(netnsPath), netnsPath, keepIdMappings(ids.uid, ids.size), keepIdMappings(ids.gid, ids.size));
      const lo = await runProgram('nsenter', [`--net=${netnsPath}`, 'ip', 'link', 'set', 'lo', 'up']);
      if (lo.exitCode !== 0) throw new PeapodError('runtime', `bringing up loopback in pod ${opts.podName}: ${lo.stderr.trim()}`, { hint: 'apt-get install iproute2' });
      return;
    }
    await fs.writeFile(netnsPath, '');
    // A new namespace has its loopback down (containers of a pod talk over it): unshare brings
    // it up inside the namespace it just made, one process instead of two.
    const r = await runProgram('unshare', [`--net=${netnsPath}`, 'ip', 'link', 'set', 'lo', 'up']);
    if (r.exitCode !== 0) {
      const lo = /\bip\b.*(not found|no such file)|failed to execute ip/i.test(r.stderr);
      throw new PeapodError('runtime', `${lo ? 'bringing up loopback in' : 'creating the network namespace of'} pod ${opts.podName}: ${r.stderr.trim()}`, lo ? { hint: 'apt-get install iproute2' } : undefined);
    }
  }

  async mountShm(dir: string, podName: string): Promise<void> {
    if (isMountPoint(dir)) return;
    await fs.mkdir(dir, { recursive: true });
    const r = await runProgram('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=1777,size=65536k', 'shm', dir]);
    if (r.exitCode !== 0) throw new PeapodError('runtime', `mounting /dev/shm of pod ${podName}: ${r.stderr.trim()}`);
  }

  applyCgroupLimits(cgroupPath: string, limits: CgroupLimits): Promise<void> {
    return applyCgroupLimits(cgroupPath, limits);
  }

  async releasePodMounts(dirPrefix: string, nsFiles: string[]): Promise<void> {
    let info = '';
    try { info = readFileSync('/proc/self/mountinfo', 'utf8'); } catch { /* none */ }
    const mounted = info.split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dirPrefix));
    await unmountAll([...mounted.sort().reverse(), ...nsFiles]);
    for (const f of nsFiles) await fs.rm(f, { force: true });
  }

  removeCgroup(cgroupPath: string): Promise<void> {
    return removeCgroup(cgroupPath);
  }
}
