// Issue 8 acceptance, registries.conf: a docker.io mirror on 127.0.0.1, short names (aliases,
// unqualified-search-registries), blocked registries. No traffic may leave the loopback
// interface: docker.io's primary location is remapped to a closed port on 127.0.0.1, so even a
// failing mirror never leads to a connection to docker.io.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ImageStore, type PullProgress } from '../../../engine/image/store.js';
import { loadRegistriesConf } from '../../../engine/image/registry/registries-conf.js';
import { FileLock } from '../../../engine/state/lock.js';
import { busyboxRootfsTar } from '../../helpers/busybox.js';
import { freePort, requireRegistryTools, startRegistry, writeLayout, writeRegistriesConf, type Registry } from '../../helpers/registry.js';

let work: string;
let reg: Registry;
let closed: string;
let root: string;
let store: ImageStore;
let authFile: string;
let nginxId: string;
const tried: string[] = [];
const progress = (e: PullProgress): void => { if (e.type === 'trying') tried.push(e.source); };

/** A docker.io whose primary location is a closed loopback port, with the test registry as its mirror. */
const mirrorConf = () => `
unqualified-search-registries = ["docker.io"]
short-name-mode = "enforcing"

[aliases]
"nginx" = "docker.io/library/nginx"

[[registry]]
prefix = "docker.io"
location = "${closed}"
insecure = true

[[registry.mirror]]
location = "${reg.host}"
insecure = true
`;

beforeAll(async () => {
  await requireRegistryTools(['docker-registry', 'skopeo']);
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-registry-mirror-'));
  const busybox = await fs.readFile(await busyboxRootfsTar(work));
  reg = await startRegistry({ dir: path.join(work, 'registry') });
  closed = `127.0.0.1:${await freePort()}`;
  const nginx = await writeLayout(path.join(work, 'nginx'), '1.25', [{ layers: [busybox], cmd: ['echo', 'not really nginx'] }]);
  await reg.push(`${nginx.dir}:1.25`, 'library/nginx:1.25');
  await reg.push(`${nginx.dir}:1.25`, 'team/app:2');
  nginxId = nginx.images[0]!.imageId;
});

afterAll(async () => {
  await reg?.stop();
  delete process.env.PEAPOD_REGISTRIES_CONF;
  if (work) await fs.rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-registry-root-'));
  store = new ImageStore({ root: path.join(root, 'storage'), lock: new FileLock(path.join(root, 'lock')) });
  authFile = path.join(root, 'auth.json');
  tried.length = 0;
});

afterEach(async () => {
  // Whatever happened, nothing was (even) tried outside 127.0.0.1.
  expect(tried.filter((s) => !s.startsWith('127.0.0.1:'))).toEqual([]);
  await fs.rm(root, { recursive: true, force: true });
});

