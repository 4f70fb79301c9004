// Image archive formats: what `load` understands, turned into plans the store executes.
//
//   OCI archive      oci-layout + index.json + blobs/sha256/<hex>. Every entry of index.json is
//                    one image; nested image indexes are followed, choosing this host's platform.
//                    The name comes from the entry's annotations (io.containerd.image.name, else
//                    org.opencontainers.image.ref.name), normalised with localhost/ as Podman does.
//   docker-archive   manifest.json [{Config, RepoTags, Layers}] (docker save, skopeo); names from
//                    RepoTags with Docker's rules (docker.io/library/...). There is no manifest in
//                    such an archive: one is synthesised the way containers/image does, so the
//                    digest matches what Podman and skopeo report for the same archive.
// Every blob read by digest is verified; layers are verified against the config's diff IDs
// (and, for OCI, against their blob digest) while they are unpacked.

import type { Readable } from 'node:stream';
import { PeapodError } from '../errors.js';
import type { ImageConfigBlob } from '../types.js';
import type { TarArchive } from './archive.js';
import { normalizeImageName } from './reference.js';
import { SHA256_DIGEST_RE, digestHex, hostPlatform, sha256Hex } from './util.js';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
export const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);
export const CONFIG_TYPES = new Set<string>([MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig]);
const MAX_INDEX_DEPTH = 8;

/** One layer of an image being loaded. */
export interface LayerSource {
  /** "sha256:<hex>" from the image config: the key of the unpacked layer. */
  diffId: string;
  /** Where the layer comes from, for messages. */
  what: string;
  open(): Readable;
  /** Digest (and size) of the stored blob, compressed or not, checked while it is read. */
  blobDigest?: string;
  blobSize?: number;
}

