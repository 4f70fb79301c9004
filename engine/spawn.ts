// A small runner for the programs the hot paths start (runc, conmon's neighbours, netavark, mount):
// node:child_process directly. execa stays the tool elsewhere; here its module loading (~15 ms per
// CLI start) and its per-call work (~3 ms of CPU per process on this 2-core host) are measurable in
// play kube and kube down, which start dozens of these.
import { spawn } from 'node:child_process';

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
  return new Promise((resolve) => {
    let child;
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

function stripNewline(s: string): string {
  return s.endsWith('\n') ? s.slice(0, s.endsWith('\r\n') ? -2 : -1) : s;
}
