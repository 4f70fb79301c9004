// Enforcing the signature policy on a pull, after the manifest is fetched and verified against
// its digest and before anything else of the image is fetched or stored:
//   signedBy        GPG signatures from the lookaside (registries.d), file:// or http(s)://
//   sigstoreSigned  the "sha256-<hex>.sig" attachment in the registry (use-sigstore-attachments)
// A signature is accepted when its crypto verifies with a key of the requirement, its payload
// names the pulled manifest digest, and its docker-reference passes signedIdentity. Every
// requirement of the scope must be met; a signature that fails any check does not count.
// Everything fetched is bounded (size, count, redirects); no credentials go to a lookaside.

import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { PeapodError } from '../../errors.js';
import { debug } from '../../log.js';
import { MEDIA_TYPES, isRecord } from '../formats.js';
import { sha256Digest } from '../util.js';
import { RegistryError, type RegistryClient } from '../registry/client.js';
import { describeKeys, loadGpgKeys, loadSigstoreKeys, verifyGpg, verifySigstore } from './crypto.js';
import { GPG_PAYLOAD_TYPE, SIGSTORE_PAYLOAD_TYPE, identityMismatch, parsePayload } from './payload.js';
import type { Requirement, ScopedRequirements } from './policy.js';
import { loadRegistriesD, lookasideBase, lookasideUrl, usesSigstoreAttachments, type RegistriesD } from './registries-d.js';

const MAX_SIGNATURE = 4 * 1024 * 1024;
const MAX_SIGNATURES = 64;
const MAX_REDIRECTS = 3;
export const SIGSTORE_PAYLOAD_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGSTORE_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

export interface TrustCheck {
  /** The normalised name pulled (what signatures must name). */
  name: string;
  scoped: ScopedRequirements;
  policyFile: string;
  manifestDigest: string;
  /** The registry the manifest came from, and the repository there (attachments live next to it). */
  client: RegistryClient;
  repository: string;
  registriesD?: RegistriesD;
}

/** Fetch one URL of a lookaside: the body, or undefined for "no such signature" (404 / missing file). */
export async function fetchLookaside(url: string): Promise<Buffer | undefined> {
  if (url.startsWith('file://')) {
    const file = fileURLToPath(url);
    try {
      const h = await fs.open(file, 'r');
      try {
        const st = await h.stat();
        if (!st.isFile()) throw new PeapodError('invalid', `signature ${file} is not a regular file`);
        if (st.size > MAX_SIGNATURE) throw new PeapodError('invalid', `signature ${file} is larger than ${MAX_SIGNATURE} bytes`);
        return await h.readFile();
      } finally {
        await h.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    const mod = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
    if (!mod) throw new PeapodError('invalid', `signature ${url}: redirected to an unsupported URL ${target.href}`);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = mod.get(target, { timeout: 30_000 }, resolve);
      req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', (err) => reject(new RegistryError('network', `fetching signature ${target.href}: ${err.message}`, { transient: true })));
    });
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new PeapodError('invalid', `signature ${url}: more than ${MAX_REDIRECTS} redirects`);
      target = new URL(res.headers.location, target);
      continue;
    }
    if (status === 404) {
      res.resume();
      return undefined;
    }
    if (status !== 200) {
      res.resume();
      throw new RegistryError('server', `fetching signature ${target.href}: the server answered ${status}`, { transient: status >= 500 });
    }
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of res) {
      n += (c as Buffer).length;
      if (n > MAX_SIGNATURE) {
        res.destroy();
        throw new PeapodError('invalid', `signature ${target.href} is larger than ${MAX_SIGNATURE} bytes`);
      }
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  }
}

/** The GPG signatures of a manifest in the lookaside: signature-1, -2, ... until one is missing. */
async function lookasideSignatures(conf: RegistriesD, name: string, digest: string): Promise<Buffer[]> {
  const base = lookasideBase(conf, name, false);
  const out: Buffer[] = [];
  for (let i = 1; i <= MAX_SIGNATURES; i++) {
    const sig = await fetchLookaside(lookasideUrl(base, digest, i));
    if (!sig) break;
    out.push(sig);
  }
  debug(`signatures of ${name}@${digest} in ${base}: ${out.length}`);
  return out;
}

export interface SigstoreSignature {
  payload: Buffer;
  signature: string;
}

