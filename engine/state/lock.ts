import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';

// An inter-process lock for one state root. Node has no flock(2), so the lock is a directory
// created with mkdir (atomic) holding the owner's pid and process start time. A holder that died
// (kill -9) is detected by checking that pid+start time, so the next command takes over at once
// instead of waiting for a timeout. Re-entrant within one process.

function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime), counted after the ")" that ends the command name
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const held = new Map<string, number>();

export class FileLock {
  constructor(readonly dir: string, private readonly timeoutMs = 60_000) {}

  async acquire(): Promise<void> {
    const depth = held.get(this.dir) ?? 0;
    if (depth > 0) { held.set(this.dir, depth + 1); return; }
    await fs.mkdir(path.dirname(this.dir), { recursive: true });
    const deadline = Date.now() + this.timeoutMs;
    const me = `${process.pid} ${procStartTime(process.pid)}`;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        await fs.mkdir(this.dir);
        await fs.writeFile(path.join(this.dir, 'owner'), me);
        held.set(this.dir, 1);
        return;
      } catch (err: any) {
        if (err?.code !== 'EEXIST') throw err;
      }
      await this.breakIfStale();
      if (Date.now() > deadline) {
        throw new PeapodError('lock', `timed out waiting for the state lock ${this.dir}`, {
          hint: 'another peapod command holds it; if none is running, remove the directory',
        });
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    }
  }

  private async breakIfStale(): Promise<void> {
    let owner: string;
    try {
      owner = await fs.readFile(path.join(this.dir, 'owner'), 'utf8');
    } catch (err: any) {
      if (err?.code !== 'ENOENT') throw err;
      // Directory without owner: either being created right now, or its creator died between
      // mkdir and writeFile. Only break it when it is clearly old.
      try {
        const st = await fs.stat(this.dir);
        if (Date.now() - st.mtimeMs > 2000) await fs.rm(this.dir, { recursive: true, force: true });
      } catch { /* gone already */ }
      return;
    }
    const [pidText, start] = owner.split(' ');
    const pid = Number(pidText);
    if (pid > 0 && procStartTime(pid) === start) return; // holder alive
    // Rename first so that two waiters cannot both remove a lock that a third just took.
    const grave = `${this.dir}.stale.${process.pid}.${Date.now()}`;
    try {
      await fs.rename(this.dir, grave);
      const again = await fs.readFile(path.join(grave, 'owner'), 'utf8').catch(() => '');
      if (again !== owner) {
        // Someone else took the lock in between: give it back.
        await fs.rename(grave, this.dir).catch(() => undefined);
        return;
      }
      await fs.rm(grave, { recursive: true, force: true });
    } catch { /* another waiter got there first */ }
  }

  async release(): Promise<void> {
    const depth = held.get(this.dir) ?? 0;
    if (depth > 1) { held.set(this.dir, depth - 1); return; }
    held.delete(this.dir);
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}
