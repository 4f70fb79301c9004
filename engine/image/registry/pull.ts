// Pulling an image from a registry (Podman's `pull`, and the implicit pull of `run`/`create`/
// `play kube`):
//   1. pull policy against the local store (always, missing, never, newer);
//   2. the reference: normalised (docker.io/library/...), short names through registries.conf
//      (aliases, unqualified-search-registries; an error listing the candidates rather than a
//      guess when there is no terminal to ask);
//   3. per candidate, the pull sources of registries.conf: mirrors first, then the primary
//      location; the first that has the manifest is used for the whole image;
//   4. manifest (Docker schema 2 or OCI), or a manifest list / OCI index and the platform's entry;
//      config; every blob verified against its digest (and size) before anything uses it;
//   5. layers: the ones in the store or staged already are skipped, the others downloaded
//      concurrently (bounded) into staging files that a later attempt resumes, verified, unpacked
//      and staged; transient failures (connection lost or refused, 5xx) are retried;
//   6. only then, under the store's lock, the layers are moved into the store and the image record
//      written: an interrupted pull leaves no image, and the next one completes it.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PeapodError } from '../../errors.js';
import { debug, warn } from '../../log.js';
import type { ImageConfigBlob, ImageRecord } from '../../types.js';
import { CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, MEDIA_TYPES, choosePlatform, descriptor, isRecord, parseImageConfig, type Descriptor, type Platform } from '../formats.js';
import { splitName } from '../reference.js';
import type { PullStaging } from '../staging.js';
import { digestHex, hostPlatform, sha256Digest } from '../util.js';
import { lookupCredentials, type Credentials } from './auth.js';
import { tlsMaterialFor } from './certs.js';
import { RegistryClient, RegistryError } from './client.js';
import { loadRegistriesConf, pullSources, type PullSource, type RegistriesConf } from './registries-conf.js';
import { canPrompt, promptChoice, resolvePullCandidates } from './shortnames.js';
import { loadPolicy, requirementsFor, type Policy, type ScopedRequirements } from '../trust/policy.js';

export type PullPolicy = 'always' | 'missing' | 'never' | 'newer';

/** Progress of a pull, for a renderer (the CLI draws bars on a TTY). */
export type PullProgress =
  /** Trying `reference` from `source` (a mirror or the registry itself). */
  | { type: 'trying'; reference: string; source: string }
  /** The image manifest is known: its digest, the image ID and the number of layers. */
  | { type: 'manifest'; reference: string; digest: string; imageId: string; layers: number }
  /** One layer blob: already there, being downloaded (current/total bytes), being unpacked, done. */
  | { type: 'layer'; digest: string; status: 'present' | 'downloading' | 'unpacking' | 'done'; current: number; total: number }
  /** A transient failure; the pull starts again after `delayMs` (finished work is kept). */
  | { type: 'retry'; reference: string; attempt: number; delayMs: number; error: string }
  /** The image is stored. */
  | { type: 'stored'; reference: string; imageId: string };

export interface PullOptions {
  /** Podman's --pull values; 'missing' by default. */
  policy?: PullPolicy;
  /** Explicit credentials (imagePullSecrets, --creds): they beat the auth files. */
  auth?: Credentials;
  /** Like --authfile: the only auth file read. */
  authFile?: string;
  /** false: plain HTTP and unverified TLS are allowed for every registry (--tls-verify=false). */
  tlsVerify?: boolean;
  /** Like --cert-dir: the directory with *.crt, *.cert, *.key used for every registry. */
  certDir?: string;
  /** No progress events. */
  quiet?: boolean;
  progress?: (event: PullProgress) => void;
  /** Platform wanted from a manifest list or index; this host's by default. */
  platform?: Platform;
  /** Short-name resolution may prompt on a TTY (never in tests or CI). */
  interactive?: boolean;
  /** Attempts after a transient failure (Podman's --retry; default 3). */
  retries?: number;
  /** Delay before the first retry in ms, doubled each time (default 1000). */
  retryDelayMs?: number;
  /** Layers fetched at once (default 6, as containers/image). */
  concurrency?: number;
  /** registries.conf already loaded (tests); read from the usual files otherwise. */
  registriesConf?: RegistriesConf;
  /** Like --signature-policy: the containers-policy.json that decides which images are accepted. */
  signaturePolicy?: string;
}

