// The image store: images loaded from archives or imported from a rootfs tar, their names, and
// their unpacked layers (overlayfs lowerdirs).
//
// Layout under `root` (created lazily, 0700: layers hold setuid binaries that must not be
// reachable by host users):
//   blobs/sha256/<hex>       config and manifest blobs, content-addressed (verified on load)
//   layers/<diffid-hex>/     one unpacked layer, shared by every image that has it
//   layers/<diffid-hex>.json its metadata (uncompressed size), written before the directory appears
//   images/<id>.json         one ImageRecord; the ID is the config blob's sha256, as in Podman
//   tmp/<kind>-<pid>-<rand>/ scratch space of a running load/import/pull (same filesystem: renames)
//   staging/                 what pulls keep between attempts: partial blobs, verified unpacked
//                            layers not yet part of an image (see staging.ts)
//
// Concurrency: layers are unpacked outside the state lock into scratch directories (that can take
// minutes and must not block other commands); everything that becomes visible (a layer renamed into
// place, blobs, records, names) happens under the FileLock, and within this process one mutation
// at a time per root. Every file write is atomic; a layer directory appears complete or not at all.
// After a crash, unreferenced layers, blobs and dead scratch directories are collected by the
// next `remove`. Pulls (registry/pull.ts) follow the same rules: layers are verified and unpacked
// outside the lock into staging/, and become part of the store, with the image record, in one
// locked commit.

import type { EventLog } from '../events.js';
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { PeapodError, wrap } from '../errors.js';
import { readJson, writeFileAtomic, writeJsonAtomic } from '../state/atomic.js';
import { pausePoint } from '../debug.js';
import type { FileLock } from '../state/lock.js';
import type { ImageConfigBlob, ImageRecord, ImageRuntimeConfig } from '../types.js';
import { applyChanges } from './changes.js';
import { MEDIA_TYPES, readArchive, type LayerSource } from './formats.js';
// archive.js and layer.js (tar-stream and its 13 modules) are imported where an image is loaded,
// imported or pulled: commands that only run containers never load them.
import type { PullContext, PullOptions, PulledImage } from './registry/pull.js';
import { PullStaging } from './staging.js';
import { layerTar, tarSplitPath } from './tarsplit.js';

import { normalizeImageName, parseReference, shortNameMatches, splitName } from './reference.js';
import { HashingStream, SHA256_HEX_RE, digestHex, exists, hostPlatform, pidAlive, sha256Digest, sha256Hex } from './util.js';

export { normalizeImageName } from './reference.js';
export type { PullOptions, PullPolicy, PullProgress } from './registry/pull.js';

export interface ImageStoreOptions {
  /** Directory of the store, e.g. <peapod root>/storage; created on first write. */
  root: string;
  /** The state lock: every mutation holds it. */
  lock: FileLock;
}

export interface ImportOptions {
  /** Name of the new image; "localhost/NAME:latest" when it has no registry and no tag (Podman). */
  name?: string;
  /** Dockerfile-like instructions: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. */
  changes?: string[];
  /** Comment of the history entry (Podman's --message). */
  message?: string;
}

export interface RemoveResult {
  /** Names removed from the image (all of them when the image was deleted). */
  untagged: string[];
  /** ID of the deleted image, undefined when only a name was removed. */
  deleted: string | undefined;
}

/** How a reference matched an image. */
export interface ImageMatch {
  image: ImageRecord;
  by: 'id' | 'name' | 'digest';
  /** The stored name that matched, when by === 'name'. */
  name?: string;
}

/** An image as save and push write it out (see ImageStore.exportSource). */
export interface ExportSource {
  image: ImageRecord;
  /** The stored name the reference matched, if it matched a name. */
  name?: string;
  configBytes: Buffer;
  /** Bottom first. `tar` yields the uncompressed layer tar (size bytes, sha256 = diffId). */
  layers: Array<{ diffId: string; size: number; tar: () => Promise<AsyncIterable<Buffer>> }>;
}

interface LayerMeta {
  diffId: string;
  size: number;
}

interface StagedLayer {
  dir: string;
  size: number;
}


function notKnown(ref: string): PeapodError {
  return new PeapodError('not-found', `${ref}: image not known`);
}

