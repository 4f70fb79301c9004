import { readFileSync } from 'node:fs';
import { waitForExit } from '../spawn.js';

/**
 * True while pid runs. A zombie counts as gone: conmon is reparented to PID 1, which may reap
 * late (on this host's init, up to ~2 s), and a zombie does nothing more.
 */
export function processAlive(pid: number): boolean {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** Waits until pid is gone (a zombie counts as gone), at most timeoutMs. */
export async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Woken by the exit itself where peapod-spawn can watch a pidfd (engine/spawn.ts); the loop then
  // only confirms, and polls where it cannot.
  if (processAlive(pid)) await waitForExit(pid, timeoutMs);
  for (let d = 2; processAlive(pid) && Date.now() < deadline; d = Math.min(d * 2, 50)) await sleep(d);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
