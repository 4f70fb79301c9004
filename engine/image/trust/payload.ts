// The "simple signing" payload that both signature kinds sign (containers-signature(5)):
//   {"critical": {"identity": {"docker-reference": REF}, "image": {"docker-manifest-digest": D},
//                 "type": "atomic container signature" | "cosign container image signature"},
//    "optional": {"creator": ..., "timestamp": ...}}
// and the signedIdentity rules of policy.json that compare its reference with the pulled one.
// Pure: unit-tested.

import { PeapodError } from '../../errors.js';
import { parseReference } from '../reference.js';
import { VERSION } from '../../version.js';
import type { SignedIdentity } from './policy.js';

export const GPG_PAYLOAD_TYPE = 'atomic container signature';
export const SIGSTORE_PAYLOAD_TYPE = 'cosign container image signature';

export interface SignedClaims {
  dockerReference: string;
  manifestDigest: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The payload bytes for a new signature. */
export function makePayload(claims: SignedClaims, type: string): Buffer {
  return Buffer.from(JSON.stringify({
    critical: {
      identity: { 'docker-reference': claims.dockerReference },
      image: { 'docker-manifest-digest': claims.manifestDigest },
      type,
    },
    optional: { creator: `peapod ${VERSION}`, timestamp: Math.floor(Date.now() / 1000) },
  }));
}

/** Parse a verified payload strictly (unknown critical keys are refused, as containers/image does). */
export function parsePayload(bytes: Uint8Array, type: string): SignedClaims {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new PeapodError('invalid', 'the signed payload is not JSON');
  }
  if (!isRecord(v) || !isRecord(v.critical)) throw new PeapodError('invalid', 'the signed payload has no "critical" object');
  const c = v.critical;
  for (const k of Object.keys(c)) if (!['identity', 'image', 'type'].includes(k)) throw new PeapodError('invalid', `the signed payload has an unknown critical field "${k}"`);
  if (c.type !== type) throw new PeapodError('invalid', `the signed payload has type "${String(c.type)}", expected "${type}"`);
  if (!isRecord(c.identity) || typeof c.identity['docker-reference'] !== 'string') throw new PeapodError('invalid', 'the signed payload names no docker-reference');
  if (!isRecord(c.image) || typeof c.image['docker-manifest-digest'] !== 'string') throw new PeapodError('invalid', 'the signed payload names no docker-manifest-digest');
  for (const k of Object.keys(c.identity)) if (k !== 'docker-reference') throw new PeapodError('invalid', `the signed payload has an unknown identity field "${k}"`);
  for (const k of Object.keys(c.image)) if (k !== 'docker-manifest-digest') throw new PeapodError('invalid', `the signed payload has an unknown image field "${k}"`);
  return { dockerReference: c.identity['docker-reference'], manifestDigest: c.image['docker-manifest-digest'] };
}

/** A docker reference normalised without adding a tag: {repo, full}. */
interface Ref {
  repository: string;
  /** repository plus ":tag" or "@digest" when the reference has one. */
  full: string;
  tagged: boolean;
  digested: boolean;
}

export function dockerRef(ref: string): Ref {
  const p = parseReference(ref, { dockerRules: true });
  let domain = p.domain || 'docker.io';
  if (domain === 'index.docker.io') domain = 'docker.io';
  const path = domain === 'docker.io' && !p.path.includes('/') ? `library/${p.path}` : p.path;
  const repository = `${domain}/${path}`;
  // A reference with both keeps both in containers/image; the digest is what identifies it.
  const full = p.digest ? `${repository}${p.tag ? `:${p.tag}` : ''}@${p.digest}` : p.tag ? `${repository}:${p.tag}` : repository;
  return { repository, full, tagged: p.tag !== undefined, digested: p.digest !== undefined };
}

/**
 * Whether a signature claiming `signed` is acceptable for the pulled `image` (a normalised name)
 * under `identity`. Returns the reason when it is not.
 */
export function identityMismatch(identity: SignedIdentity, image: string, signed: string): string | undefined {
  let sig: Ref;
  try {
    sig = dockerRef(signed);
  } catch {
    return `the signature names an invalid reference "${signed}"`;
  }
  const img = dockerRef(image);
  const repoDigestOrExact = (i: Ref): string | undefined => {
    if (i.digested) return i.repository === sig.repository ? undefined : `the signature is for repository ${sig.repository}, not ${i.repository}`;
    return i.full === sig.full ? undefined : `the signature is for ${sig.full}, not ${i.full}`;
  };
  switch (identity.type) {
    case 'matchRepoDigestOrExact':
      return repoDigestOrExact(img);
    case 'matchExact':
      if (!img.tagged && !img.digested) return `${img.full} has neither tag nor digest`;
      return img.full === sig.full ? undefined : `the signature is for ${sig.full}, not ${img.full}`;
    case 'matchRepository':
      return img.repository === sig.repository ? undefined : `the signature is for repository ${sig.repository}, not ${img.repository}`;
    case 'exactReference': {
      const want = dockerRef(identity.dockerReference);
      return want.full === sig.full ? undefined : `the signature is for ${sig.full}, the policy wants exactly ${want.full}`;
    }
    case 'exactRepository': {
      const want = dockerRef(identity.dockerRepository);
      return want.repository === sig.repository ? undefined : `the signature is for repository ${sig.repository}, the policy wants ${want.repository}`;
    }
    case 'remapIdentity': {
      const { prefix, signedPrefix } = identity;
      let mapped = img;
      const name = img.full;
      if (name === prefix || name.startsWith(`${prefix}/`) || (name.startsWith(prefix) && /^[:@]/.test(name.slice(prefix.length)))) {
        try {
          mapped = dockerRef(signedPrefix + name.slice(prefix.length));
        } catch {
          return `remapping ${name} with prefix ${prefix} to ${signedPrefix} gives an invalid reference`;
        }
      }
      return repoDigestOrExact(mapped);
    }
  }
}
