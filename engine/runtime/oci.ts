import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import type { EngineConfig } from '../config.js';
import { debug } from '../log.js';
import { launchWithSyncPipes, runProgram } from '../spawn.js';
import { rootlessCgroups } from '../rootless/spec.js';

/** Paths of one container's bundle and monitor files (all under the runroot). */
export interface BundlePaths {
  bundle: string;      // holds config.json, pidfile, conmon.pid, oci-log
  exitDir: string;     // conmon writes <exitDir>/<id> with the exit status
  persistDir: string;  // conmon's -0 dir (the `oom` marker lands here)
  logPath: string;     // k8s-file log (persistent, under the root)
}

export interface ConmonLaunch {
  id: string;
  name: string;
  paths: BundlePaths;
  /** argv of the command conmon runs after the container exits */
  exitCommand?: string[];
}

/** The OCI runtime (runc or crun), driven through conmon for create and directly otherwise. */
export class OciRuntime {
  constructor(private readonly cfg: EngineConfig) {}

  get stateRoot(): string {
    return path.join(this.cfg.runroot, this.cfg.runtimeName);
  }

  private baseArgs(): string[] {
    return [`--root=${this.stateRoot}`];
  }

  /**
   * Starts conmon, which runs `<runtime> create` and stays as the container's parent. Resolves with the
   * container's pid once the runtime reports it on the sync pipe; conmon itself forks away at once.
   */
  async createWithConmon(l: ConmonLaunch): Promise<{ pid: number; conmonPid: number }> {
    const p = l.paths;
    await fs.mkdir(p.exitDir, { recursive: true });
    await fs.mkdir(p.persistDir, { recursive: true });
    await fs.mkdir(path.dirname(p.logPath), { recursive: true });
    const args = [
      '--api-version', '1', '-c', l.id, '-u', l.id, '-r', this.cfg.runtimePath,
      '-b', p.bundle, '-p', path.join(p.bundle, 'pidfile'), '-n', l.name,
      '--exit-dir', p.exitDir, '--full-attach', '-l', `k8s-file:${p.logPath}`,
      '--log-level', 'warning',
      '--runtime-arg', `--root=${this.stateRoot}`,
      '--runtime-arg', '--log-format=json',
      '--runtime-arg', `--log=${path.join(p.bundle, 'oci-log')}`,
      '--conmon-pidfile', path.join(p.bundle, 'conmon.pid'),
      '-0', p.persistDir,
      '--socket-dir-path', path.join(this.cfg.runroot, 'socket'),
    ];
    if (l.exitCommand?.length) {
      args.push('--exit-command', l.exitCommand[0]);
      for (const a of l.exitCommand.slice(1)) args.push('--exit-command-arg', a);
    }
    debug(`running ${this.cfg.conmonPath} ${args.join(' ')}`);
    const launched = await launchWithSyncPipes(this.cfg.conmonPath, args, { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
      // conmon writes some files (an "oom" marker) relative to its working directory: the bundle, as Podman runs it
      p.bundle).catch((e: Error) => { throw new PeapodError('runtime', `starting conmon: ${e.message}`); });
    const stderr = launched.stderr;
    if (!launched.line.trim()) throw new PeapodError('runtime', `conmon exited without reporting the container's pid${stderr ? `: ${stderr.trim()}` : ''}`);
    const message = JSON.parse(launched.line) as { data: number; message?: string };
    if (message.data < 0) {
      const why = await this.runtimeError(p.bundle, message.message ?? stderr);
      throw classifyRuntimeError(why, this.cfg.runtimeName);
    }
    const conmonPid = Number((await fs.readFile(path.join(p.bundle, 'conmon.pid'), 'utf8')).trim());
    return { pid: message.data, conmonPid };
  }

  /** The last error line the runtime wrote to its JSON log, falling back to what conmon said. */
  private async runtimeError(bundle: string, fallback: string): Promise<string> {
    try {
      const lines = (await fs.readFile(path.join(bundle, 'oci-log'), 'utf8')).trim().split('\n');
      for (const line of lines.reverse()) {
        try {
          const j = JSON.parse(line);
          if (j.level === 'error' && j.msg) return String(j.msg);
        } catch { /* not JSON */ }
      }
    } catch { /* no log */ }
    return fallback.trim() || 'unknown runtime error';
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    // --all signals the container's cgroup, which a rootless container may not have (rootless/spec.ts):
    // then the signal goes to its init, and its pid namespace ends with it.
    const everyProcess = all && (this.cfg.rootlessUid === undefined || rootlessCgroups().usable);
    await this.run(['kill', ...(everyProcess ? ['--all'] : []), id, signal]);
  }

  async delete(id: string): Promise<void> {
    // The runtime keeps no state for this container (never created, or deleted already: remove
    // after stop): nothing to delete, and one process less to start.
    if (!existsSync(path.join(this.stateRoot, id))) return;
    try {
      await this.run(['delete', '--force', id]);
    } catch (err) {
      if (/does not exist|not exist|no such file/i.test(String((err as Error).message))) return;
      throw err;
    }
  }

  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    const r = await runProgram(this.cfg.runtimePath, [...this.baseArgs(), 'state', id]);
    if (r.exitCode !== 0) return undefined;
    return JSON.parse(r.stdout);
  }

