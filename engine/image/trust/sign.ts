// Making signatures (push --sign-by, --sign-by-sigstore-private-key, image sign):
//   GPG: a simple-signing payload signed with openpgp.js, written as signature-N (the first free N)
//        under the lookaside-staging (else lookaside) of registries.d; only file:// can be written.
//   sigstore: the payload and its signature attached in the registry as cosign does, in the
//        manifest tagged "sha256-<hex>.sig" (signatures already there are kept).
// peapod cannot use gpg's own secret keyring (GnuPG 2.1+ keeps secret keys in private-keys-v1.d,
// reachable only through gpg-agent, and peapod never runs gpg): the key comes from an exported
// secret key file (gpg --export-secret-keys --armor FPR), which must be private to its owner.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeapodError } from '../../errors.js';
import { writeFileAtomic } from '../../state/atomic.js';
import { MEDIA_TYPES, isRecord } from '../formats.js';
import { splitName } from '../reference.js';
import { sha256Digest } from '../util.js';
import type { RegistryClient } from '../registry/client.js';
import { signGpg, signSigstore } from './crypto.js';
import { GPG_PAYLOAD_TYPE, SIGSTORE_PAYLOAD_TYPE, makePayload } from './payload.js';
import { loadRegistriesD, lookasideBase, lookasideUrl } from './registries-d.js';
import { SIGSTORE_PAYLOAD_MEDIA_TYPE, SIGSTORE_SIGNATURE_ANNOTATION } from './verify.js';

/** Refuse a secret key file that others could read (or that is not a regular file). */
export async function checkSecretFile(file: string, what: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(file);
  } catch {
    throw new PeapodError('not-found', `${what} ${file}: no such file`);
  }
  if (!st.isFile()) throw new PeapodError('invalid', `${what} ${file} is not a regular file (symlinks are not followed)`);
  if (st.mode & 0o077) throw new PeapodError('invalid', `${what} ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
}

/** GPG-sign `dockerReference` at `digest` and store the signature in the lookaside; returns its path. */
export async function signToLookaside(dockerReference: string, digest: string, fingerprint: string, keyFile: string | undefined, directory?: string): Promise<string> {
  if (!keyFile) {
    throw new PeapodError('invalid', `peapod cannot read gpg's secret keyring: export the key (gpg --export-secret-keys --armor ${fingerprint} > FILE; chmod 600 FILE) and pass --sign-key-file FILE`);
  }
  await checkSecretFile(keyFile, 'secret key file');
  const signature = await signGpg(makePayload({ dockerReference, manifestDigest: digest }, GPG_PAYLOAD_TYPE), keyFile, fingerprint);
  const repo = splitName(dockerReference).repository;
  const base = directory ? `file://${path.resolve(directory)}/${repo.slice(repo.indexOf('/') + 1)}` : lookasideBase(await loadRegistriesD(), dockerReference, true);
  if (!base.startsWith('file://')) throw new PeapodError('invalid', `cannot write signatures to ${base}: only a file:// lookaside-staging can be written (set one in registries.d)`);
  for (let n = 1; n <= 64; n++) {
    const file = fileURLToPath(lookasideUrl(base, digest, n));
    try {
      await fs.lstat(file);
      continue;
    } catch { /* free */ }
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await writeFileAtomic(file, signature, 0o644);
    return file;
  }
  throw new PeapodError('invalid', `too many signatures for ${dockerReference}@${digest} in ${base}`);
}

async function uploadBlob(client: RegistryClient, repository: string, data: Buffer): Promise<string> {
  const digest = sha256Digest(data);
  const scope = `repository:${repository}:pull,push`;
  const head = await client.send('HEAD', `${repository}/blobs/${digest}`, scope, {});
  head.resume();
  if (head.statusCode === 200) return digest;
  const start = await client.send('POST', `${repository}/blobs/uploads/`, scope, {});
  if (start.statusCode !== 202 || !start.headers.location) throw await client.failure(start, `starting an upload to ${repository}`);
  start.resume();
  const url = new URL(start.headers.location, await client.baseUrl());
  url.searchParams.set('digest', digest);
  const put = await client.send('PUT', url, scope, { 'Content-Type': 'application/octet-stream' }, { open: () => data, length: data.length });
  if (put.statusCode !== 201) throw await client.failure(put, `uploading ${digest} to ${repository}`);
  put.resume();
  return digest;
}

/** Attach a sigstore signature of (`dockerReference`, `digest`) in the registry. */
export async function attachSigstoreSignature(client: RegistryClient, repository: string, dockerReference: string, digest: string, keyFile: string): Promise<void> {
  await checkSecretFile(keyFile, 'sigstore private key');
  const payload = makePayload({ dockerReference, manifestDigest: digest }, SIGSTORE_PAYLOAD_TYPE);
  const signature = await signSigstore(payload, keyFile);
  const tag = `${digest.replace(':', '-')}.sig`;
  // Keep the signatures that are there already.
  let layers: unknown[] = [];
  try {
    const existing = await client.manifest(repository, tag, [MEDIA_TYPES.ociManifest], `${repository}:${tag}`, 4 * 1024 * 1024);
    const v = JSON.parse(existing.bytes.toString('utf8')) as unknown;
    if (isRecord(v) && Array.isArray(v.layers)) layers = v.layers;
  } catch { /* none yet */ }
  const payloadDigest = await uploadBlob(client, repository, payload);
  layers.push({ mediaType: SIGSTORE_PAYLOAD_MEDIA_TYPE, digest: payloadDigest, size: payload.length, annotations: { [SIGSTORE_SIGNATURE_ANNOTATION]: signature } });
  const diffIds = layers.map((l) => (isRecord(l) ? l.digest : undefined));
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const configDigest = await uploadBlob(client, repository, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: configDigest, size: config.length },
    layers,
  }));
  const scope = `repository:${repository}:pull,push`;
  const res = await client.send('PUT', `${repository}/manifests/${tag}`, scope, { 'Content-Type': MEDIA_TYPES.ociManifest }, { open: () => manifest, length: manifest.length });
  if (res.statusCode !== 201) throw await client.failure(res, `writing the signature ${repository}:${tag}`);
  res.resume();
}
