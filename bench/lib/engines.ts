// The two engines under test, each with a private root, and how to leave the host clean again.
//
// peapod: bin/peapod with --root/--runroot in the bench's temp dir, its own cgroup parent
// (PEAPOD_CGROUP_PARENT) and an empty config file (PEAPOD_CONFIG), and its own bridge network
// with the default network's settings under a unique name (netavark names iptables chains after
// the network's name, so two roots that both use "peapod" would share chains).
// podman: --root/--runroot/--tmpdir in the temp dir and a containers.conf of the bench's own
// (runtime runc, no default ulimits, netavark), its default bridge network for kube.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { firstLine, must, run, which, type RunOptions, type RunResult } from './exec.js';
import { allProcs, cgroupExists, mountsUnder, removeCgroupDir, removeCgroupTree } from './procfs.js';
import { removeNetworkChains } from './host.js';

import type { EngineName } from './report.js';

export interface Capabilities {
  generateKube: boolean;
  generateSystemd: boolean;
  pull: boolean;
}

export abstract class Engine {
  abstract readonly name: EngineName;
  readonly dir: string;
  env: Record<string, string> = {};
  has: Capabilities = { generateKube: false, generateSystemd: false, pull: false };
  /** which network the engine's kube pods join, filled in after the warm-up */
  networkNote = '';
  /** ids of every pod the bench made with this engine (for cleanup) */
  readonly podIds = new Set<string>();
  /** printed first line of `--version` */
  version = '';

  /** how the engine is shown in tables */
  label: string;

  constructor(readonly benchDir: string, dirName: string) {
    this.dir = path.join(benchDir, dirName);
    this.label = dirName;
  }
  /** argv prefix: the program and its global flags */
  abstract base(): string[];
  abstract versionArgv(): string[];
  abstract playArgs(file: string): string[];
  downArgs(file: string): string[] { return ['kube', 'down', file]; }
  abstract setup(imageTar: string): Promise<void>;
  abstract cleanup(): Promise<string[]>;
  /** Text that is in the command line of this engine's helper processes (exit commands) while they run. */
  marker(): string { return `${this.dir}/`; }

  argv(args: string[]): string[] {
    return [...this.base(), ...args];
  }

  run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(this.argv(args), { timeoutMs: 300_000, ...opts, env: { ...this.env, ...opts.env } });
  }

  must(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return must(this.argv(args), { timeoutMs: 300_000, ...opts, env: { ...this.env, ...opts.env } });
  }

  /** Pod ids in a play's output ("Pod:\n<id>"). */
  rememberPods(playOutput: string): void {
    for (const m of playOutput.matchAll(/^Pod:\n([0-9a-f]{64})$/gm)) this.podIds.add(m[1]);
  }

  async listPods(): Promise<string[]> {
    const r = await this.run(['pod', 'ps', '-q', '--no-trunc'], { timeoutMs: 60_000 });
    return r.code === 0 ? r.stdout.split('\n').map((s) => s.trim()).filter(Boolean) : [];
  }

  /** Removes every pod (force, no grace): the state between scenarios. */
  async removeAllPods(): Promise<void> {
    const ids = await this.listPods();
    ids.forEach((id) => this.podIds.add(id));
    if (ids.length) await this.run(['pod', 'rm', '-f', '-t', '0', ...ids], { timeoutMs: 300_000 });
  }

  async runningContainers(): Promise<string[]> {
    const r = await this.run(['ps', '-q', '--no-trunc'], { timeoutMs: 60_000 });
    return r.code === 0 ? r.stdout.split('\n').map((s) => s.trim()).filter(Boolean) : [];
  }

  /** Reads `--help` (and `generate --help`) for the commands that other work may not have added yet. */
  protected async detect(): Promise<void> {
    const help = await this.run(['--help'], { timeoutMs: 30_000 });
    const commands = new Set(help.stdout.split('\n').map((l) => l.match(/^ {2}(\S+)/)?.[1]).filter((c): c is string => !!c));
    this.has.pull = commands.has('pull');
    if (commands.has('generate')) {
      const g = await this.run(['generate', '--help'], { timeoutMs: 30_000 });
      const subs = new Set(g.stdout.split('\n').map((l) => l.match(/^ {2}(\S+)/)?.[1]).filter((c): c is string => !!c));
      this.has.generateKube = subs.has('kube');
      this.has.generateSystemd = subs.has('systemd');
    }
  }

  /** Processes this engine left running besides conmon and aardvark-dns (its exit commands, while they run). */
  helpers(): number[] {
    const mark = this.marker();
    return allProcs().filter((p) => p.cmdline.includes(mark) && !['conmon', 'aardvark-dns', 'strace'].includes(p.comm) && p.state !== 'Z').map((p) => p.pid);
  }
}