/** The sigstore signatures attached to a manifest ("sha256-<hex>.sig" in the same repository). */
async function attachedSignatures(client: RegistryClient, repository: string, digest: string): Promise<SigstoreSignature[]> {
  const tag = digest.replace(':', '-') + '.sig';
  let manifest;
  try {
    manifest = await client.manifest(repository, tag, [MEDIA_TYPES.ociManifest], `${client.host}/${repository}:${tag}`, MAX_SIGNATURE);
  } catch (err) {
    if (err instanceof RegistryError && err.reason === 'not-found') return [];
    throw err;
  }
  let v: unknown;
  try {
    v = JSON.parse(manifest.bytes.toString('utf8'));
  } catch {
    throw new PeapodError('invalid', `the signature manifest ${repository}:${tag} is not JSON`);
  }
  const layers = isRecord(v) && Array.isArray(v.layers) ? v.layers : [];
  const out: SigstoreSignature[] = [];
  for (const l of layers.slice(0, MAX_SIGNATURES)) {
    if (!isRecord(l) || l.mediaType !== SIGSTORE_PAYLOAD_MEDIA_TYPE || typeof l.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(l.digest)) continue;
    const ann = isRecord(l.annotations) ? l.annotations[SIGSTORE_SIGNATURE_ANNOTATION] : undefined;
    if (typeof ann !== 'string') continue;
    const payload = await client.blobBytes(repository, l.digest, MAX_SIGNATURE);
    if (sha256Digest(payload) !== l.digest) throw new RegistryError('digest', `digest mismatch: signature payload ${l.digest} in ${client.host}/${repository}`);
    out.push({ payload, signature: ann });
  }
  return out;
}

function describe(req: Requirement): string {
  if (req.type === 'signedBy') return `signedBy (GPG, ${describeKeys(req.keys)})`;
  if (req.type === 'sigstoreSigned') return `sigstoreSigned (${describeKeys(req.keys)})`;
  return req.type;
}

function rejected(c: TrustCheck, req: Requirement, why: string): PeapodError {
  const scope = c.scoped.scope === 'default' ? 'the default scope' : `scope "${c.scoped.scope.slice('docker:'.length) || '(docker transport default)'}" of transport docker`;
  return new PeapodError('invalid', `Source image rejected: ${why} (signature policy ${c.policyFile}, ${scope}, requirement ${describe(req)})`);
}

/** Whether a requirement is met without looking at signatures; undefined when signatures decide. */
export function decidesAlone(req: Requirement): boolean | undefined {
  if (req.type === 'insecureAcceptAnything') return true;
  if (req.type === 'reject') return false;
  return undefined;
}

/** Throws a PeapodError naming the scope and requirement when the policy rejects the image. */
export async function enforce(c: TrustCheck): Promise<void> {
  let conf = c.registriesD;
  let gpgSigs: Buffer[] | undefined;
  let sigstoreSigs: SigstoreSignature[] | undefined;
  for (const req of c.scoped.requirements) {
    const alone = decidesAlone(req);
    if (alone === true) continue;
    if (alone === false) throw rejected(c, req, 'the policy rejects it');
    conf ??= await loadRegistriesD();
    const why: string[] = [];
    let ok = false;
    if (req.type === 'signedBy') {
      gpgSigs ??= await lookasideSignatures(conf, c.name, c.manifestDigest);
      if (gpgSigs.length === 0) throw rejected(c, req, `a signature was required, but no signature exists (lookaside ${lookasideBase(conf, c.name, false)})`);
      const keys = await loadGpgKeys(req.keys);
      for (const sig of gpgSigs) {
        const v = await verifyGpg(sig, keys);
        if (!v.payload || v.why) {
          why.push(v.why ?? 'no payload');
          continue;
        }
        const problem = checkClaims(v.payload, GPG_PAYLOAD_TYPE, c, req);
        if (problem) why.push(problem);
        else ok = true;
        if (ok) break;
      }
    } else if (req.type === 'sigstoreSigned') {
      if (!usesSigstoreAttachments(conf, c.name)) {
        throw rejected(c, req, `a sigstore signature was required, but use-sigstore-attachments is not enabled for ${c.name} in ${conf.dir}`);
      }
      sigstoreSigs ??= await attachedSignatures(c.client, c.repository, c.manifestDigest);
      if (sigstoreSigs.length === 0) throw rejected(c, req, 'a signature was required, but no signature exists');
      const keys = await loadSigstoreKeys(req.keys);
      for (const s of sigstoreSigs) {
        if (!verifySigstore(s.payload, s.signature, keys)) {
          why.push('the signature does not verify with the trusted keys');
          continue;
        }
        const problem = checkClaims(s.payload, SIGSTORE_PAYLOAD_TYPE, c, req);
        if (problem) why.push(problem);
        else {
          ok = true;
          break;
        }
      }
    }
    if (!ok) throw rejected(c, req, `no valid signature: ${[...new Set(why)].slice(0, 4).join('; ')}`);
  }
}

function checkClaims(payload: Uint8Array, type: string, c: TrustCheck, req: Requirement & { signedIdentity: unknown }): string | undefined {
  let claims;
  try {
    claims = parsePayload(payload, type);
  } catch (err) {
    return (err as Error).message;
  }
  if (claims.manifestDigest !== c.manifestDigest) return `the signature is for manifest ${claims.manifestDigest}, not ${c.manifestDigest}`;
  if (req.type !== 'signedBy' && req.type !== 'sigstoreSigned') return 'unexpected requirement';
  return identityMismatch(req.signedIdentity, c.name, claims.dockerReference);
}
