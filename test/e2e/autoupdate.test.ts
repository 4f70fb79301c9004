// Issue 18 scope 1: `peapod auto-update` against a real systemd manager (a user instance in a
// private mount namespace, test/helpers/systemd.ts) and a real registry (Debian's docker-registry
// on 127.0.0.1, test/helpers/registry.ts). A pod with the registry policy runs under a generated
// Type=notify unit; a new image pushed under the same tag is pending in a dry run, then pulled and
// the unit restarted (the container runs the new digest); a pushed image whose container never
// gets ready makes the restart fail, and the old image gets its name back and serves again
// (rolled back, unit active). The local policy after `peapod tag`. Adversarial: a label that is
// not a policy, a unit name from a record that is not a valid unit name; neither stops the others.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { promises as fs, writeFileSync, existsSync, mkdtempSync, rmSync, readFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, PROJECT } from '../helpers/cli.js';
import { useSandbox } from '../helpers/e2e.js';
import { startManager, type Manager } from '../helpers/systemd.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { fileLayer, requireRegistryTools, startRegistry, writeLayout, writeRegistriesConf, type Registry } from '../helpers/registry.js';

const e2e = useSandbox('peapod-autoupdate');
let m: Manager;
let reg: Registry;
let busybox: Buffer;
let conf: string;
// the registry lives outside the sandbox: the sandbox's leak check counts its processes
const regDir = mkdtempSync(path.join(os.tmpdir(), 'peapod-autoupdate-registry-'));

beforeAll(async () => {
  await requireRegistryTools(['docker-registry', 'skopeo']);
  m = await startManager(path.join(e2e.sb.dir, 'systemd'));
  reg = await startRegistry({ dir: regDir });
  conf = await writeRegistriesConf(e2e.sb.dir, `[[registry]]\nlocation = "${reg.host}"\ninsecure = true\n`);
  busybox = await fs.readFile(await busyboxRootfsTar(e2e.sb.dir));
}, 120_000);

afterAll(async () => {
  await m?.stop();
  await reg?.stop();
  rmSync(regDir, { recursive: true, force: true });
}, 180_000);

