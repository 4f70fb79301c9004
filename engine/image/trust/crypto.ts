// The cryptography of image signatures, in-process (peapod never runs gpg, skopeo or cosign):
//   - GPG "simple signing": an OpenPGP signed message (not detached; gpg usually compresses it)
//     whose literal data is the payload. openpgp.js (loaded only here, lazily) reads and makes them.
//   - sigstore: an ECDSA (or Ed25519/RSA) signature over the payload bytes, base64 in the
//     attachment's annotation; Node's crypto verifies and makes them.

import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { PeapodError } from '../../errors.js';
import type { KeySource } from './policy.js';

type OpenPGP = typeof import('openpgp');
let pgp: Promise<OpenPGP> | undefined;
function openpgp(): Promise<OpenPGP> {
  pgp ??= import('openpgp');
  return pgp;
}

const MAX_KEY_FILE = 4 * 1024 * 1024;

async function readKeyFile(file: string): Promise<Buffer> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (err) {
    throw new PeapodError('invalid', `key file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (!st.isFile()) throw new PeapodError('invalid', `key file ${file} is not a regular file`);
  if (st.size > MAX_KEY_FILE) throw new PeapodError('invalid', `key file ${file} is larger than ${MAX_KEY_FILE} bytes`);
  return fs.readFile(file);
}

function isArmored(data: Buffer): boolean {
  return data.subarray(0, 64).toString('latin1').includes('-----BEGIN ');
}

export function describeKeys(keys: KeySource): string {
  return keys.paths.length ? `keys in ${keys.paths.join(', ')}` : 'keys in keyData';
}

/** The OpenPGP public keys of a policy requirement (keyrings, exported binary or armored). */
export async function loadGpgKeys(keys: KeySource): Promise<unknown[]> {
  const { readKeys } = await openpgp();
  const blobs: Array<{ what: string; data: Buffer }> = [
    ...await Promise.all(keys.paths.map(async (p) => ({ what: p, data: await readKeyFile(p) }))),
    ...keys.data.map((data) => ({ what: 'keyData', data })),
  ];
  const out: unknown[] = [];
  for (const b of blobs) {
    try {
      const ks = isArmored(b.data) ? await readKeys({ armoredKeys: b.data.toString('utf8') }) : await readKeys({ binaryKeys: b.data });
      out.push(...ks);
    } catch (err) {
      throw new PeapodError('invalid', `GPG keys from ${b.what} cannot be read: ${(err as Error).message}`);
    }
  }
  if (out.length === 0) throw new PeapodError('invalid', `no GPG keys in ${blobs.map((b) => b.what).join(', ')}`);
  return out;
}

/**
 * Verify an OpenPGP signed message with `keys`; the signed payload, or the reason it is not
 * acceptable. Every signature in the message is checked and one by a trusted key must be valid.
 */
export async function verifyGpg(signature: Buffer, keys: unknown[]): Promise<{ payload?: Uint8Array; why?: string; keyId?: string }> {
  const { readMessage, verify } = await openpgp();
  let message;
  try {
    message = await readMessage({ binaryMessage: signature });
  } catch (err) {
    return { why: `not an OpenPGP message: ${(err as Error).message}` };
  }
  let result;
  try {
    result = await verify({ message, verificationKeys: keys as Parameters<typeof verify>[0]['verificationKeys'], format: 'binary' });
  } catch (err) {
    return { why: `unreadable OpenPGP message: ${(err as Error).message}` };
  }
  // The data must be read whole before the signatures' promises settle.
  const payload = result.data as Uint8Array;
  const reasons: string[] = [];
  for (const s of result.signatures) {
    try {
      await s.verified;
      return { payload, keyId: s.keyID.toHex() };
    } catch (err) {
      reasons.push(`key ${s.keyID.toHex()}: ${(err as Error).message}`);
    }
  }
  return { why: reasons.length ? `no valid signature by a trusted key (${reasons.join('; ')})` : 'the message carries no signature' };
}

/** Sign `payload` as gpg --sign does (a signed, compressed message) with an armored secret key. */
export async function signGpg(payload: Buffer, keyFile: string, fingerprint: string): Promise<Buffer> {
  const lib = await openpgp();
  const data = await readKeyFile(keyFile);
  let keys;
  try {
    keys = isArmored(data) ? await lib.readPrivateKeys({ armoredKeys: data.toString('utf8') }) : await lib.readPrivateKeys({ binaryKeys: data });
  } catch (err) {
    throw new PeapodError('invalid', `secret key file ${keyFile} cannot be read: ${(err as Error).message}`);
  }
  const want = fingerprint.toLowerCase().replace(/\s+/g, '');
  const key = keys.find((k) => k.getFingerprint() === want || k.getKeys().some((sub) => sub.getFingerprint() === want || sub.getKeyID().toHex() === want.slice(-16)));
  if (!key) throw new PeapodError('not-found', `no secret key with fingerprint ${fingerprint} in ${keyFile}`);
  if (!key.isDecrypted()) throw new PeapodError('invalid', `the secret key ${fingerprint} in ${keyFile} is protected by a passphrase, which peapod does not ask for: export it without one into a 0600 file`);
  const message = await lib.createMessage({ binary: payload });
  const signed = await lib.sign({ message, signingKeys: key, format: 'binary', config: { preferredCompressionAlgorithm: lib.enums.compression.zlib } });
  return Buffer.from(signed as Uint8Array);
}

/** The public keys of a sigstoreSigned requirement (PEM files or keyData). */
export async function loadSigstoreKeys(keys: KeySource): Promise<KeyObject[]> {
  const blobs: Array<{ what: string; data: Buffer }> = [
    ...await Promise.all(keys.paths.map(async (p) => ({ what: p, data: await readKeyFile(p) }))),
    ...keys.data.map((data) => ({ what: 'keyData', data })),
  ];
  return blobs.map((b) => {
    try {
      return createPublicKey(b.data);
    } catch (err) {
      throw new PeapodError('invalid', `sigstore public key ${b.what} cannot be read: ${(err as Error).message}`);
    }
  });
}

function algorithmOf(key: KeyObject): string | null {
  return key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256';
}

export function verifySigstore(payload: Buffer, signatureB64: string, keys: KeyObject[]): boolean {
  const sig = Buffer.from(signatureB64, 'base64');
  return keys.some((k) => {
    try {
      return nodeVerify(algorithmOf(k), payload, k, sig);
    } catch {
      return false;
    }
  });
}

/** Sign a sigstore payload with a PEM private key; base64 as the annotation wants it. */
export async function signSigstore(payload: Buffer, keyFile: string): Promise<string> {
  const data = await readKeyFile(keyFile);
  if (data.includes('ENCRYPTED SIGSTORE PRIVATE KEY')) {
    throw new PeapodError('invalid', `${keyFile} is a passphrase-encrypted sigstore (cosign) key, which peapod cannot read: use an unencrypted PEM (PKCS#8) private key, e.g. openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(data);
  } catch (err) {
    throw new PeapodError('invalid', `sigstore private key ${keyFile} cannot be read: ${(err as Error).message}`);
  }
  return nodeSign(algorithmOf(key), payload, key).toString('base64');
}
