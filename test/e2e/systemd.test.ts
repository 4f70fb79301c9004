// Issue 7 acceptance, generate systemd: the case Podman 4.3.1 refuses ("no create command found"):
// a pod played from YAML, `generate systemd --new --files`, the pod removed, the unit's ExecStart
// run as systemd would run it brings the pod back, its ExecStop takes it away. Units for existing
// pods and containers work against this sandbox; every generated unit passes systemd-analyze verify.
// There is no systemd as PID 1 here: Exec lines are read from the unit files and run without a
// shell, with the unit's Environment= and specifiers, as systemd would (units.test.ts runs them
// under a real systemd manager).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { sandbox, requireRoot, BIN, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { parseUnit } from '../../src/systemd/unit.js';
import { splitExecLine, resolveWord, systemdEscape, systemdUnescape } from '../../src/systemd/escape.js';
import { parseManifests } from '../../src/kube/parse.js';
import { validateDocs } from '../../src/kube/validate.js';

let sb: Sandbox;

const json = async (args: string[]) => JSON.parse(String((await sb.ok(args)).stdout));
const podNames = async () => (await json(['pod', 'ps', '--format', 'json'])).map((p: any) => p.Name).sort();

beforeAll(async () => {
  requireRoot();
  sb = sandbox('peapod-systemd');
  await sb.ok(['image', 'import', await busyboxRootfsTar(sb.dir), 'localhost/busybox:latest']);
});

