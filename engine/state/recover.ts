// Leftovers of commands that were killed mid-way (kill -9, a crash of the host): temp files of
// atomic writes, lock directories that were being made, released or taken over, records renamed
// away for removal. Each name says which process made it; only those of processes that are gone
// are removed, so a command running now is never disturbed.
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { collectTempFiles } from './atomic.js';
import { debug } from '../log.js';

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: any) {
    return err?.code === 'EPERM';
  }
}

function list(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}

/** `<lock>.new.<pid>.<rand>`, `<lock>.stale.<pid>.<rand>`, `<lock>.released.<pid>.<rand>` */
const LOCK_LEFTOVER = /\.(?:new|stale|released)\.(\d+)\.[0-9a-z]+$/;

/** Removes the leftovers of dead processes under a state root; returns what was removed. */
export async function collectLeftovers(root: string): Promise<string[]> {
  const gone: string[] = [];
  const rm = async (f: string) => {
    await fs.rm(f, { recursive: true, force: true });
    gone.push(f);
  };
  const locks = path.join(root, 'locks');
  for (const n of list(locks)) {
    const m = LOCK_LEFTOVER.exec(n);
    if (m && !alive(Number(m[1]))) await rm(path.join(locks, n));
  }
  gone.push(...await collectTempFiles(locks, alive));
  for (const kind of ['containers', 'pods', 'volumes']) {
    const dir = path.join(root, kind);
    for (const n of list(dir)) {
      // a record renamed away by a removal that did not finish (it has no pid: nobody renames it back)
      if (n.startsWith('.removing-')) await rm(path.join(dir, n));
      else gone.push(...await collectTempFiles(path.join(dir, n), alive));
    }
    gone.push(...await collectTempFiles(dir, alive));
  }
  for (const d of ['networks', 'secrets']) gone.push(...await collectTempFiles(path.join(root, d), alive));
  if (gone.length) debug(`collected leftovers of interrupted commands: ${gone.join(', ')}`);
  return gone;
}
