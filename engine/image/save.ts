// `save`: images out of the store into an archive that `load` (peapod's or Podman's) reads back
// with the same image IDs. docker-archive (the default, several images in one file, shared layers
// written once): manifest.json, repositories, <config hex>.json, <diff-id hex>.tar. oci-archive
// (one image): oci-layout, index.json naming the image, blobs/sha256/ with an uncompressed
// layer per diff ID. Config blobs are written as stored; layers are reproduced from the unpacked
// layers and checked against their diff IDs (tarsplit.ts). The archive is written next to its
// destination and renamed into place: a failed save leaves no file.

import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { PeapodError } from '../errors.js';
import { MEDIA_TYPES } from './formats.js';
import { splitName } from './reference.js';
import type { ExportSource } from './store.js';
import { sha256Digest } from './util.js';

export type SaveFormat = 'docker-archive' | 'oci-archive';

type Pack = ReturnType<typeof tarStream.pack>;
const MTIME = new Date(0);

function addFile(pack: Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: data.length, mode: 0o644, mtime: MTIME }, data, (err) => (err ? reject(err) : resolve()));
  });
}

async function addLayer(pack: Pack, name: string, layer: ExportSource['layers'][number]): Promise<void> {
  const entry = pack.entry({ name, size: layer.size, mode: 0o644, mtime: MTIME }) as unknown as Writable;
  await pipeline(Readable.from(await layer.tar()), entry);
}

/** The names an image is saved under: the one the reference matched, else all its names. */
function namesOf(src: ExportSource): string[] {
  return src.name ? [src.name] : src.image.names.filter((n) => !n.includes('@'));
}

async function writeDockerArchive(pack: Pack, sources: ExportSource[]): Promise<void> {
  const written = new Set<string>();
  const manifest: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const src of sources) {
    const config = `${src.image.id}.json`;
    if (!written.has(config)) {
      await addFile(pack, config, src.configBytes);
      written.add(config);
    }
    const layers: string[] = [];
    for (const l of src.layers) {
      const name = `${l.diffId.slice('sha256:'.length)}.tar`;
      if (!written.has(name)) {
        await addLayer(pack, name, l);
        written.add(name);
      }
      layers.push(name);
    }
    const tags = namesOf(src);
    manifest.push({ Config: config, RepoTags: tags, Layers: layers });
    const top = src.layers.at(-1)?.diffId.slice('sha256:'.length);
    for (const t of tags) {
      const { repository, tag } = splitName(t);
      if (top && tag) (repositories[repository] ??= {})[tag] = top;
    }
  }
  await addFile(pack, 'manifest.json', Buffer.from(JSON.stringify(manifest)));
  await addFile(pack, 'repositories', Buffer.from(JSON.stringify(repositories)));
}

async function writeOciArchive(pack: Pack, src: ExportSource): Promise<void> {
  await addFile(pack, 'oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  await addFile(pack, `blobs/sha256/${src.image.id}`, src.configBytes);
  for (const l of src.layers) await addLayer(pack, `blobs/sha256/${l.diffId.slice('sha256:'.length)}`, l);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: `sha256:${src.image.id}`, size: src.configBytes.length },
    layers: src.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.diffId, size: l.size })),
  }));
  const digest = sha256Digest(manifest);
  await addFile(pack, `blobs/sha256/${digest.slice('sha256:'.length)}`, manifest);
  const name = namesOf(src)[0];
  await addFile(pack, 'index.json', Buffer.from(JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest, size: manifest.length, ...(name ? { annotations: { 'org.opencontainers.image.ref.name': name } } : {}) }],
  })));
}

/** Write the archive to `output` ('-' or undefined: stdout). */
export async function saveArchive(sources: ExportSource[], output: string | undefined, format: SaveFormat): Promise<void> {
  if (format !== 'docker-archive' && format !== 'oci-archive') {
    throw new PeapodError('invalid', `unsupported format "${String(format)}" for save: use docker-archive or oci-archive`);
  }
  if (format === 'oci-archive' && sources.length > 1) {
    throw new PeapodError('invalid', 'an oci-archive holds one image: save several images with --format docker-archive');
  }
  const pack = tarStream.pack();
  const toStdout = output === undefined || output === '-';
  const tmp = toStdout ? '' : path.join(path.dirname(path.resolve(output)), `.${path.basename(output)}.${randomBytes(4).toString('hex')}.tmp`);
  const sink = toStdout ? process.stdout : createWriteStream(tmp, { mode: 0o644, flags: 'wx' });
  const done = pipeline(pack as unknown as Readable, sink);
  try {
    if (format === 'docker-archive') await writeDockerArchive(pack, sources);
    else await writeOciArchive(pack, sources[0]!);
    pack.finalize();
    await done;
    if (!toStdout) await fs.rename(tmp, output);
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => undefined);
    if (!toStdout) await fs.rm(tmp, { force: true });
    throw err;
  }
}
