// Named JSON records a use case keeps between commands (e.g. `kube apply`'s apply sets): one file
// per name under <root>/<kind>/, 0600 in a 0700 directory, written atomically, changed under a
// lock of their own. The engine does not know what they hold.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import { FileLock } from './lock.js';
import { readJson, writeFileAtomic } from './atomic.js';

/** A record's name: what a file name may safely be (no `/`, no leading dot). */
export const RECORD_NAME = /^[a-z0-9]([-a-z0-9_.]{0,251}[a-z0-9])?$/;

export class RecordStore<T> {
  readonly lock: FileLock;

  constructor(private readonly root: string, private readonly kind: string) {
    this.lock = new FileLock(path.join(root, 'locks', `${kind}.lock`));
  }

  private dir(): string {
    return path.join(this.root, this.kind);
  }

  private file(name: string): string {
    if (!RECORD_NAME.test(name)) throw new PeapodError('invalid', `${this.kind} name "${name}": names must be lower-case letters, digits, "-", "_" and ".", starting and ending with a letter or digit`);
    return path.join(this.dir(), `${name}.json`);
  }

  async get(name: string): Promise<T | undefined> {
    const f = this.file(name);
    let v: T | undefined;
    try {
      v = await readJson<T>(f);
    } catch (err) {
      throw new PeapodError('state', `reading ${f}: ${(err as Error).message}`, { cause: err });
    }
    // readJson skips a damaged file (not JSON, not a regular file) as absent: a record is refused instead.
    if (v === undefined && (await fs.lstat(f).catch(() => undefined))) throw new PeapodError('state', `the ${this.kind} record ${f} is damaged (not a JSON file): remove it`);
    return v;
  }

  async list(): Promise<string[]> {
    try {
      return (await fs.readdir(this.dir())).filter((f) => f.endsWith('.json') && !f.startsWith('.')).map((f) => f.slice(0, -5)).sort();
    } catch (err: any) {
      if (err?.code === 'ENOENT') return [];
      throw err;
    }
  }

  async save(name: string, value: T): Promise<void> {
    const f = this.file(name);
    await fs.mkdir(this.dir(), { recursive: true, mode: 0o700 });
    await fs.chmod(this.dir(), 0o700);
    await writeFileAtomic(f, JSON.stringify(value, null, 1) + '\n', 0o600);
  }

  async remove(name: string): Promise<void> {
    await fs.rm(this.file(name), { force: true });
  }
}