/** What the store gives the pull: its images, its layers, the staging area and the commit. */
export interface PullContext {
  images(): Promise<ImageRecord[]>;
  find(ref: string, images: ImageRecord[]): ImageRecord | undefined;
  layerPresent(diffHex: string): Promise<boolean>;
  /** Where the layer's tar-split is recorded (so that save and push can write the layer again). */
  tarSplitFile(diffHex: string): string;
  staging: PullStaging;
  /** A new scratch directory of this process (on the store's filesystem). */
  scratch(): Promise<string>;
  /** Under the lock: move the staged layers into the store and write the image record. */
  commit(image: PulledImage): Promise<ImageRecord>;
}

export interface PulledImage {
  id: string;
  configBytes: Buffer;
  config: ImageConfigBlob;
  manifestBytes: Buffer;
  manifestType: string;
  /** The manifest list / index the image was chosen from, if any (its digest becomes the image's). */
  listBytes?: Buffer;
  names: string[];
}

const MAX_MANIFEST = 4 * 1024 * 1024;
const MAX_CONFIG = 16 * 1024 * 1024;
const ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
const SCHEMA1_TYPES = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A pull for one reference: the entry point behind ImageStore.pull. */
export async function pullImage(ref: string, opts: PullOptions, ctx: PullContext): Promise<ImageRecord> {
  const policy = opts.policy ?? 'missing';
  if (!['always', 'missing', 'never', 'newer'].includes(policy)) {
    throw new PeapodError('invalid', `unsupported pull policy "${policy}": use always, missing, never or newer`);
  }
  const emit = opts.quiet || !opts.progress ? () => undefined : opts.progress;
  let local: ImageRecord | undefined;
  if (policy !== 'always') {
    local = ctx.find(ref, await ctx.images());
    if (local && (policy === 'missing' || policy === 'never')) return local;
    if (!local && policy === 'never') {
      throw new PeapodError('not-found', `${ref}: image not known (pull policy is never)`);
    }
  }
  const conf = opts.registriesConf ?? loadRegistriesConf();
  const choose = opts.interactive && canPrompt() ? promptChoice : undefined;
  const { candidates } = await resolvePullCandidates(ref, conf, choose);

  if (local && policy === 'newer') {
    // Pull only when the registry has another manifest; errors keep the local image (Podman).
    try {
      const remote = await remoteDigest(candidates[0]!, conf, opts);
      const known = local.digests ?? [local.digest];
      if (remote && known.includes(remote)) return local;
    } catch (err) {
      debug(`pull policy newer: ${(err as Error).message}; using the local image`);
      return local;
    }
  }

  const trust = loadPolicy(opts.signaturePolicy);
  const failures: Array<{ name: string; err: unknown }> = [];
  for (const name of candidates) {
    try {
      return await withRetries(name, opts, emit, () => pullOne(name, conf, opts, ctx, emit, trust));
    } catch (err) {
      if (candidates.length === 1) throw err;
      failures.push({ name, err });
    }
  }
  throw new PeapodError('not-found', `pulling ${ref}: no candidate worked: ${failures.map((f) => `${f.name}: ${messageOf(f.err).replace(/^pulling [^:]+(:[^:]+)?: /, '')}`).join('; ')}`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function withRetries<T>(name: string, opts: PullOptions, emit: (e: PullProgress) => void, fn: () => Promise<T>): Promise<T> {
  const retries = opts.retries ?? 3;
  let delay = opts.retryDelayMs ?? 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const transient = err instanceof RegistryError ? err.transient : (err as { transient?: boolean }).transient === true;
      if (!transient || attempt >= retries) throw err;
      emit({ type: 'retry', reference: name, attempt: attempt + 1, delayMs: delay, error: messageOf(err) });
      debug(`pull ${name}: ${messageOf(err)}; retry ${attempt + 1}/${retries} in ${delay} ms`);
      await sleep(delay);
      delay *= 2;
    }
  }
}

/** A client for one pull source, with the credentials that apply to it. */
function clientFor(src: PullSource, opts: PullOptions): RegistryClient {
  const found = opts.auth ? { credentials: opts.auth, source: 'explicit credentials' } : lookupCredentials(`${src.host}/${src.repository}`, opts.authFile);
  return new RegistryClient({
    host: src.host,
    insecure: src.insecure,
    tls: tlsMaterialFor(src.host, opts.certDir),
    credentials: found?.credentials,
    credentialSource: found?.source,
    maxSockets: (opts.concurrency ?? 6) + 2,
  });
}

