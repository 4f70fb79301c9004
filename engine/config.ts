import os from 'node:os';
import path from 'node:path';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { PeapodError } from './errors.js';
import { rootlessRuntimeDir, rootlessUid } from './rootless/userns.js';

/** Where peapod keeps things and which programs it runs. Built once per CLI invocation. */
export interface EngineConfig {
  root: string;               // persistent state (images, container records, logs)
  runroot: string;            // volatile state (bundles, runc state, exit files), tmpfs
  runtimeName: 'runc' | 'crun';
  runtimePath: string;
  runtimeReason: string;      // why this runtime was chosen (shown by `peapod info`)
  conmonPath: string;
  /** argv prefix that runs this peapod (node + script) for conmon's --exit-command */
  selfCommand: string[];
  logLevel: string;
  infraImage?: string;
  /** cgroup under which every container's cgroup is made (Podman's --cgroup-parent), e.g. /peapod */
  cgroupParent: string;
  /** the host uid of the user when peapod runs rootless (inside its user namespace), else undefined */
  rootlessUid?: number;
  /**
   * The systemd unit this command runs in (a generated unit sets PEAPOD_SYSTEMD_UNIT=%n) and which
   * manager runs it (a user manager sets MANAGERPID); recorded on the containers made under it, so
   * that `auto-update` knows which unit to restart
   */
  systemdUnit?: { name: string; manager: 'system' | 'user' };
}

export interface EngineConfigInput {
  root?: string;
  runroot?: string;
  runtime?: string;
  logLevel?: string;
  infraImage?: string;
  selfCommand: string[];
}

/** Real root: not a normal user, nor a normal user's peapod inside its user namespace. */
function isRoot(): boolean {
  return rootlessUid() === undefined;
}

export function defaultRoot(): string {
  if (isRoot()) return '/var/lib/peapod';
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'peapod');
}

export function defaultRunroot(): string {
  if (isRoot()) return '/run/peapod';
  return path.join(rootlessRuntimeDir(rootlessUid()!), 'peapod');
}

/**
 * Host-wide state that every rootful peapod root on this host shares (bridge claims, the network
 * lock): a root-owned 0700 directory on /run's tmpfs, never a world-writable one such as /run/lock,
 * where any local user could plant symlinks or fake claims. Not under the default run root, which
 * `system reset` removes. Made and checked on first use.
 */
export const HOST_STATE_DIR = '/run/peapod-host';

export function hostStateDir(): string {
  try {
    mkdirSync(HOST_STATE_DIR, { mode: 0o700 });
  } catch (err: any) {
    if (err?.code !== 'EEXIST') throw new PeapodError('prerequisite', `creating ${HOST_STATE_DIR}: ${err.message}`);
  }
  const st = lstatSync(HOST_STATE_DIR);
  if (!st.isDirectory() || st.uid !== 0) {
    throw new PeapodError('state', `${HOST_STATE_DIR} is not a directory owned by root (a symlink, or made by uid ${st.uid}): refusing to keep host-wide claims there; remove it`);
  }
  if ((st.mode & 0o077) !== 0) chmodSync(HOST_STATE_DIR, 0o700);
  return HOST_STATE_DIR;
}

