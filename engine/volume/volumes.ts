import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import type { VolumeRecord } from '../types.js';
import { namedRecord, readJson, writeJsonAtomic } from '../state/atomic.js';
import { checkObjectName, OBJECT_NAME } from '../names.js';


/** Named volumes, Podman's local driver: <root>/volumes/<name>/_data. */
export class Volumes {
  constructor(private readonly store: StateStore) {}

  dir(name: string): string {
    return path.join(this.store.root, 'volumes', name);
  }

  dataDir(name: string): string {
    return path.join(this.dir(name), '_data');
  }

  async list(): Promise<VolumeRecord[]> {
    let names: string[] = [];
    try {
      names = await fs.readdir(path.join(this.store.root, 'volumes'));
    } catch (err: any) {
      if (err?.code !== 'ENOENT') throw err;
    }
    const all = await Promise.all(names.map((n) => readJson<VolumeRecord>(path.join(this.dir(n), 'volume.json'), namedRecord)));
    return all.filter((v): v is VolumeRecord => !!v).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<VolumeRecord | undefined> {
    if (!OBJECT_NAME.test(name)) return undefined;
    return readJson<VolumeRecord>(path.join(this.dir(name), 'volume.json'), namedRecord);
  }

  async mustGet(name: string): Promise<VolumeRecord> {
    const v = await this.get(name);
    if (!v) throw new PeapodError('not-found', `no volume with name "${name}" found: no such volume`);
    return v;
  }

  /** The volume, made if it does not exist yet. */
  async ensure(name: string, opts: { labels?: Record<string, string>; claim?: boolean } = {}): Promise<VolumeRecord> {
    checkObjectName('volume', name);
    const have = await this.get(name);
    if (have) return have;
    return this.store.lock.with(async () => {
      const again = await this.get(name);
      if (again) return again;
      const rec: VolumeRecord = { name, created: new Date().toISOString(), labels: opts.labels, claim: opts.claim };
      await fs.mkdir(this.dataDir(name), { recursive: true, mode: 0o755 });
      await writeJsonAtomic(path.join(this.dir(name), 'volume.json'), rec);
      return rec;
    });
  }

  async remove(name: string, usedBy: string[]): Promise<void> {
    await this.mustGet(name);
    if (usedBy.length) throw new PeapodError('state', `volume ${name} is being used by ${usedBy.join(', ')}: remove them first`);
    await this.store.lock.with(() => fs.rm(this.dir(name), { recursive: true, force: true }));
  }
}