/** peapod of the sandbox, in the manager's mount namespace, reaching the manager and the registry */
async function peapod(args: string[], ok = true) {
  const r = await m.inNs(BIN, ['--root', e2e.sb.root, '--runroot', e2e.sb.runroot, ...args], {
    env: { PEAPOD_CGROUP_PARENT: e2e.sb.cgroupParent, PEAPOD_REGISTRIES_CONF: conf, PEAPOD_AUTO_UPDATE_TIMEOUT: '15' },
    timeout: 300_000,
  });
  if (ok && r.exitCode !== 0) throw new Error(`peapod ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r;
}
const json = async (args: string[]) => JSON.parse(String((await peapod(args)).stdout));
const FMT = '{{.Unit}},{{.Image}},{{.Updated}},{{.Policy}}';

/** An image of busybox plus /srv/version (and /srv/ok, which the readiness probe needs, unless broken) pushed as name:tag. */
async function pushImage(name: string, version: string, opts: { broken?: boolean } = {}) {
  const layers = [busybox, await fileLayer('srv/version', `${version}\n`)];
  if (!opts.broken) layers.push(await fileLayer('srv/ok', 'ok\n'));
  const dir = path.join(e2e.sb.dir, 'layouts', version);
  const layout = await writeLayout(dir, 'x', [{ layers, cmd: ['sh'] }]);
  await reg.push(`${dir}:x`, name);
  return layout.images[0]!;
}

/** The digest the registry serves for repo:tag (skopeo compresses the layers on the way: not the layout's). */
async function registryDigest(repo: string, tag: string): Promise<string> {
  const r = await fetch(`http://${reg.host}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  expect(r.status).toBe(200);
  return r.headers.get('docker-content-digest')!;
}

/** A pod whose container is ready once /srv/ok exists in its image; it serves /srv/version. */
const POD = (name: string, image: string, annotations: Record<string, string>) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  annotations:
${Object.entries(annotations).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`).join('\n')}
spec:
  # a unit's netavark would start aardvark-dns in the unit's cgroup under this test manager
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
    - name: web
      image: ${image}
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
      readinessProbe:
        exec: { command: ["cat", "/srv/ok"] }
        periodSeconds: 1
`;

/** Plays the YAML once to generate its --new unit, removes the pod, and starts the unit. */
async function underUnit(name: string, yamlBody: string): Promise<string> {
  const yaml = e2e.manifest(name, yamlBody);
  await peapod(['play', 'kube', yaml]);
  const text = String((await peapod(['generate', 'systemd', '--new', '--name', '--start-timeout', '15', name])).stdout);
  await peapod(['pod', 'rm', '-f', '-t', '0', name]);
  const unit = `pod-${name}.service`;
  writeFileSync(path.join(m.unitDir, unit), text);
  expect((await m.systemctl(['daemon-reload'])).exitCode).toBe(0);
  const start = await m.systemctl(['start', unit]);
  expect({ code: start.exitCode, err: String(start.stderr) }).toEqual({ code: 0, err: '' });
  return unit;
}

async function stopUnit(unit: string) {
  await m.systemctl(['stop', unit]);
  await m.systemctl(['reset-failed', unit]);
}

const active = async (unit: string) => String((await m.systemctl(['is-active', unit])).stdout).trim();
const version = async (ctr: string) => String((await peapod(['exec', ctr, 'cat', '/srv/version'])).stdout).trim();
const imageOf = async (ctr: string) => (await json(['inspect', ctr]))[0].Image as string;

describe('auto-update with the registry policy, under a generated unit', () => {
  it('a new image under the same tag: pending in a dry run, then true; the container runs the new digest', async () => {
    const ref = `${reg.host}/demo/web:v1`;
    const v1 = await pushImage('demo/web:v1', 'one');
    await peapod(['pull', ref]);
    const unit = await underUnit('au-web', POD('au-web', ref, { 'io.containers.autoupdate': 'registry' }));
    try {
      const [ctr] = await json(['inspect', 'au-web-web']);
      // recorded at creation: the unit the container was made under, and its manager
      expect({ unit: ctr.Config.Labels.PEAPOD_SYSTEMD_UNIT, manager: ctr.Config.Labels['io.peapod.systemd.manager'], image: ctr.Image })
        .toEqual({ unit, manager: 'user', image: v1.imageId });
      expect(String((await peapod(['auto-update', '--dry-run', '--format', FMT])).stdout)).toBe(`${unit},${ref},false,registry`);

      const v2 = await pushImage('demo/web:v1', 'two');
      const pushed = await registryDigest('demo/web', 'v1');
      expect(String((await peapod(['auto-update', '--dry-run', '--format', FMT])).stdout)).toBe(`${unit},${ref},pending,registry`);
      // a dry run pulls and restarts nothing
      expect({ image: await imageOf('au-web-web'), version: await version('au-web-web') }).toEqual({ image: v1.imageId, version: 'one' });

      // the report names the container that was updated (the unit then makes a new one)
      const id = (await json(['inspect', 'au-web-web']))[0].Id as string;
      const r = await peapod(['auto-update']);
      expect(String(r.stderr)).toBe(`Trying to pull ${ref}...`);
      const lines = String(r.stdout).trim().split('\n').map((l) => l.split(/\s{2,}/));
      expect(lines).toEqual([['UNIT', 'CONTAINER', 'IMAGE', 'POLICY', 'UPDATED'], [unit, `${id.slice(0, 12)} (au-web-web)`, ref, 'registry', 'true']]);
      // the unit's new container runs the pushed digest, and the unit is active
      expect({ image: await imageOf('au-web-web'), version: await version('au-web-web'), active: await active(unit) }).toEqual({ image: v2.imageId, version: 'two', active: 'active' });
      const [img] = await json(['image', 'inspect', ref]);
      expect({ id: img.Id, digest: img.Digest }).toEqual({ id: v2.imageId, digest: pushed });
      expect(String((await peapod(['auto-update', '--dry-run', '--format', FMT])).stdout)).toBe(`${unit},${ref},false,registry`);

      // an image whose container never gets ready: the restart fails, the old image serves again
      await pushImage('demo/web:v1', 'three', { broken: true });
      const before = (await json(['inspect', 'au-web-web']))[0].Id as string;
      const rb = await peapod(['auto-update', '--format', 'json']);
      expect(rb.exitCode).toBe(0);
      const reports = JSON.parse(String(rb.stdout));
      const now = (await json(['inspect', 'au-web-web']))[0];
      expect(now.Id).not.toBe(before);
      expect(reports).toEqual([{ Unit: unit, Container: `${before.slice(0, 12)} (au-web-web)`, ContainerName: 'au-web-web', ContainerID: before, Image: ref, Policy: 'registry', Updated: 'rolled back' }]);
      expect({ image: now.Image, version: await version('au-web-web'), ready: now.State.Ready, active: await active(unit) }).toEqual({ image: v2.imageId, version: 'two', ready: true, active: 'active' });
      expect((await json(['image', 'inspect', ref]))[0].Id).toBe(v2.imageId);
    } finally {
      await stopUnit(unit);
    }
    expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  }, 300_000);
});

describe('auto-update of a Pod played by hand (no unit): peapod replays it', () => {
  it('registry policy: true, then a broken image rolled back; the old image serves again', async () => {
    const ref = `${reg.host}/demo/bare:v1`;
    const v1 = await pushImage('demo/bare:v1', 'bare-one');
    const yaml = e2e.manifest('au-bare', POD('au-bare', ref, { 'io.containers.autoupdate': 'registry' }));
    await peapod(['play', 'kube', '--wait-ready', yaml]);
    expect(await imageOf('au-bare-web')).toBe(v1.imageId);
    const v2 = await pushImage('demo/bare:v1', 'bare-two');
    expect(String((await peapod(['auto-update', '--dry-run', '--format', FMT])).stdout)).toBe(`,${ref},pending,registry`);
    expect(String((await peapod(['auto-update', '--format', FMT])).stdout)).toBe(`,${ref},true,registry`);
    let [now] = await json(['inspect', 'au-bare-web']);
    expect({ image: now.Image, version: await version('au-bare-web'), ready: now.State.Ready }).toEqual({ image: v2.imageId, version: 'bare-two', ready: true });
    // the pod keeps where it came from: kube down of the file takes it down
    await pushImage('demo/bare:v1', 'bare-three', { broken: true });
    expect(String((await peapod(['auto-update', '--format', FMT])).stdout)).toBe(`,${ref},rolled back,registry`);
    [now] = await json(['inspect', 'au-bare-web']);
    expect({ image: now.Image, version: await version('au-bare-web'), ready: now.State.Ready }).toEqual({ image: v2.imageId, version: 'bare-two', ready: true });
    await peapod(['kube', 'down', yaml]);
    expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  }, 300_000);
});

describe('auto-update with the local policy', () => {
  it('after `peapod tag` moves the name: pending, then true; adversarial records fail alone', async () => {
    const name = 'localhost/au-local:v1';
    await peapod(['tag', 'localhost/busybox:latest', name]);
    // a per-container annotation (io.containers.autoupdate/<container>)
    const unit = await underUnit('au-local', POD('au-local', name, { 'io.containers.autoupdate/web': 'local' }).replace('["cat", "/srv/ok"]', '["true"]'));
    const bad = path.join(e2e.sb.dir, 'systemctl-ran');
    try {
      const old = await imageOf('au-local-web');
      expect(String((await peapod(['auto-update', '--dry-run', '--format', FMT])).stdout)).toBe(`${unit},${name},false,local`);
      const tar = await busyboxRootfsTar(e2e.sb.dir);
      const next = String((await peapod(['image', 'import', '-q', '--change', 'ENV=NEXT=1', tar, 'localhost/au-next:v1'])).stdout).trim();
      await peapod(['tag', 'localhost/au-next:v1', name]);
      expect(String((await peapod(['auto-update', '--dry-run', '--format', FMT])).stdout)).toBe(`${unit},${name},pending,local`);
      expect(await imageOf('au-local-web')).toBe(old);

      // beside it, containers whose records are hostile: a label that is not a policy, and unit
      // names that are not unit names (one reads as a systemctl option, one would run a command)
      await peapod(['run', '-d', '--name', 'au-bad-policy', '--label', 'io.containers.autoupdate=sometimes', 'localhost/busybox', 'sleep', '1000']);
      await peapod(['run', '-d', '--name', 'au-bad-unit', '--label', 'io.containers.autoupdate=local', '--label', 'PEAPOD_SYSTEMD_UNIT=--help', 'localhost/busybox', 'sleep', '1000']);
      await peapod(['run', '-d', '--name', 'au-bad-unit2', '--label', 'io.containers.autoupdate=local', '--label', `PEAPOD_SYSTEMD_UNIT=x.service; touch ${bad}`, 'localhost/busybox', 'sleep', '1000']);
      const r = await peapod(['auto-update', '--format', FMT], false);
      expect(r.exitCode).toBe(125);
      expect(String(r.stdout)).toBe(`${unit},${name},true,local`);
      expect(String(r.stderr).split('\n').filter(Boolean)).toEqual([
        'Error: auto-updating container "au-bad-policy": invalid auto-update policy "sometimes": valid policies are ["disabled" "image" "local" "registry"]',
        'Error: auto-updating container "au-bad-unit": label PEAPOD_SYSTEMD_UNIT: "--help" is not a valid systemd service unit name',
        `Error: auto-updating container "au-bad-unit2": label PEAPOD_SYSTEMD_UNIT: ${JSON.stringify(`x.service; touch ${bad}`)} is not a valid systemd service unit name`,
      ]);
      expect(existsSync(bad)).toBe(false);
      expect({ image: await imageOf('au-local-web'), active: await active(unit) }).toEqual({ image: next, active: 'active' });
      // the hostile containers were left as they were
      expect((await json(['ps', '--format', 'json'])).map((c: any) => c.Names[0] ?? c.Names).filter((n: string) => n.startsWith('au-bad')).sort()).toEqual(['au-bad-policy', 'au-bad-unit', 'au-bad-unit2']);
      await peapod(['rm', '-f', '-t', '0', 'au-bad-policy', 'au-bad-unit', 'au-bad-unit2']);
    } finally {
      await stopUnit(unit);
    }
    expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
  }, 300_000);
});

describe('the daily timer shipped in contrib/systemd', () => {
  it('installs as documented (ExecStart pointed at this peapod), is daily/randomized/persistent, and its service updates a unit', async () => {
    const contrib = path.join(PROJECT, 'contrib', 'systemd');
    const names = ['peapod-auto-update.service', 'peapod-auto-update.timer'];
    // the documented install: copy both files, fix ExecStart when peapod is elsewhere, daemon-reload
    const self = [BIN, '--root', e2e.sb.root, '--runroot', e2e.sb.runroot].join(' ');
    for (const n of names) writeFileSync(path.join(m.unitDir, n), readFileSync(path.join(contrib, n), 'utf8').replaceAll('/usr/local/bin/peapod', self));
    // this sandbox's settings, as a drop-in would give them
    mkdirSync(path.join(m.unitDir, 'peapod-auto-update.service.d'), { recursive: true });
    writeFileSync(path.join(m.unitDir, 'peapod-auto-update.service.d', 'env.conf'), `[Service]\nEnvironment=PEAPOD_CGROUP_PARENT=${e2e.sb.cgroupParent} PEAPOD_REGISTRIES_CONF=${conf}\n`);
    const verify = await execa('systemd-analyze', ['verify', '--man=no', ...names.map((n) => path.join(m.unitDir, n))], { reject: false, env: { SYSTEMD_LOG_COLOR: '0' } });
    expect({ code: verify.exitCode, err: verify.stderr }).toEqual({ code: 0, err: '' });
    expect((await m.systemctl(['daemon-reload'])).exitCode).toBe(0);
    expect((await m.systemctl(['start', 'peapod-auto-update.timer'])).exitCode).toBe(0);
    try {
      const show = String((await m.systemctl(['show', '-p', 'TimersCalendar,RandomizedDelayUSec,Persistent,ActiveState,Unit', 'peapod-auto-update.timer'])).stdout);
      expect(show).toMatch(/^TimersCalendar=\{ OnCalendar=\*-\*-\* 00:00:00 ; next_elapse=.+ \}$/m);
      expect(show.split('\n').filter((l) => !l.startsWith('TimersCalendar')).sort()).toEqual(['ActiveState=active', 'Persistent=yes', 'RandomizedDelayUSec=15min', 'Unit=peapod-auto-update.service']);

      // what the timer starts: a local-policy unit gets the image its name now points to
      const name = 'localhost/au-timer:v1';
      await peapod(['tag', 'localhost/busybox:latest', name]);
      const unit = await underUnit('au-timer', POD('au-timer', name, { 'io.containers.autoupdate': 'local' }).replace('["cat", "/srv/ok"]', '["true"]'));
      try {
        const tar = await busyboxRootfsTar(e2e.sb.dir);
        const next = String((await peapod(['image', 'import', '-q', '--change', 'ENV=TIMER=1', tar, 'localhost/au-timer-next:v1'])).stdout).trim();
        await peapod(['tag', 'localhost/au-timer-next:v1', name]);
        const run = await m.systemctl(['start', 'peapod-auto-update.service']);
        expect({ code: run.exitCode, err: String(run.stderr) }).toEqual({ code: 0, err: '' });
        expect(String((await m.systemctl(['show', '-p', 'Result', 'peapod-auto-update.service'])).stdout)).toBe('Result=success');
        expect({ image: await imageOf('au-timer-web'), active: await active(unit) }).toEqual({ image: next, active: 'active' });
      } finally {
        await stopUnit(unit);
      }
    } finally {
      await m.systemctl(['stop', 'peapod-auto-update.timer']);
    }
  }, 300_000);
});
