// What pulls keep between attempts, so that a pull interrupted (registry gone, kill -9, network
// lost) is cheaper to finish. Nothing here is visible as an image: images appear only when the
// store commits them under its lock.
//
// Layout under <store root>/staging/:
//   blobs/<hex>.<pid>.partial   a blob being downloaded by process <pid>, appended to as bytes
//                               arrive; a later attempt (same or another process, once <pid> is
//                               gone) adopts it and resumes with an HTTP range request. It is
//                               verified against its digest as a whole before it is unpacked.
//   layers/<diffid-hex>/        a layer downloaded, verified (blob digest and diff ID) and
//                               unpacked, waiting for its image to be committed
//   layers/<diffid-hex>.json    its metadata ({diffId, size, stagedAt}), written before the
//                               directory appears
// Entries untouched for STAGING_TTL_MS (and partial blobs of dead processes) are collected by
// the store's garbage collection; `system reset` removes everything.

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readJson, writeJsonAtomic } from '../state/atomic.js';
import { SHA256_HEX_RE, exists, pidAlive } from './util.js';

export const STAGING_TTL_MS = 24 * 60 * 60 * 1000;

export interface StagedLayerMeta {
  diffId: string;
  size: number;
  stagedAt: string;
}

export class PullStaging {
  constructor(readonly dir: string) {}

  private get blobsDir(): string { return path.join(this.dir, 'blobs'); }
  private get layersDir(): string { return path.join(this.dir, 'layers'); }
  layerDir(hex: string): string { return path.join(this.layersDir, hex); }
  private metaPath(hex: string): string { return path.join(this.layersDir, `${hex}.json`); }

  private async ensure(): Promise<void> {
    await fs.mkdir(this.blobsDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.layersDir, { recursive: true, mode: 0o700 });
  }

  /** A staged, complete layer, or undefined. */
  async stagedLayer(hex: string): Promise<{ dir: string; size: number } | undefined> {
    const meta = await readJson<StagedLayerMeta>(this.metaPath(hex)).catch(() => undefined);
    if (!meta || !(await exists(this.layerDir(hex)))) return undefined;
    return { dir: this.layerDir(hex), size: meta.size };
  }

  /**
   * The partial file this process downloads blob `hex` into, and how many bytes it holds: ours
   * from an earlier attempt, or one adopted from a process that is gone, or a new empty one.
   */
  async partialBlob(hex: string): Promise<{ file: string; size: number }> {
    await this.ensure();
    const mine = path.join(this.blobsDir, `${hex}.${process.pid}.partial`);
    if (!(await exists(mine))) {
      for (const e of await fs.readdir(this.blobsDir)) {
        const m = /^([a-f0-9]{64})\.(\d+)\.partial$/.exec(e);
        if (!m || m[1] !== hex || Number(m[2]) === process.pid || pidAlive(Number(m[2]))) continue;
        try {
          await fs.rename(path.join(this.blobsDir, e), mine);
          break;
        } catch { /* another process adopted it first */ }
      }
    }
    const size = await fs.stat(mine).then((s) => s.size, () => 0);
    return { file: mine, size };
  }

  /**
   * Move an unpacked, verified layer (`src`, a scratch directory on the same filesystem) into the
   * staging area. When it is there already (another pull staged it), `src` is dropped.
   */
  async stageLayer(hex: string, diffId: string, size: number, src: string): Promise<void> {
    await this.ensure();
    if (await this.stagedLayer(hex)) {
      await fs.rm(src, { recursive: true, force: true });
      return;
    }
    await writeJsonAtomic(this.metaPath(hex), { diffId, size, stagedAt: new Date().toISOString() } satisfies StagedLayerMeta);
    try {
      await fs.rename(src, this.layerDir(hex));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      await fs.rm(src, { recursive: true, force: true });
    }
  }

  /** After the layer was renamed into the store: drop its staging metadata. */
  async forgetLayer(hex: string): Promise<void> {
    await fs.rm(this.metaPath(hex), { force: true });
  }

  /**
   * Remove staged layers older than `ttlMs`, partial blobs of dead processes older than `ttlMs`,
   * and anything that is not a well-formed entry (leftovers of crashes).
   */
  async collect(ttlMs = STAGING_TTL_MS, now = Date.now()): Promise<void> {
    const list = async (dir: string): Promise<string[]> => fs.readdir(dir).catch(() => []);
    const old = async (p: string): Promise<boolean> => fs.stat(p).then((s) => now - s.mtimeMs > ttlMs, () => false);
    for (const e of await list(this.layersDir)) {
      const full = path.join(this.layersDir, e);
      const meta = /^([a-f0-9]{64})\.json$/.exec(e);
      if (SHA256_HEX_RE.test(e)) {
        const m = await readJson<StagedLayerMeta>(this.metaPath(e)).catch(() => undefined);
        const stagedAt = m ? Date.parse(m.stagedAt) : NaN;
        if (!m || !(now - stagedAt <= ttlMs)) {
          // Rename first so that a half-deleted directory is never taken for a staged layer.
          const grave = path.join(this.layersDir, `.deleting-${e}-${randomBytes(4).toString('hex')}`);
          await fs.rename(full, grave).catch(() => undefined);
          await fs.rm(this.metaPath(e), { force: true });
          await fs.rm(grave, { recursive: true, force: true });
        }
      } else if (meta) {
        if (!(await exists(this.layerDir(meta[1]!))) && await old(full)) await fs.rm(full, { force: true });
      } else if (e.startsWith('.deleting-') || e.endsWith('.tmp')) {
        await fs.rm(full, { recursive: true, force: true });
      }
    }
    for (const e of await list(this.blobsDir)) {
      const m = /^[a-f0-9]{64}\.(\d+)\.partial$/.exec(e);
      const full = path.join(this.blobsDir, e);
      if (m && (Number(m[1]) === process.pid || pidAlive(Number(m[1])))) continue;
      if (!m || await old(full)) await fs.rm(full, { recursive: true, force: true });
    }
  }
}