  /** Runs a process in a running container with inherited stdio; resolves with its exit code. */
  async exec(id: string, opts: { args: string[]; env?: string[]; cwd?: string; user?: string; tty?: boolean; io?: import('./launcher.js').ExecIO }): Promise<number> {
    const args = [...this.baseArgs(), 'exec'];
    for (const e of opts.env ?? []) args.push('--env', e);
    if (opts.cwd) args.push('--cwd', opts.cwd);
    if (opts.user) args.push('--user', opts.user);
    if (opts.tty) args.push('--tty');
    args.push(id, ...opts.args);
    debug(`running ${this.cfg.runtimePath} ${args.join(' ')}`);
    const io = opts.io;
    const child = spawn(this.cfg.runtimePath, args, { stdio: io ? [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] : ['inherit', 'inherit', 'pipe'] });
    if (io) {
      if (child.pid) io.onPid?.(child.pid);
      child.stdout!.on('data', (d: Buffer) => io.stdout(d));
      if (io.stdin && child.stdin) {
        io.stdin.pipe(child.stdin);
        child.stdin.on('error', () => undefined);
      }
    }
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (io && !/level=error msg="exec failed|^crun: .*exec/m.test(String(d))) io.stderr(d);
      stderr += String(d);
      if (stderr.length > 65536) stderr = stderr.slice(-65536);
    });
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 + signalNumber(sig) : 255)));
    });
    // The runtime reports its own failure to start the process as an "exec failed" log line and
    // exit code 255 (runc) or 1 (crun); anything else is the process's own output and exit code.
    if ((code === 255 || code === 1) && /level=error msg="exec failed|^crun: .*exec/m.test(stderr)) {
      const line = stderr.split('\n').find((l) => /exec failed|crun:/.test(l)) ?? stderr;
      throw classifyRuntimeError((line.match(/msg="(.*)"/)?.[1] ?? line).replace(/\\"/g, '"'), this.cfg.runtimeName);
    }
    if (!io) process.stderr.write(stderr);
    return code;
  }

  /** Runs a process in the container without a terminal, output discarded; its exit code (or -1 on timeout). */
  async execQuiet(id: string, args: string[], timeoutMs: number): Promise<number> {
    const r = await runProgram(this.cfg.runtimePath, [...this.baseArgs(), 'exec', id, ...args], { timeoutMs });
    if (r.timedOut) return -1;
    return r.exitCode;
  }

  private async run(args: string[]): Promise<string> {
    const full = [...this.baseArgs(), ...args];
    debug(`running ${this.cfg.runtimePath} ${full.join(' ')}`);
    const r = await runProgram(this.cfg.runtimePath, full);
    if (r.exitCode !== 0) {
      throw new PeapodError('runtime', `${this.cfg.runtimeName} ${args[0]}: ${(r.stderr || r.stdout).trim() || `exit code ${r.exitCode}`}`);
    }
    return r.stdout;
  }
}

/** Map the runtime's "cannot exec" errors to Podman's exit codes: not found 127, not executable 126. */
export function classifyRuntimeError(msg: string, runtimeName = 'runc'): PeapodError {
  const clean = `${runtimeName}: ${msg.trim().replace(new RegExp(`^${runtimeName}: `), '')}`;
  if (/executable file not found|no such file or directory/i.test(msg) && /exec|starting container process/i.test(msg)) {
    return new PeapodError('command-not-found', `${clean}: OCI runtime attempted to invoke a command that was not found`);
  }
  if (/permission denied|exec format error|is a directory/i.test(msg) && /exec|starting container process/i.test(msg)) {
    return new PeapodError('not-executable', `${clean}: OCI permission denied`);
  }
  return new PeapodError('runtime', `${clean}: OCI runtime error`);
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
export function signalNumber(sig: string): number {
  return SIGNALS[sig] ?? 0;
}