describe('registries.conf mirrors', () => {
  it('docker.io/library/nginx:1.25 comes from the mirror (PEAPOD_REGISTRIES_CONF)', async () => {
    process.env.PEAPOD_REGISTRIES_CONF = await writeRegistriesConf(root, mirrorConf());
    try {
      const img = await store.pull('docker.io/library/nginx:1.25', { authFile, progress });
      expect(img.id).toBe(nginxId);
      expect(img.names).toEqual(['docker.io/library/nginx:1.25']);
      expect(img.repoDigests).toEqual([`docker.io/library/nginx@${img.digest}`]);
      expect(tried).toEqual([`${reg.host}/library/nginx:1.25`]);
      // The alias and Docker's short forms resolve to the same image (found locally now).
      expect((await store.pull('nginx:1.25', { authFile, progress })).id).toBe(nginxId);
      expect((await store.pull('docker.io/nginx:1.25', { authFile, progress, policy: 'always' })).id).toBe(nginxId);
    } finally {
      delete process.env.PEAPOD_REGISTRIES_CONF;
    }
  });

  it('when the mirror fails the primary is tried (here a closed loopback port), and both are named', async () => {
    const conf = loadRegistriesConf([await writeRegistriesConf(root, mirrorConf())]);
    await expect(store.pull('docker.io/library/nginx:0.0-absent', { registriesConf: conf, authFile, progress, retries: 0 }))
      .rejects.toThrow(`pulling docker.io/library/nginx:0.0-absent: cannot connect to ${closed}: connection refused (mirrors tried first: ${reg.host}: manifest unknown: ${reg.host}/library/nginx:0.0-absent)`);
    expect(tried).toEqual([`${reg.host}/library/nginx:0.0-absent`, `${closed}/library/nginx:0.0-absent`]);
  });

  it.each([
    ['digest-only', 'tag', false],
    ['digest-only', 'digest', true],
    ['tag-only', 'tag', true],
    ['tag-only', 'digest', false],
  ])('pull-from-mirror = %s for a %s reference uses the mirror: %s', async (mode, kind, viaMirror) => {
    const conf = loadRegistriesConf([await writeRegistriesConf(root, mirrorConf().replace(`location = "${reg.host}"`, `location = "${reg.host}"\npull-from-mirror = "${mode}"`))]);
    const digest = (await new ImageStore({ root: path.join(root, 'probe'), lock: new FileLock(path.join(root, 'probe-lock')) })
      .pull('docker.io/library/nginx:1.25', { registriesConf: loadRegistriesConf([await writeRegistriesConf(root, mirrorConf())]), authFile })).digest;
    tried.length = 0;
    const ref = kind === 'tag' ? 'docker.io/library/nginx:1.25' : `docker.io/library/nginx@${digest}`;
    const result = store.pull(ref, { registriesConf: conf, authFile, progress, retries: 0 });
    if (viaMirror) expect((await result).id).toBe(nginxId);
    else await expect(result).rejects.toThrow(`cannot connect to ${closed}: connection refused`);
    expect(tried[0]!.startsWith(viaMirror ? reg.host : closed)).toBe(true);
  });

  it('a blocked registry is refused before any connection', async () => {
    const conf = loadRegistriesConf([await writeRegistriesConf(root, `[[registry]]\nlocation = "registry.blocked.test"\nblocked = true\n`)]);
    await expect(store.pull('registry.blocked.test/app:1', { registriesConf: conf, authFile, progress }))
      .rejects.toThrow(/^pulling registry\.blocked\.test\/app:1: registry registry\.blocked\.test is blocked in .*registries-.*\.conf$/);
    expect(tried).toEqual([]);
  });
});

describe('short names', () => {
  it('one unqualified-search registry is used as it is', async () => {
    const conf = loadRegistriesConf([await writeRegistriesConf(root, `unqualified-search-registries = ["${reg.host}"]\n[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`)]);
    const img = await store.pull('team/app:2', { registriesConf: conf, authFile, progress });
    expect(img.names).toEqual([`${reg.host}/team/app:2`]);
  });

  it('several candidates without a terminal: an error listing them (enforcing), or tried in order (permissive)', async () => {
    const text = (mode: string) => `unqualified-search-registries = ["${closed}", "${reg.host}"]\nshort-name-mode = "${mode}"\n` +
      `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n[[registry]]\nlocation = "${closed}"\ninsecure = true\n`;
    const enforcing = loadRegistriesConf([await writeRegistriesConf(root, text('enforcing'))]);
    await expect(store.pull('team/app:2', { registriesConf: enforcing, authFile, progress, interactive: true }))
      .rejects.toThrow(new RegExp(`^short name "team/app:2" is ambiguous: it could be ${closed}/team/app:2, ${reg.host}/team/app:2 \\(unqualified-search-registries in .*\\) and there is no terminal to ask: use a fully qualified name$`));
    expect(tried).toEqual([]);
    const permissive = loadRegistriesConf([await writeRegistriesConf(root, text('permissive'))]);
    const img = await store.pull('team/app:2', { registriesConf: permissive, authFile, progress, retries: 0 });
    expect(img.names).toEqual([`${reg.host}/team/app:2`]);
    expect(tried).toEqual([`${closed}/team/app:2`, `${reg.host}/team/app:2`]);
  });

  it('no alias and no search registries: an error that says so', async () => {
    const conf = loadRegistriesConf([await writeRegistriesConf(root, '')]);
    await expect(store.pull('team/app:2', { registriesConf: conf, authFile, progress }))
      .rejects.toThrow(/^short name "team\/app:2" did not resolve to an alias and no unqualified-search-registries are defined .*: use a fully qualified name such as docker.io\/team\/app:2$/);
  });
});