function sourcesFor(name: string, conf: RegistriesConf, opts: PullOptions): PullSource[] {
  const { repository, tag, digest } = splitName(name);
  return pullSources(conf, repository, digest ? `@${digest}` : `:${tag ?? 'latest'}`, opts.tlsVerify === false);
}

/** The digest the registry has for `name` now (HEAD on the manifest, first source that answers). */
async function remoteDigest(name: string, conf: RegistriesConf, opts: PullOptions): Promise<string | undefined> {
  const { tag, digest } = splitName(name);
  if (digest) return digest;
  let last: unknown;
  for (const src of sourcesFor(name, conf, opts)) {
    const client = clientFor(src, opts);
    try {
      return await client.manifestDigest(src.repository, tag ?? 'latest', ACCEPT, src.reference);
    } catch (err) {
      last = err;
    } finally {
      client.close();
    }
  }
  throw last;
}

/**
 * The digest of the manifest the registry now serves for `name` on this platform (or
 * opts.platform): a manifest list is followed to the platform's entry. Podman's auto-update compares
 * this with the local image's digests. The reference must be fully qualified (no short-name search).
 */
export async function remotePlatformDigest(name: string, opts: PullOptions = {}): Promise<string> {
  const conf = opts.registriesConf ?? loadRegistriesConf();
  const { tag, digest } = splitName(name);
  let last: unknown;
  for (const src of sourcesFor(name, conf, opts)) {
    const client = clientFor(src, opts);
    try {
      const top = await client.manifest(src.repository, digest ?? tag ?? 'latest', ACCEPT, src.reference, MAX_MANIFEST);
      const topDigest = sha256Digest(top.bytes);
      if (digest) verifyDigest(top.bytes, digest, `manifest ${src.reference}`, src.host);
      const parsed = parseManifest(top.bytes, top.contentType, src.reference);
      if (!INDEX_TYPES.has(parsed.mediaType)) return topDigest;
      const where = `manifest list ${src.reference}`;
      if (!Array.isArray(parsed.value.manifests)) throw new RegistryError('invalid', `${where} has no manifests`);
      const entries = parsed.value.manifests.map((m, i) => descriptor(m, `${where}: manifests[${i}]`));
      return choosePlatform(entries, where, opts.platform).digest;
    } catch (err) {
      last = err;
    } finally {
      client.close();
    }
  }
  throw prefixed(name, last);
}

interface ParsedManifest {
  mediaType: string;
  value: Record<string, unknown>;
}

