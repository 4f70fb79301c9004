// Pushing an image to a registry (Podman's `push IMAGE [DESTINATION]`):
//   1. the destination: docker://HOST/REPO[:TAG] or HOST/REPO[:TAG], the image's name when none
//      is given; registries.conf decides location, insecure and blocked, as for pulls;
//   2. each layer: its tar reproduced from the store (tarsplit.ts), gzip-compressed into a
//      private temporary file (gzip is deterministic, so the same layer has the same digest every
//      time); a HEAD on the blob skips what the registry has, a cross-repository mount is tried
//      from the image's other repositories on the same registry, then a monolithic upload;
//   3. the config blob as stored (the image ID stays), then the manifest (OCI, or Docker
//      schema 2 for an image pulled as such or with --format v2s2) under the tag;
//   4. signatures, when asked: GPG into the lookaside staging, sigstore as an attachment.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { PeapodError } from '../../errors.js';
import { writeFileAtomic } from '../../state/atomic.js';
import { MEDIA_TYPES } from '../formats.js';
import { normalizeImageName, splitName } from '../reference.js';
import type { ExportSource } from '../store.js';
import { sha256Digest } from '../util.js';
import { lookupCredentials, type Credentials } from './auth.js';
import { tlsMaterialFor } from './certs.js';
import { RegistryClient } from './client.js';
import { loadRegistriesConf, pullSources, type RegistriesConf } from './registries-conf.js';

export type PushProgress =
  | { type: 'blob'; digest: string; status: 'exists' | 'mounted' | 'uploaded' }
  | { type: 'config'; digest: string }
  | { type: 'manifest'; digest: string }
  | { type: 'signatures' };

export interface PushOptions {
  auth?: Credentials;
  authFile?: string;
  tlsVerify?: boolean;
  certDir?: string;
  /** 'oci' or 'v2s2'; by default Docker schema 2 for an image stored with one, else OCI. */
  format?: 'oci' | 'v2s2';
  /** Write the manifest digest to this file. */
  digestFile?: string;
  /** GPG fingerprint to sign with, and the exported secret key file that holds it. */
  signBy?: string;
  signKeyFile?: string;
  /** PEM private key for a sigstore signature. */
  signBySigstoreKey?: string;
  progress?: (e: PushProgress) => void;
  registriesConf?: RegistriesConf;
}

export interface PushResult {
  destination: string;
  digest: string;
  /** Blobs the registry had already or got by mount: nothing was sent for them. */
  skipped: number;
  uploaded: number;
}

/** "docker://host/repo:tag" or "host/repo:tag" -> the normalised name; other transports are refused. */
export function pushDestination(dest: string): string {
  let d = dest;
  if (d.startsWith('docker://')) d = d.slice('docker://'.length);
  else if (/^[a-z-]+:(?!\d)/.test(d) && !d.includes('/')) throw new PeapodError('invalid', `unsupported destination "${dest}": push sends to a registry (docker://HOST/REPO[:TAG])`);
  else if (/^(oci|oci-archive|docker-archive|dir|containers-storage|docker-daemon):/.test(d)) {
    throw new PeapodError('invalid', `unsupported destination transport in "${dest}": push sends to a registry; use save for archives`);
  }
  return normalizeImageName(d, { defaultDomain: 'docker.io' });
}

