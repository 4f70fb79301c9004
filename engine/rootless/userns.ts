// Rootless mode: a normal user's peapod runs every command inside one user + mount namespace of
// its own, where the user is uid 0 and its /etc/subuid and /etc/subgid ranges are mapped above it.
//
// The namespace is held by a pause process (as Podman does): made once with
// `unshare --user --map-root-user --map-auto --mount`, its pid kept in <runtime dir>/peapod-ns/pause.pid.
// Each later command re-runs itself inside it through `nsenter --user --mount --target PID`, so
// that the mounts (overlay rootfs, netns files, shm) that one command made are seen by the next, and
// everything engine-side (runc, conmon, and conmon's exit command, which inherit the namespace) runs
// as "root" of that namespace. Node cannot setns(2) itself (the process is multi-threaded), hence
// the re-run through nsenter rather than an in-process join.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PeapodError } from '../errors.js';

/** Set (to the user's host uid) in the environment of a peapod that runs inside its user namespace. */
export const ROOTLESS_ENV = '_PEAPOD_ROOTLESS_UID';
/** ... and to the user's primary host gid. */
export const ROOTLESS_GID_ENV = '_PEAPOD_ROOTLESS_GID';

const INIT_MAP = /^\s*0\s+0\s+4294967295\s*$/;

/** True when this process is in a user namespace other than the initial one. */
export function inUserNamespace(): boolean {
  try {
    return !INIT_MAP.test(readFileSync('/proc/self/uid_map', 'utf8').trim());
  } catch {
    return false;
  }
}

/**
 * The host uid of the user a rootless peapod works for; undefined when peapod runs as real root.
 * Inside the namespace getuid() is 0: the marker (trusted only inside a user namespace) says who.
 */
export function rootlessUid(): number | undefined {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return uid;
  const v = process.env[ROOTLESS_ENV];
  if (v && /^\d+$/.test(v) && inUserNamespace()) return Number(v);
  return undefined;
}

/** The primary host gid of the rootless user (see rootlessUid). */
export function rootlessGid(): number | undefined {
  if (rootlessUid() === undefined) return undefined;
  if ((process.getuid?.() ?? 0) !== 0) return process.getgid?.() ?? 0;
  const v = process.env[ROOTLESS_GID_ENV];
  return v && /^\d+$/.test(v) ? Number(v) : rootlessUid();
}

/**
 * $XDG_RUNTIME_DIR, or when it is unset /tmp/peapod-run-UID, made 0700. A directory of that name
 * that someone else made (or a symlink) is refused: /tmp is shared by every user.
 */
