// Issue 18 scope 3 (and 5 through a unit), against a real systemd manager (a user instance in a
// private mount namespace, test/helpers/systemd.ts): the units peapod generates that play YAML
// (the template peapod-kube@.service, a --new pod unit) are Type=notify and report READY=1 only
// when every pod is ready, so `systemctl start` returns when the pod serves; a pod that never gets
// ready makes the start fail and leaves nothing; stop takes the pods down gracefully (preStop
// runs) and leaves nothing; after a reboot (manager and every process of the sandbox killed, run
// root wiped) ps -a is truthful and starting the unit brings the pod back.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BIN } from '../helpers/cli.js';
import { useSandbox } from '../helpers/e2e.js';
import { startManager, type Manager } from '../helpers/systemd.js';
import { sandboxPids, simulateReboot } from '../helpers/reboot.js';
import { parseUnit } from '../../src/systemd/unit.js';

const e2e = useSandbox('peapod-units');
let m: Manager;

beforeAll(async () => {
  m = await startManager(path.join(e2e.sb.dir, 'systemd'));
}, 60_000);

afterAll(async () => {
  await m?.stop();
}, 180_000);

/** peapod of the sandbox, in the manager's mount namespace */
async function peapod(args: string[], ok = true) {
  const r = await m.inNs(BIN, ['--root', e2e.sb.root, '--runroot', e2e.sb.runroot, ...args], { env: { PEAPOD_CGROUP_PARENT: e2e.sb.cgroupParent } });
  if (ok && r.exitCode !== 0) throw new Error(`peapod ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r;
}
const json = async (args: string[]) => JSON.parse(String((await peapod(args)).stdout));
const pods = async () => (await json(['pod', 'ps', '--format', 'json'])).map((p: any) => ({ name: p.Name, status: p.Status, ready: p.Ready, reason: p.Reason }));

async function show(unit: string) {
  const r = await m.systemctl(['show', '-p', 'Type,ActiveState,SubState,Result,MainPID,NotifyAccess,StatusText', unit]);
  return Object.fromEntries(String(r.stdout).split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** A pod that gets ready only a while after it starts; its preStop leaves a file in `marks`. */
const SLOW = (name: string, marks: string, readyAfter = 2) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  # netavark started by a unit under this test's manager: its aardvark-dns lands in the unit's
  # cgroup and dies with it (on a host booted with systemd netavark runs it in a scope of its own)
  hostNetwork: true
  terminationGracePeriodSeconds: 5
  volumes:
    - name: marks
      hostPath: { path: ${marks}, type: Directory }
  containers:
    - name: web
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep ${readyAfter}; touch /tmp/ready; sleep 1000 & wait"]
      volumeMounts:
        - { name: marks, mountPath: /marks }
      readinessProbe:
        exec: { command: ["test", "-e", "/tmp/ready"] }
        periodSeconds: 1
      lifecycle:
        preStop:
          exec: { command: ["sh", "-c", "echo stopped > /marks/${name}"] }
`;

function marksDir(): string {
  const d = path.join(e2e.sb.dir, 'marks');
  mkdirSync(d, { recursive: true });
  return d;
}

/** Nothing of the sandbox runs (but the manager itself) and no record is left. */
async function nothingLeft() {
  expect(await json(['ps', '-a', '--format', 'json'])).toEqual([]);
  expect(await pods()).toEqual([]);
  const pids = sandboxPids(e2e.sb).filter((p) => {
    try { return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1][0] !== 'Z'; } catch { return false; }
  });
  expect(pids.map((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return ''; } }).filter(Boolean)).toEqual([]);
}