afterAll(async () => {
  if (!sb) return;
  await sb.destroy();
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

afterEach(async () => {
  for (const p of await json(['pod', 'ps', '--format', 'json'])) await sb.run(['pod', 'rm', '-f', '-t', '0', p.Id]);
  for (const c of await json(['ps', '-a', '--format', 'json'])) await sb.run(['rm', '-f', '-t', '0', c.Id]);
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

/** peapod of this sandbox, run in a directory (--files writes there). */
async function peapodIn(dir: string, args: string[]) {
  const r = await execa(BIN, ['--root', sb.root, '--runroot', sb.runroot, ...args], { cwd: dir, reject: false, env: { PEAPOD_CGROUP_PARENT: sb.cgroupParent } });
  if (r.exitCode !== 0) throw new Error(`peapod ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r;
}

const tmpdir = (name: string) => mkdtempSync(path.join(sb.dir, `${name}-`));

/** systemd's PATH for services, and nothing else of this process's environment. */
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin';

/**
 * Runs one Exec line of a unit file as systemd would: the words unquoted, specifiers resolved
 * (%n the unit name, %t the runtime directory, %i/%I the instance), `$` variables from the unit's
 * Environment=, no shell, an environment of only PATH and Environment=. A `-` prefix lets it fail.
 */
async function runExec(unitFile: string, key: 'ExecStartPre' | 'ExecStart' | 'ExecStop' | 'ExecStopPost', opts: { instance?: string; index?: number } = {}) {
  const unit = parseUnit(readFileSync(unitFile, 'utf8'));
  const file = path.basename(unitFile);
  const name = opts.instance !== undefined ? file.replace('@.service', `@${opts.instance}.service`) : file;
  const spec: Record<string, string> = { n: name, N: name.replace(/\.service$/, ''), t: '/run' };
  if (opts.instance !== undefined) Object.assign(spec, { i: opts.instance, I: systemdUnescape(opts.instance) });
  const env: Record<string, string> = { PATH: SYSTEMD_PATH };
  for (const line of unit.Service.Environment ?? []) {
    for (const w of splitExecLine(line).words) {
      const kv = resolveWord(w, spec, null);
      env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    }
  }
  const lines = unit.Service[key] ?? [];
  const line = lines[opts.index ?? 0];
  if (line === undefined) throw new Error(`${file} has no ${key}`);
  const { prefix, words } = splitExecLine(line);
  const argv = words.map((w) => resolveWord(w, spec, env));
  expect(path.isAbsolute(argv[0])).toBe(true);
  const r = await execa(argv[0], argv.slice(1), { env, extendEnv: false, reject: false, timeout: 120_000 });
  if (!prefix.includes('-') && r.exitCode !== 0) throw new Error(`${key} of ${file} (${argv.join(' ')}) exited ${r.exitCode}: ${r.stderr}`);
  return { ...r, argv, env };
}

/**
 * Starts the ExecStart of a unit that serves YAML (`play kube --replace --wait`, the unit's
 * long-lived main process) as systemd would, until `pod` runs; `stop()` is what systemctl stop does
 * to it (SIGTERM, KillMode=mixed) and resolves once it has ended.
 */
async function serve(unitFile: string, pod: string, opts: { instance?: string } = {}) {
  const unit = parseUnit(readFileSync(unitFile, 'utf8'));
  const file = path.basename(unitFile);
  const name = opts.instance !== undefined ? file.replace('@.service', `@${opts.instance}.service`) : file;
  const spec: Record<string, string> = { n: name, N: name.replace(/\.service$/, ''), t: '/run' };
  if (opts.instance !== undefined) Object.assign(spec, { i: opts.instance, I: systemdUnescape(opts.instance) });
  const env: Record<string, string> = { PATH: SYSTEMD_PATH };
  for (const line of unit.Service.Environment ?? []) {
    for (const w of splitExecLine(line).words) {
      const kv = resolveWord(w, spec, null);
      env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    }
  }
  const argv = splitExecLine(unit.Service.ExecStart[0]).words.map((w) => resolveWord(w, spec, env));
  const child = execa(argv[0], argv.slice(1), { env, extendEnv: false, reject: false });
  for (let i = 0; i < 300; i++) {
    const p = (await json(['pod', 'ps', '--format', 'json'])).find((x: any) => x.Name === pod);
    if (p?.Status === 'Running') break;
    if (child.exitCode !== null) throw new Error(`ExecStart of ${file} ended: ${(await child).stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    argv, env,
    async stop() {
      child.kill('SIGTERM');
      const r = await child;
      expect({ code: r.exitCode, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    },
  };
}

function manifest(name: string, body: string): string {
  const f = path.join(sb.dir, `${name}.yaml`);
  writeFileSync(f, body);
  return f;
}

const POD = (name: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  hostname: ${name}-host
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: localhost/busybox:latest
      command: ["sleep", "1000"]
      env:
        - name: WHO
          value: ${name}
    - name: side
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
`;

/** process args and env of the pod's containers, by name */
async function processes(pod: string) {
  const p = await json(['pod', 'inspect', pod]);
  const out: Record<string, unknown> = {};
  for (const c of p.Containers) {
    const [i] = await json(['inspect', c.Id]);
    if (!i.IsInfra) out[i.Name] = { argv: [i.Path, ...i.Args], env: i.Config.Env, running: i.State.Running };
  }
  return { state: p.State, hostname: p.Hostname, containers: out };
}

/** systemd-analyze verify of unit files: exit 0 and nothing said. */
async function verify(files: string[]) {
  const r = await execa('systemd-analyze', ['verify', '--man=no', ...files], { reject: false, env: { SYSTEMD_LOG_COLOR: '0' } });
  expect({ exitCode: r.exitCode, stderr: r.stderr, stdout: r.stdout }).toEqual({ exitCode: 0, stderr: '', stdout: '' });
}

describe('generate systemd --new for a pod played from YAML (what Podman 4.3.1 refuses)', () => {
  it('ExecStart brings the removed pod back, ExecStop takes it down', async () => {
    await sb.ok(['play', 'kube', manifest('kp', POD('kp'))]);
    const before = await processes('kp');
    const dir = tmpdir('units');
    const r = await peapodIn(dir, ['generate', 'systemd', '--new', '--files', '--name', 'kp']);
    // the pod unit plays the whole pod: no container units are needed
    expect(readdirSync(dir)).toEqual(['pod-kp.service']);
    const unitFile = path.join(dir, 'pod-kp.service');
    expect(r.stdout).toBe(unitFile);
    const unit = parseUnit(readFileSync(unitFile, 'utf8'));
    expect(unit.Service.Type).toEqual(['notify']);
    expect(unit.Service.KillMode).toEqual(['mixed']);
    expect(unit.Service.TimeoutStopSec).toEqual(['61']);
    expect(unit.Service.Environment).toEqual(['PEAPOD_SYSTEMD_UNIT=%n', `PEAPOD_CGROUP_PARENT=${sb.cgroupParent}`]);
    // the copy of the YAML it replays lives under the root and validates strictly
    const copy = path.join(sb.root, 'systemd', 'pod-kp.yaml');
    const parsed = parseManifests(readFileSync(copy, 'utf8'), copy);
    expect([...parsed.errors, ...validateDocs(parsed.docs, { mode: 'strict' })]).toEqual([]);
    await verify([unitFile]);

    await sb.ok(['pod', 'rm', '-f', '-t', '0', 'kp']);
    expect(await podNames()).toEqual([]);

    const start = await serve(unitFile, 'kp');
    expect(start.argv).toEqual([BIN, '--root', sb.root, '--runroot', sb.runroot, 'play', 'kube', '--replace', '--wait', copy]);
    expect(start.env.PEAPOD_SYSTEMD_UNIT).toBe('pod-kp.service');
    expect(await processes('kp')).toEqual(before);
    expect(before.state).toBe('Running');

    // a stop (SIGTERM to the main process) takes the pod down
    await start.stop();
    expect(await podNames()).toEqual([]);
    // ExecStopPost (kube down) with the pod there (a crash of the main process) takes it down too
    await sb.ok(['play', 'kube', copy]);
    await runExec(unitFile, 'ExecStopPost');
    expect(await podNames()).toEqual([]);
    expect(await settledLeaks(sb.dir)).toEqual([]);
  }, 120_000);

  it('a pod made by hand is recreated from YAML generated for it', async () => {
    await sb.ok(['pod', 'create', '--name', 'hand', '--hostname', 'handy', '--label', 'a=b']);
    await sb.ok(['run', '-d', '--pod', 'hand', '--name', 'hand-sleeper', '--stop-timeout', '1', '-e', 'K=v', 'localhost/busybox:latest', 'sleep', '1000']);
    const before = await processes('hand');
    const dir = tmpdir('hand');
    await peapodIn(dir, ['generate', 'systemd', '--new', '--files', '--name', 'hand']);
    const unitFile = path.join(dir, 'pod-hand.service');
    await sb.ok(['pod', 'rm', '-f', '-t', '0', 'hand']);
    const served = await serve(unitFile, 'hand');
    expect(await processes('hand')).toEqual(before);
    await served.stop();
    expect(await podNames()).toEqual([]);
  }, 120_000);
});

describe('generate systemd for a pod that exists', () => {
  it('the pod unit starts the infra, container units start their containers; PIDFile is conmon\'s', async () => {
    await sb.ok(['play', 'kube', manifest('ep', POD('ep'))]);
    const dir = tmpdir('existing');
    const r = await peapodIn(dir, ['generate', 'systemd', '--files', '--name', 'ep']);
    expect(r.stdout.split('\n')).toEqual(['pod-ep.service', 'container-ep-main.service', 'container-ep-side.service'].map((f) => path.join(dir, f)));
    const podFile = path.join(dir, 'pod-ep.service');
    const pod = parseUnit(readFileSync(podFile, 'utf8'));
    expect(pod.Unit.Wants).toEqual(['network-online.target', 'container-ep-main.service container-ep-side.service']);
    expect(pod.Unit.Before).toEqual(['container-ep-main.service container-ep-side.service']);
    for (const c of ['main', 'side']) {
      const u = parseUnit(readFileSync(path.join(dir, `container-ep-${c}.service`), 'utf8'));
      expect(u.Unit.BindsTo).toEqual(['pod-ep.service']);
      expect(u.Unit.After).toEqual(['network-online.target', 'pod-ep.service']);
      expect(u.Service.TimeoutStopSec).toEqual(['61']);
    }
    await verify(readdirSync(dir).map((f) => path.join(dir, f)));

    await sb.ok(['pod', 'stop', '-t', '0', 'ep']);
    await runExec(podFile, 'ExecStart');
    const infraId = (await json(['pod', 'inspect', 'ep'])).InfraContainerID;
    const [infra] = await json(['inspect', infraId]);
    expect(infra.State.Running).toBe(true);
    expect(readFileSync(pod.Service.PIDFile[0], 'utf8').trim()).toBe(String(infra.State.ConmonPid));

    for (const c of ['main', 'side']) {
      const file = path.join(dir, `container-ep-${c}.service`);
      await runExec(file, 'ExecStart');
      const [i] = await json(['inspect', `ep-${c}`]);
      expect(i.State.Running).toBe(true);
      expect(readFileSync(parseUnit(readFileSync(file, 'utf8')).Service.PIDFile[0], 'utf8').trim()).toBe(String(i.State.ConmonPid));
      await runExec(file, 'ExecStop');
      expect((await json(['inspect', `ep-${c}`]))[0].State.Running).toBe(false);
    }
    await runExec(podFile, 'ExecStop');
    expect((await json(['pod', 'inspect', 'ep'])).State).not.toBe('Running');
    await runExec(podFile, 'ExecStopPost');
  }, 120_000);

  it('without --name, units and commands use IDs; --format json; --no-header; --restart-policy and --restart-sec', async () => {
    await sb.ok(['play', 'kube', manifest('ids', POD('ids'))]);
    const p = await json(['pod', 'inspect', 'ids']);
    const units = JSON.parse(String((await sb.ok(['generate', 'systemd', '--format', 'json', '--no-header', '--restart-policy', 'always', '--restart-sec', '5', '-t', '3', 'ids'])).stdout));
    const ctrs = p.Containers.filter((c: any) => c.Id !== p.InfraContainerID).map((c: any) => `container-${c.Id}`);
    expect(Object.keys(units)).toEqual([...ctrs, `pod-${p.Id}`].sort());
    const podUnit = units[`pod-${p.Id}`];
    expect(podUnit.startsWith(`# pod-${p.Id}.service\n\n[Unit]\n`)).toBe(true);
    const s = parseUnit(podUnit).Service;
    expect(s.Restart).toEqual(['always']);
    expect(s.RestartSec).toEqual(['5']);
    expect(s.TimeoutStopSec).toEqual(['63']);
    expect(s.ExecStart[0].endsWith(` start ${p.InfraContainerID}`)).toBe(true);
    expect(s.ExecStop[0].endsWith(` pod stop -t 3 ${p.Id}`)).toBe(true);
    const withHeader = String((await sb.ok(['generate', 'systemd', 'ids'])).stdout);
    expect(withHeader).toMatch(/^# pod-[0-9a-f]{64}\.service\n# autogenerated by peapod \d+\.\d+\.\d+\n# \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\n\n\[Unit\]\n/);
  });

  it('refuses what it cannot do, with one line', async () => {
    await sb.ok(['play', 'kube', manifest('err', POD('err'))]);
    const cases: Array<[string[], string]> = [
      [['generate', 'systemd', '--restart-policy', 'sometimes', 'err'], 'Error: sometimes is not a valid restart policy: use one of no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always'],
      [['generate', 'systemd'], 'Error: a pod or container is required (or --kube-template)'],
      [['generate', 'systemd', '--kube-template', 'err'], 'Error: --kube-template takes no pod or container'],
      [['generate', 'systemd', '--new', 'err-main'], 'Error: cannot use --new on container err-main: it belongs to pod err: generate the units of the pod'],
      [['generate', 'systemd', 'nosuch'], 'Error: no pod or container with name or ID "nosuch" found'],
      [['generate', 'systemd', '--format', 'yaml', 'err'], 'Error: unsupported format "yaml": only json'],
    ];
    for (const [args, err] of cases) {
      const r = await sb.run(args);
      expect({ args, code: r.exitCode, err: String(r.stderr) }).toEqual({ args, code: 125, err });
    }
  });
});

describe('generate systemd for a standalone container', () => {
  it('--new runs it again from its run command line; without --new the unit starts it', async () => {
    await sb.ok(['run', '-d', '--name', 'solo', '-e', 'X=1 2', '--stop-timeout', '1', 'localhost/busybox:latest', 'sleep', '1000']);
    const [old] = await json(['inspect', 'solo']);
    const dir = tmpdir('solo');
    await peapodIn(dir, ['generate', 'systemd', '--new', '--files', '--name', 'solo']);
    const file = path.join(dir, 'container-solo.service');
    await verify([file]);
    await runExec(file, 'ExecStartPre');
    expect(await json(['ps', '-a', '--format', 'json'])).toEqual([]);
    await runExec(file, 'ExecStart');
    const [now] = await json(['inspect', 'solo']);
    expect(now.Id).not.toBe(old.Id);
    expect({ argv: [now.Path, ...now.Args], env: now.Config.Env, running: now.State.Running }).toEqual({ argv: ['sleep', '1000'], env: ['X=1 2'], running: true });
    await runExec(file, 'ExecStop');
    expect((await json(['inspect', 'solo']))[0].State.Running).toBe(false);
    await runExec(file, 'ExecStopPost');
    expect(await json(['ps', '-a', '--format', 'json'])).toEqual([]);
    // stopping twice is harmless (the container is gone)
    await runExec(file, 'ExecStop');

    await sb.ok(['create', '--name', 'solo2', 'localhost/busybox:latest', 'sleep', '1000']);
    const dir2 = tmpdir('solo2');
    await peapodIn(dir2, ['generate', 'systemd', '--files', '--name', 'solo2']);
    const file2 = path.join(dir2, 'container-solo2.service');
    await verify([file2]);
    await runExec(file2, 'ExecStart');
    const [s2] = await json(['inspect', 'solo2']);
    expect(readFileSync(parseUnit(readFileSync(file2, 'utf8')).Service.PIDFile[0], 'utf8').trim()).toBe(String(s2.State.ConmonPid));
    await runExec(file2, 'ExecStop');
  }, 120_000);
});

describe('the template unit peapod-kube@.service', () => {
  it('plays the YAML file its instance names and takes it down; passes verify', async () => {
    const dir = tmpdir('template');
    const r = await peapodIn(dir, ['generate', 'systemd', '--kube-template', '--files']);
    const file = path.join(dir, 'peapod-kube@.service');
    expect(r.stdout).toBe(file);
    await verify([file]);
    const yaml = manifest('tmpl pod', POD('tmpl'));
    const instance = (await execa('systemd-escape', [yaml])).stdout;
    expect(systemdEscape(yaml)).toBe(instance);
    const start = await serve(file, 'tmpl', { instance });
    expect(start.argv.slice(-5)).toEqual(['play', 'kube', '--replace', '--wait', yaml]);
    expect(start.env.PEAPOD_SYSTEMD_UNIT).toBe(`peapod-kube@${instance}.service`);
    expect((await processes('tmpl')).state).toBe('Running');
    await start.stop();
    expect(await podNames()).toEqual([]);
  }, 120_000);
});

describe('systemd-analyze verify', () => {
  it('passes every kind of unit generate systemd writes', async () => {
    await sb.ok(['play', 'kube', manifest('v1', POD('v1'))]);
    await sb.ok(['pod', 'create', '--name', 'v2']);
    await sb.ok(['run', '-d', '--pod', 'v2', '--name', 'v2-c', '--stop-timeout', '1', 'localhost/busybox:latest', 'sleep', '1000']);
    await sb.ok(['run', '-d', '--name', 'v3', '--stop-timeout', '1', '--entrypoint', '["sh", "-c"]', 'localhost/busybox:latest', 'echo "100% $HOME"; sleep 1000']);
    // each entry: the generate systemd calls whose units go into one directory (a container of a
    // pod is verified with its pod's unit, which its unit binds to)
    const variants: string[][][] = [
      [['v1']], [['--name', 'v1']], [['--new', 'v1']], [['--new', '--name', '--restart-policy', 'always', '--restart-sec', '2', 'v1']],
      [['v2']], [['--new', '--name', 'v2']], [['--name', 'v2'], ['--name', '--restart-policy', 'no', 'v2-c']],
      [['v3']], [['--new', '--name', 'v3']], [['--no-header', '--kube-template']], [['--restart-policy', 'on-abort', '--kube-template']],
    ];
    for (const calls of variants) {
      const dir = tmpdir('verify');
      for (const v of calls) await peapodIn(dir, ['generate', 'systemd', '--files', ...v]);
      const files = readdirSync(dir).map((f) => path.join(dir, f));
      expect(files.length).toBeGreaterThan(0);
      await verify(files);
    }
    // the command with a %, a $ and quotes survives the unit file
    const dir = tmpdir('quoting');
    await peapodIn(dir, ['generate', 'systemd', '--new', '--files', '--name', 'v3']);
    const file = path.join(dir, 'container-v3.service');
    await runExec(file, 'ExecStartPre');
    const { argv } = await runExec(file, 'ExecStart');
    expect(argv.slice(-4)).toEqual(['--entrypoint', '["sh", "-c"]', 'localhost/busybox:latest', 'echo "100% $HOME"; sleep 1000']);
    await runExec(file, 'ExecStopPost');
  }, 120_000);
});