export function findProgram(name: string, extra: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', ...extra];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Cgroup layout of this host: "v2" (unified), "v1", or "hybrid" (v1 controllers plus a v2 mount). */
export function cgroupLayout(): 'v1' | 'v2' | 'hybrid' {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  if (existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) return 'hybrid';
  return 'v1';
}

/**
 * crun 1.8 refuses every call on a hybrid host whose unified hierarchy has controllers
 * (see HOST-NOTES.md), so runc is the default there; crun is preferred where it works.
 */
export function chooseRuntime(requested?: string): { name: 'runc' | 'crun'; path: string; reason: string } {
  const layout = cgroupLayout();
  let hybridBlocksCrun = false;
  if (layout === 'hybrid') {
    try {
      hybridBlocksCrun = readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== '';
    } catch { /* unreadable: assume not */ }
  }
  if (requested) {
    const name = path.basename(requested);
    if (name !== 'runc' && name !== 'crun') throw new PeapodError('invalid', `unsupported OCI runtime "${requested}": use runc or crun`);
    const p = requested.includes('/') ? requested : findProgram(name);
    if (!p || !existsSync(p)) throw new PeapodError('prerequisite', `OCI runtime "${requested}" not found`, { hint: `apt-get install ${name}` });
    if (name === 'crun' && hybridBlocksCrun) {
      throw new PeapodError('prerequisite', 'crun cannot run on this host: cgroups in hybrid mode with controllers on the unified hierarchy', { hint: 'use --runtime runc' });
    }
    return { name, path: p, reason: 'requested with --runtime or PEAPOD_RUNTIME' };
  }
  const crun = findProgram('crun');
  const runc = findProgram('runc');
  if (crun && !hybridBlocksCrun && layout === 'v2') return { name: 'crun', path: crun, reason: 'cgroup v2 host: crun works and is faster' };
  if (runc) {
    const why = hybridBlocksCrun ? 'crun refuses hybrid cgroups with controllers on the unified hierarchy' : `cgroup ${layout} host`;
    return { name: 'runc', path: runc, reason: `default (${why})` };
  }
  if (crun && !hybridBlocksCrun) return { name: 'crun', path: crun, reason: 'runc is not installed' };
  throw new PeapodError('prerequisite', 'no usable OCI runtime found', { hint: 'apt-get install runc' });
}

function cgroupParentOf(p: string): string {
  if (!/^\/[A-Za-z0-9_.@-]+(\/[A-Za-z0-9_.@-]+)*$/.test(p)) throw new PeapodError('invalid', `cgroup parent "${p}": use an absolute cgroup path such as /peapod`);
  return p;
}

/** Settings a config file may hold (JSON): the defaults of the matching global flags. */
export interface ConfigFile {
  runtime?: string;
  infraImage?: string;
  root?: string;
  runroot?: string;
  cgroupParent?: string;
}

/** $PEAPOD_CONFIG, else /etc/peapod/peapod.json (root) or $XDG_CONFIG_HOME/peapod/peapod.json. */
export function configFilePath(): string {
  if (process.env.PEAPOD_CONFIG) return process.env.PEAPOD_CONFIG;
  if (isRoot()) return '/etc/peapod/peapod.json';
  return path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'peapod', 'peapod.json');
}

export function readConfigFile(file = configFilePath()): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err: any) {
    if (err?.code === 'ENOENT' && !process.env.PEAPOD_CONFIG) return {};
    throw new PeapodError('invalid', `reading config file ${file}: ${err?.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new PeapodError('invalid', `config file ${file}: ${(err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new PeapodError('invalid', `config file ${file}: expected a JSON object`);
  const known = ['runtime', 'infraImage', 'root', 'runroot', 'cgroupParent'];
  for (const [k, val] of Object.entries(v)) {
    if (!known.includes(k)) throw new PeapodError('invalid', `config file ${file}: unknown setting "${k}" (known: ${known.join(', ')})`);
    if (typeof val !== 'string') throw new PeapodError('invalid', `config file ${file}: setting "${k}" must be a string`);
  }
  return v as ConfigFile;
}

/**
 * containers.conf's `[engine] infra_image` ($CONTAINERS_CONF, else /etc/containers/containers.conf),
 * which Podman's pods take their infra image from: peapod honours it too.
 */
export function containersConfInfraImage(file = process.env.CONTAINERS_CONF || '/etc/containers/containers.conf'): string | undefined {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return undefined; }
  let section = '';
  for (const line of text.split('\n')) {
    const h = /^\s*\[([^\]]+)\]/.exec(line);
    if (h) { section = h[1].trim(); continue; }
    const m = /^\s*infra_image\s*=\s*"([^"]*)"/.exec(line);
    if (m && section === 'engine') return m[1] || undefined;
  }
  return undefined;
}

export function buildConfig(input: EngineConfigInput): EngineConfig {
  const file = readConfigFile();
  input = { ...input, root: input.root ?? file.root, runroot: input.runroot ?? file.runroot, runtime: input.runtime ?? file.runtime };
  const rt = chooseRuntime(input.runtime ?? process.env.PEAPOD_RUNTIME);
  const conmon = findProgram('conmon', ['/usr/libexec/podman']);
  if (!conmon) throw new PeapodError('prerequisite', 'conmon not found', { hint: 'apt-get install conmon' });
  return {
    root: path.resolve(input.root ?? defaultRoot()),
    runroot: path.resolve(input.runroot ?? defaultRunroot()),
    runtimeName: rt.name,
    runtimePath: rt.path,
    runtimeReason: rt.reason,
    conmonPath: conmon,
    selfCommand: input.selfCommand,
    logLevel: input.logLevel ?? 'warn',
    infraImage: input.infraImage ?? file.infraImage ?? containersConfInfraImage(),
    cgroupParent: cgroupParentOf(process.env.PEAPOD_CGROUP_PARENT ?? file.cgroupParent ?? '/peapod'),
    rootlessUid: rootlessUid(),
    ...(process.env.PEAPOD_SYSTEMD_UNIT ? { systemdUnit: { name: process.env.PEAPOD_SYSTEMD_UNIT, manager: process.env.MANAGERPID ? 'user' : 'system' } } : {}),
  };
}
