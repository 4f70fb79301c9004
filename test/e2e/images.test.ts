// Issue 2 acceptance, image side, through the CLI: load (OCI and docker archives made by skopeo),
// import with --change, listing and inspect fields, rmi refused while in use; the infra image setting.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { sandbox, requireRoot, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar, ociLayoutFromTar } from '../helpers/busybox.js';

let sb: Sandbox;
let tar: string;

beforeAll(async () => {
  requireRoot();
  sb = sandbox('peapod-images');
  tar = await busyboxRootfsTar(sb.dir);
});

afterAll(async () => {
  if (!sb) return;
  await sb.destroy();
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

const json = async (args: string[]) => JSON.parse(String((await sb.ok(args)).stdout));

describe('images through the CLI', () => {
  it('loads an OCI archive and a docker-archive made by skopeo, and runs them', async () => {
    const layout = await ociLayoutFromTar(tar, path.join(sb.dir, 'layout'), { ref: 'busybox:latest', cmd: ['echo', 'from-oci'] });
    const oci = path.join(sb.dir, 'oci.tar');
    const docker = path.join(sb.dir, 'docker.tar');
    await execa('skopeo', ['copy', '-q', `oci:${layout.dir}:busybox:latest`, `oci-archive:${oci}:loaded/oci:v1`]);
    await execa('skopeo', ['copy', '-q', `oci:${layout.dir}:busybox:latest`, `docker-archive:${docker}:loaded/docker:v2`]);
    const a = await sb.ok(['image', 'load', '-i', oci]);
    expect(String(a.stdout)).toMatch(/^Loaded image: /);
    const b = await sb.ok(['load', '-i', docker]);
    expect(String(b.stdout)).toBe('Loaded image: docker.io/loaded/docker:v2');
    const r = await sb.ok(['run', '--rm', 'docker.io/loaded/docker:v2']);
    expect(String(r.stdout)).toBe('from-oci');
    const list = await json(['images', '--format', 'json']);
    for (const k of ['Id', 'RepoTags', 'RepoDigests', 'Size', 'Names', 'Digest', 'Created', 'Containers']) expect(list[0]).toHaveProperty(k);
  });

  it('imports a rootfs with --change and shows it in images and image inspect', async () => {
    const id = String((await sb.ok(['image', 'import', '--change', 'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]', '--change', 'ENV GREETING=hello', '--change', 'WORKDIR /tmp', tar, 'changed'])).stdout).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(String((await sb.ok(['run', '--rm', 'changed'])).stdout)).toBe('hello from /tmp');
    const [img] = await json(['image', 'inspect', 'localhost/changed:latest']);
    expect(img).toMatchObject({ Id: id, RepoTags: ['localhost/changed:latest'], Config: { Cmd: ['sh', '-c', 'echo $GREETING from $(pwd)'], WorkingDir: '/tmp' } });
    expect(img.Config.Env).toContain('GREETING=hello');
    expect(String((await sb.ok(['image', 'inspect', '--format', '{{.Config.WorkingDir}}', 'changed'])).stdout)).toBe('/tmp');
    const table = String((await sb.ok(['images'])).stdout);
    expect(table.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table).toMatch(new RegExp(`localhost/changed\\s+latest\\s+${id.slice(0, 12)}`));
    const digests = String((await sb.ok(['images', '--digests'])).stdout);
    expect(digests.split('\n')[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(digests).toMatch(new RegExp(`localhost/changed\\s+latest\\s+${img.Digest}\\s+${id.slice(0, 12)}`));
  });

  it('importing under a name that exists moves the name', async () => {
    const first = String((await sb.ok(['import', tar, 'moving'])).stdout).trim();
    const second = String((await sb.ok(['import', '--change', 'ENV X=1', tar, 'moving'])).stdout).trim();
    expect(second).not.toBe(first);
    const [img] = await json(['image', 'inspect', 'moving']);
    expect(img.Id).toBe(second);
    const [old] = await json(['image', 'inspect', first]);
    expect(old.RepoTags).toEqual([]);
  });

  it('refuses to remove an image a container uses, unless -f (which removes the container)', async () => {
    await sb.ok(['import', tar, 'inuse']);
    await sb.ok(['create', '--name', 'user-of-inuse', 'inuse', 'true']);
    const r = await sb.run(['rmi', 'inuse']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/^Error: .*in use by a container/);
    await sb.ok(['rmi', '-f', 'inuse']);
    expect((await sb.run(['inspect', 'user-of-inuse'])).exitCode).toBe(125);
    expect((await sb.run(['image', 'inspect', 'inuse'])).exitCode).toBe(125);
  });

  it('an unknown image is one error line, exit 125', async () => {
    const r = await sb.run(['image', 'inspect', 'nothing-here']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr).trim()).toBe('Error: nothing-here: image not known');
  });
});

describe('infra image', () => {
  it('is built from infra-image/pause.c the first time a pod needs it, and a config setting chooses another', async () => {
    await sb.ok(['import', tar, 'bb']);
    await sb.ok(['pod', 'create', '--name', 'builtin']);
    const [infra] = await json(['image', 'inspect', 'localhost/peapod-infra:0.1.0']);
    expect(infra.Config.Entrypoint).toEqual(['/pause']);
    await sb.ok(['import', '--change', 'ENTRYPOINT ["sleep", "1000"]', tar, 'alt-infra']);
    const conf = path.join(sb.dir, 'peapod.json');
    writeFileSync(conf, JSON.stringify({ infraImage: 'localhost/alt-infra:latest' }));
    await sb.ok(['pod', 'create', '--name', 'custom'], { env: { PEAPOD_CONFIG: conf } });
    const pod = await json(['pod', 'inspect', 'custom']);
    const [ctr] = await json(['inspect', pod.InfraContainerID]);
    expect(ctr.ImageName).toBe('localhost/alt-infra:latest');
    await sb.ok(['pod', 'start', 'custom']);
    expect(String((await sb.ok(['pod', 'top', 'custom'])).stdout)).toContain('sleep 1000');
    const bad = path.join(sb.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ infraImg: 'x' }));
    const r = await sb.run(['pod', 'ps'], { env: { PEAPOD_CONFIG: bad } });
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/unknown setting "infraImg"/);
    await sb.ok(['pod', 'rm', '-f', '-t', '0', 'custom']);
    await sb.ok(['pod', 'rm', '-f', 'builtin']);
  });
});
