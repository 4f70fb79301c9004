// Issue 21, the pull side: containers-policy.json enforced on pull, run and play kube, with GPG
// signatures made by skopeo (an independent signer) in a file:// lookaside, sigstore signatures
// attached in the registry, keys generated here. A real docker-registry on 127.0.0.1; an HTTP
// lookaside on 127.0.0.1 for the redirect case. Nothing leaves the loopback; the gpg-agent of the
// temporary GNUPGHOME is ended in afterAll.

import { createHash, createPrivateKey, sign } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot, sandbox, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { requireRegistryTools, startRegistry, writeLayout, writeRegistriesConf, type Registry } from '../helpers/registry.js';
import { gpgHome, sigstoreKeyPair, type GpgHome, type GpgKey } from '../helpers/signing.js';

let sb: Sandbox;
let reg: Registry;
let gpg: GpgHome;
let alice: GpgKey;
let mallory: GpgKey;
let cosign: { privateKey: string; publicKey: string };
let cosignOther: { privateKey: string; publicKey: string };
let env: Record<string, string>;
let lookaside: string;
let registriesD: string;
let policyFile: string;
let layoutDir: string;
let other: Awaited<ReturnType<typeof writeLayout>>;
let lookasideServer: http.Server | undefined;
const digests: Record<string, string> = {};

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Upload a blob and a manifest straight through the distribution API (no peapod code involved). */
async function putManifest(repo: string, ref: string, manifest: object, blobs: Buffer[]): Promise<string> {
  for (const b of blobs) {
    const start = await fetch(`http://${reg.host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const url = new URL(start.headers.get('location')!, `http://${reg.host}`);
    url.searchParams.set('digest', sha256(b));
    const r = await fetch(url, { method: 'PUT', body: new Uint8Array(b), headers: { 'Content-Type': 'application/octet-stream' } });
    if (r.status !== 201) throw new Error(`blob upload: ${r.status} ${await r.text()}`);
  }
  const body = JSON.stringify(manifest);
  const r = await fetch(`http://${reg.host}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (r.status !== 201) throw new Error(`manifest upload: ${r.status} ${await r.text()}`);
  return sha256(body);
}

/** A sigstore signature attached as cosign does: tag sha256-<hex>.sig, payload layer, signature annotation. */
async function attachSigstore(repo: string, digest: string, reference: string, keyFile: string): Promise<void> {
  const payload = Buffer.from(JSON.stringify({
    critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
    optional: null,
  }));
  const signature = sign('sha256', payload, createPrivateKey(await fs.readFile(keyFile))).toString('base64');
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(payload)] } }));
  await putManifest(repo, `${digest.replace(':', '-')}.sig`, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sha256(payload), size: payload.length, annotations: { 'dev.cosignproject.cosign/signature': signature } }],
  }, [config, payload]);
}

async function manifestDigest(repo: string, tag: string): Promise<string> {
  const r = await fetch(`http://${reg.host}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return r.headers.get('docker-content-digest')!;
}

/** skopeo copy, signing with --sign-by (GPG through gpgme and the temporary agent) when `key` is given. */
async function skopeoPush(name: string, key?: GpgKey, layout = layoutDir): Promise<void> {
  await execa('skopeo', ['copy', '-q', '--dest-tls-verify=false', '--registries.d', registriesD, ...(key ? ['--sign-by', key.fingerprint] : []), `oci:${layout}:v1`, `docker://${reg.host}/${name}`], { env: { GNUPGHOME: gpg.home } });
  const [repo, tag] = name.split(':');
  digests[name] = await manifestDigest(repo!, tag!);
}

function lookasideDir(repo: string, digest: string): string {
  return path.join(lookaside, `${repo}@sha256=${digest.slice(7)}`);
}

async function writePolicy(docker: Record<string, unknown[]>): Promise<void> {
  await fs.writeFile(policyFile, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: { docker } }, null, 2));
}