/** Compress a layer tar into `file`; its digest and size. */
async function compressLayer(tar: AsyncIterable<Buffer>, file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(Readable.from(tar), createGzip(), meter, createWriteStream(file, { mode: 0o600, flags: 'wx' }));
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

export async function pushImage(src: ExportSource, destination: string | undefined, opts: PushOptions = {}): Promise<PushResult> {
  const name = pushDestination(destination ?? src.name ?? src.image.names[0] ?? '');
  if (!destination && !src.name && !src.image.names[0]) throw new PeapodError('invalid', `image ${src.image.id.slice(0, 12)} has no name: give a destination`);
  const { repository: fullRepo, tag, digest: byDigest } = splitName(name);
  if (byDigest) throw new PeapodError('invalid', `cannot push to a digest reference "${name}": give a tag`);
  const conf = opts.registriesConf ?? loadRegistriesConf();
  const target = pullSources(conf, fullRepo, `:${tag ?? 'latest'}`, opts.tlsVerify === false).at(-1)!;
  const found = opts.auth ? { credentials: opts.auth, source: 'explicit credentials' } : lookupCredentials(fullRepo, opts.authFile);
  const client = new RegistryClient({ host: target.host, insecure: target.insecure, tls: tlsMaterialFor(target.host, opts.certDir), credentials: found?.credentials, credentialSource: found?.source });
  const repo = target.repository;
  const scope = `repository:${repo}:pull,push`;
  const emit = opts.progress ?? (() => undefined);
  const docker = opts.format ? opts.format === 'v2s2' : src.image.manifestType === MEDIA_TYPES.dockerManifest;
  // Other repositories of this image on the same registry: candidates for a cross-repository mount.
  const mountFrom = src.image.names.map((n) => splitName(n).repository).filter((r) => r.startsWith(`${target.host}/`)).map((r) => r.slice(target.host.length + 1)).filter((r) => r !== repo);
  let skipped = 0;
  let uploaded = 0;

  const exists = async (digest: string): Promise<boolean> => {
    const res = await client.send('HEAD', `${repo}/blobs/${digest}`, scope, {});
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await client.failure(res, `checking blob ${digest} in ${repo}`);
  };
  /** A blob into the repository: skipped, mounted or uploaded (the body from `open`). */
  const putBlob = async (digest: string, length: number, open: () => Readable | Buffer): Promise<'exists' | 'mounted' | 'uploaded'> => {
    if (await exists(digest)) return 'exists';
    let location: string | undefined;
    for (const from of mountFrom) {
      const res = await client.send('POST', `${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, `${scope} repository:${from}:pull`, {});
      res.resume();
      if (res.statusCode === 201) return 'mounted';
      if (res.statusCode === 202 && res.headers.location) {
        location = res.headers.location;
        break;
      }
    }
    if (!location) {
      const res = await client.send('POST', `${repo}/blobs/uploads/`, scope, {});
      if (res.statusCode !== 202 || !res.headers.location) throw await client.failure(res, `starting an upload to ${target.host}/${repo}`);
      res.resume();
      location = res.headers.location;
    }
    const url = new URL(location, await client.baseUrl());
    url.searchParams.set('digest', digest);
    const res = await client.send('PUT', url, scope, { 'Content-Type': 'application/octet-stream' }, { open, length });
    if (res.statusCode !== 201) throw await client.failure(res, `uploading blob ${digest} to ${target.host}/${repo}`);
    res.resume();
    return 'uploaded';
  };

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-push-'));
  try {
    const layers: Array<{ mediaType: string; digest: string; size: number }> = [];
    for (const [i, l] of src.layers.entries()) {
      const file = path.join(tmp, `layer-${i}.gz`);
      const blob = await compressLayer(await l.tar(), file);
      const status = await putBlob(blob.digest, blob.size, () => createReadStream(file));
      if (status === 'uploaded') uploaded++;
      else skipped++;
      emit({ type: 'blob', digest: blob.digest, status });
      layers.push({ mediaType: docker ? MEDIA_TYPES.dockerLayerGzip : MEDIA_TYPES.ociLayerGzip, digest: blob.digest, size: blob.size });
      await fs.rm(file, { force: true });
    }
    const configDigest = `sha256:${src.image.id}`;
    const cs = await putBlob(configDigest, src.configBytes.length, () => src.configBytes);
    if (cs === 'uploaded') uploaded++;
    else skipped++;
    emit({ type: 'config', digest: configDigest });
    const manifestType = docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.ociConfig, digest: configDigest, size: src.configBytes.length },
      layers,
    }));
    const digest = sha256Digest(manifest);
    const res = await client.send('PUT', `${repo}/manifests/${tag ?? 'latest'}`, scope, { 'Content-Type': manifestType }, { open: () => manifest, length: manifest.length });
    if (res.statusCode !== 201) throw await client.failure(res, `writing the manifest of ${name}`);
    res.resume();
    emit({ type: 'manifest', digest });
    if (opts.signBy || opts.signBySigstoreKey) {
      emit({ type: 'signatures' });
      const { attachSigstoreSignature, signToLookaside } = await import('../trust/sign.js');
      if (opts.signBy) await signToLookaside(name, digest, opts.signBy, opts.signKeyFile);
      if (opts.signBySigstoreKey) await attachSigstoreSignature(client, repo, name, digest, opts.signBySigstoreKey);
    }
    if (opts.digestFile) await writeFileAtomic(opts.digestFile, digest, 0o644);
    return { destination: name, digest, skipped, uploaded };
  } catch (err) {
    if (err instanceof PeapodError && !err.message.startsWith('pushing ')) throw new PeapodError(err.code, `pushing ${name}: ${err.message}`, { hint: err.hint, cause: err });
    throw err;
  } finally {
    client.close();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** `image sign`: GPG-sign an image that is in a registry, by the digest the registry has for it now. */
export async function signImage(ref: string, opts: { signBy: string; signKeyFile?: string; directory?: string; authFile?: string; certDir?: string; tlsVerify?: boolean }): Promise<string> {
  const name = pushDestination(ref);
  const { repository: fullRepo, tag, digest: byDigest } = splitName(name);
  const conf = loadRegistriesConf();
  const target = pullSources(conf, fullRepo, byDigest ? `@${byDigest}` : `:${tag ?? 'latest'}`, opts.tlsVerify === false).at(-1)!;
  const found = lookupCredentials(fullRepo, opts.authFile);
  const client = new RegistryClient({ host: target.host, insecure: target.insecure, tls: tlsMaterialFor(target.host, opts.certDir), credentials: found?.credentials, credentialSource: found?.source });
  try {
    const accept = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];
    const m = await client.manifest(target.repository, byDigest ?? tag ?? 'latest', accept, name, 4 * 1024 * 1024);
    const digest = sha256Digest(m.bytes);
    if (byDigest && byDigest !== digest) throw new PeapodError('invalid', `the registry sent a manifest with digest ${digest} for ${name}`);
    const { signToLookaside } = await import('../trust/sign.js');
    return await signToLookaside(name, digest, opts.signBy, opts.signKeyFile, opts.directory);
  } catch (err) {
    if (err instanceof PeapodError) throw new PeapodError(err.code, `signing ${name}: ${err.message}`, { hint: err.hint, cause: err });
    throw err;
  } finally {
    client.close();
  }
}
