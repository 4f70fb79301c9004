// Running commands: wall time from spawn to exit, and the peak resident memory of the command
// (GNU time's %M: the largest RSS of the process or of any descendant it waited for).
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface RunResult {
  argv: string[];
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** wall time, spawn to exit */
  ms: number;
  /** peak RSS in KiB (with measure: true, where /usr/bin/time exists) */
  maxRssKb?: number;
  /** user + system CPU time of the command and the children it waited for (with measure: true) */
  cpuMs?: number;
  timedOut: boolean;
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
  /** wrap in /usr/bin/time to record the peak RSS */
  measure?: boolean;
  cwd?: string;
}

const TIME = '/usr/bin/time';
export const haveGnuTime = existsSync(TIME);

/** Children still running, so that an interrupt can end them (by pid) before cleaning up. */
export const live = new Set<ChildProcess>();

let seq = 0;

/**
 * After an interrupt nothing new starts, except inside cleanup (run within `cleaning.run(true, ...)`),
 * which may run while the interrupted benchmark's last awaits unwind.
 */
export const control = { aborted: false };
export const cleaning = new AsyncLocalStorage<boolean>();

export class Aborted extends Error {
  constructor() { super('interrupted'); }
}

export async function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  if (control.aborted && !cleaning.getStore()) throw new Aborted();
  let full = argv;
  let rssFile: string | undefined;
  if (opts.measure && haveGnuTime) {
    rssFile = path.join(os.tmpdir(), `peapod-bench-rss-${process.pid}-${seq++}`);
    full = [TIME, '-f', '%M %U %S', '-o', rssFile, ...argv];
  }
  const t0 = process.hrtime.bigint();
  const child = spawn(full[0], full.slice(1), {
    env: { ...process.env, ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    cwd: opts.cwd,
  });
  live.add(child);
  let closed = false;
  const onClose = new Promise<void>((resolve) => child.once('close', () => { closed = true; resolve(); }));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => { stdout += String(d); });
  child.stderr?.on('data', (d) => { stderr += String(d); });
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  let timedOut = false;
  const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs) : undefined;
  const { code, signal, ms } = await new Promise<{ code: number; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    child.on('error', (err) => {
      stderr += `${err.message}\n`;
      resolve({ code: 127, signal: null, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
    child.on('exit', (c, s) => resolve({ code: c ?? 128, signal: s, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
  });
  if (timer) clearTimeout(timer);
  // Output may still be in the pipes; a daemon that kept them open must not hold us up.
  if (!closed) {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([onClose, new Promise<void>((resolve) => { t = setTimeout(resolve, 1000); })]);
    clearTimeout(t);
  }
  child.stdout?.destroy();
  child.stderr?.destroy();
  live.delete(child);
  let maxRssKb: number | undefined;
  let cpuMs: number | undefined;
  if (rssFile) {
    try {
      // GNU time writes "Command exited with non-zero status N" before the format line.
      const lines = readFileSync(rssFile, 'utf8').trim().split('\n');
      const [rss, user, sys] = lines[lines.length - 1].split(' ').map(Number);
      if (Number.isFinite(rss) && rss > 0) maxRssKb = rss;
      if (Number.isFinite(user) && Number.isFinite(sys)) cpuMs = Math.round((user + sys) * 1000);
    } catch { /* not written: killed */ }
    rmSync(rssFile, { force: true });
  }
  return { argv, code, signal, stdout, stderr, ms, maxRssKb, cpuMs, timedOut };
}

/** Like run, but throws with the command's stderr when it fails. */
export async function must(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r;
}

/** First line of a command's output, or '' when it cannot run. */
export async function firstLine(argv: string[]): Promise<string> {
  const r = await run(argv, { timeoutMs: 10_000 });
  return r.code === 0 ? (r.stdout || r.stderr).trim().split('\n')[0] : '';
}

export function which(name: string, extra: string[] = []): string | undefined {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin', ...extra]) {
    if (d && existsSync(path.join(d, name))) return path.join(d, name);
  }
  return undefined;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
