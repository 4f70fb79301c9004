// Issue 18 scope 4: Quadlet `.kube` files through peapod-generator, under a real systemd manager
// (a user instance in a private mount namespace, test/helpers/systemd.ts) with the generator
// installed as a user generator. A .kube file from Podman's documentation (only its directory
// changed) becomes a unit at daemon-reload; start returns only once the pod is Ready; stop leaves
// nothing; the generated unit verifies clean; a file with an unknown key is reported with its
// line and skipped while the others generate; hostile names and paths.
// peapod's settings (root, run root, cgroup parent) reach the units through the manager's
// environment (PEAPOD_CONFIG), so the .kube files stay as documented.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, existsSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, PROJECT } from '../helpers/cli.js';
import { useSandbox } from '../helpers/e2e.js';
import { startManager, type Manager } from '../helpers/systemd.js';
import { sandboxPids } from '../helpers/reboot.js';
import { parseUnit } from '../../src/systemd/unit.js';

const GENERATOR = path.join(PROJECT, 'bin', 'peapod-generator');
const e2e = useSandbox('peapod-quadlet');
let m: Manager;
let kubeDir: string;

beforeAll(async () => {
  m = await startManager(path.join(e2e.sb.dir, 'systemd'));
  const ln = await m.inNs('ln', ['-s', GENERATOR, path.join(m.generatorDir, 'peapod-user-generator')]);
  expect(ln.exitCode).toBe(0);
  const config = path.join(e2e.sb.dir, 'peapod.json');
  writeFileSync(config, JSON.stringify({ root: e2e.sb.root, runroot: e2e.sb.runroot, cgroupParent: e2e.sb.cgroupParent }));
  // the manager may still be starting: set-environment is retried until it answers
  let set = await m.systemctl(['set-environment', `PEAPOD_CONFIG=${config}`]);
  for (let i = 0; i < 50 && set.exitCode !== 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
    set = await m.systemctl(['set-environment', `PEAPOD_CONFIG=${config}`]);
  }
  expect({ code: set.exitCode, err: String(set.stderr) }).toEqual({ code: 0, err: '' });
  kubeDir = path.join(m.env.XDG_CONFIG_HOME, 'peapod', 'systemd');
  mkdirSync(kubeDir, { recursive: true });
}, 60_000);

afterAll(async () => {
  await m?.stop();
}, 180_000);

async function peapod(args: string[], ok = true) {
  const r = await m.inNs(BIN, ['--root', e2e.sb.root, '--runroot', e2e.sb.runroot, ...args], { env: { PEAPOD_CGROUP_PARENT: e2e.sb.cgroupParent } });
  if (ok && r.exitCode !== 0) throw new Error(`peapod ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r;
}
const json = async (args: string[]) => JSON.parse(String((await peapod(args)).stdout));
const pods = async () => (await json(['pod', 'ps', '--format', 'json'])).map((p: any) => ({ name: p.Name, status: p.Status, ready: p.Ready }));

async function show(unit: string) {
  const r = await m.systemctl(['show', '-p', 'Type,ActiveState,SubState,MainPID,LoadState,FragmentPath,KillMode,StatusText', unit]);
  return Object.fromEntries(String(r.stdout).split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** A pod that gets ready only a few seconds after it starts (its readiness probe waits for a file). */
const SLOW = (name: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  # netavark started by a unit under this test's manager: its aardvark-dns would land in the unit's
  # cgroup and die with it (see units.test.ts)
  hostNetwork: true
  terminationGracePeriodSeconds: 5
  containers:
    - name: web
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3; touch /tmp/ready; sleep 1000 & wait"]
      readinessProbe:
        exec: { command: ["test", "-e", "/tmp/ready"] }
        periodSeconds: 1
`;

/** What the host shows of networking and of this sandbox's processes, to compare before and after. */
async function hostState() {
  const links = (await execa('ip', ['-o', 'link'])).stdout.split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]).sort();
  const rules = (await execa('iptables-save')).stdout.split('\n').filter((l) => l.startsWith('-A')).sort();
  const nat = (await execa('iptables-save', ['-t', 'nat'])).stdout.split('\n').filter((l) => l.startsWith('-A')).sort();
  return { links, rules, nat };
}

async function nothingLeft() {
  expect(await json(['ps', '-a', '--format', 'json'])).toEqual([]);
  expect(await pods()).toEqual([]);
  const pids = sandboxPids(e2e.sb).filter((p) => {
    try { return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1][0] !== 'Z'; } catch { return false; }
  });
  expect(pids.map((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return ''; } }).filter(Boolean)).toEqual([]);
  const netns = path.join(e2e.sb.runroot, 'netns');
  expect(existsSync(netns) ? readdirSync(netns) : []).toEqual([]);
}

