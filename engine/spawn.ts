// A small runner for the programs the hot paths start (runc, conmon, netavark, mount):
// node:child_process directly, not execa (its module loading and per-call work are measurable in
// play kube and kube down, which start dozens of these). And not even child_process per program:
// forking the ~70 MB Node process costs ~5 ms of CPU per child (its page tables), so the programs
// are started by peapod-spawn (native/spawn.c, built by `npm run build` into dist/native/), a
// process of a few hundred KiB that Node forks once per command and that forks/execs on request over
// a pipe; it makes the plain mount/umount calls itself (asSystemCall). Without it (not built,
// PEAPOD_SPAWN_HELPER=0, or it failed) node:child_process does the same work, with the same results.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeapodError } from './errors.js';

export interface RunResult {
  /** the exit code; -1 when the program could not be started or was killed by a signal */
  exitCode: number;
  /** output without its final newline (as execa gives it) */
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** written to the program's stdin, which is then closed (stdin is ignored without it) */
  input?: string;
  /** SIGTERM after this many milliseconds; the result then has timedOut set */
  timeoutMs?: number;
}

/**
 * Runs a program to its end and resolves with its exit code and output; never rejects (a program
 * that cannot be started resolves with exit code -1 and the reason as stderr).
 */
export function runProgram(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const h = helper();
  if (h) {
    // The helper's frames are NUL-separated: a NUL inside a value (a hostile name) would shift the
    // arguments, so it is refused here as node:child_process refuses it.
    if ([file, ...args].some((a) => a.includes('\0'))) return Promise.resolve({ exitCode: -1, stdout: '', stderr: `${file}: an argument contains a null byte`, timedOut: false });
    const call = opts.input === undefined && opts.timeoutMs === undefined ? asSystemCall(file, args) : undefined;
    return h.request(call?.[0] ?? file, call?.slice(1) ?? args, { input: opts.input, timeoutMs: opts.timeoutMs, builtin: !!call }).then((r) => {
      if (r.kind === 'failed') return { exitCode: -1, stdout: '', stderr: `${file}: spawn ${file} ${errnoName(r.errno)}`, timedOut: false };
      return { exitCode: r.code, stdout: stripNewline(r.stdout.toString()), stderr: stripNewline(r.stderr.toString()), timedOut: r.timedOut };
    });
  }
  return runWithNode(file, args, opts);
}

/**
 * Waits until process `pid` has ended (a zombie counts as ended) without polling: peapod-spawn
 * watches a pidfd. 'unsupported' (no helper, or no pidfd_open) leaves the caller to poll.
 */
export async function waitForExit(pid: number, timeoutMs: number): Promise<'exited' | 'timeout' | 'unsupported'> {
  const h = helper();
  if (!h || !(pid > 0)) return 'unsupported';
  const r = await h.request('pidwait', [String(pid), String(Math.max(0, Math.round(timeoutMs)))], { builtin: true });
  if (r.kind !== 'exited') return 'unsupported';
  return r.code === 0 ? 'exited' : r.code === 1 ? 'timeout' : 'unsupported';
}

/**
 * systemd's notify socket (a Type=notify unit runs peapod), taken out of the environment as soon as
 * anything can start a program: runc acts on it (`runc start` would wait for READY=1 from inside
 * the container), and no other child is the unit's to speak for.
 */
const NOTIFY_SOCKET = process.env.NOTIFY_SOCKET;
delete process.env.NOTIFY_SOCKET;

/** True when peapod runs under a Type=notify unit (systemd gave it a notify socket). */
export const underNotifyUnit = (): boolean => !!NOTIFY_SOCKET;

/**
 * sd_notify(3): sends `message` ("READY=1", "STATUS=...") to systemd's $NOTIFY_SOCKET; false when
 * there is none (not run by a Type=notify unit). peapod-spawn sends it (as this process where
 * the kernel allows, root); without the helper, systemd-notify(1) does (NotifyAccess=all).
 */