function parseManifest(bytes: Buffer, contentType: string, shown: string): ParsedManifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new RegistryError('invalid', `manifest ${shown} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(value)) throw new RegistryError('invalid', `manifest ${shown} is not a JSON object`);
  if (value.schemaVersion === 1 || SCHEMA1_TYPES.includes(contentType)) {
    throw new RegistryError('invalid', `manifest ${shown} is a Docker schema 1 manifest, which is not supported (push the image again with a current tool)`);
  }
  let mediaType = typeof value.mediaType === 'string' && value.mediaType ? value.mediaType : contentType;
  if (!INDEX_TYPES.has(mediaType) && !MANIFEST_TYPES.has(mediaType)) {
    // Some registries send application/json: go by the content.
    if (Array.isArray(value.manifests)) mediaType = MEDIA_TYPES.ociIndex;
    else if (isRecord(value.config) && Array.isArray(value.layers)) mediaType = MEDIA_TYPES.ociManifest;
    else throw new RegistryError('invalid', `manifest ${shown} has an unsupported media type "${mediaType}"`);
  }
  return { mediaType, value };
}

function verifyDigest(bytes: Buffer, expected: string, what: string, host: string): void {
  digestHex(expected, what);
  const actual = sha256Digest(bytes);
  if (actual !== expected) throw new RegistryError('digest', `digest mismatch: ${what} from ${host} has digest ${actual}, expected ${expected}`);
}

async function pullOne(name: string, conf: RegistriesConf, opts: PullOptions, ctx: PullContext, emit: (e: PullProgress) => void, trust: Policy): Promise<ImageRecord> {
  const { tag, digest } = splitName(name);
  let sources: PullSource[];
  let scoped: ScopedRequirements;
  try {
    sources = sourcesFor(name, conf, opts);
    scoped = requirementsFor(trust, name);
    // A scope that rejects outright needs no registry to say so.
    const rejects = scoped.requirements.filter((r) => r.type === 'reject');
    if (rejects.length) await enforceTrust(name, { ...scoped, requirements: rejects }, trust, '', undefined, '');
  } catch (err) {
    throw prefixed(name, err);
  }
  // 1. The manifest, from the first source that has it (mirrors first).
  let client: RegistryClient | undefined;
  let src: PullSource | undefined;
  let top: { bytes: Buffer; contentType: string; digest?: string } | undefined;
  const failed: Array<{ src: PullSource; err: unknown }> = [];
  for (const s of sources) {
    const c = clientFor(s, opts);
    emit({ type: 'trying', reference: name, source: s.reference });
    try {
      top = await c.manifest(s.repository, digest ?? tag ?? 'latest', ACCEPT, s.reference, MAX_MANIFEST);
      client = c;
      src = s;
      break;
    } catch (err) {
      c.close();
      debug(`pull ${name} from ${s.reference}: ${messageOf(err)}`);
      failed.push({ src: s, err });
    }
  }
  if (!client || !src || !top) {
    const primary = failed[failed.length - 1]!;
    const mirrors = failed.slice(0, -1);
    const err = primary.err;
    const extra = mirrors.length ? ` (mirrors tried first: ${mirrors.map((m) => `${m.src.host}: ${messageOf(m.err)}`).join('; ')})` : '';
    // Transient only when every source failed transiently.
    const transient = failed.every((f) => f.err instanceof RegistryError && f.err.transient);
    const e = prefixed(name, err, extra);
    (e as { transient?: boolean }).transient = transient;
    throw e;
  }

  try {
    const host = src.host;
    // 2. Verify the manifest; follow an index to the platform's manifest.
    const topDigest = sha256Digest(top.bytes);
    if (digest) verifyDigest(top.bytes, digest, `manifest ${src.reference}`, host);
    else if (top.digest?.startsWith('sha256:') && top.digest !== topDigest) {
      throw new RegistryError('digest', `digest mismatch: manifest ${src.reference} has digest ${topDigest} but the registry says ${top.digest}`);
    }
    // The signature policy, on the manifest the reference names, before anything else is fetched.
    await enforceTrust(name, scoped, trust, topDigest, client, src.repository);
    let manifest = parseManifest(top.bytes, top.contentType, src.reference);
    let manifestBytes = top.bytes;
    let listBytes: Buffer | undefined;
    if (INDEX_TYPES.has(manifest.mediaType)) {
      listBytes = top.bytes;
      const where = `manifest list ${src.reference}`;
      if (!Array.isArray(manifest.value.manifests)) throw new RegistryError('invalid', `${where} has no manifests`);
      const entries = manifest.value.manifests.map((m, i) => descriptor(m, `${where}: manifests[${i}]`));
      let chosen: Descriptor;
      try {
        chosen = choosePlatform(entries, where, opts.platform);
      } catch (err) {
        throw new RegistryError('not-found', messageOf(err));
      }
      const shown = `${src.host}/${src.repository}@${chosen.digest}`;
      const inner = await client.manifest(src.repository, chosen.digest, ACCEPT, shown, MAX_MANIFEST);
      verifyDigest(inner.bytes, chosen.digest, `manifest ${shown}`, host);
      manifest = parseManifest(inner.bytes, inner.contentType || chosen.mediaType, shown);
      if (INDEX_TYPES.has(manifest.mediaType)) throw new RegistryError('invalid', `${shown}: nested manifest lists are not supported`);
      manifestBytes = inner.bytes;
    }
    const manifestDigest = sha256Digest(manifestBytes);
    const where = `manifest ${src.host}/${src.repository}@${manifestDigest}`;
    const configDesc = descriptor(manifest.value.config, `${where}: config`);
    if (configDesc.mediaType && !CONFIG_TYPES.has(configDesc.mediaType)) {
      throw new RegistryError('invalid', `${src.reference} is not a container image: its config has media type "${configDesc.mediaType}"`);
    }
    const layerDescs = Array.isArray(manifest.value.layers) ? manifest.value.layers.map((l, i) => descriptor(l, `${where}: layers[${i}]`)) : [];

    // 3. The config: the image ID, the diff IDs.
    const configBytes = await client.blobBytes(src.repository, configDesc.digest, MAX_CONFIG);
    if (configBytes.length !== configDesc.size) {
      throw new RegistryError('digest', `size mismatch: config ${configDesc.digest} from ${host} has ${configBytes.length} bytes, its descriptor says ${configDesc.size}`);
    }
    verifyDigest(configBytes, configDesc.digest, `config blob ${configDesc.digest}`, host);
    const config = parseImageConfig(configBytes, `config ${configDesc.digest} of ${src.reference}`);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== layerDescs.length) {
      throw new RegistryError('invalid', `${where} lists ${layerDescs.length} layers but its config has ${diffIds.length} diff IDs`);
    }
    const want = opts.platform ?? (listBytes ? undefined : hostPlatform());
    if (want && (config.os !== want.os || config.architecture !== want.architecture)) {
      warn(`image platform (${config.os}/${config.architecture}) does not match the expected platform (${want.os}/${want.architecture})`);
    }
    const imageId = digestHex(configDesc.digest, where);
    emit({ type: 'manifest', reference: name, digest: sha256Digest(listBytes ?? manifestBytes), imageId, layers: layerDescs.length });

    // 4. Layers.
    await fetchLayers(client, src, layerDescs, diffIds, opts, ctx, emit);

    // 5. Commit.
    const rec = await ctx.commit({
      id: imageId,
      configBytes,
      config,
      manifestBytes,
      manifestType: manifest.mediaType,
      listBytes,
      names: [name],
    });
    emit({ type: 'stored', reference: name, imageId: rec.id });
    return rec;
  } catch (err) {
    throw prefixed(name, err);
  } finally {
    client.close();
  }
}

/** The policy's verdict; the verification code (and openpgp) is loaded only when signatures decide. */
async function enforceTrust(name: string, scoped: ScopedRequirements, trust: Policy, manifestDigest: string, client: RegistryClient | undefined, repository: string): Promise<void> {
  if (scoped.requirements.every((r) => r.type === 'insecureAcceptAnything')) return;
  const { enforce } = await import('../trust/verify.js');
  await enforce({ name, scoped, policyFile: trust.file ?? '(none)', manifestDigest, client: client!, repository });
}

/** "pulling NAME: cause" (once), keeping the code, the reason and whether it is transient. */
function prefixed(name: string, err: unknown, extra = ''): PeapodError {
  const msg = messageOf(err);
  const text = msg.startsWith('pulling ') ? `${msg}${extra}` : `pulling ${name}: ${msg}${extra}`;
  if (err instanceof RegistryError) {
    return new RegistryError(err.reason, text, { transient: err.transient, hint: err.hint, cause: err });
  }
  if (err instanceof PeapodError) return new PeapodError(err.code, text, { hint: err.hint, cause: err });
  return new PeapodError('internal', text, { cause: err });
}

interface LayerJob {
  desc: Descriptor;
  diffId: string;
  hex: string;
}

/** Fetch, verify, unpack and stage every layer that is neither in the store nor staged, `concurrency` at a time. */
async function fetchLayers(client: RegistryClient, src: PullSource, descs: Descriptor[], diffIds: string[], opts: PullOptions, ctx: PullContext, emit: (e: PullProgress) => void): Promise<void> {
  const jobs: LayerJob[] = [];
  const seen = new Set<string>();
  for (const [i, desc] of descs.entries()) {
    const diffId = diffIds[i]!;
    const hex = digestHex(diffId, `diff ID of layer ${desc.digest}`);
    if (seen.has(hex)) continue;
    seen.add(hex);
    if (await ctx.layerPresent(hex) || await ctx.staging.stagedLayer(hex)) {
      emit({ type: 'layer', digest: desc.digest, status: 'present', current: desc.size, total: desc.size });
      continue;
    }
    jobs.push({ desc, diffId, hex });
  }
  if (jobs.length === 0) return;
  const abort = new AbortController();
  let next = 0;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (next < jobs.length && !abort.signal.aborted) {
      const job = jobs[next++]!;
      try {
        await fetchLayer(client, src, job, ctx, emit, abort.signal);
      } catch (err) {
        if (firstError === undefined) firstError = err;
        abort.abort();
      }
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 6, jobs.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (firstError !== undefined) throw firstError;
}

/** Hashes, counts and bounds what flows through (the blob must not exceed its descriptor's size). */
class BlobMeter extends Transform {
  constructor(private readonly hash: ReturnType<typeof createHash>, public bytes: number, private readonly max: number, private readonly what: string, private readonly onBytes: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.bytes + chunk.length > this.max) {
      cb(new RegistryError('digest', `size mismatch: ${this.what} is larger than its descriptor's ${this.max} bytes`));
      return;
    }
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.onBytes(this.bytes);
    cb(null, chunk);
  }
}

