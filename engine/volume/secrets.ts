import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PeapodError } from '../errors.js';
import type { StateStore } from '../state/store.js';
import type { ContainerRecord, SecretRecord } from '../types.js';
import { namedRecord, readJson, writeFileAtomic } from '../state/atomic.js';
import { checkObjectName, OBJECT_NAME } from '../names.js';


/**
 * Secrets (Podman's file driver): one JSON file per secret, mode 0600 in a 0700 directory. Their
 * values reach containers only when they start (env, files on tmpfs); records, `inspect`, `ps` and
 * logs never carry them.
 */
export class Secrets {
  constructor(private readonly store: StateStore) {}

  private dir(): string {
    return path.join(this.store.root, 'secrets');
  }

  private file(name: string): string {
    return path.join(this.dir(), `${name}.json`);
  }

  async list(): Promise<SecretRecord[]> {
    let files: string[] = [];
    try {
      files = (await fs.readdir(this.dir())).filter((f) => f.endsWith('.json'));
    } catch (err: any) {
      if (err?.code !== 'ENOENT') throw err;
    }
    const all = await Promise.all(files.map((f) => readJson<SecretRecord>(path.join(this.dir(), f), namedRecord)));
    return all.filter((s): s is SecretRecord => !!s).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<SecretRecord | undefined> {
    if (!OBJECT_NAME.test(name)) return undefined;
    return readJson<SecretRecord>(this.file(name), namedRecord);
  }

  async mustGet(name: string): Promise<SecretRecord> {
    const s = await this.get(name);
    if (!s) throw new PeapodError('not-found', `no secret with name "${name}" found: no such secret`);
    return s;
  }

  /** Creates or (replace) updates a secret; data values are base64. */
  async put(rec: Omit<SecretRecord, 'id' | 'created'>, opts: { replace?: boolean } = {}): Promise<SecretRecord> {
    checkObjectName('secret', rec.name);
    return this.store.lock.with(async () => {
      const old = await this.get(rec.name);
      if (old && !opts.replace) throw new PeapodError('exists', `secret name ${rec.name} is already in use: secret already exists`);
      const full: SecretRecord = { ...rec, id: old?.id ?? randomBytes(12).toString('hex'), created: old?.created ?? new Date().toISOString() };
      await fs.mkdir(this.dir(), { recursive: true, mode: 0o700 });
      await fs.chmod(this.dir(), 0o700);
      await writeFileAtomic(this.file(rec.name), JSON.stringify(full), 0o600);
      return full;
    });
  }

  async remove(name: string): Promise<void> {
    await this.mustGet(name);
    await this.store.lock.with(() => fs.rm(this.file(name), { force: true }));
  }

  /** The decoded value of one key; undefined when the secret or key is missing. */
  async value(name: string, key: string): Promise<string | undefined> {
    const s = await this.get(name);
    const v = s?.data[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  }
}

/**
 * Env resolved only when a container starts, never stored: secret values (envFrom secrets in
 * `before`, which yields to the container's own env; secretKeyRef in `after`) and the pod's address.
 */
export async function startEnv(secrets: Secrets, rec: ContainerRecord, podIP?: string): Promise<{ before: string[]; after: string[] }> {
  const before: string[] = [];
  const after: string[] = [];
  for (const r of rec.spec.secretEnv ?? []) {
    const s = await secrets.get(r.secret);
    if (!s) {
      if (r.optional) continue;
      throw new PeapodError('not-found', `container ${rec.spec.kubeName ?? rec.name}: secret "${r.secret}" not found`);
    }
    if (r.key === undefined) {
      for (const [k, v] of Object.entries(s.data).sort()) before.push(`${r.prefix ?? ''}${k}=${Buffer.from(v, 'base64').toString('utf8')}`);
      continue;
    }
    const v = s.data[r.key];
    if (v === undefined) {
      if (r.optional) continue;
      throw new PeapodError('not-found', `container ${rec.spec.kubeName ?? rec.name}: secret "${r.secret}" has no key "${r.key}"`);
    }
    after.push(`${r.name}=${Buffer.from(v, 'base64').toString('utf8')}`);
  }
  for (const n of rec.spec.podIPEnv ?? []) after.push(`${n}=${podIP ?? ''}`);
  return { before, after };
}