export async function sdNotify(message: string): Promise<boolean> {
  const socket = NOTIFY_SOCKET;
  if (!socket) return false;
  const h = helper();
  if (h) {
    const r = await h.request('notify', [socket, message, String(process.pid)], { builtin: true });
    if (r.kind === 'exited' && r.code === 0) return true;
    throw new PeapodError('runtime', `sd_notify: ${r.kind === 'exited' ? r.stderr.toString().trim() : `errno ${r.errno}`}`);
  }
  const lines = message.split('\n').filter(Boolean);
  const r = await runWithNode('systemd-notify', lines.includes('READY=1') ? ['--ready', ...lines.filter((l) => l !== 'READY=1')] : lines, {});
  if (r.exitCode !== 0) throw new PeapodError('runtime', `systemd-notify: ${r.stderr || `exit ${r.exitCode}`}`);
  return true;
}

export interface SyncLaunch {
  /** conmon's first line on its sync pipe (fd 3), '' when it closed the pipe without one */
  line: string;
  /** what it wrote on stderr until then */
  stderr: string;
}

/**
 * Starts conmon as Podman does: a new session, the working directory given, fd 3 a pipe it reports
 * the container's pid on (_OCI_SYNCPIPE) and fd 4 a pipe from which it reads "0" to go on
 * (_OCI_STARTPIPE); resolves with the first line on fd 3 and leaves the process to itself. Rejects
 * when it cannot be started.
 */
