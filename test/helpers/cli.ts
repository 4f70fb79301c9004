// Runs the built peapod CLI against a private, temporary --root/--runroot.
import { execa, type Result } from 'execa';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(PROJECT, 'bin', 'peapod');

/** Fails loudly (never skips) when the test needs root and does not have it. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this integration test needs root (it runs runc, conmon and mounts): run it as root, e.g. sudo bash scripts/test.sh');
  }
  if (!existsSync(path.join(PROJECT, 'dist', 'bundle', 'main.js'))) {
    throw new Error('the CLI is not built: run `npm run build` first (scripts/test.sh does)');
  }
}

export interface Sandbox {
  root: string;
  runroot: string;
  dir: string;
  /** the cgroup under which this sandbox's containers run */
  cgroupParent: string;
  /** runs `peapod --root R --runroot RR ...args` and never throws on a non-zero exit */
  run(args: string[], opts?: { input?: string; timeout?: number; env?: Record<string, string> }): Promise<Result>;
  /** like run, but throws with stderr when the command fails */
  ok(args: string[], opts?: { input?: string; timeout?: number; env?: Record<string, string> }): Promise<Result>;
  /** removes everything this sandbox's peapod created (system reset) and its directories */
  destroy(): Promise<void>;
}

export function sandbox(name = 'peapod-test'): Sandbox {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const root = path.join(dir, 'root');
  const runroot = path.join(dir, 'run');
  // Each sandbox has its own cgroup parent, so its leak check never sees another sandbox's pods.
  const cgroupParent = `/peapod-test-${path.basename(dir)}`;
  const run = (args: string[], opts: { input?: string; timeout?: number; env?: Record<string, string> } = {}) =>
    execa(BIN, ['--root', root, '--runroot', runroot, ...args], {
      reject: false, input: opts.input, timeout: opts.timeout ?? 60_000, env: { PEAPOD_CGROUP_PARENT: cgroupParent, ...opts.env },
      stdin: opts.input === undefined ? 'ignore' : undefined,
    }) as unknown as Promise<Result>;
  return {
    root, runroot, dir, run, cgroupParent,
    async ok(args, opts) {
      const r = await run(args, opts);
      if (r.exitCode !== 0) throw new Error(`peapod ${args.join(' ')} exited ${r.exitCode}: ${String(r.stderr)}`);
      return r;
    },
    async destroy() {
      await run(['system', 'reset', '--force']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