/** Unmounts what is mounted under dir (deepest first); lazily when busy. */
async function unmountAll(dir: string): Promise<string[]> {
  const left: string[] = [];
  for (const m of mountsUnder(dir)) {
    const r = await run(['umount', m], { timeoutMs: 30_000 });
    if (r.code !== 0) {
      const l = await run(['umount', '-l', m], { timeoutMs: 30_000 });
      if (l.code !== 0) left.push(m);
    }
  }
  return left;
}

/** Ends processes whose command line names dir (only the bench's own: dir is a fresh mkdtemp path), by pid. */
function killUnder(dir: string): number[] {
  const pids = allProcs().filter((p) => p.cmdline.includes(`${dir}/`) && p.pid !== process.pid).map((p) => p.pid);
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  return pids;
}

export class Peapod extends Engine {
  readonly suffix = randomBytes(3).toString('hex');
  readonly cgroupParent = `/peapod-bench-${this.suffix}`;
  readonly network = `bench-${this.suffix}`;

  /**
   * `slot` is the column it fills: 'peapod', or 'podman' when a second peapod build is measured
   * against the first (--against) instead of podman.
   */
  constructor(benchDir: string, readonly bin: string, readonly name: EngineName = 'peapod') {
    super(benchDir, name === 'peapod' ? 'peapod' : 'peapod-b');
  }

  base(): string[] {
    return [this.bin, '--root', path.join(this.dir, 'root'), '--runroot', path.join(this.dir, 'run')];
  }

  versionArgv(): string[] { return [this.bin, '--version']; }

  playArgs(file: string): string[] { return ['play', 'kube', '--network', this.network, file]; }

  async setup(imageTar: string): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const conf = path.join(this.dir, 'peapod.json');
    writeFileSync(conf, '{}\n');
    this.env = { PEAPOD_CGROUP_PARENT: this.cgroupParent, PEAPOD_CONFIG: conf };
    this.version = await firstLine(this.versionArgv());
    await this.detect();
    await this.must(['import', imageTar, 'localhost/busybox:latest']);
    await this.must(['network', 'create', this.network]);
  }

  async describeNetwork(): Promise<void> {
    const r = await this.run(['network', 'inspect', this.network]);
    try {
      const n = JSON.parse(r.stdout)[0];
      this.networkNote = `bridge network "${this.network}" (${n.network_interface}, ${n.subnets?.[0]?.subnet}, netavark, DNS ${n.dns_enabled ? 'on' : 'off'}): the settings of peapod's default network, under a name of its own`;
    } catch {
      this.networkNote = `bridge network "${this.network}" (netavark)`;
    }
  }

  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    if (existsSync(this.dir)) {
      const r = await this.run(['system', 'reset', '--force'], { timeoutMs: 300_000 });
      if (r.code !== 0) problems.push(`peapod system reset: ${r.stderr.trim()}`);
    }
    const killed = killUnder(this.dir);
    if (killed.length) problems.push(`peapod: ended ${killed.length} leftover process(es) by pid: ${killed.join(', ')}`);
    problems.push(...(await unmountAll(this.dir)).map((m) => `peapod: could not unmount ${m}`));
    problems.push(...removeCgroupTree(this.cgroupParent).map((d) => `peapod: cgroup ${d} still in use`));
    // netavark removes a network's chains with its last container; what is left here leaked.
    const leaked = await removeNetworkChains(this.network);
    if (leaked.length) problems.push(`peapod: netavark chains ${leaked.join(', ')} of network ${this.network} were left behind (removed now)`);
    return problems;
  }
}