export function launchWithSyncPipes(file: string, args: string[], env: Record<string, string | undefined>, cwd: string): Promise<SyncLaunch> {
  const h = helper();
  if (h) {
    if ([file, ...args, cwd, ...Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`)].some((a) => a.includes('\0'))) {
      return Promise.reject(new Error(`spawn ${file}: an argument contains a null byte`));
    }
    return h.request(file, args, { env, cwd, detached: true, sync: true }).then((r) => {
      if (r.kind === 'failed') throw Object.assign(new Error(`spawn ${file} ${errnoName(r.errno)}`), { code: errnoName(r.errno) });
      return { line: r.stdout.toString(), stderr: r.stderr.toString() };
    });
  }
  return launchWithNode(file, args, env, cwd);
}

function runWithNode(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ exitCode: -1, stdout: '', stderr: `${file}: ${(err as Error).message}`, timedOut: false });
      return;
    }
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    let timedOut = false;
    let failure: Error | undefined;
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => { timedOut = true; child.kill('SIGTERM'); }, opts.timeoutMs);
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => errs.push(d));
    let settled = false;
    const settle = (r: RunResult) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      resolve(r);
    };
    child.on('error', (err) => {
      failure = err;
      // Not started at all (ENOENT, EACCES): no 'close' needs to follow.
      if (child.pid === undefined) settle({ exitCode: -1, stdout: '', stderr: `${file}: ${err.message}`, timedOut: false });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => { /* the program ended without reading its input */ });
      child.stdin!.end(opts.input);
    }
    child.on('close', (code) => {
      const stderr = stripNewline(Buffer.concat(errs).toString());
      settle({
        exitCode: code ?? -1,
        stdout: stripNewline(Buffer.concat(out).toString()),
        stderr: failure && !stderr ? `${file}: ${failure.message}` : stderr,
        timedOut,
      });
    });
  });
}

function launchWithNode(file: string, args: string[], env: Record<string, string | undefined>, cwd: string): Promise<SyncLaunch> {
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], env, cwd, detached: true });
  const sync = child.stdio[3] as NodeJS.ReadableStream;
  const start = child.stdio[4] as NodeJS.WritableStream;
  let stderr = '';
  child.stderr?.on('data', (d) => { stderr += String(d); });
  return new Promise<SyncLaunch>((resolve, reject) => {
    let buf = '';
    let done = false;
    const finish = (line: string) => {
      if (done) return;
      done = true;
      sync.removeListener('data', onData);
      (sync as any).destroy?.();
      child.stderr?.destroy();
      child.unref();
      resolve({ line, stderr });
    };
    const onData = (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
    };
    sync.on('data', onData);
    sync.on('end', () => finish(buf));
    child.on('error', (e) => { if (!done) { done = true; reject(e); } });
    start.on('error', () => { /* it ended without reading */ });
    start.write('0');
    start.end();
  });
}

// mount(8) and umount(8) of the plain forms peapod uses are one system call each: peapod-spawn
// makes it itself (no process, no libmount) and answers as they would (exit 32 and a
// "mount: TARGET: reason" line on failure); a pod's network namespace with its loopback up is
// three (unshare, mount, ioctl) in one child of peapod-spawn instead of unshare(1) and ip(8).
// Any other form runs the program.
const MOUNT_FLAGS: Record<string, number> = { ro: 1, rw: 0, nosuid: 2, suid: 0, nodev: 4, dev: 0, noexec: 8, exec: 0 };
const MOUNT_DATA = new Set(['mode', 'size', 'nr_inodes', 'nr_blocks', 'uid', 'gid', 'lowerdir', 'upperdir', 'workdir']);

/**
 * `mount -t T [-o O] SRC TARGET` -> ["mount", T, SRC, TARGET, flags, data]; `umount [-l] T...` ->
 * ["umount", "0"|"1", T...]; `unshare --net=FILE ip link set lo up` -> ["netns", FILE].
 */
export function asSystemCall(file: string, args: string[]): string[] | undefined {
  if (file === 'unshare') {
    const m = /^--net=(.+)$/.exec(args[0] ?? '');
    return m && args.length === 6 && args.slice(1).join(' ') === 'ip link set lo up' ? ['netns', m[1]] : undefined;
  }
  if (file === 'umount') {
    const detach = args[0] === '-l';
    const targets = detach ? args.slice(1) : args;
    if (!targets.length || targets.some((t) => t.startsWith('-') || !t)) return undefined;
    return ['umount', detach ? '1' : '0', ...targets];
  }
  if (file !== 'mount') return undefined;
  let type: string | undefined;
  let options = '';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-t' && i + 1 < args.length) type = args[++i];
    else if (args[i] === '-o' && i + 1 < args.length) options = args[++i];
    else if (args[i].startsWith('-')) return undefined;
    else rest.push(args[i]);
  }
  if (!type || rest.length !== 2 || rest.some((a) => !a)) return undefined;
  let flags = 0;
  const data: string[] = [];
  for (const o of options ? options.split(',') : []) {
    const eq = o.indexOf('=');
    if (eq > 0 && MOUNT_DATA.has(o.slice(0, eq))) data.push(o);
    else if (o in MOUNT_FLAGS) flags |= MOUNT_FLAGS[o];
    else return undefined;
  }
  return ['mount', type, rest[0], rest[1], String(flags), data.join(',')];
}

function stripNewline(s: string): string {
  return s.endsWith('\n') ? s.slice(0, s.endsWith('\r\n') ? -2 : -1) : s;
}

function errnoName(n: number): string {
  for (const [name, v] of Object.entries(osConstants.errno)) if (v === n) return name;
  return `errno ${n}`;
}

// --- peapod-spawn ------------------------------------------------------------------------------

interface Reply {
  kind: 'exited' | 'failed' | 'sync';
  code: number;
  errno: number;
  timedOut: boolean;
  stdout: Buffer;
  stderr: Buffer;
}

interface Request {
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
  detached?: boolean;
  sync?: boolean;
  /** a system call of peapod-spawn itself (asSystemCall) */
  builtin?: boolean;
}

/** dist/native/peapod-spawn of this installation (from dist/engine/, dist/bundle/ or engine/ when run from source). */
function helperPath(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = path.join(dir, 'dist', 'native', 'peapod-spawn');
    if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  return undefined;
}

class SpawnHelper {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  private buf: Buffer = Buffer.alloc(0);
  broken = false;

  constructor(file: string) {
    this.child = spawn(file, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.on('error', () => this.fail());
    this.child.on('exit', () => this.fail());
    this.child.stdin!.on('error', () => this.fail());
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d));
    // It must not keep the CLI alive: referenced only while a request waits for its reply.
    this.child.unref();
    this.idle();
    // At the end the CLI closes its stdin and waits for it to exit (a few ms): reaped by the CLI,
    // its CPU time and that of the programs it ran count in the CLI's own (wait4, GNU time), as
    // when Node started them itself.
    process.once('beforeExit', () => {
      if (this.broken) return;
      this.child.ref();
      this.child.stdin!.end();
    });
  }

  request(file: string, args: string[], req: Request): Promise<Reply> {
    if (this.broken) return Promise.resolve(failedReply());
    const id = this.nextId++;
    const env = Object.entries(req.env ?? process.env).filter(([, v]) => v !== undefined).map(([k, v]) => Buffer.from(`${k}=${v}\0`));
    const strings = [Buffer.from(`${req.cwd ?? ''}\0`), ...[file, ...args].map((a) => Buffer.from(`${a}\0`)), ...env];
    const input = req.input === undefined ? Buffer.alloc(0) : Buffer.from(req.input);
    const head = Buffer.alloc(28);
    const flags = (req.input !== undefined ? 1 : 0) | (req.detached ? 2 : 0) | (req.sync ? 4 : 0) | (req.builtin ? 8 : 0);
    const body = [head, ...strings, input];
    const len = body.reduce((n, b) => n + b.length, 0) - 4;
    head.writeUInt32LE(len, 0);
    head.writeUInt32LE(id, 4);
    head.writeUInt32LE(flags, 8);
    head.writeUInt32LE(req.timeoutMs ?? 0, 12);
    head.writeUInt32LE(args.length + 1, 16);
    head.writeUInt32LE(env.length, 20);
    head.writeUInt32LE(input.length, 24);
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      if (this.pending.size === 1) this.busy();
      this.child.stdin!.write(Buffer.concat(body));
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (this.buf.length < 4 + len) break;
      const f = this.buf.subarray(4, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      const id = f.readUInt32LE(0);
      const outLen = f.readUInt32LE(20);
      const errLen = f.readUInt32LE(24);
      const reply: Reply = {
        kind: (['exited', 'failed', 'sync'] as const)[f.readUInt32LE(4)] ?? 'failed',
        code: f.readInt32LE(8),
        errno: f.readUInt32LE(12),
        timedOut: f.readUInt32LE(16) !== 0,
        stdout: Buffer.from(f.subarray(28, 28 + outLen)),
        stderr: Buffer.from(f.subarray(28 + outLen, 28 + outLen + errLen)),
      };
      const resolve = this.pending.get(id);
      this.pending.delete(id);
      if (!this.pending.size) this.idle();
      resolve?.(reply);
    }
  }

  private busy(): void {
    (this.child.stdout as any).ref?.();
    (this.child.stdin as any).ref?.();
  }

  private idle(): void {
    (this.child.stdout as any).unref?.();
    (this.child.stdin as any).unref?.();
  }

  /** The helper died: what waits for it gets a failure, and later calls go through Node. */
  private fail(): void {
    this.broken = true;
    helperState = 'off';
    for (const resolve of this.pending.values()) resolve(failedReply());
    this.pending.clear();
    this.idle();
  }
}

function failedReply(): Reply {
  return { kind: 'failed', code: -1, errno: osConstants.errno.ECHILD, timedOut: false, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
}

let helperState: 'unknown' | 'off' | SpawnHelper = 'unknown';

function helper(): SpawnHelper | undefined {
  if (helperState === 'unknown') {
    const file = process.env.PEAPOD_SPAWN_HELPER === '0' ? undefined : helperPath();
    helperState = file ? new SpawnHelper(file) : 'off';
  }
  return helperState === 'off' ? undefined : helperState;
}