function hexOf(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
}

function unique<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

/**
 * Find the image `ref` means, in Podman's order: full ID ("sha256:" optional), exact stored name,
 * unique ID prefix (3+ hex digits), then the name normalised (registry given), or for a short name
 * "localhost/NAME", "docker.io/library/NAME" and finally any repository ending in "/NAME" with the
 * same tag. Throws PeapodError('invalid') when the reference is malformed or ambiguous.
 */
export function findImage(ref: string, images: readonly ImageRecord[]): ImageMatch | undefined {
  if (ref === '') return undefined;
  const byDigest = (digest: string, repoMatches: (name: string) => boolean): ImageMatch | undefined => {
    const hits = images.filter((i) => (i.digests ?? [i.digest]).includes(digest) && i.names.some(repoMatches));
    return hits.length > 0 ? { image: hits[0]!, by: 'digest' } : undefined;
  };

  const sha = /^sha256:([a-f0-9]{3,64})$/.exec(ref);
  if (sha) {
    const hex = sha[1]!;
    const exact = images.find((i) => i.id === hex);
    if (exact) return { image: exact, by: 'id' };
    if (hex.length === 64) {
      const byManifest = images.find((i) => (i.digests ?? [i.digest]).includes(ref));
      return byManifest ? { image: byManifest, by: 'digest' } : undefined;
    }
    const prefixed = images.filter((i) => i.id.startsWith(hex));
    if (prefixed.length > 1) throw ambiguousPrefix(ref, prefixed);
    return prefixed.length === 1 ? { image: prefixed[0]!, by: 'id' } : undefined;
  }
  if (SHA256_HEX_RE.test(ref)) {
    const exact = images.find((i) => i.id === ref);
    return exact ? { image: exact, by: 'id' } : undefined;
  }
  for (const image of images) if (image.names.includes(ref)) return { image, by: 'name', name: ref };

  let ambiguous: ImageRecord[] | undefined;
  if (/^[a-f0-9]{3,63}$/.test(ref)) {
    const prefixed = images.filter((i) => i.id.startsWith(ref));
    if (prefixed.length === 1) return { image: prefixed[0]!, by: 'id' };
    if (prefixed.length > 1) ambiguous = prefixed;
  }

  const byNames = (): ImageMatch | undefined => {
    const parsed = parseReference(ref);
    if (parsed.domain) {
      const full = normalizeImageName(ref);
      if (parsed.digest) {
        const repo = splitName(full).repository;
        return byDigest(parsed.digest, (n) => splitName(n).repository === repo);
      }
      const image = images.find((i) => i.names.includes(full));
      return image ? { image, by: 'name', name: full } : undefined;
    }
    // A short name: the candidates Podman tries, then its fuzzy "ends with /NAME" match.
    if (parsed.digest) {
      return byDigest(parsed.digest, (n) => {
        const repo = splitName(n).repository;
        return repo === parsed.path || repo.endsWith(`/${parsed.path}`);
      });
    }
    for (const full of [normalizeImageName(ref), normalizeImageName(ref, { defaultDomain: 'docker.io' })]) {
      const image = images.find((i) => i.names.includes(full));
      if (image) return { image, by: 'name', name: full };
    }
    const fuzzy: Array<{ image: ImageRecord; name: string }> = [];
    for (const image of images) {
      const name = image.names.find((n) => shortNameMatches(parsed, n));
      if (name) fuzzy.push({ image, name });
    }
    if (fuzzy.length > 1) {
      throw new PeapodError('invalid', `short name "${ref}" matches several images: ${fuzzy.map((f) => f.name).join(', ')}`, {
        hint: 'use the full name',
      });
    }
    return fuzzy.length === 1 ? { image: fuzzy[0]!.image, by: 'name', name: fuzzy[0]!.name } : undefined;
  };

  let match: ImageMatch | undefined;
  try {
    match = byNames();
  } catch (err) {
    if (ambiguous) throw ambiguousPrefix(ref, ambiguous);
    throw err;
  }
  if (match) return match;
  if (ambiguous) throw ambiguousPrefix(ref, ambiguous);
  return undefined;
}