describe('units that play YAML are Type=notify: READY=1 once every pod is ready', () => {
  it('the template unit: start returns with the pod ready; stop runs preStop and leaves nothing', async () => {
    const marks = marksDir();
    const yaml = e2e.manifest('tmpl-web', SLOW('tmpl-web', marks));
    const text = String((await peapod(['generate', 'systemd', '--kube-template'])).stdout);
    const unitFile = path.join(m.unitDir, 'peapod-kube@.service');
    writeFileSync(unitFile, text);
    const svc = parseUnit(text).Service;
    expect({ type: svc.Type, notify: svc.NotifyAccess, kill: svc.KillMode, stop: svc.ExecStop }).toEqual({ type: ['notify'], notify: ['all'], kill: ['mixed'], stop: undefined });
    const verify = await execa('systemd-analyze', ['verify', '--man=no', unitFile], { reject: false, env: { SYSTEMD_LOG_COLOR: '0' } });
    expect({ code: verify.exitCode, out: verify.stdout, err: verify.stderr }).toEqual({ code: 0, out: '', err: '' });
    expect((await m.systemctl(['daemon-reload'])).exitCode).toBe(0);

    const unit = `peapod-kube@${(await execa('systemd-escape', [yaml])).stdout}.service`;
    const start = await m.systemctl(['start', unit]);
    expect({ code: start.exitCode, err: String(start.stderr) }).toEqual({ code: 0, err: '' });
    // start returned: the pod is ready (its readiness probe passed), not merely started
    expect(await pods()).toEqual([{ name: 'tmpl-web', status: 'Running', ready: '1/1', reason: '' }]);
    expect((await json(['inspect', 'tmpl-web-web']))[0].State.Ready).toBe(true);
    const s = await show(unit);
    expect({ type: s.Type, active: s.ActiveState, sub: s.SubState, status: s.StatusText }).toEqual({ type: 'notify', active: 'active', sub: 'running', status: 'ready: tmpl-web' });
    // the main process is the long-lived play
    expect(readFileSync(`/proc/${s.MainPID}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['play', 'kube', '--replace', '--wait', yaml]));

    const stop = await m.systemctl(['stop', unit]);
    expect(stop.exitCode).toBe(0);
    expect(readFileSync(path.join(marks, 'tmpl-web'), 'utf8')).toBe('stopped\n');
    expect((await show(unit)).ActiveState).toBe('inactive');
    await nothingLeft();
  }, 180_000);

  it('a --new pod unit: start, restart (a new pod, ready again), stop', async () => {
    const marks = marksDir();
    const yaml = e2e.manifest('new-web', SLOW('new-web', marks));
    await peapod(['play', 'kube', yaml]);
    const text = String((await peapod(['generate', 'systemd', '--new', '--name', '--start-timeout', '60', 'new-web'])).stdout);
    await peapod(['pod', 'rm', '-f', '-t', '0', 'new-web']);
    writeFileSync(path.join(m.unitDir, 'pod-new-web.service'), text);
    expect(parseUnit(text).Service.TimeoutStartSec).toEqual(['60']);
    await m.systemctl(['daemon-reload']);

    expect((await m.systemctl(['start', 'pod-new-web.service'])).exitCode).toBe(0);
    expect(await pods()).toEqual([{ name: 'new-web', status: 'Running', ready: '1/1', reason: '' }]);
    const first = (await json(['pod', 'inspect', 'new-web'])).Id;
    expect((await m.systemctl(['restart', 'pod-new-web.service'])).exitCode).toBe(0);
    expect(await pods()).toEqual([{ name: 'new-web', status: 'Running', ready: '1/1', reason: '' }]);
    expect((await json(['pod', 'inspect', 'new-web'])).Id).not.toBe(first);
    expect((await m.systemctl(['stop', 'pod-new-web.service'])).exitCode).toBe(0);
    expect(existsSync(path.join(marks, 'new-web'))).toBe(true);
    await nothingLeft();
  }, 180_000);

  it('a pod that never gets ready: start fails (TimeoutStartSec), the unit is failed, nothing is left', async () => {
    const marks = marksDir();
    const yaml = e2e.manifest('never', SLOW('never', marks, 100000));
    await peapod(['play', 'kube', yaml]);
    const text = String((await peapod(['generate', 'systemd', '--new', '--name', '--start-timeout', '5', '--restart-policy', 'no', 'never'])).stdout);
    await peapod(['pod', 'rm', '-f', '-t', '0', 'never']);
    writeFileSync(path.join(m.unitDir, 'pod-never.service'), text);
    await m.systemctl(['daemon-reload']);
    const start = await m.systemctl(['start', 'pod-never.service']);
    expect(start.exitCode).not.toBe(0);
    const s = await show('pod-never.service');
    expect({ active: s.ActiveState, result: s.Result }).toEqual({ active: 'failed', result: 'timeout' });
    await nothingLeft();
    await m.systemctl(['reset-failed', 'pod-never.service']);
  }, 180_000);
});

describe('adversarial: a YAML path made to break out of the unit file', () => {
  it('the template plays a file whose path has spaces, a lone ;, $VAR, %n, quotes and a newline as one argument; nothing else runs', async () => {
    const marks = marksDir();
    // a command that would leave PWNED in the unit's working directory (/ or the manager's home)
    const pwned = ['/PWNED', path.join(m.env.HOME, 'PWNED'), path.join(e2e.sb.dir, 'PWNED')];
    const evilDir = path.join(e2e.sb.dir, `evil dir; touch PWNED; $HOME %n "q' \n x`);
    mkdirSync(evilDir, { recursive: true });
    const yaml = path.join(evilDir, 'p ; touch PWNED ;.yaml');
    writeFileSync(yaml, SLOW('evil', marks, 0));
    const text = String((await peapod(['generate', 'systemd', '--kube-template'])).stdout);
    writeFileSync(path.join(m.unitDir, 'peapod-kube@.service'), text);
    await m.systemctl(['daemon-reload']);
    const unit = `peapod-kube@${(await execa('systemd-escape', [yaml])).stdout}.service`;
    const start = await m.systemctl(['start', unit]);
    expect({ code: start.exitCode, err: String(start.stderr) }).toEqual({ code: 0, err: '' });
    expect(await pods()).toEqual([{ name: 'evil', status: 'Running', ready: '1/1', reason: '' }]);
    const main = Number((await show(unit)).MainPID);
    expect(readFileSync(`/proc/${main}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(-1)).toEqual([yaml]);
    expect((await m.systemctl(['stop', unit])).exitCode).toBe(0);
    expect(pwned.filter((f) => existsSync(f))).toEqual([]);
    await nothingLeft();
  }, 180_000);
});

describe('after a reboot, through a unit', () => {
  it('ps -a is truthful (HostRestarted), and starting the unit brings the pod back ready', async () => {
    const marks = marksDir();
    const yaml = e2e.manifest('boot', SLOW('boot', marks, 1));
    await peapod(['play', 'kube', yaml]);
    const text = String((await peapod(['generate', 'systemd', '--new', '--name', 'boot'])).stdout);
    await peapod(['pod', 'rm', '-f', '-t', '0', 'boot']);
    writeFileSync(path.join(m.unitDir, 'pod-boot.service'), text);
    await m.systemctl(['daemon-reload']);
    expect((await m.systemctl(['start', 'pod-boot.service'])).exitCode).toBe(0);
    expect(await pods()).toEqual([{ name: 'boot', status: 'Running', ready: '1/1', reason: '' }]);

    // the host goes down hard: the manager first (nothing of it runs ExecStopPost), then every
    // process of the sandbox; a process holds the mount namespace while its mounts are undone
    const holder = (await execa('sh', ['-c', `nsenter -m -t ${m.pid} sleep 600 >/dev/null 2>&1 & echo $!`])).stdout.trim();
    await new Promise((r) => setTimeout(r, 200));
    process.kill(m.pid, 'SIGKILL');
    await simulateReboot(e2e.sb, Number(holder));
    process.kill(Number(holder), 'SIGKILL');

    m = await startManager(path.join(e2e.sb.dir, 'systemd'));
    const ps = await json(['ps', '-a', '--format', 'json']);
    expect(ps.map((c: any) => ({ state: c.State, reason: c.Reason }))).toEqual(ps.map(() => ({ state: 'exited', reason: 'HostRestarted' })));
    expect(ps).toHaveLength(2);
    expect(await pods()).toEqual([{ name: 'boot', status: 'Exited', ready: '0/1', reason: 'HostRestarted' }]);

    const start = await m.systemctl(['start', 'pod-boot.service']);
    expect({ code: start.exitCode, err: String(start.stderr) }).toEqual({ code: 0, err: '' });
    expect(await pods()).toEqual([{ name: 'boot', status: 'Running', ready: '1/1', reason: '' }]);
    expect((await m.systemctl(['stop', 'pod-boot.service'])).exitCode).toBe(0);
    await nothingLeft();
  }, 240_000);
});
