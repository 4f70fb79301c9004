// A local registry (Debian's docker-registry on 127.0.0.1) holding a 5-layer image pushed with
// skopeo, for the pull scenario. No traffic leaves the machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { must, sleep, which } from './exec.js';

export interface LocalRegistry {
  ref: string;
  layers: number;
  bytes: number;
  stop(): Promise<void>;
}

export function registryTools(): string | undefined {
  const missing = ['docker-registry', 'skopeo', 'tar'].filter((t) => !which(t));
  return missing.length ? `${missing.join(', ')} not installed (apt-get install docker-registry skopeo)` : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Starts docker-registry on 127.0.0.1 and pushes bench/five:latest: the busybox rootfs as the
 * first layer and four layers of 1 MiB of random (incompressible) data each, gzip-compressed.
 */
export async function startRegistry(dir: string, rootfsTar: string, children: Set<ChildProcess>): Promise<LocalRegistry> {
  mkdirSync(path.join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  writeFileSync(config, `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'storage')}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
`);
  const child = spawn(which('docker-registry')!, ['serve', config], { stdio: 'ignore' });
  children.add(child);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    children.delete(child);
  };
  try {
    for (let i = 0; ; i++) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/v2/`);
        if (r.ok) break;
      } catch { /* not up yet */ }
      if (i > 100) throw new Error('docker-registry did not come up on 127.0.0.1');
      await sleep(100);
    }
    // An OCI layout with five layers.
    const oci = path.join(dir, 'oci');
    mkdirSync(path.join(oci, 'blobs', 'sha256'), { recursive: true });
    const blob = (b: Buffer) => {
      const d = sha(b);
      writeFileSync(path.join(oci, 'blobs', 'sha256', d.slice(7)), b);
      return d;
    };
    const tars: Buffer[] = [readFileSync(rootfsTar)];
    for (let i = 1; i <= 4; i++) {
      const layerDir = path.join(dir, `layer${i}`);
      mkdirSync(path.join(layerDir, 'data'), { recursive: true });
      writeFileSync(path.join(layerDir, 'data', `blob${i}`), randomBytes(1 << 20));
      const tar = path.join(dir, `layer${i}.tar`);
      await must(['tar', '--numeric-owner', '--owner=0', '--group=0', '-C', layerDir, '-cf', tar, 'data']);
      tars.push(readFileSync(tar));
    }
    const layers = tars.map((t) => {
      const gz = gzipSync(t);
      return { diffId: sha(t), digest: blob(gz), size: gz.length };
    });
    const cfg = Buffer.from(JSON.stringify({
      created: '2024-01-01T00:00:00Z', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux',
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'peapod bench' })),
    }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: blob(cfg), size: cfg.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
    }));
    const md = blob(manifest);
    writeFileSync(path.join(oci, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }));
    writeFileSync(path.join(oci, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const ref = `127.0.0.1:${port}/bench/five:latest`;
    await must(['skopeo', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${oci}:latest`, `docker://${ref}`], { timeoutMs: 120_000 });
    return { ref, layers: layers.length, bytes: layers.reduce((s, l) => s + l.size, 0), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