function ambiguousPrefix(ref: string, images: ImageRecord[]): PeapodError {
  return new PeapodError('invalid', `image ID prefix "${ref}" is ambiguous: it matches ${images.map((i) => i.id.slice(0, 12)).join(', ')}`, {
    hint: 'give more digits of the ID',
  });
}

/** Podman's RepoDigests: "<repository>@<digest>" for every name and every manifest digest, sorted. */
export function repoDigestsOf(names: readonly string[], digests: readonly string[]): string[] {
  const out = new Set<string>();
  for (const name of names) {
    const repo = splitName(name).repository;
    for (const d of digests) if (d) out.add(`${repo}@${d}`);
  }
  return [...out].sort();
}

export class ImageStore {
  readonly root: string;
  private readonly lock: FileLock;
  /** Set by the engine: the journal that pull, tag, untag, remove, load and import are recorded in. */
  events?: EventLog;

  constructor(opts: ImageStoreOptions) {
    this.root = path.resolve(opts.root);
    this.lock = opts.lock;
  }

  private get blobsDir(): string { return path.join(this.root, 'blobs', 'sha256'); }
  private get layersDir(): string { return path.join(this.root, 'layers'); }
  private get imagesDir(): string { return path.join(this.root, 'images'); }
  private get tmpDir(): string { return path.join(this.root, 'tmp'); }
  private get staging(): PullStaging { return new PullStaging(path.join(this.root, 'staging')); }
  private layerDir(hex: string): string { return path.join(this.layersDir, hex); }
  private layerMetaPath(hex: string): string { return path.join(this.layersDir, `${hex}.json`); }
  private recordPath(id: string): string { return path.join(this.imagesDir, `${id}.json`); }

  // ---------------------------------------------------------------- reads (no lock: files are replaced atomically)

  /** All images, newest first. */
  async list(): Promise<ImageRecord[]> {
    const all = await this.readAll();
    // Compare as dates: configs write RFC 3339 with any precision and offset.
    const time = (i: ImageRecord): number => Date.parse(i.created) || 0;
    return all.sort((a, b) => time(b) - time(a) || a.id.localeCompare(b.id));
  }

  async get(ref: string): Promise<ImageRecord | undefined> {
    return findImage(ref, await this.readAll())?.image;
  }

  async resolve(ref: string): Promise<ImageRecord> {
    const img = await this.get(ref);
    if (!img) throw notKnown(ref);
    return img;
  }

  /** Absolute unpacked layer directories, top layer first (the order of overlayfs' lowerdir). */
  layerPaths(img: ImageRecord): string[] {
    return img.layers.map((d) => this.layerDir(digestHex(d, `image ${img.id}`))).reverse();
  }

  /**
   * What save and push write out: the config blob as stored (so the image ID stays) and each
   * layer's tar reproduced from the unpacked layer (tarsplit.ts), checked against its diff ID.
   */
  async exportSource(ref: string): Promise<ExportSource> {
    const match = findImage(ref, await this.readAll());
    if (!match) throw notKnown(ref);
    const img = match.image;
    const configBytes = await fs.readFile(path.join(this.blobsDir, img.id)).catch(() => {
      throw new PeapodError('not-found', `the config blob of image ${img.id} is missing from the store`);
    });
    if (sha256Hex(configBytes) !== img.id) throw new PeapodError('invalid', `the config blob of image ${img.id} does not match its digest`);
    const layers = [];
    for (const diffId of img.layers) {
      const hex = digestHex(diffId, `image ${img.id}`);
      const meta = await this.layerMeta(hex);
      if (!meta) throw new PeapodError('not-found', `layer ${diffId} of image ${img.id} is missing from the store`);
      const dir = this.layerDir(hex);
      const split = tarSplitPath(this.root, hex);
      layers.push({ diffId, size: meta.size, tar: async () => layerTar(dir, split, diffId) });
    }
    return { image: img, name: match.by === 'name' ? match.name : undefined, configBytes, layers };
  }