describe('a .kube file from Podman\'s documentation', () => {
  it('becomes web.service on daemon-reload; start returns once the pod is Ready; stop leaves nothing; verify is clean', async () => {
    const yamlDir = path.join(e2e.sb.dir, 'k8s');
    mkdirSync(yamlDir, { recursive: true });
    writeFileSync(path.join(yamlDir, 'deployment.yml'), SLOW('web'));
    // podman-systemd.unit(5), "Example for Kube", with /opt/k8s changed to this test's directory
    writeFileSync(path.join(kubeDir, 'web.kube'), `[Unit]
Description=A kubernetes yaml based service
Before=local-fs.target

[Kube]
Yaml=${yamlDir}/deployment.yml

[Install]
# Start by default on boot
WantedBy=multi-user.target default.target
`);
    // a file with an unknown key next to it: reported with its line, skipped, the others generate
    writeFileSync(path.join(kubeDir, 'broken.kube'), `[Kube]\nYaml=${yamlDir}/deployment.yml\nPublishPorts=8080:80\n`);
    const before = await hostState();

    expect((await m.systemctl(['daemon-reload'])).exitCode).toBe(0);
    const s0 = await show('web.service');
    expect({ load: s0.LoadState, type: s0.Type, kill: s0.KillMode, active: s0.ActiveState }).toEqual({ load: 'loaded', type: 'notify', kill: 'mixed', active: 'inactive' });
    expect((await show('broken.service')).LoadState).toBe('not-found');
    // [Install] WantedBy= applied by the generator: default.target wants the unit
    expect(String((await m.systemctl(['show', '-p', 'Wants', 'default.target'])).stdout)).toContain('web.service');
    const text = readFileSync(s0.FragmentPath, 'utf8');
    expect(parseUnit(text).Service.ExecStart).toEqual([`${BIN} kube play --replace --wait -- ${yamlDir}/deployment.yml`]);

    // the generator's report of the broken file, as systemd runs it (the manager's environment)
    const dry = await m.inNs(path.join(m.generatorDir, 'peapod-user-generator'), ['--dryrun']);
    expect(dry.exitCode).toBe(1);
    expect(String(dry.stderr)).toContain(`${path.join(kubeDir, 'broken.kube')}:3: unknown key "PublishPorts" in [Kube] (did you mean "PublishPort"?)`);
    expect(String(dry.stdout)).toContain('---web.service---');

    const verify = await execa('systemd-analyze', ['--user', 'verify', '--man=no', s0.FragmentPath], { reject: false, env: { ...m.env, SYSTEMD_LOG_COLOR: '0' } });
    expect({ code: verify.exitCode, out: verify.stdout, err: verify.stderr }).toEqual({ code: 0, out: '', err: '' });

    const start = await m.systemctl(['start', 'web.service']);
    expect({ code: start.exitCode, err: String(start.stderr) }).toEqual({ code: 0, err: '' });
    // start has returned: the pod is Ready (its probe took a few seconds), not merely started
    expect(await pods()).toEqual([{ name: 'web', status: 'Running', ready: '1/1' }]);
    expect((await json(['inspect', 'web-web']))[0].State.Ready).toBe(true);
    const s1 = await show('web.service');
    expect({ active: s1.ActiveState, sub: s1.SubState, status: s1.StatusText }).toEqual({ active: 'active', sub: 'running', status: 'ready: web' });
    expect(readFileSync(`/proc/${s1.MainPID}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['kube', 'play', '--replace', '--wait']));
    // the unit's name is recorded for auto-update
    const env = readFileSync(`/proc/${s1.MainPID}/environ`, 'utf8').split('\0');
    expect(env).toContain('PEAPOD_SYSTEMD_UNIT=web.service');

    expect((await m.systemctl(['stop', 'web.service'])).exitCode).toBe(0);
    expect((await show('web.service')).ActiveState).toBe('inactive');
    await nothingLeft();
    expect(await hostState()).toEqual(before);
  }, 240_000);
});

describe('adversarial names and paths', () => {
  it('a Yaml= path with spaces, ;, $, %, quotes is played as that one file; bad unit names make no unit; nothing else runs', async () => {
    const evilDir = path.join(e2e.sb.dir, `evil dir; touch PWNED; $HOME %n "q'`);
    mkdirSync(evilDir, { recursive: true });
    const yaml = path.join(evilDir, 'p ; touch PWNED ;.yaml');
    writeFileSync(yaml, SLOW('evil'));
    const pwned = ['/PWNED', path.join(m.env.HOME, 'PWNED'), path.join(e2e.sb.dir, 'PWNED'), path.join(kubeDir, 'PWNED')];
    // the .kube file as kube quadlet writes it (the path quoted, % doubled)
    const made = await peapod(['kube', 'quadlet', yaml, '--dir', kubeDir, '--name', 'evil']);
    expect(String(made.stdout).trim()).toBe(path.join(kubeDir, 'evil.kube'));
    // names that are no unit names, and [Install] names that try to leave the output directory
    writeFileSync(path.join(kubeDir, 'my web.kube'), `[Kube]\nYaml=${yamlDir()}\n`);
    writeFileSync(path.join(kubeDir, 'esc.kube'), '[Kube]\nYaml=/x.yaml\nServiceName=../../esc\n[Install]\nWantedBy=../../../etc/x.target\n');
    expect((await m.systemctl(['daemon-reload'])).exitCode).toBe(0);
    expect((await show('evil.service')).LoadState).toBe('loaded');
    const generated = path.join(m.runtimeDir, 'systemd', 'generator');
    expect(readdirSync(generated).filter((n) => n.endsWith('.service')).sort()).toEqual(['evil.service', 'web.service']);
    expect(existsSync(path.join(m.runtimeDir, 'etc'))).toBe(false);

    const start = await m.systemctl(['start', 'evil.service']);
    expect({ code: start.exitCode, err: String(start.stderr) }).toEqual({ code: 0, err: '' });
    expect(await pods()).toEqual([{ name: 'evil', status: 'Running', ready: '1/1' }]);
    const main = Number((await show('evil.service')).MainPID);
    expect(readFileSync(`/proc/${main}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(-2)).toEqual(['--', yaml]);
    expect((await m.systemctl(['stop', 'evil.service'])).exitCode).toBe(0);
    expect(pwned.filter((f) => existsSync(f))).toEqual([]);
    await nothingLeft();
  }, 240_000);
});

function yamlDir() {
  return path.join(e2e.sb.dir, 'k8s', 'deployment.yml');
}