/** An image found in an archive, ready to be stored. */
export interface ImagePlan {
  /** Config digest hex: the image ID. */
  id: string;
  configBytes: Buffer;
  config: ImageConfigBlob;
  manifestType: string;
  /** The manifest bytes to store, given the uncompressed size of each layer (bottom first). */
  manifest(layerSizes: number[]): Buffer;
  /** Normalised names, possibly none. */
  names: string[];
  layers: LayerSource[];
  annotations?: Record<string, string>;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
  urls?: string[];
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function stringMap(v: unknown): Record<string, string> | undefined {
  if (!isRecord(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

export function descriptor(v: unknown, where: string): Descriptor {
  if (!isRecord(v) || typeof v.digest !== 'string' || typeof v.size !== 'number') {
    throw new PeapodError('invalid', `${where}: malformed descriptor (needs digest and size)`);
  }
  if (!SHA256_DIGEST_RE.test(v.digest)) digestHex(v.digest, where); // throws the precise error
  const platform = isRecord(v.platform) ? {
    os: typeof v.platform.os === 'string' ? v.platform.os : undefined,
    architecture: typeof v.platform.architecture === 'string' ? v.platform.architecture : undefined,
    variant: typeof v.platform.variant === 'string' ? v.platform.variant : undefined,
  } : undefined;
  return {
    mediaType: typeof v.mediaType === 'string' ? v.mediaType : '',
    digest: v.digest,
    size: v.size,
    annotations: stringMap(v.annotations),
    platform,
    urls: Array.isArray(v.urls) ? v.urls.filter((u): u is string => typeof u === 'string') : undefined,
  };
}

function blobPath(digest: string, where: string): string {
  return `blobs/sha256/${digestHex(digest, where)}`;
}

/** Validate the parts of an image config the store relies on. */
export function parseImageConfig(bytes: Buffer, where: string): ImageConfigBlob {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new PeapodError('invalid', `${where}: image config is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isRecord(value) || !isRecord(value.rootfs) || !Array.isArray(value.rootfs.diff_ids)) {
    throw new PeapodError('invalid', `${where}: image config has no rootfs.diff_ids`);
  }
  for (const d of value.rootfs.diff_ids) {
    if (typeof d !== 'string') throw new PeapodError('invalid', `${where}: rootfs.diff_ids holds a non-string`);
    digestHex(d, `${where}: rootfs.diff_ids`);
  }
  if (value.config !== undefined && value.config !== null && !isRecord(value.config)) {
    throw new PeapodError('invalid', `${where}: image config "config" is not an object`);
  }
  return value as unknown as ImageConfigBlob;
}

/** Podman's name for an OCI archive entry (libimage nameFromAnnotations). */
function nameFromAnnotations(a: Record<string, string> | undefined): string | undefined {
  return a?.['io.containerd.image.name'] || a?.['org.opencontainers.image.ref.name'] || undefined;
}

function platformString(p: Descriptor['platform']): string {
  if (!p) return 'unknown';
  return [p.os ?? '?', p.architecture ?? '?', p.variant].filter(Boolean).join('/');
}

/** An OCI platform: what an index entry runs on, or what a pull asks for. */
export interface Platform { os: string; architecture: string; variant?: string }

/**
 * Pick the image for `platform` (default: this host's) from an index, as Podman does when
 * pulling or loading: same os and architecture; an explicitly wanted variant must match,
 * otherwise the host's variant is preferred, then an entry without variant, then any.
 */
export function choosePlatform(entries: Descriptor[], where: string, platform?: Platform): Descriptor {
  const host = platform ?? hostPlatform();
  const images = entries.filter((d) => d.mediaType === '' || MANIFEST_TYPES.has(d.mediaType) || INDEX_TYPES.has(d.mediaType));
  let matching = images.filter((d) => d.platform?.os === host.os && d.platform?.architecture === host.architecture);
  if (platform?.variant) matching = matching.filter((d) => d.platform?.variant === platform.variant);
  if (matching.length > 0) {
    return matching.find((d) => d.platform?.variant === host.variant)
      ?? matching.find((d) => !d.platform?.variant)
      ?? matching[0]!;
  }
  if (images.length === 1 && !images[0]!.platform) return images[0]!;
  throw new PeapodError('not-found', `${where}: no image for ${platformString(host)} (the index has: ${images.map((d) => platformString(d.platform)).join(', ') || 'nothing'})`);
}

/** Which kind of archive this is (Podman tries OCI first, then docker-archive). */
export function archiveFormat(a: TarArchive): 'oci' | 'docker' {
  if (a.has('index.json') && a.has('oci-layout')) return 'oci';
  if (a.has('manifest.json')) return 'docker';
  if (a.has('index.json')) return 'oci';
  throw new PeapodError('invalid', `${a.source}: payload does not match any of the supported image formats (oci-archive with index.json and oci-layout, or docker-archive with manifest.json)`);
}

export async function readArchive(a: TarArchive): Promise<ImagePlan[]> {
  const plans = archiveFormat(a) === 'oci' ? await readOciArchive(a) : await readDockerArchive(a);
  if (plans.length === 0) throw new PeapodError('invalid', `${a.source}: the archive holds no image`);
  // The same image under several names (several index entries or RepoTags lists): one plan.
  const byId = new Map<string, ImagePlan>();
  for (const p of plans) {
    const seen = byId.get(p.id);
    if (seen) seen.names = [...new Set([...seen.names, ...p.names])];
    else byId.set(p.id, p);
  }
  return [...byId.values()];
}

async function readOciArchive(a: TarArchive): Promise<ImagePlan[]> {
  if (a.has('oci-layout')) {
    const { value } = await a.readJson('oci-layout');
    if (!isRecord(value) || typeof value.imageLayoutVersion !== 'string') {
      throw new PeapodError('invalid', `${a.source}: oci-layout has no imageLayoutVersion`);
    }
  }
  const { value: index } = await a.readJson('index.json');
  if (!isRecord(index) || !Array.isArray(index.manifests)) {
    throw new PeapodError('invalid', `${a.source}: index.json has no manifests list`);
  }
  const plans: ImagePlan[] = [];
  for (const [i, entry] of index.manifests.entries()) {
    const top = descriptor(entry, `${a.source}: index.json manifests[${i}]`);
    const name = nameFromAnnotations(top.annotations);
    const plan = await planFromDescriptor(a, top, 0);
    plan.names = name ? [normalizeImageName(name)] : [];
    plans.push(plan);
  }
  return plans;
}

async function planFromDescriptor(a: TarArchive, desc: Descriptor, depth: number): Promise<ImagePlan> {
  if (depth > MAX_INDEX_DEPTH) throw new PeapodError('invalid', `${a.source}: image indexes nested too deeply`);
  const where = `${a.source}: ${blobPath(desc.digest, a.source)}`;
  const { bytes, value } = await a.readJson(blobPath(desc.digest, where), desc.digest, desc.size);
  if (!isRecord(value)) throw new PeapodError('invalid', `${where}: not a manifest`);
  const mediaType = typeof value.mediaType === 'string' && value.mediaType ? value.mediaType : desc.mediaType;
  if (INDEX_TYPES.has(mediaType) || (mediaType === '' && Array.isArray(value.manifests))) {
    if (!Array.isArray(value.manifests)) throw new PeapodError('invalid', `${where}: image index has no manifests`);
    const entries = value.manifests.map((m, i) => descriptor(m, `${where}: manifests[${i}]`));
    return planFromDescriptor(a, choosePlatform(entries, where), depth + 1);
  }
  if (!MANIFEST_TYPES.has(mediaType) && !(mediaType === '' && isRecord(value.config))) {
    throw new PeapodError('invalid', `${where}: unsupported manifest media type "${mediaType}"`);
  }
  const configDesc = descriptor(value.config, `${where}: config`);
  if (configDesc.mediaType && !CONFIG_TYPES.has(configDesc.mediaType)) {
    throw new PeapodError('invalid', `${where}: config media type "${configDesc.mediaType}" is not a container image (an artifact?)`);
  }
  const configPath = blobPath(configDesc.digest, where);
  const configBytes = await a.readVerified(configPath, configDesc.digest, configDesc.size);
  const config = parseImageConfig(configBytes, `${a.source}: ${configPath}`);
  const layerDescs = Array.isArray(value.layers) ? value.layers.map((l, i) => descriptor(l, `${where}: layers[${i}]`)) : [];
  const diffIds = config.rootfs.diff_ids;
  if (layerDescs.length !== diffIds.length) {
    throw new PeapodError('invalid', `${where}: the manifest lists ${layerDescs.length} layers but the config has ${diffIds.length} diff IDs`);
  }
  const layers = layerDescs.map((d, i): LayerSource => {
    const p = blobPath(d.digest, where);
    if (!a.has(p)) {
      throw new PeapodError('invalid', d.urls?.length
        ? `${a.source}: foreign layer ${d.digest} is not included in the archive (it lives at ${d.urls[0]})`
        : `${a.source}: layer blob ${p} is missing from the archive`);
    }
    return { diffId: diffIds[i]!, what: `${a.source}: ${p}`, open: () => a.open(p), blobDigest: d.digest, blobSize: d.size };
  });
  return {
    id: sha256Hex(configBytes),
    configBytes,
    config,
    manifestType: mediaType || MEDIA_TYPES.ociManifest,
    manifest: () => bytes,
    names: [],
    layers,
    annotations: stringMap(value.annotations),
  };
}

/**
 * The manifest containers/image synthesises for an image in a docker-archive: Docker schema 2,
 * layers described by their diff ID and uncompressed size (Go's json.Marshal field order, no
 * spaces), so that the digest is the one Podman stores and `skopeo inspect` shows.
 */
export function dockerArchiveManifest(configBytes: Buffer, diffIds: string[], layerSizes: number[]): Buffer {
  const m = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.dockerManifest,
    config: { mediaType: MEDIA_TYPES.dockerConfig, size: configBytes.length, digest: `sha256:${sha256Hex(configBytes)}` },
    layers: diffIds.map((d, i) => ({ mediaType: MEDIA_TYPES.dockerLayerGzip, size: layerSizes[i] ?? 0, digest: d })),
  };
  return Buffer.from(JSON.stringify(m));
}

async function readDockerArchive(a: TarArchive): Promise<ImagePlan[]> {
  const { value } = await a.readJson('manifest.json');
  if (!Array.isArray(value)) throw new PeapodError('invalid', `${a.source}: manifest.json is not a list`);
  const plans: ImagePlan[] = [];
  for (const [i, entry] of value.entries()) {
    const where = `${a.source}: manifest.json[${i}]`;
    if (!isRecord(entry) || typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) {
      throw new PeapodError('invalid', `${where}: needs Config and Layers`);
    }
    const configPath = entry.Config;
    const configBytes = await a.read(configPath);
    const id = sha256Hex(configBytes);
    // Newer `docker save` stores blobs by digest: then the name itself can be checked.
    const named = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(configPath);
    if (named && named[1] !== id) throw new PeapodError('invalid', `${a.source}: "${configPath}" does not match its digest (got sha256:${id})`);
    const config = parseImageConfig(configBytes, `${a.source}: ${configPath}`);
    const diffIds = config.rootfs.diff_ids;
    const layerPaths = entry.Layers.map((l) => {
      if (typeof l !== 'string') throw new PeapodError('invalid', `${where}: Layers holds a non-string`);
      return l;
    });
    if (layerPaths.length !== diffIds.length) {
      throw new PeapodError('invalid', `${where}: ${layerPaths.length} layers but the config has ${diffIds.length} diff IDs`);
    }
    const layers = layerPaths.map((p, j): LayerSource => {
      if (!a.has(p)) throw new PeapodError('invalid', `${a.source}: layer "${p}" is missing from the archive`);
      const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(p);
      return { diffId: diffIds[j]!, what: `${a.source}: ${p}`, open: () => a.open(p), blobDigest: blob ? `sha256:${blob[1]}` : undefined };
    });
    const tags = Array.isArray(entry.RepoTags) ? entry.RepoTags : [];
    const names = tags.map((t) => {
      if (typeof t !== 'string') throw new PeapodError('invalid', `${where}: RepoTags holds a non-string`);
      return normalizeImageName(t, { defaultDomain: 'docker.io' });
    });
    plans.push({
      id,
      configBytes,
      config,
      manifestType: MEDIA_TYPES.dockerManifest,
      manifest: (sizes) => dockerArchiveManifest(configBytes, diffIds, sizes),
      names,
      layers,
    });
  }
  return plans;
}
