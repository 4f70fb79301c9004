import { promises as fs, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import { PeapodError } from '../errors.js';

// An inter-process lock for one state root. Node has no flock(2), so the lock is a directory
// created with mkdir (atomic) holding the owner's pid and process start time. A holder that died
// (kill -9) is detected by checking that pid+start time, so the next command takes over at once
// instead of waiting for a timeout. Within one process, concurrent async operations are serialised
// by an in-process queue, and an operation that already holds the lock (tracked per async call
// chain) may take it again (re-entrant).

export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22 (starttime), counted after the ")" that ends the command name
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Locks held by the current async call chain. */
const chain = new AsyncLocalStorage<ReadonlySet<string>>();
/** Tail of the in-process queue of each lock. */
const queues = new Map<string, Promise<void>>();

export class FileLock {
  constructor(readonly dir: string, private readonly timeoutMs = 60_000) {}

  // Taking and releasing use synchronous calls: the same system calls in the same order, without
  // a trip through the thread pool for each (a play of 10 pods takes these locks ~100 times, and
  // every other chain waits while one holds the lock).
  private async acquireFile(): Promise<void> {
    mkdirSync(path.dirname(this.dir), { recursive: true });
    const deadline = Date.now() + this.timeoutMs;
    const me = `${process.pid} ${procStartTime(process.pid)}`;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      // The lock directory appears with its owner file already inside (made aside, then renamed
      // into place): nobody ever sees a lock without an owner.
      const tmp = `${this.dir}.new.${process.pid}.${Math.random().toString(36).slice(2)}`;
      mkdirSync(tmp);
      writeFileSync(path.join(tmp, 'owner'), me);
      try {
        renameSync(tmp, this.dir);
        return;
      } catch (err: any) {
        rmSync(tmp, { recursive: true, force: true });
        if (err?.code !== 'ENOTEMPTY' && err?.code !== 'EEXIST') throw err;
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

  /** Runs fn holding the lock: exclusive against other processes and other async chains here. */
  async with<T>(fn: () => Promise<T>): Promise<T> {
    const mine = chain.getStore();
    if (mine?.has(this.dir)) return fn();
    const prev = queues.get(this.dir) ?? Promise.resolve();
    let done!: () => void;
    const turn = new Promise<void>((r) => { done = r; });
    const tail = prev.then(() => turn);
    queues.set(this.dir, tail);
    await prev;
    try {
      await this.acquireFile();
      try {
        return await chain.run(new Set([...(mine ?? []), this.dir]), fn);
      } finally {
        // Renamed away first (atomic), then removed: a waiter's rename into the path can never
        // land on a half-removed directory of ours.
        const gone = `${this.dir}.released.${process.pid}.${Math.random().toString(36).slice(2)}`;
        try {
          renameSync(this.dir, gone);
          rmSync(gone, { recursive: true, force: true });
        } catch (err: any) {
          // the holder removed its own lock (a deleted container's or pod's): nothing to release
          if (err?.code !== 'ENOENT') throw err;
        }
      }
    } finally {
      done();
      if (queues.get(this.dir) === tail) queues.delete(this.dir);
    }
  }
}
