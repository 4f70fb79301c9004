// Keys for signature tests, generated here and thrown away: a temporary GNUPGHOME with GPG keys
// made by `gpg --batch --quick-gen-key` (no passphrase), and sigstore (ECDSA P-256) key pairs made
// with openssl. `cleanup()` ends the gpg-agent that gpg (or skopeo through gpgme) started for the
// temporary home: no agent outlives a test.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

export interface GpgHome {
  home: string;
  /** Generate a signing key; returns its fingerprint and its exported public and secret keys. */
  key(name: string): Promise<GpgKey>;
  cleanup(): Promise<void>;
}

export interface GpgKey {
  fingerprint: string;
  /** `gpg --export` (binary), what a policy's keyPath names. */
  publicKey: string;
  /** `gpg --export --armor`. */
  armoredPublicKey: string;
  /** `gpg --export-secret-keys --armor`, 0600. */
  secretKey: string;
}

export async function gpgHome(dir: string): Promise<GpgHome> {
  const home = path.join(dir, 'gnupg');
  await fs.mkdir(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  return {
    home,
    async key(name) {
      await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', `${name} <${name}@peapod.test>`, 'default', 'default', 'never'], { env });
      const list = (await execa('gpg', ['--list-keys', '--with-colons', `${name}@peapod.test`], { env })).stdout;
      const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(list)?.[1];
      if (!fingerprint) throw new Error(`no fingerprint for ${name}: ${list}`);
      const publicKey = path.join(dir, `${name}.gpg`);
      const armoredPublicKey = path.join(dir, `${name}.asc`);
      const secretKey = path.join(dir, `${name}-secret.asc`);
      await fs.writeFile(publicKey, (await execa('gpg', ['--export', fingerprint], { env, encoding: 'buffer' })).stdout);
      await fs.writeFile(armoredPublicKey, (await execa('gpg', ['--export', '--armor', fingerprint], { env })).stdout);
      await fs.writeFile(secretKey, (await execa('gpg', ['--export-secret-keys', '--armor', fingerprint], { env })).stdout, { mode: 0o600 });
      return { fingerprint, publicKey, armoredPublicKey, secretKey };
    },
    async cleanup() {
      await execa('gpgconf', ['--kill', 'all'], { env, reject: false });
    },
  };
}

/** An ECDSA P-256 key pair in PEM files (PKCS#8 private key, SPKI public key). */
export async function sigstoreKeyPair(dir: string, name: string): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = path.join(dir, `${name}.key`);
  const publicKey = path.join(dir, `${name}.pub`);
  await execa('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', privateKey]);
  await fs.chmod(privateKey, 0o600);
  await execa('openssl', ['pkey', '-in', privateKey, '-pubout', '-out', publicKey]);
  return { privateKey, publicKey };
}
