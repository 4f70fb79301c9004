import { promises as fs, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PeapodError } from '../errors.js';
import type { ContainerRecord, PodRecord } from '../types.js';
import { FileLock } from './lock.js';
import { readJson, writeJsonAtomic } from './atomic.js';
import { collectLeftovers } from './recover.js';

/**
 * One kind of record (containers, pods): a directory per object under <root>/<dirName>, holding
 * `<file>`, written atomically; found by full ID (one read), name, or unique ID prefix.
 */
class RecordSet<T extends { id: string; name: string; created: string }> {
  constructor(private readonly root: string, private readonly kind: 'container' | 'pod', private readonly dirName: string, private readonly file: string,
    private readonly onTakeover: () => Promise<unknown>) {}

  dir(id: string): string {
    return path.join(this.root, this.dirName, id);
  }

  lock(id: string): FileLock {
    return new FileLock(path.join(this.root, 'locks', `${this.kind === 'container' ? 'ctr' : 'pod'}-${id}.lock`), undefined, this.onTakeover);
  }

  /** The record, or undefined when missing or damaged (skipped with a warning naming the file). */
  read(id: string): Promise<T | undefined> {
    return readJson<T>(path.join(this.dir(id), this.file), (v) =>
      (v.id !== id ? `its id is not ${id}` : typeof v.name !== 'string' || typeof v.created !== 'string' ? `not a ${this.kind} record` : undefined));
  }

  async list(): Promise<T[]> {
    let ids: string[];
    try {
      ids = readdirSync(path.join(this.root, this.dirName)).filter((d) => !d.startsWith('.'));
    } catch (err: any) {
      if (err?.code === 'ENOENT') return [];
      throw err;
    }
    const recs = await Promise.all(ids.map((id) => this.read(id)));
    return recs.filter((r): r is Awaited<T> => r !== undefined).sort((a, b) => a.created.localeCompare(b.created));
  }

  async get(ref: string): Promise<T | undefined> {
    // The engine refers to records by full ID: one file, not every record's.
    if (/^[0-9a-f]{64}$/.test(ref)) {
      const r = await this.read(ref);
      if (r) return r;
    }
    const all = await this.list();
    const exact = all.find((r) => r.name === ref);
    if (exact) return exact;
    if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const matches = all.filter((r) => r.id.startsWith(ref));
      if (matches.length > 1) throw new PeapodError('invalid', `more than one ${this.kind} matches ID prefix "${ref}"`);
      return matches[0];
    }
    return undefined;
  }

  async mustGet(ref: string): Promise<T> {
    const r = await this.get(ref);
    if (!r) throw new PeapodError('not-found', `no ${this.kind} with name or ID "${ref}" found: no such ${this.kind}`);
    return r;
  }

  async save(rec: T): Promise<void> {
    await writeJsonAtomic(path.join(this.dir(rec.id), this.file), rec);
  }

  /** Removes the record first (atomic rename out of the way), so a crash never leaves half a record. */
  async delete(id: string): Promise<void> {
    const grave = path.join(this.root, this.dirName, `.removing-${id}`);
    try {
      await fs.rename(this.dir(id), grave);
    } catch (err: any) {
      if (err?.code === 'ENOENT') return;
      throw err;
    }
    await fs.rm(grave, { recursive: true, force: true });
  }
}

/**
 * Persistent records of containers (and pods) under <root>. One JSON file per object, written
 * atomically. Mutations that must be consistent across objects (name reservation) hold `lock`;
 * operations on one container hold that container's own lock so that pods start in parallel.
 */
export class StateStore {
  readonly lock: FileLock;
  private readonly containers: RecordSet<ContainerRecord>;
  private readonly pods: RecordSet<PodRecord>;

  constructor(readonly root: string) {
    // A lock taken over from a dead holder: what that holder (or another killed command) left is collected.
    const collect = () => collectLeftovers(root);
    this.lock = new FileLock(path.join(root, 'locks', 'state.lock'), undefined, collect);
    this.containers = new RecordSet<ContainerRecord>(root, 'container', 'containers', 'container.json', collect);
    this.pods = new RecordSet<PodRecord>(root, 'pod', 'pods', 'pod.json', collect);
  }

  containerLock(id: string): FileLock { return this.containers.lock(id); }
  containerDir(id: string): string { return this.containers.dir(id); }
  listContainers(): Promise<ContainerRecord[]> { return this.containers.list(); }
  getContainer(ref: string): Promise<ContainerRecord | undefined> { return this.containers.get(ref); }
  mustGetContainer(ref: string): Promise<ContainerRecord> { return this.containers.mustGet(ref); }
  saveContainer(rec: ContainerRecord): Promise<void> { return this.containers.save(rec); }
  deleteContainer(id: string): Promise<void> { return this.containers.delete(id); }

  /** Re-reads the record, applies fn, writes it back, under the container's lock. */
  async updateContainer(id: string, fn: (rec: ContainerRecord) => void | Promise<void>): Promise<ContainerRecord> {
    return this.containerLock(id).with(async () => {
      const rec = await this.containers.read(id);
      if (!rec) throw new PeapodError('not-found', `no container with ID "${id}" found: no such container`);
      await fn(rec);
      await this.saveContainer(rec);
      return rec;
    });
  }

  /** Names of containers and pods share one namespace, as in Podman. */
  async nameInUse(name: string): Promise<'container' | 'pod' | undefined> {
    const [ctrs, pods] = await Promise.all([this.listContainers(), this.listPods()]);
    if (ctrs.some((c) => c.name === name)) return 'container';
    if (pods.some((p) => p.name === name)) return 'pod';
    return undefined;
  }

  podDir(id: string): string { return this.pods.dir(id); }
  podLock(id: string): FileLock { return this.pods.lock(id); }
  listPods(): Promise<PodRecord[]> { return this.pods.list(); }
  getPod(ref: string): Promise<PodRecord | undefined> { return this.pods.get(ref); }
  mustGetPod(ref: string): Promise<PodRecord> { return this.pods.mustGet(ref); }
  savePod(rec: PodRecord): Promise<void> { return this.pods.save(rec); }
  deletePod(id: string): Promise<void> { return this.pods.delete(id); }
}

export function newId(): string {
  return randomBytes(32).toString('hex');
}

let bootIdCache: string | undefined;
export function bootId(): string {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootIdCache = '';
    }
  }
  return bootIdCache;
}
