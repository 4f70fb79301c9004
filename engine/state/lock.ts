import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import { PeapodError } from '../errors.js';
import { debug } from '../log.js';

// An inter-process lock for one state root: a directory renamed into place (atomic) holding the
// owner's pid and process start time. A holder that died (kill -9) is detected by checking that
// pid+start time, so the next command takes over at once instead of waiting for a timeout; the
// takeover itself is serialised by flock(2) (withKernelLock), so it is atomic. Within one process, concurrent async operations are serialised
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

/** Leftover collectors already run by this process after a takeover. */
const tookOver = new Set<() => Promise<unknown>>();

/** The owner line of a lock (`<pid> <start time>`); '' without one; undefined when the lock is gone. */
function readOwner(dir: string): string | undefined {
  try {
    return readFileSync(path.join(dir, 'owner'), 'utf8');
  } catch (err: any) {
    if (err?.code !== 'ENOENT') return '';
    return existsSync(dir) ? '' : undefined;
  }
}

/**
 * Whether the owner still runs. A lock without an owner line (a torn write after a crash of the
 * host) counts as alive while younger than 2 s: locks appear with their owner inside (renamed into
 * place), so only damage makes one, and a young one may be an older peapod's mkdir-then-write.
 */
function ownerAlive(owner: string, dir: string): boolean {
  const [pidText, start] = owner.trim().split(' ');
  const pid = Number(pidText);
  if (pid > 0 && start) return procStartTime(pid) === start;
  try {
    return Date.now() - statSync(dir).mtimeMs < 2000;
  } catch {
    return false;
  }
}

/**
 * Runs fn holding an exclusive flock(2) on `file` (made 0600, opened O_NOFOLLOW: a planted link is
 * refused, never followed). Node has no flock: util-linux's `flock -x 3` takes the lock on the open
 * file description this process hands it as fd 3 and exits; the lock then belongs to that
 * description, so it lasts until this process closes its fd, or dies (the kernel drops it).
 * The file is never removed (a waiter may hold it open: removing it would let two lock two files).
 */
export async function withKernelLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    const { spawn } = await import('node:child_process');
    await new Promise<void>((resolve, reject) => {
      const child = spawn('flock', ['-x', '-w', '60', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
      let err = '';
      child.stderr!.on('data', (d) => { err += String(d); });
      child.on('error', (e) => reject(new PeapodError('prerequisite', `flock(1) for the lock ${file}: ${e.message}`, { hint: 'apt-get install util-linux' })));
      child.on('close', (c) => (c === 0 ? resolve() : reject(new PeapodError('lock', `flock ${file}: ${err.trim() || `exited ${c}`}`))));
    });
    return await fn();
  } finally {
    closeSync(fd);
  }
}

export class FileLock {
  /** onTakeover: run (once per process) after a dead holder's lock was taken over, to collect what it left. */
  constructor(readonly dir: string, private readonly timeoutMs = 60_000, private readonly onTakeover?: () => Promise<unknown>) {}

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

  /**
   * Takes over the lock when its owner died (pid and start time no longer match a process), or
   * when it has no owner and is clearly old. The takeover runs under a kernel lock (flock(2) on
   * `<lock>.takeover`, held by this process until the lock directory is gone): the owner is read
   * again under it, so two waiters that both saw the same dead owner cannot both remove the lock
   * (the second would remove the first one's new lock, and two processes would hold it).
   */
  private async breakIfStale(): Promise<void> {
    const owner = readOwner(this.dir);
    if (owner === undefined || ownerAlive(owner, this.dir)) return;
    let took = false;
    await withKernelLock(`${this.dir}.takeover`, async () => {
      const again = readOwner(this.dir);
      if (again !== owner || ownerAlive(again, this.dir)) return; // released, or taken by someone alive
      // Only a takeover removes a lock whose owner is dead, and takeovers are serialised: the lock
      // renamed away here is the dead owner's.
      const grave = `${this.dir}.stale.${process.pid}.${Math.random().toString(36).slice(2)}`;
      try {
        renameSync(this.dir, grave);
      } catch (err: any) {
        if (err?.code === 'ENOENT') return;
        throw err;
      }
      rmSync(grave, { recursive: true, force: true });
      took = true;
    });
    if (took) {
      debug(`took over the lock ${this.dir} of a process that is gone (${owner || 'no owner'})`);
      // A dead holder may have left more behind: collected once per process, never failing the command.
      if (this.onTakeover && !tookOver.has(this.onTakeover)) {
        tookOver.add(this.onTakeover);
        await this.onTakeover().catch((err) => debug(`collecting leftovers: ${(err as Error).message}`));
      }
    }
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