beforeAll(async () => {
  requireRoot();
  await requireRegistryTools(['docker-registry', 'skopeo', 'gpg', 'openssl']);
  sb = sandbox('peapod-trust');
  gpg = await gpgHome(sb.dir);
  alice = await gpg.key('alice');
  mallory = await gpg.key('mallory');
  cosign = await sigstoreKeyPair(sb.dir, 'cosign');
  cosignOther = await sigstoreKeyPair(sb.dir, 'cosign-other');
  reg = await startRegistry({ dir: path.join(sb.dir, 'registry') });
  lookaside = path.join(sb.dir, 'lookaside');
  registriesD = path.join(sb.dir, 'registries.d');
  await fs.mkdir(registriesD);
  await fs.writeFile(path.join(registriesD, 'default.yaml'), `default-docker:\n  lookaside: file://${lookaside}\n  use-sigstore-attachments: true\n`);
  policyFile = path.join(sb.dir, 'policy.json');
  await writePolicy({});
  const conf = await writeRegistriesConf(sb.dir, `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
  env = { PEAPOD_REGISTRIES_CONF: conf, PEAPOD_REGISTRIES_D: registriesD, PEAPOD_SIGNATURE_POLICY: policyFile, REGISTRY_AUTH_FILE: path.join(sb.dir, 'auth.json') };

  const busybox = await fs.readFile(await busyboxRootfsTar(sb.dir));
  layoutDir = path.join(sb.dir, 'layout');
  await writeLayout(layoutDir, 'v1', [{ layers: [busybox], cmd: ['sleep', '300'] }]);
  other = await writeLayout(path.join(sb.dir, 'other-layout'), 'v1', [{ layers: [busybox], cmd: ['echo', 'other'] }]);
  await skopeoPush('trust/signed:v1', alice);
  await skopeoPush('trust/unsigned:v1');
  await skopeoPush('trust/mallory:v1', mallory);
  await skopeoPush('trust/tampered:v1', alice);
  await skopeoPush('trust/elsewhere:v1', alice);
  await skopeoPush('sig/signed:v1');
  await skopeoPush('sig/unsigned:v1');
  await skopeoPush('sig/otherkey:v1');
  await attachSigstore('sig/signed', digests['sig/signed:v1']!, `${reg.host}/sig/signed:v1`, cosign.privateKey);
  await attachSigstore('sig/otherkey', digests['sig/otherkey:v1']!, `${reg.host}/sig/otherkey:v1`, cosignOther.privateKey);
  // Tampering: the tag now names another manifest, and its lookaside holds the signature of the
  // original one (an attacker who controls the registry and the lookaside, but not the key).
  const signedSig = await fs.readFile(path.join(lookasideDir('trust/tampered', digests['trust/tampered:v1']!), 'signature-1'));
  await execa('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${other.dir}:v1`, `docker://${reg.host}/trust/tampered:v1`]);
  digests['trust/tampered:v1'] = await manifestDigest('trust/tampered', 'v1');
  await fs.mkdir(lookasideDir('trust/tampered', digests['trust/tampered:v1']!), { recursive: true });
  await fs.writeFile(path.join(lookasideDir('trust/tampered', digests['trust/tampered:v1']!), 'signature-1'), signedSig);
  // A valid signature by the trusted key, for the same digest but another reference.
  await skopeoPush('trust/impostor:v1');
  await fs.mkdir(lookasideDir('trust/impostor', digests['trust/impostor:v1']!), { recursive: true });
  await fs.copyFile(path.join(lookasideDir('trust/signed', digests['trust/signed:v1']!), 'signature-1'), path.join(lookasideDir('trust/impostor', digests['trust/impostor:v1']!), 'signature-1'));
}, 180_000);

