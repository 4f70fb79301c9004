import { promises as fs, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PeapodError } from '../errors.js';
import type { ContainerRecord, PodRecord } from '../types.js';
import { FileLock } from './lock.js';
import { readJson, writeJsonAtomic } from './atomic.js';

/**
 * Persistent records of containers (and pods) under <root>. One JSON file per object, written
 * atomically. Mutations that must be consistent across objects (name reservation) hold `lock`;
 * operations on one container hold that container's own lock so that pods start in parallel.
 */
export class StateStore {
  readonly lock: FileLock;

  constructor(readonly root: string) {
    this.lock = new FileLock(path.join(root, 'locks', 'state.lock'));
  }

  containerLock(id: string): FileLock {
    return new FileLock(path.join(this.root, 'locks', `ctr-${id}.lock`));
  }

  containerDir(id: string): string {
    return path.join(this.root, 'containers', id);
  }

  async listContainers(): Promise<ContainerRecord[]> {
    let ids: string[];
    try {
      ids = readdirSync(path.join(this.root, 'containers'));
    } catch (err: any) {
      if (err?.code === 'ENOENT') return [];
      throw err;
    }
    const recs = await Promise.all(ids.filter((d) => !d.startsWith('.')).map((id) => readJson<ContainerRecord>(path.join(this.containerDir(id), 'container.json'))));
    return recs.filter((r): r is ContainerRecord => r !== undefined).sort((a, b) => a.created.localeCompare(b.created));
  }

  async getContainer(ref: string): Promise<ContainerRecord | undefined> {
    if (/^[0-9a-f]{64}$/.test(ref)) {
      const r = await readJson<ContainerRecord>(path.join(this.containerDir(ref), 'container.json'));
      if (r) return r;
    }
    const all = await this.listContainers();
    const byName = all.find((c) => c.name === ref);
    if (byName) return byName;
    if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const matches = all.filter((c) => c.id.startsWith(ref));
      if (matches.length > 1) throw new PeapodError('invalid', `more than one container matches ID prefix "${ref}"`);
      return matches[0];
    }
    return undefined;
  }

  async mustGetContainer(ref: string): Promise<ContainerRecord> {
    const c = await this.getContainer(ref);
    if (!c) throw new PeapodError('not-found', `no container with name or ID "${ref}" found: no such container`);
    return c;
  }

  async saveContainer(rec: ContainerRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.containerDir(rec.id), 'container.json'), rec);
  }

  /** Re-reads the record, applies fn, writes it back, under the container's lock. */
  async updateContainer(id: string, fn: (rec: ContainerRecord) => void | Promise<void>): Promise<ContainerRecord> {
    return this.containerLock(id).with(async () => {
      const rec = await readJson<ContainerRecord>(path.join(this.containerDir(id), 'container.json'));
      if (!rec) throw new PeapodError('not-found', `no container with ID "${id}" found: no such container`);
      await fn(rec);
      await this.saveContainer(rec);
      return rec;
    });
  }

  async deleteContainer(id: string): Promise<void> {
    // Remove the record first (atomic rename out of the way) so a crash never leaves half a record.
    const dir = this.containerDir(id);
    const grave = path.join(this.root, 'containers', `.removing-${id}`);
    try {
      await fs.rename(dir, grave);
    } catch (err: any) {
      if (err?.code === 'ENOENT') return;
      throw err;
    }
    await fs.rm(grave, { recursive: true, force: true });
  }

  /** Names of containers and pods share one namespace, as in Podman. */
  async nameInUse(name: string): Promise<'container' | 'pod' | undefined> {
    const [ctrs, pods] = await Promise.all([this.listContainers(), this.listPods()]);
    if (ctrs.some((c) => c.name === name)) return 'container';
    if (pods.some((p) => p.name === name)) return 'pod';
    return undefined;
  }

  podDir(id: string): string {
    return path.join(this.root, 'pods', id);
  }

  podLock(id: string): FileLock {
    return new FileLock(path.join(this.root, 'locks', `pod-${id}.lock`));
  }

  async listPods(): Promise<PodRecord[]> {
    let ids: string[];
    try {
      ids = readdirSync(path.join(this.root, 'pods')).filter((d) => !d.startsWith('.'));
    } catch (err: any) {
      if (err?.code === 'ENOENT') return [];
      throw err;
    }
    const recs = await Promise.all(ids.map((id) => readJson<PodRecord>(path.join(this.podDir(id), 'pod.json'))));
    return recs.filter((r): r is PodRecord => r !== undefined).sort((a, b) => a.created.localeCompare(b.created));
  }

  async getPod(ref: string): Promise<PodRecord | undefined> {
    // The engine refers to pods by full ID: one file, not every pod's.
    if (/^[0-9a-f]{64}$/.test(ref)) {
      const r = await readJson<PodRecord>(path.join(this.podDir(ref), 'pod.json'));
      if (r) return r;
    }
    const all = await this.listPods();
    const exact = all.find((p) => p.id === ref || p.name === ref);
    if (exact) return exact;
    if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const matches = all.filter((p) => p.id.startsWith(ref));
      if (matches.length > 1) throw new PeapodError('invalid', `more than one pod matches ID prefix "${ref}"`);
      return matches[0];
    }
    return undefined;
  }

  async mustGetPod(ref: string): Promise<PodRecord> {
    const p = await this.getPod(ref);
    if (!p) throw new PeapodError('not-found', `no pod with name or ID "${ref}" found: no such pod`);
    return p;
  }

  async savePod(rec: PodRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.podDir(rec.id), 'pod.json'), rec);
  }

  async deletePod(id: string): Promise<void> {
    const grave = path.join(this.root, 'pods', `.removing-${id}`);
    try {
      await fs.rename(this.podDir(id), grave);
    } catch (err: any) {
      if (err?.code === 'ENOENT') return;
      throw err;
    }
    await fs.rm(grave, { recursive: true, force: true });
  }
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
