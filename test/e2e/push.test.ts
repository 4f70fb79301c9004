// Issue 21, the way out: push (with GPG and sigstore signing), image sign, save. A real
// docker-registry on 127.0.0.1 behind a counting HTTP relay (to see which blobs are sent);
// podman 4.3 as an independent client: it pulls what peapod pushed and signed under the same
// policy (GPG; Debian's podman has sigstore disabled, so openssl checks those), and loads what
// peapod saved. Keys are generated here; the gpg-agent of the temporary
// GNUPGHOME is ended in afterAll.

import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot, sandbox, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { requireRegistryTools, startRegistry, writeRegistriesConf, type Registry } from '../helpers/registry.js';
import { gpgHome, sigstoreKeyPair, type GpgHome, type GpgKey } from '../helpers/signing.js';

let sb: Sandbox;
let reg: Registry;
let relay: http.Server;
let host: string;
let gpg: GpgHome;
let alice: GpgKey;
let cosign: { privateKey: string; publicKey: string };
let env: Record<string, string>;
let podmanEnv: Record<string, string>;
let policyFile: string;
let lookaside: string;
let imageId: string;
const requests: Array<{ method: string; url: string }> = [];

beforeAll(async () => {
  requireRoot();
  await requireRegistryTools(['docker-registry', 'skopeo', 'gpg', 'openssl', 'podman']);
  sb = sandbox('peapod-push');
  gpg = await gpgHome(sb.dir);
  alice = await gpg.key('alice');
  cosign = await sigstoreKeyPair(sb.dir, 'cosign');
  reg = await startRegistry({ dir: path.join(sb.dir, 'registry') });
  // Every request to the registry goes through here and is counted.
  relay = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url! });
    const fwd = http.request({ host: '127.0.0.1', port: reg.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  host = `127.0.0.1:${(relay.address() as AddressInfo).port}`;

  lookaside = path.join(sb.dir, 'lookaside');
  const registriesD = path.join(sb.dir, 'home/.config/containers/registries.d');
  await fs.mkdir(registriesD, { recursive: true });
  await fs.writeFile(path.join(registriesD, 'default.yaml'), `default-docker:\n  lookaside: file://${lookaside}\n  use-sigstore-attachments: true\n`);
  policyFile = path.join(sb.dir, 'policy.json');
  await fs.writeFile(policyFile, JSON.stringify({
    default: [{ type: 'insecureAcceptAnything' }],
    transports: { docker: {
      [`${host}/gpg`]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: alice.publicKey }],
      [`${host}/sigstore`]: [{ type: 'sigstoreSigned', keyPath: cosign.publicKey }],
    } },
  }));
  const conf = await writeRegistriesConf(sb.dir, `[[registry]]\nlocation = "${host}"\ninsecure = true\n`);
  env = { PEAPOD_REGISTRIES_CONF: conf, PEAPOD_REGISTRIES_D: registriesD, PEAPOD_SIGNATURE_POLICY: policyFile, REGISTRY_AUTH_FILE: path.join(sb.dir, 'auth.json') };
  // podman reads ~/.config/containers/registries.d of $HOME (root too) and this registries.conf.
  podmanEnv = { HOME: path.join(sb.dir, 'home'), CONTAINERS_REGISTRIES_CONF: conf };
  imageId = String((await sb.ok(['import', await busyboxRootfsTar(sb.dir), 'demo:1'], { env })).stdout).trim();
}, 180_000);