const KUBE_NETWORK = 'podman-default-kube-network';
const KUBE_NETWORK_FILE = `/etc/containers/networks/${KUBE_NETWORK}.json`;

export class Podman extends Engine {
  readonly name = 'podman' as const;
  private readonly hadKubeNetwork = existsSync(KUBE_NETWORK_FILE);
  private readonly hadLibpodParent = cgroupExists('libpod_parent');
  private kubeBridge = '';

  constructor(benchDir: string) {
    super(benchDir, 'podman');
  }

  static installed(): boolean {
    return !!which('podman');
  }

  base(): string[] {
    return ['podman', '--root', path.join(this.dir, 'root'), '--runroot', path.join(this.dir, 'run'), '--tmpdir', path.join(this.dir, 'tmp')];
  }

  versionArgv(): string[] { return ['podman', '--version']; }

  playArgs(file: string): string[] { return ['play', 'kube', file]; }

  async setup(imageTar: string): Promise<void> {
    mkdirSync(path.join(this.dir, 'tmp'), { recursive: true });
    const conf = path.join(this.dir, 'containers.conf');
    // runc as peapod uses, no default ulimits (runc refuses limits above this host's hard limit),
    // netavark (Podman 4.3 picks CNI when /etc/cni/net.d has a config, and CNI's plugins are absent).
    writeFileSync(conf, '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n\n[network]\nnetwork_backend = "netavark"\n');
    this.env = { CONTAINERS_CONF: conf };
    this.version = await firstLine(this.versionArgv());
    await this.detect();
    await this.must(['import', imageTar, 'localhost/busybox:latest']);
  }

  async describeNetwork(): Promise<void> {
    const r = await this.run(['network', 'inspect', KUBE_NETWORK]);
    try {
      const n = JSON.parse(r.stdout)[0];
      this.kubeBridge = n.network_interface;
      this.networkNote = `bridge network "${KUBE_NETWORK}" (${n.network_interface}, ${n.subnets?.[0]?.subnet}, netavark, DNS ${n.dns_enabled ? 'on' : 'off'}): podman's default for play kube`;
    } catch {
      this.networkNote = `bridge network "${KUBE_NETWORK}" (netavark)`;
    }
  }

  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    if (existsSync(this.dir)) {
      for (const id of await this.listPods()) this.podIds.add(id);
      await this.run(['pod', 'rm', '-a', '-f', '-t', '0'], { timeoutMs: 300_000 });
      await this.run(['rm', '-a', '-f', '-t', '0'], { timeoutMs: 300_000 });
      await this.run(['rmi', '-a', '-f'], { timeoutMs: 300_000 });
      // The kube network was made by this run: remove it unless somebody else's containers use its bridge now.
      if (!this.hadKubeNetwork && existsSync(KUBE_NETWORK_FILE) && !(this.kubeBridge && existsSync(`/sys/class/net/${this.kubeBridge}`))) {
        await this.run(['network', 'rm', '-f', KUBE_NETWORK], { timeoutMs: 60_000 });
      }
    }
    const killed = killUnder(this.dir);
    if (killed.length) problems.push(`podman: ended ${killed.length} leftover process(es) by pid: ${killed.join(', ')}`);
    problems.push(...(await unmountAll(this.dir)).map((m) => `podman: could not unmount ${m}`));
    // Podman (cgroupfs) leaves libpod_parent/<pod id> behind in the named and unified hierarchies.
    for (const id of this.podIds) problems.push(...removeCgroupTree(`libpod_parent/${id}`).map((d) => `podman: cgroup ${d} still in use`));
    if (!this.hadLibpodParent) removeCgroupDir('libpod_parent');
    return problems;
  }
}