export function rootlessRuntimeDir(uid: number): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) return xdg;
  const dir = path.join(os.tmpdir(), `peapod-run-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err: any) {
    if (err?.code !== 'EEXIST') throw new PeapodError('prerequisite', `creating ${dir}: ${err.message}`, { hint: 'set XDG_RUNTIME_DIR' });
  }
  const st = lstatSync(dir);
  // Inside the namespace the user is uid 0, outside it is its own uid: both are "us".
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o077) !== 0) {
    throw new PeapodError('prerequisite', `${dir} is not a private directory of this user (owner uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}): refusing to keep run state there`, { hint: 'set XDG_RUNTIME_DIR to a directory only you can write' });
  }
  return dir;
}

/**
 * Where the pause process's pid file, log and creation lock live: beside the run root, not in it,
 * so that removing a run root (system reset) never loses track of a namespace still in use.
 */
export function pauseDir(uid: number): string {
  return path.join(rootlessRuntimeDir(uid), 'peapod-ns');
}

export interface SubIdRange { start: number; count: number }

/** The ranges of /etc/subuid or /etc/subgid text that belong to a user (by name or uid). */
export function subIdRanges(text: string, user: string, uid: number): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (count === undefined || (who !== user && who !== String(uid))) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

/** A free start for a new 65536-id range: above every range in the file, at least 100000. */
export function freeSubIdStart(text: string): number {
  let end = 100000;
  for (const line of text.split('\n')) {
    const [, start, count] = line.trim().split(':');
    const e = Number(start) + Number(count);
    if (Number.isSafeInteger(e) && e > end) end = e;
  }
  return end;
}

function readText(file: string): string {
  try { return readFileSync(file, 'utf8'); } catch { return ''; }
}

/**
 * Refuses, with the exact line to add, when the user has no range in /etc/subuid or /etc/subgid
 * (newuidmap/newgidmap would fail later with a message that says much less).
 */
export function checkSubIds(user: string, uid: number, files = { subuid: '/etc/subuid', subgid: '/etc/subgid' }): void {
  for (const [kind, file] of [['uid', files.subuid], ['gid', files.subgid]] as const) {
    const text = readText(file);
    if (subIdRanges(text, user, uid).length) continue;
    const start = freeSubIdStart(text);
    throw new PeapodError('prerequisite',
      `rootless: user ${user} has no subordinate ${kind} range in ${file}: add the line "${user}:${start}:65536" to ${file} (as root: usermod --add-sub${kind}s ${start}-${start + 65535} ${user})`,
      { hint: 'rootless pods need subordinate uid and gid ranges (see the README, Rootless)' });
  }
}

/** The pause process's pid when it is alive and holds a user namespace of this user. */
function livePause(pidFile: string): number | undefined {
  const pid = Number(readText(pidFile).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = status.match(/^Uid:\s+(\d+)/m)?.[1];
    if (Number(uid) !== process.getuid?.()) return undefined;
    if (/^State:\s+[ZX]/m.test(status)) return undefined; // dead, not yet reaped
    // still the pause, not a pid reused by some other process of this user
    if (readlinkSync(`/proc/${pid}/ns/user`) === readlinkSync('/proc/self/ns/user')) return undefined;
    if (INIT_MAP.test(readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim())) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

/** Serialises the creation of the pause process between concurrent first commands (mkdir is atomic). */
function withCreationLock<T>(dir: string, fn: () => T): T {
  const lock = path.join(dir, 'pause.lock');
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch (err: any) {
      if (err?.code !== 'EEXIST') throw err;
      const owner = Number(readText(path.join(lock, 'owner')));
      const stale = owner > 0 && !existsSync(`/proc/${owner}`);
      if (stale || i > 400) {
        spawnSync('rm', ['-rf', lock]);
        continue;
      }
      spawnSync('sleep', ['0.025']);
    }
  }
  writeFileSync(path.join(lock, 'owner'), String(process.pid));
  try {
    return fn();
  } finally {
    spawnSync('rm', ['-rf', lock]);
  }
}

function pauseProgram(): string[] {
  for (const p of ['/usr/bin/catatonit', '/usr/libexec/podman/catatonit']) if (existsSync(p)) return [p, '-P'];
  return ['sleep', 'infinity'];
}

/**
 * The pid of this user's pause process, made now if there is none. Its namespace maps the user to
 * 0 and the first subordinate range above it (`unshare --map-auto`, which runs newuidmap/newgidmap).
 */
export function ensurePause(runDir: string): number {
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const pidFile = path.join(runDir, 'pause.pid');
  const have = livePause(pidFile);
  if (have) return have;
  const uid = process.getuid?.() ?? 0;
  const user = os.userInfo().username;
  checkSubIds(user, uid);
  return withCreationLock(runDir, () => {
    const again = livePause(pidFile);
    if (again) return again;
    const logFile = path.join(runDir, 'pause.log');
    const log = openSync(logFile, 'w', 0o600);
    // The pause died (killed, or out of memory) while containers still run: their conmon holds the
    // namespace and its mounts, so the new pause joins that one rather than making an empty one.
    const holder = namespaceHolder();
    const args = holder
      ? ['--user', '--mount', '--target', String(holder), '--preserve-credentials', '--', ...pauseProgram()]
      : ['--user', '--map-root-user', '--map-auto', '--mount', '--propagation', 'private', '--', ...pauseProgram()];
    const child = spawn(holder ? 'nsenter' : 'unshare', args, { detached: true, stdio: ['ignore', log, log], cwd: '/' });
    closeSync(log);
    const pid = child.pid;
    if (!pid) throw new PeapodError('prerequisite', 'rootless: cannot start unshare (util-linux) for the pause process');
    child.unref();
    // unshare writes the maps (through newuidmap) and then execs the pause program: wait for that.
    const unshareExe = readlinkSafe(`/proc/${pid}/exe`);
    for (let i = 0; i < 400; i++) {
      const exe = readlinkSafe(`/proc/${pid}/exe`);
      const state = readText(`/proc/${pid}/stat`).split(') ')[1]?.[0];
      if (!exe || state === 'Z') {
        const why = readText(logFile).trim();
        throw new PeapodError('prerequisite', `rootless: creating the user namespace (unshare ${args.slice(0, 4).join(' ')}) failed: ${why || 'unshare exited'}`, {
          hint: 'check /etc/subuid and /etc/subgid and that newuidmap/newgidmap (package uidmap) are installed setuid',
        });
      }
      if (exe !== unshareExe && !exe.endsWith('/unshare') && !exe.endsWith('/nsenter')) break;
      spawnSync('sleep', ['0.005']);
    }
    const tmp = `${pidFile}.${process.pid}`;
    writeFileSync(tmp, String(pid));
    renameSync(tmp, pidFile);
    return pid;
  });
}

/** A process of this user that a rootless peapod started in its namespace (a conmon), if any. */
function namespaceHolder(): number | undefined {
  const uid = process.getuid?.();
  const mine = readlinkSafe('/proc/self/ns/user');
  for (const d of readdirSafe('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      if (Number(status.match(/^Uid:\s+(\d+)/m)?.[1]) !== uid) continue;
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'conmon') continue;
      if (readlinkSafe(`/proc/${d}/ns/user`) === mine) continue;
      if (!readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').some((e) => e.startsWith(`${ROOTLESS_ENV}=`))) continue;
      return Number(d);
    } catch { /* gone, or not ours */ }
  }
  return undefined;
}

function readdirSafe(p: string): string[] {
  try { return readdirSync(p); } catch { return []; }
}

/**
 * Ends the pause process when nothing else runs in this user namespace any more (called inside
 * it, by system reset): the next command makes a new one. True when it was stopped.
 */
export function stopPauseIfIdle(runDir: string): boolean {
  const pidFile = path.join(runDir, 'pause.pid');
  const pause = Number(readText(pidFile).trim());
  const mine = readlinkSafe('/proc/self/ns/user');
  if (!(pause > 0) || readlinkSafe(`/proc/${pause}/ns/user`) !== mine) return false;
  for (const d of readdirSafe('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid || Number(d) === pause) continue;
    const state = readText(`/proc/${d}/stat`).split(') ')[1]?.[0];
    if (state !== 'Z' && readlinkSafe(`/proc/${d}/ns/user`) === mine) return false;
  }
  try { process.kill(pause, 'SIGKILL'); } catch { return false; }
  rmSync(pidFile, { force: true });
  return true;
}

function readlinkSafe(p: string): string {
  try { return readlinkSync(p); } catch { return ''; }
}

/**
 * Runs this same command again inside the user's namespace and resolves with its exit code.
 * stdio is shared, signals are forwarded, the working directory is kept.
 */
export function runInUserNamespace(runDir: string, argv: string[]): Promise<number> {
  const pid = ensurePause(runDir);
  const uid = process.getuid?.() ?? 0;
  const args = ['--user', '--mount', '--target', String(pid), '--preserve-credentials', `--wd=${process.cwd()}`, '--', process.execPath, ...process.execArgv, ...argv.slice(1)];
  const child = spawn('nsenter', args, { stdio: 'inherit', env: { ...process.env, [ROOTLESS_ENV]: String(uid), [ROOTLESS_GID_ENV]: String(process.getgid?.() ?? uid) } });
  const forward = (sig: NodeJS.Signals) => () => { child.kill(sig); };
  for (const s of ['SIGTERM', 'SIGHUP'] as const) process.on(s, forward(s));
  // Ctrl-C reaches the child from the terminal itself (same process group): this process only
  // waits for the child to decide what it means (e.g. play kube --wait takes its pods down).
  process.on('SIGINT', () => undefined);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => reject(new PeapodError('prerequisite', `rootless: running nsenter: ${e.message}`, { hint: 'apt-get install util-linux' })));
    child.on('close', (code, sig) => resolve(code ?? (sig === 'SIGKILL' ? 137 : sig === 'SIGTERM' ? 143 : sig === 'SIGINT' ? 130 : 125)));
  });
}

/** True when this command must first enter the user's namespace (a normal user, not yet inside). */
export function needsUserNamespace(): boolean {
  return (process.getuid?.() ?? 0) !== 0;
}