afterAll(async () => {
  await new Promise<void>((r) => (relay ? relay.close(() => r()) : r()));
  await reg?.stop();
  await gpg?.cleanup();
  if (!sb) return;
  await execa('podman', ['--root', path.join(sb.dir, 'podman/root'), '--runroot', path.join(sb.dir, 'podman/run'), 'system', 'reset', '--force'], { env: podmanEnv, reject: false });
  await sb.destroy();
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

const run = (args: string[]) => sb.run(args, { env });
const ok = (args: string[]) => sb.ok(args, { env });
const podman = (args: string[]) => execa('podman', ['--root', path.join(sb.dir, 'podman/root'), '--runroot', path.join(sb.dir, 'podman/run'), ...args], { env: podmanEnv, reject: false });

const blobUploads = () => requests.filter((r) => r.method === 'PUT' && r.url.includes('/blobs/uploads/'));

describe('push', () => {
  it('pushes with --digestfile; a second push and a push to another repository send no blob again', async () => {
    const digestFile = path.join(sb.dir, 'digest');
    requests.length = 0;
    await ok(['push', '--tls-verify=false', '--digestfile', digestFile, 'demo:1', `docker://${host}/plain/demo:v1`]);
    const digest = await fs.readFile(digestFile, 'utf8');
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(blobUploads()).toHaveLength(2); // one layer, the config
    const head = await fetch(`http://${host}/v2/plain/demo/manifests/v1`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(head.headers.get('docker-content-digest')).toBe(digest);

    requests.length = 0;
    await ok(['push', '--tls-verify=false', 'demo:1', `${host}/plain/demo:v2`]);
    expect(blobUploads()).toEqual([]);
    expect(requests.filter((r) => r.method === 'HEAD' && r.url.includes('/blobs/sha256:'))).toHaveLength(2);

    // Another repository: the blobs are mounted from plain/demo (the image has that name once pulled).
    await ok(['pull', '-q', `${host}/plain/demo:v1`]);
    requests.length = 0;
    await ok(['push', '--tls-verify=false', `${host}/plain/demo:v1`, `${host}/other/demo:v1`]);
    expect(blobUploads()).toEqual([]);
    expect(requests.filter((r) => r.method === 'POST' && r.url.includes('mount=sha256'))).toHaveLength(2);
    // What was pushed pulls back as the same image.
    const pulled = String((await ok(['pull', '-q', `${host}/other/demo:v1`])).stdout).trim();
    expect(pulled).toBe(imageId);
  });

  it('GPG: peapod push --sign-by signs; peapod and podman pull it under signedBy, and refuse the unsigned one', async () => {
    await ok(['push', '--tls-verify=false', '--sign-by', alice.fingerprint, '--sign-key-file', alice.secretKey, 'demo:1', `${host}/gpg/demo:signed`]);
    await ok(['push', '--tls-verify=false', 'demo:1', `${host}/gpg/demo:unsigned`]);
    const sigs = (await fs.readdir(path.join(lookaside, 'gpg'))).filter((e) => e.startsWith('demo@sha256='));
    expect(sigs).toHaveLength(1);
    // gpg itself accepts the signature (the key is in the temporary keyring).
    const sigFile = path.join(lookaside, 'gpg', sigs[0]!, 'signature-1');
    const verified = await execa('gpg', ['--verify', sigFile], { env: { GNUPGHOME: gpg.home }, reject: false });
    expect(verified.stderr).toContain('Good signature');

    expect(String((await ok(['pull', '-q', `${host}/gpg/demo:signed`])).stdout).trim()).toBe(imageId);
    const refused = await run(['pull', '-q', `${host}/gpg/demo:unsigned`]);
    expect(refused.exitCode).toBe(125);
    expect(String(refused.stderr)).toContain(`scope "${host}/gpg" of transport docker`);

    const p = await podman(['pull', '-q', '--tls-verify=false', '--signature-policy', policyFile, `${host}/gpg/demo:signed`]);
    expect(p.stderr).not.toMatch(/^Error/m);
    expect(p.exitCode).toBe(0);
    expect(p.stdout.trim()).toBe(imageId);
    const pu = await podman(['pull', '-q', '--tls-verify=false', '--signature-policy', policyFile, `${host}/gpg/demo:unsigned`]);
    expect(pu.exitCode).not.toBe(0);
    expect(pu.stderr).toMatch(/signature/i);
  });

  it('image sign signs what is in the registry; --directory writes elsewhere', async () => {
    await ok(['push', '--tls-verify=false', 'demo:1', `${host}/gpg/demo:later`]);
    expect((await run(['pull', '-q', `${host}/gpg/demo:later`])).exitCode).toBe(125);
    await ok(['image', 'sign', '--sign-by', alice.fingerprint, '--sign-key-file', alice.secretKey, `docker://${host}/gpg/demo:later`]);
    expect(String((await ok(['pull', '-q', `${host}/gpg/demo:later`])).stdout).trim()).toBe(imageId);
    const dir = path.join(sb.dir, 'sigs');
    await ok(['image', 'sign', '--sign-by', alice.fingerprint, '--sign-key-file', alice.secretKey, '--directory', dir, `${host}/gpg/demo:later`]);
    const [entry] = await fs.readdir(path.join(dir, 'gpg'));
    expect(entry).toMatch(/^demo@sha256=[0-9a-f]{64}$/);
  });

  it('sigstore: push --sign-by-sigstore-private-key; peapod pulls it under sigstoreSigned, openssl verifies the attachment', async () => {
    await ok(['push', '--tls-verify=false', '--sign-by-sigstore-private-key', cosign.privateKey, 'demo:1', `${host}/sigstore/demo:signed`]);
    await ok(['push', '--tls-verify=false', 'demo:1', `${host}/sigstore/demo:unsigned`]);
    expect(String((await ok(['pull', '-q', `${host}/sigstore/demo:signed`])).stdout).trim()).toBe(imageId);
    // The same image under another tag has the same manifest digest, hence the same attachment:
    // the signature names the "signed" tag, so the identity check refuses it.
    const refused = await run(['pull', '-q', `${host}/sigstore/demo:unsigned`]);
    expect(String(refused.stderr)).toContain(`the signature is for ${host}/sigstore/demo:signed, not ${host}/sigstore/demo:unsigned`);
    // Debian's podman 4.3.1 is built with sigstore disabled ("Debian-local change"), so the
    // attachment is checked with openssl instead: payload and signature as a cosign verifier reads them.
    const digest = (await fetch(`http://${host}/v2/sigstore/demo/manifests/signed`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).headers.get('docker-content-digest')!;
    const att = await (await fetch(`http://${host}/v2/sigstore/demo/manifests/${digest.replace(':', '-')}.sig`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).json() as { layers: Array<{ digest: string; mediaType: string; annotations: Record<string, string> }> };
    expect(att.layers).toHaveLength(1);
    expect(att.layers[0]!.mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    const payload = Buffer.from(await (await fetch(`http://${host}/v2/sigstore/demo/blobs/${att.layers[0]!.digest}`)).arrayBuffer());
    expect(JSON.parse(payload.toString()).critical).toEqual({ identity: { 'docker-reference': `${host}/sigstore/demo:signed` }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' });
    await fs.writeFile(path.join(sb.dir, 'payload'), payload);
    await fs.writeFile(path.join(sb.dir, 'payload.sig'), Buffer.from(att.layers[0]!.annotations['dev.cosignproject.cosign/signature']!, 'base64'));
    const v = await execa('openssl', ['dgst', '-sha256', '-verify', cosign.publicKey, '-signature', path.join(sb.dir, 'payload.sig'), path.join(sb.dir, 'payload')], { reject: false });
    expect(v.stdout).toBe('Verified OK');
  });

  it('adversarial: a secret key readable by others, or a symlink to one, is refused before anything is pushed', async () => {
    const loose = path.join(sb.dir, 'loose.asc');
    await fs.copyFile(alice.secretKey, loose);
    await fs.chmod(loose, 0o644);
    const a = await run(['push', '--tls-verify=false', '--sign-by', alice.fingerprint, '--sign-key-file', loose, 'demo:1', `${host}/gpg/demo:loose`]);
    expect(a.exitCode).toBe(125);
    expect(String(a.stderr)).toContain('is readable by others (mode 644)');
    const link = path.join(sb.dir, 'link.key');
    await fs.symlink(cosign.privateKey, link);
    const b = await run(['push', '--tls-verify=false', '--sign-by-sigstore-private-key', link, 'demo:1', `${host}/sigstore/demo:link`]);
    expect(b.exitCode).toBe(125);
    expect(String(b.stderr)).toContain('is not a regular file (symlinks are not followed)');
    const c = await run(['push', '--tls-verify=false', '--sign-by', alice.fingerprint, 'demo:1', `${host}/gpg/demo:nokey`]);
    expect(String(c.stderr)).toContain('peapod cannot read gpg\'s secret keyring');
  });
});

describe('save', () => {
  it('save then load gives the same image ID (docker-archive with two images, oci-archive); podman loads the docker-archive', async () => {
    await ok(['tag', 'demo:1', 'demo:2']);
    const archive = path.join(sb.dir, 'saved.tar');
    await ok(['save', '-o', archive, 'demo:1', `${host}/plain/demo:v1`]);
    const oci = path.join(sb.dir, 'saved-oci.tar');
    await ok(['save', '--format', 'oci-archive', '-o', oci, 'demo:2']);
    const other = sandbox('peapod-push-load');
    try {
      const loaded = String((await other.ok(['load', '-i', archive])).stdout);
      expect(loaded).toContain('Loaded image: localhost/demo:1');
      expect(loaded).toContain(`Loaded image: ${host}/plain/demo:v1`);
      const [img] = JSON.parse(String((await other.ok(['image', 'inspect', 'demo:1'])).stdout));
      expect(img.Id).toBe(imageId);
      await other.ok(['rmi', '-f', imageId]);
      await other.ok(['load', '-i', oci]);
      const [img2] = JSON.parse(String((await other.ok(['image', 'inspect', 'demo:2'])).stdout));
      expect(img2.Id).toBe(imageId);
    } finally {
      await other.destroy();
    }
    const p = await podman(['load', '-i', archive]);
    expect(p.exitCode).toBe(0);
    expect(p.stdout).toContain('localhost/demo:1');
    const ids = await podman(['images', '--no-trunc', '--format', '{{.ID}}']);
    expect(ids.stdout).toContain(imageId);
  });
});