  private async readAll(): Promise<ImageRecord[]> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.imagesDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: ImageRecord[] = [];
    for (const e of entries) {
      if (!/^[a-f0-9]{64}\.json$/.test(e)) continue; // temp files of atomic writes, foreign files
      const file = path.join(this.imagesDir, e);
      // a damaged record is skipped with a warning naming it (its layers go with the next removal's collection)
      const rec = await readJson<ImageRecord>(file, (v) => (typeof v.id === 'string' && Array.isArray(v.names) ? undefined : 'not an image record'));
      if (rec) out.push(rec);
    }
    return out;
  }

  // ---------------------------------------------------------------- mutations

  /**
   * Load every image of an OCI archive (oci-layout + index.json) or docker-archive (manifest.json),
   * recognised by content; the tar may be gzip-compressed; '-' reads stdin. Names that other images
   * had move to the loaded ones.
   */
  async load(archivePath: string): Promise<ImageRecord[]> {
    await this.ensureDirs();
    const scratch = await this.scratchDir('load');
    try {
      const { TarArchive } = await import('./archive.js');
      const archive = await TarArchive.open(archivePath, scratch);
      const plans = await readArchive(archive);
      // Unpack what is missing before taking the lock; layers present already are reused.
      const staged = new Map<string, StagedLayer>();
      for (const plan of plans) {
        for (const layer of plan.layers) {
          const hex = digestHex(layer.diffId, layer.what);
          if (staged.has(hex) || await exists(this.layerDir(hex))) continue;
          staged.set(hex, await this.stageLayer(layer, scratch));
        }
      }
      pausePoint('load-staged');
      const loaded = await this.mutate(async () => {
        const all = await this.readAll();
        const loaded: ImageRecord[] = [];
        for (const plan of plans) {
          const sizes: number[] = [];
          for (const layer of plan.layers) sizes.push(await this.commitLayer(layer.diffId, staged, scratch, layer));
          loaded.push(await this.commitImage({
            id: plan.id,
            configBytes: plan.configBytes,
            config: plan.config,
            manifestBytes: plan.manifest(sizes),
            manifestType: plan.manifestType,
            sizes,
            names: plan.names,
            annotations: plan.annotations,
          }, all));
        }
        return loaded;
      });
      for (const img of loaded) this.event(img, 'load');
      return loaded;
    } catch (err) {
      // Peapod's own errors name the archive already.
      throw err instanceof PeapodError ? err : wrap(err, `loading ${archivePath === '-' ? 'stdin' : archivePath}`);
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
  }

  /**
   * Create an image from a rootfs tar (a path, or '-' for stdin): one layer, a config for this
   * host's architecture with `changes` applied, created now.
   */
  async importTar(tar: string, opts: ImportOptions = {}): Promise<ImageRecord> {
    // Validate everything that can be validated before reading a possibly large tar.
    const runtime: ImageRuntimeConfig = applyChanges({}, opts.changes ?? []);
    const name = opts.name ? normalizeImageName(opts.name) : undefined;
    if (name?.includes('@')) throw new PeapodError('invalid', `"${opts.name}": an image name cannot have a digest`);
    const shown = tar === '-' ? 'stdin' : tar;
    if (tar !== '-') {
      const st = await fs.stat(tar).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'ENOENT' ? new PeapodError('not-found', `${tar}: no such file`) : err;
      });
      if (!st.isFile()) throw new PeapodError('invalid', `${tar}: not a regular file`);
    }
    await this.ensureDirs();
    const scratch = await this.scratchDir('import');
    try {
      const dir = path.join(scratch, 'layer');
      const input: Readable = tar === '-' ? process.stdin : createReadStream(tar);
      const { unpackLayer } = await import('./layer.js');
      const layer = await unpackLayer(input, dir, { tarSplitFile: (diffId) => tarSplitPath(this.root, hexOf(diffId)) });
      const hex = digestHex(layer.diffId, shown);
      pausePoint('import-unpacked');
      const staged = new Map<string, StagedLayer>([[hex, { dir, size: layer.size }]]);
      const created = new Date().toISOString();
      const { architecture, os } = hostPlatform();
      // Field order of Go's OCI image struct, so the blob looks like one Podman writes.
      const config: ImageConfigBlob = {
        created,
        architecture,
        os,
        config: runtime,
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
        history: [{
          created,
          created_by: `/bin/sh -c #(nop) ADD file:${hex} in /`,
          comment: opts.message || 'imported from tarball',
        }],
      };
      const configBytes = Buffer.from(JSON.stringify(config));
      const manifest = {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length },
        layers: [{ mediaType: MEDIA_TYPES.ociLayer, digest: layer.diffId, size: layer.size }],
      };
      const imported = await this.mutate(async () => {
        const all = await this.readAll();
        const size = await this.commitLayer(layer.diffId, staged, scratch);
        pausePoint('import-layer-committed');
        return this.commitImage({
          id: sha256Hex(configBytes),
          configBytes,
          config,
          manifestBytes: Buffer.from(JSON.stringify(manifest)),
          manifestType: MEDIA_TYPES.ociManifest,
          sizes: [size],
          names: name ? [name] : [],
        }, all);
      });
      this.event(imported, 'import');
      return imported;
    } catch (err) {
      throw wrap(err, `importing ${shown}`);
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
  }

  /**
   * Pull `ref` from its registry, following the pull policy ('missing' by default: an image
   * found locally is returned without any network access). See registry/pull.ts.
   */
  async pull(ref: string, opts: PullOptions = {}): Promise<ImageRecord> {
    // Loaded on demand: commands that never pull do not pay for the registry client.
    const { pullImage } = await import('./registry/pull.js');
    // The store's directories first: the root must be created 0700 (staging lives inside it).
    await this.ensureDirs();
    const img = await pullImage(ref, opts, this.pullContext());
    this.event(img, 'pull', ref);
    return img;
  }

  /** Records an image event (Podman's: the name the operation used, the image ID). */
  private event(img: ImageRecord, status: string, name?: string): void {
    this.events?.write({ ID: img.id, Name: name ?? img.names[0] ?? '', Status: status, Type: 'image' });
  }

  /** The digest the registry serves now for a fully qualified `ref` on this platform (registry/pull.ts). */
  async remoteDigest(ref: string, opts: PullOptions = {}): Promise<string> {
    const { remotePlatformDigest } = await import('./registry/pull.js');
    return remotePlatformDigest(normalizeImageName(ref), opts);
  }

  /**
   * A pull as the kubelet's runtime makes it (play kube): the image and the fully qualified name
   * it was found under, which the container then carries. Candidates from kubeImageCandidates, the
   * first present locally (policy missing/never) or the first that pulls.
   */
  async pullForKube(ref: string, opts: PullOptions = {}): Promise<{ image: ImageRecord; name: string }> {
    const { kubeImageCandidates } = await import('./registry/shortnames.js');
    const { loadRegistriesConf } = await import('./registry/registries-conf.js');
    const candidates = kubeImageCandidates(ref, opts.registriesConf ?? loadRegistriesConf());
    const policy = opts.policy ?? 'missing';
    if (policy === 'missing' || policy === 'never') {
      const all = await this.readAll();
      for (const name of candidates) {
        const m = findImage(name, all);
        if (m) return { image: m.image, name };
      }
    }
    let first: unknown;
    for (const name of candidates) {
      try {
        return { image: await this.pull(name, opts), name };
      } catch (err) {
        first ??= err;
      }
    }
    throw first;
  }

  private pullContext(): PullContext {
    const staging = this.staging;
    return {
      images: () => this.readAll(),
      find: (ref, images) => findImage(ref, images)?.image,
      layerPresent: (hex) => exists(this.layerDir(hex)),
      tarSplitFile: (hex) => tarSplitPath(this.root, hex),
      staging,
      scratch: async () => {
        await this.ensureDirs();
        return this.scratchDir('pull');
      },
      commit: (image) => this.commitPulled(image, staging),
    };
  }

  /** Under the lock: the staged layers of a pulled image move into the store, then its record is written. */
  private async commitPulled(image: PulledImage, staging: PullStaging): Promise<ImageRecord> {
    await this.ensureDirs();
    return this.mutate(async () => {
      const all = await this.readAll();
      const sizes: number[] = [];
      const staged = new Map<string, StagedLayer>();
      for (const diffId of image.config.rootfs.diff_ids) {
        const hex = digestHex(diffId, `image ${image.id}`);
        if (!staged.has(hex) && !(await exists(this.layerDir(hex)))) {
          const s = await staging.stagedLayer(hex);
          if (!s) {
            throw new PeapodError('state', `layer ${diffId} disappeared before the image was stored (removed by another command?)`, {
              hint: 'run the pull again',
            });
          }
          staged.set(hex, s);
        }
        sizes.push(await this.commitLayer(diffId, staged, this.tmpDir));
        await staging.forgetLayer(hex);
      }
      return this.commitImage({
        id: image.id,
        configBytes: image.configBytes,
        config: image.config,
        manifestBytes: image.manifestBytes,
        manifestType: image.manifestType,
        listBytes: image.listBytes,
        sizes,
        names: image.names,
      }, all);
    });
  }

  /** Add a name (normalised, "localhost/" by default) to an image; it moves if another image has it. */
  async tag(ref: string, name: string): Promise<void> {
    const full = normalizeImageName(name);
    if (full.includes('@')) throw new PeapodError('invalid', `"${name}": tag by digest not supported`);
    await this.ensureDirs();
    await this.mutate(async () => {
      const all = await this.readAll();
      const match = findImage(ref, all);
      if (!match) throw notKnown(ref);
      await this.assignNames(match.image, [full], all);
      this.event(match.image, 'tag', full);
    });
  }

  /**
   * Podman's `rmi`: a name of an image that has other names is only untagged; otherwise the image
   * is deleted with every layer and blob no other image uses. By ID (or digest) an image with
   * several names is deleted only with `force`. Containers are the caller's business.
   */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<RemoveResult> {
    return this.mutate(async () => this.removeLocked(ref, opts));
  }

  private async removeLocked(ref: string, opts: { force?: boolean }): Promise<RemoveResult> {
    {
      const all = await this.readAll();
      const match = findImage(ref, all);
      if (!match) throw notKnown(ref);
      const img = match.image;
      if (match.by === 'name' && img.names.length > 1) {
        const name = match.name!;
        img.names = img.names.filter((n) => n !== name);
        await this.writeRecord(img);
        this.event(img, 'untag', name);
        return { untagged: [name], deleted: undefined };
      }
      if (match.by !== 'name' && img.names.length > 1 && !opts.force) {
        throw new PeapodError('state', `unable to delete image "${img.id}" by ${match.by === 'digest' ? 'digest' : 'ID'} with more than one tag (${img.names.join(', ')}): please force removal`, {
          hint: 'remove the names one by one, or use --force',
        });
      }
      await fs.rm(this.recordPath(img.id), { force: true });
      await this.collectGarbage(all.filter((i) => i.id !== img.id));
      for (const n of img.names) this.event(img, 'untag', n);
      this.event(img, 'remove');
      return { untagged: [...img.names], deleted: img.id };
    }
  }

  // ---------------------------------------------------------------- internals

  /** Every mutation holds the state lock (exclusive across processes and across async chains here). */
  private async mutate<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.with(fn);
  }

  private async ensureDirs(): Promise<void> {
    if (!(await exists(this.root))) {
      await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
      await fs.chmod(this.root, 0o700);
    }
    for (const d of [this.blobsDir, this.layersDir, this.imagesDir, this.tmpDir]) await fs.mkdir(d, { recursive: true, mode: 0o700 });
  }

  /** A scratch directory named after this process, so that collection can tell live ones from dead ones. */
  private async scratchDir(kind: string): Promise<string> {
    return fs.mkdtemp(path.join(this.tmpDir, `${kind}-${process.pid}-`));
  }

  /** Unpack one layer into the scratch directory, verifying its blob digest and diff ID. */
  private async stageLayer(src: LayerSource, scratch: string): Promise<StagedLayer> {
    const hex = digestHex(src.diffId, src.what);
    const dir = path.join(scratch, `layer-${hex}-${randomBytes(4).toString('hex')}`);
    const raw = src.open();
    let stream: Readable = raw;
    let hasher: HashingStream | undefined;
    if (src.blobDigest) {
      const h = new HashingStream();
      hasher = h;
      raw.on('error', (err) => h.destroy(err));
      stream = raw.pipe(h);
    }
    try {
      const { unpackLayer } = await import('./layer.js');
      const result = await unpackLayer(stream, dir, {
        expectedDiffId: src.diffId,
        tarSplitFile: tarSplitPath(this.root, hex),
        beforeCommit: () => {
          if (!hasher || !src.blobDigest) return;
          const actual = hasher.digest();
          if (actual !== src.blobDigest) throw new PeapodError('invalid', `blob does not match its digest ${src.blobDigest} (got ${actual})`);
          if (src.blobSize !== undefined && hasher.bytes !== src.blobSize) {
            throw new PeapodError('invalid', `blob has ${hasher.bytes} bytes, its descriptor says ${src.blobSize}`);
          }
        },
      });
      return { dir, size: result.size };
    } catch (err) {
      raw.destroy();
      throw wrap(err, `layer ${src.diffId} (${src.what})`);
    }
  }

  /**
   * Under the lock: make layer `diffId` present in layers/ and return its size. A staged copy is
   * renamed into place; if the layer exists already (unpacked once per digest) the staged copy is
   * dropped with the scratch directory. A layer that vanished since the check (removed by another
   * command) is unpacked again from `src`.
   */
  private async commitLayer(diffId: string, staged: Map<string, StagedLayer>, scratch: string, src?: LayerSource): Promise<number> {
    const hex = digestHex(diffId, 'layer');
    const final = this.layerDir(hex);
    if (await exists(final)) return (await this.layerMeta(hex))?.size ?? 0;
    let layer = staged.get(hex);
    if (!layer) {
      if (!src) throw new PeapodError('internal', `layer ${diffId} was neither staged nor present`);
      layer = await this.stageLayer(src, scratch);
    }
    // Metadata first: a layer directory is never visible without it.
    await writeJsonAtomic(this.layerMetaPath(hex), { diffId, size: layer.size } satisfies LayerMeta);
    await fs.rename(layer.dir, final);
    staged.delete(hex);
    return layer.size;
  }

  private async layerMeta(hex: string): Promise<LayerMeta | undefined> {
    return readJson<LayerMeta>(this.layerMetaPath(hex));
  }

  private async writeBlob(data: Buffer): Promise<string> {
    const hex = sha256Hex(data);
    const file = path.join(this.blobsDir, hex);
    if (!(await exists(file))) await writeFileAtomic(file, data, 0o600);
    return `sha256:${hex}`;
  }

  /** Under the lock: store blobs and the record of an image (merging with an existing one), give it its names. */
  private async commitImage(input: {
    id: string;
    configBytes: Buffer;
    config: ImageConfigBlob;
    manifestBytes: Buffer;
    manifestType: string;
    /** The manifest list / index the image came from (pulls): its digest becomes the image's digest. */
    listBytes?: Buffer;
    sizes: number[];
    names: string[];
    annotations?: Record<string, string>;
  }, all: ImageRecord[]): Promise<ImageRecord> {
    await this.writeBlob(input.configBytes);
    const instanceDigest = await this.writeBlob(input.manifestBytes);
    const listDigest = input.listBytes ? await this.writeBlob(input.listBytes) : undefined;
    // As in Podman: the digest a user pulls by (the list's) first, then the instance's.
    const manifestDigests = listDigest ? [listDigest, instanceDigest] : [instanceDigest];
    const manifestDigest = manifestDigests[0]!;
    const existing = all.find((i) => i.id === input.id);
    const rec: ImageRecord = existing ?? {
      id: input.id,
      names: [],
      namesHistory: [],
      digest: manifestDigest,
      digests: [],
      manifestType: input.manifestType,
      repoDigests: [],
      created: typeof input.config.created === 'string' && input.config.created ? input.config.created : new Date().toISOString(),
      size: input.sizes.reduce((a, b) => a + b, 0),
      layers: [...input.config.rootfs.diff_ids],
      config: input.config,
    };
    // The newest manifest becomes the image's digest; earlier ones stay known (Podman's Digests).
    rec.digests = unique([...manifestDigests, ...(existing ? existing.digests ?? [existing.digest] : [])]);
    rec.digest = manifestDigest;
    rec.manifestType = input.manifestType;
    if (input.annotations && Object.keys(input.annotations).length > 0) rec.annotations = { ...rec.annotations, ...input.annotations };
    if (!existing) all.push(rec);
    await this.assignNames(rec, input.names, all);
    return rec;
  }

  /**
   * Give `rec` the `names`, taking them away from any other image first (names are unique, as in
   * Podman), and write the records. The losers are written first: a crash in between can lose a
   * name, never leave it on two images.
   */
  private async assignNames(rec: ImageRecord, names: string[], all: ImageRecord[]): Promise<void> {
    for (const other of all) {
      if (other.id === rec.id) continue;
      const kept = other.names.filter((n) => !names.includes(n));
      if (kept.length !== other.names.length) {
        other.names = kept;
        await this.writeRecord(other);
      }
    }
    rec.names = unique([...rec.names, ...names]);
    rec.namesHistory = unique([...names, ...rec.namesHistory]);
    await this.writeRecord(rec);
  }

  private async writeRecord(rec: ImageRecord): Promise<void> {
    rec.repoDigests = repoDigestsOf(rec.names, rec.digests ?? [rec.digest]);
    await writeJsonAtomic(this.recordPath(rec.id), rec);
  }

  /**
   * Under the lock: delete layers and blobs that no remaining image uses, leftovers of interrupted
   * deletions and atomic writes, and scratch directories of processes that are gone.
   */
  private async collectGarbage(remaining: ImageRecord[]): Promise<void> {
    const liveLayers = new Set(remaining.flatMap((i) => i.layers.map(hexOf)));
    const liveBlobs = new Set(remaining.flatMap((i) => [i.id, ...(i.digests ?? [i.digest]).map(hexOf)]));
    const list = async (dir: string): Promise<string[]> => fs.readdir(dir).catch(() => []);

    for (const e of await list(this.layersDir)) {
      const meta = /^([a-f0-9]{64})\.json$/.exec(e);
      if (SHA256_HEX_RE.test(e)) {
        if (!liveLayers.has(e)) await this.deleteLayer(e);
      } else if (meta) {
        if (!liveLayers.has(meta[1]!) && !(await exists(this.layerDir(meta[1]!)))) await fs.rm(path.join(this.layersDir, e), { force: true });
      } else if (e.startsWith('.deleting-') || e.endsWith('.tmp')) {
        await fs.rm(path.join(this.layersDir, e), { recursive: true, force: true });
      }
    }
    for (const e of await list(this.blobsDir)) {
      if ((SHA256_HEX_RE.test(e) && !liveBlobs.has(e)) || e.endsWith('.tmp')) await fs.rm(path.join(this.blobsDir, e), { force: true });
    }
    for (const e of await list(path.join(this.root, 'tar-split'))) {
      const hex = /^([a-f0-9]{64})\.gz$/.exec(e)?.[1];
      if ((hex && !liveLayers.has(hex) && !(await exists(this.layerDir(hex)))) || e.endsWith('.tmp')) await fs.rm(path.join(this.root, 'tar-split', e), { force: true });
    }
    for (const e of await list(this.imagesDir)) {
      if (e.endsWith('.tmp')) await fs.rm(path.join(this.imagesDir, e), { force: true });
    }
    for (const e of await list(this.tmpDir)) {
      const pid = Number(/^[a-z]+-([0-9]+)-/.exec(e)?.[1]);
      // Our own scratch directories belong to operations still running in this process.
      if (pid > 0 && pid !== process.pid && !pidAlive(pid)) await fs.rm(path.join(this.tmpDir, e), { recursive: true, force: true });
    }
    // What interrupted pulls left for a retry is kept for a day, then collected.
    await this.staging.collect();
  }

  private async deleteLayer(hex: string): Promise<void> {
    // Rename first: the layer disappears at once, and a crash while deleting leaves a
    // ".deleting-" directory that the next collection removes, never a half layer.
    const grave = path.join(this.layersDir, `.deleting-${hex}-${randomBytes(4).toString('hex')}`);
    await fs.rename(this.layerDir(hex), grave);
    await fs.rm(this.layerMetaPath(hex), { force: true });
    await fs.rm(tarSplitPath(this.root, hex), { force: true });
    await fs.rm(grave, { recursive: true, force: true });
  }
}