afterAll(async () => {
  await new Promise<void>((r) => (lookasideServer ? lookasideServer.close(() => r()) : r()));
  await reg?.stop();
  await gpg?.cleanup();
  if (!sb) return;
  await sb.destroy();
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

const run = (args: string[]) => sb.run(args, { env });
const ok = (args: string[]) => sb.ok(args, { env });

describe('signedBy (GPG, signatures made by skopeo)', () => {
  beforeAll(async () => {
    await writePolicy({ [`${reg.host}/trust`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: alice.publicKey }] });
  });

  it('pulls a signed image; info names the policy file', async () => {
    expect(String((await ok(['pull', '-q', `${reg.host}/trust/signed:v1`])).stdout)).toMatch(/^[0-9a-f]{64}$/);
    const info = JSON.parse(String((await ok(['info', '--format', 'json'])).stdout));
    expect(info.registries.signaturePolicy).toBe(policyFile);
  });

  it('refuses an unsigned image, one signed by another key, a tampered manifest and a signature for another reference, naming the scope', async () => {
    const scope = `scope "${reg.host}/trust" of transport docker`;
    const unsigned = await run(['pull', '-q', `${reg.host}/trust/unsigned:v1`]);
    expect(unsigned.exitCode).toBe(125);
    expect(String(unsigned.stderr)).toContain(`pulling ${reg.host}/trust/unsigned:v1: Source image rejected: a signature was required, but no signature exists`);
    expect(String(unsigned.stderr)).toContain(scope);
    expect(String(unsigned.stderr)).toContain(`requirement signedBy (GPG, keys in ${alice.publicKey})`);
    const wrong = await run(['pull', '-q', `${reg.host}/trust/mallory:v1`]);
    expect(wrong.exitCode).toBe(125);
    expect(String(wrong.stderr)).toMatch(/no valid signature: no valid signature by a trusted key/);
    expect(String(wrong.stderr)).toContain(scope);
    const tampered = await run(['pull', '-q', `${reg.host}/trust/tampered:v1`]);
    expect(tampered.exitCode).toBe(125);
    expect(String(tampered.stderr)).toContain(`the signature is for manifest ${digests['trust/signed:v1']}`);
    const impostor = await run(['pull', '-q', `${reg.host}/trust/impostor:v1`]);
    expect(impostor.exitCode).toBe(125);
    expect(String(impostor.stderr)).toContain(`the signature is for ${reg.host}/trust/signed:v1, not ${reg.host}/trust/impostor:v1`);
    // Nothing of the refused images was stored.
    const images = JSON.parse(String((await ok(['images', '--format', 'json'])).stdout)) as Array<{ Names?: string[] }>;
    expect(images.flatMap((i) => i.Names ?? []).filter((n) => /unsigned|mallory|tampered|impostor/.test(n))).toEqual([]);
  });

  it('run --pull always and play kube obey the policy: signed plays, unsigned is refused before anything is created', async () => {
    const bad = await run(['run', '--rm', '--pull', 'always', `${reg.host}/trust/unsigned:v1`, 'true']);
    expect(bad.exitCode).toBe(125);
    expect(String(bad.stderr)).toContain('Source image rejected');
    const yaml = (name: string, image: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: c\n    image: ${image}\n    imagePullPolicy: Always\n    command: ["sleep", "300"]\n`;
    const good = path.join(sb.dir, 'good.yaml');
    await fs.writeFile(good, yaml('signed', `${reg.host}/trust/signed:v1`));
    await ok(['play', 'kube', good]);
    const pods = JSON.parse(String((await ok(['pod', 'ps', '--format', 'json'])).stdout)) as Array<{ Name: string; Status: string }>;
    expect(pods.find((p) => p.Name === 'signed')?.Status).toBe('Running');
    await ok(['play', 'kube', '--down', good]);
    const badYaml = path.join(sb.dir, 'bad.yaml');
    await fs.writeFile(badYaml, yaml('unsigned', `${reg.host}/trust/mallory:v1`));
    const r = await run(['play', 'kube', badYaml]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toContain(`scope "${reg.host}/trust"`);
    expect(JSON.parse(String((await ok(['pod', 'ps', '--format', 'json'])).stdout))).toEqual([]);
  }, 120_000);

  it('reject and a more specific scope: the tag scope beats the repository scope', async () => {
    await writePolicy({
      [`${reg.host}/trust`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: alice.publicKey }],
      [`${reg.host}/trust/unsigned:v1`]: [{ type: 'insecureAcceptAnything' }],
      [`${reg.host}/trust/signed`]: [{ type: 'reject' }],
    });
    await ok(['pull', '-q', `${reg.host}/trust/unsigned:v1`]);
    const r = await run(['pull', '-q', `${reg.host}/trust/signed:v1`]);
    expect(String(r.stderr)).toContain(`Source image rejected: the policy rejects it (signature policy ${policyFile}, scope "${reg.host}/trust/signed" of transport docker, requirement reject)`);
    // --signature-policy replaces the file for one pull.
    const open = path.join(sb.dir, 'open.json');
    await fs.writeFile(open, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    await ok(['pull', '-q', '--signature-policy', open, `${reg.host}/trust/signed:v1`]);
  });

  it('adversarial: an HTTP lookaside redirecting to a valid signature of another image is refused; keyData and an armored key work', async () => {
    const target = await fs.readFile(path.join(lookasideDir('trust/signed', digests['trust/signed:v1']!), 'signature-1'));
    lookasideServer = http.createServer((req, res) => {
      if (req.url?.startsWith('/elsewhere/')) {
        res.writeHead(302, { Location: '/stolen/signature' });
        res.end();
      } else if (req.url === '/stolen/signature') {
        res.end(target);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => lookasideServer!.listen(0, '127.0.0.1', () => r()));
    const port = (lookasideServer.address() as AddressInfo).port;
    await fs.writeFile(path.join(registriesD, 'elsewhere.yaml'), `docker:\n  ${reg.host}/trust/elsewhere:\n    lookaside: http://127.0.0.1:${port}/elsewhere\n`);
    await writePolicy({ [`${reg.host}/trust`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyData: (await fs.readFile(alice.armoredPublicKey)).toString('base64') }] });
    try {
      const r = await run(['pull', '-q', `${reg.host}/trust/elsewhere:v1`]);
      expect(r.exitCode).toBe(125);
      expect(String(r.stderr)).toContain(`the signature is for ${reg.host}/trust/signed:v1, not ${reg.host}/trust/elsewhere:v1`);
      await ok(['pull', '-q', `${reg.host}/trust/signed:v1`]);
    } finally {
      await fs.rm(path.join(registriesD, 'elsewhere.yaml'));
    }
  });
});

describe('sigstoreSigned (attachments)', () => {
  beforeAll(async () => {
    await writePolicy({ [`${reg.host}/sig`]: [{ type: 'sigstoreSigned', keyPath: cosign.publicKey }] });
  });

  it('pulls a signed image; refuses unsigned and other-key images naming the scope', async () => {
    await ok(['pull', '-q', `${reg.host}/sig/signed:v1`]);
    for (const [name, why] of [['unsigned', 'a signature was required, but no signature exists'], ['otherkey', 'the signature does not verify with the trusted keys']]) {
      const r = await run(['pull', '-q', `${reg.host}/sig/${name}:v1`]);
      expect(r.exitCode).toBe(125);
      expect(String(r.stderr)).toContain(why);
      expect(String(r.stderr)).toContain(`scope "${reg.host}/sig" of transport docker, requirement sigstoreSigned (keys in ${cosign.publicKey})`);
    }
  });

  it('refuses Fulcio policies with a clear message', async () => {
    await writePolicy({ [`${reg.host}/sig`]: [{ type: 'sigstoreSigned', fulcio: { caPath: '/x', oidcIssuer: 'https://x', subjectEmail: 'a@b' }, rekorPublicKeyPath: '/y' }] });
    const r = await run(['pull', '-q', `${reg.host}/sig/signed:v1`]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toContain('sigstoreSigned with fulcio or rekor is not supported by peapod');
  });
});