async function hashFile(file: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

async function fetchLayer(client: RegistryClient, src: PullSource, job: LayerJob, ctx: PullContext, emit: (e: PullProgress) => void, signal: AbortSignal, fresh = false): Promise<void> {
  const { desc } = job;
  const blobHex = digestHex(desc.digest, `layer of ${src.reference}`);
  const what = `blob ${desc.digest}`;
  const partial = await ctx.staging.partialBlob(blobHex);
  let have = partial.size;
  if (fresh || have > desc.size) {
    await fs.truncate(partial.file, 0).catch(() => undefined);
    have = 0;
  }
  const resumedFrom = have;
  const t0 = performance.now();
  let hash = createHash('sha256');
  if (have > 0) await hashFile(partial.file, hash);
  const report = (n: number): void => emit({ type: 'layer', digest: desc.digest, status: 'downloading', current: n, total: desc.size });
  report(have);
  if (have < desc.size || desc.size === 0) {
    let res;
    try {
      res = await client.blobStream(src.repository, desc.digest, have);
    } catch (err) {
      // A range the registry cannot satisfy: start over.
      if (have > 0 && err instanceof RegistryError && /416/.test(err.message)) return fetchLayer(client, src, job, ctx, emit, signal, true);
      throw err;
    }
    if (have > 0 && !res.resumed) {
      hash = createHash('sha256');
      have = 0;
      await fs.truncate(partial.file, 0);
    } else if (have > 0) {
      debug(`${what}: resuming at byte ${have}`);
    }
    const meter = new BlobMeter(hash, have, desc.size, what, report);
    try {
      await pipeline(res.stream, meter, createWriteStream(partial.file, { flags: have > 0 ? 'a' : 'w', mode: 0o600 }), { signal });
    } catch (err) {
      res.stream.destroy();
      if (err instanceof RegistryError) {
        await fs.rm(partial.file, { force: true });
        throw err;
      }
      if ((err as Error).name === 'AbortError') throw err;
      const e = err as NodeJS.ErrnoException;
      if (e.code && /^E(NOSPC|ACCES|ROFS|IO|DQUOT)$/.test(e.code)) throw new PeapodError('internal', `writing ${what} to ${partial.file}: ${e.message}`, { cause: err });
      const lost = new RegistryError('network', `connection to ${client.host} lost while fetching ${what} (${meter.bytes} of ${desc.size} bytes; a retry resumes there)`, { transient: true, cause: err });
      throw lost;
    }
    have = meter.bytes;
  }
  if (have !== desc.size) {
    throw new RegistryError('network', `connection to ${client.host} lost while fetching ${what} (${have} of ${desc.size} bytes; a retry resumes there)`, { transient: true });
  }
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== desc.digest) {
    await fs.rm(partial.file, { force: true });
    // The part kept from an earlier attempt may be what is wrong: once more from the start.
    if (resumedFrom > 0 && !fresh) return fetchLayer(client, src, job, ctx, emit, signal, true);
    throw new RegistryError('digest', `digest mismatch: ${what} from ${client.host} has digest ${actual}; nothing was stored`);
  }
  // Verified: unpack it (checking the diff ID) into scratch, then stage it.
  const t1 = performance.now();
  emit({ type: 'layer', digest: desc.digest, status: 'unpacking', current: desc.size, total: desc.size });
  const scratch = await ctx.scratch();
  try {
    const dir = path.join(scratch, 'layer');
    const { unpackLayer } = await import('../layer.js');
    const result = await unpackLayer(createReadStream(partial.file), dir, { expectedDiffId: job.diffId, tarSplitFile: ctx.tarSplitFile(job.hex) }).catch((err: unknown) => {
      throw err instanceof PeapodError ? new PeapodError(err.code, `layer ${desc.digest}: ${err.message}`, { cause: err }) : err;
    });
    await ctx.staging.stageLayer(job.hex, job.diffId, result.size, dir);
  } catch (err) {
    // A verified blob that does not unpack is not worth keeping either.
    await fs.rm(partial.file, { force: true });
    throw err;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  await fs.rm(partial.file, { force: true });
  debug(`${what}: ${desc.size} bytes fetched in ${Math.round(t1 - t0)} ms${resumedFrom ? ` (from byte ${resumedFrom})` : ''}, unpacked and staged in ${Math.round(performance.now() - t1)} ms`);
  emit({ type: 'layer', digest: desc.digest, status: 'done', current: desc.size, total: desc.size });
}
