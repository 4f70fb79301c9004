import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeapodError } from '../errors.js';
import type { ImageStore } from '../image/store.js';
import type { FileLock } from '../state/lock.js';
import type { ImageRecord } from '../types.js';
import { VERSION } from '../version.js';
import { findProgram } from '../config.js';
import { debug } from '../log.js';

export const INFRA_IMAGE = `localhost/peapod-infra:${VERSION}`;
/**
 * Podman's name for its pause image (`localhost/podman-pause:<version>-<built>`, as `version --format
 * '{{.Server.Version}}-{{.Server.Built}}'` prints it): the built-in infra image answers to it too,
 * so that scripts removing Podman's pause image work (`rmi` of it untags only).
 */
export const PODMAN_PAUSE_NAME = `localhost/podman-pause:${VERSION}-0`;

/** infra-image/ of the installed package (engine/pod/infra.ts -> ../../infra-image, also from dist/). */
function infraSourceDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(path.join(dir, 'infra-image', 'pause.c'))) return path.join(dir, 'infra-image');
    dir = path.dirname(dir);
  }
  throw new PeapodError('prerequisite', 'infra-image/pause.c not found next to the peapod installation');
}

/**
 * The infra image: the static pause program built from infra-image/pause.c with the host's gcc,
 * imported as a one-layer image. Built once, the first time a pod needs it.
 */
export async function ensureInfraImage(images: ImageStore, lock: FileLock, name = INFRA_IMAGE): Promise<ImageRecord> {
  const have = await images.get(name);
  if (have) {
    if (name === INFRA_IMAGE && !have.names.includes(PODMAN_PAUSE_NAME)) await images.tag(have.id, PODMAN_PAUSE_NAME).catch(() => undefined);
    return have;
  }
  if (name !== INFRA_IMAGE) throw new PeapodError('not-found', `infra image ${name}: image not known`);
  return lock.with(async () => {
    const again = await images.get(name);
    if (again) return again;
    const gcc = findProgram('gcc');
    if (!gcc) throw new PeapodError('prerequisite', 'building the infra image needs gcc', { hint: 'apt-get install gcc libc6-dev' });
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-infra-'));
    try {
      const rootfs = path.join(tmp, 'rootfs');
      await fs.mkdir(rootfs);
      const src = path.join(infraSourceDir(), 'pause.c');
      debug(`building the infra image from ${src}`);
      // Once per root: loaded here so that the commands that start containers never load execa.
      const { execa } = await import('execa');
      const cc = await execa(gcc, ['-static', '-Os', '-s', `-DPAUSE_VERSION="${VERSION}"`, '-o', path.join(rootfs, 'pause'), src], { reject: false });
      if (cc.exitCode !== 0) throw new PeapodError('prerequisite', `building the infra image: gcc failed: ${cc.stderr.trim()}`, { hint: 'apt-get install gcc libc6-dev' });
      const tar = path.join(tmp, 'layer.tar');
      await execa('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', tar, '.']);
      const img = await images.importTar(tar, { name, changes: ['ENTRYPOINT ["/pause"]', 'STOPSIGNAL SIGTERM'], message: 'peapod infra (pause) image' });
      await images.tag(img.id, PODMAN_PAUSE_NAME);
      return (await images.get(img.id)) ?? img;
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
}
