// Asserts that nothing a test created is left on the host: processes, mounts, runtime state,
// cgroup directories, netns files.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';

/** Cgroup directories left under a sandbox's cgroup parent (test/helpers/cli.ts names it after the dir). */
function cgroupDirs(sandboxDir: string): string[] {
  const parent = `peapod-test-${path.basename(sandboxDir)}`;
  const found: string[] = [];
  const base = '/sys/fs/cgroup';
  let hier: string[] = [];
  try { hier = readdirSync(base); } catch { return found; }
  const roots = existsSync(path.join(base, 'cgroup.controllers')) ? [base] : hier.map((h) => path.join(base, h));
  for (const r of roots) {
    const d = path.join(r, parent);
    if (existsSync(d)) {
      const kids = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(d, e.name));
      found.push(...(kids.length ? kids : [d]));
    }
  }
  return found;
}

function conmonFor(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.startsWith(dir))) out.push(`${pid}: ${cmd.join(' ').slice(0, 200)}`);
    } catch { /* gone */ }
  }
  return out;
}

/** Lists what is left of a sandbox directory on this host (empty when clean). */
export function leaks(sandboxDir: string): string[] {
  const problems: string[] = [];
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(sandboxDir));
  problems.push(...mounts.map((m) => `mount ${m}`));
  problems.push(...conmonFor(sandboxDir).map((p) => `process ${p}`));
  problems.push(...cgroupDirs(sandboxDir).map((c) => `cgroup ${c}`));
  const runc = path.join(sandboxDir, 'run', 'runc');
  if (existsSync(runc)) problems.push(...readdirSync(runc).map((c) => `runc state ${c}`));
  return problems;
}

/**
 * Waits (up to 10 s) for what is left to go away: conmon starts its exit command
 * (`peapod container cleanup`) as an orphan that finishes a moment after the container is gone.
 * Returns what is still left then.
 */
export async function settledLeaks(sandboxDir: string, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = leaks(sandboxDir);
    if (!l.length || Date.now() > deadline) return l;
    await new Promise((r) => setTimeout(r, 50));
  }
}
