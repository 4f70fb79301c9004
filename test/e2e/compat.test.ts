// Issue 23 acceptance through the built CLI: the infra container goes only with its pod (Podman's
// error), generate kube of a pod without app containers is an error, and five Kubernetes
// behaviours: short names resolve as the kubelet's runtime resolves them (docker.io/library/NAME,
// never a local image of another registry), Indexed Jobs, hostPath without type creating a missing
// directory, supplementalGroups merged with the image's groups (Strict honoured), and the pull
// progress of play. The registry is Debian's docker-registry on 127.0.0.1 (docker.io is that
// registry as a mirror, its primary location a closed loopback port: nothing leaves the host).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { promises as fs, statSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BIN } from '../helpers/cli.js';
import { useSandbox, until } from '../helpers/e2e.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { fileLayer, freePort, requireRegistryTools, startRegistry, writeLayout, writeRegistriesConf, type Registry } from '../helpers/registry.js';

const e2e = useSandbox('peapod-compat', { images: ['bb', 'busybox'] });
const { manifest } = e2e;

const pod = (name: string, container: string, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
${extra}  containers:
    - name: c
${container}`;

describe('the infra container and generate kube (two Podman bugs)', () => {
  it('rm -f of a running pod\'s infra container fails with Podman\'s message and leaves the pod running', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('infra', pod('infra', '      image: localhost/bb:latest\n      command: ["sleep", "1000"]\n'))]);
    const [info] = [await e2e.json(['pod', 'inspect', 'infra'])];
    const r = await e2e.sb.run(['rm', '-f', info.InfraContainerID]);
    expect(r.exitCode).toBe(125);
    // (execa strips the final newline)
    expect(String(r.stderr)).toBe(`Error: container ${info.InfraContainerID} is the infra container of pod ${info.Id} and cannot be removed without removing the pod`);
    const after = await e2e.json(['pod', 'inspect', 'infra']);
    expect(after.State).toBe('Running');
    expect(after.InfraState).toBe('running');
    // removing the pod takes the infra container with it
    await e2e.sb.ok(['pod', 'rm', '-f', '-t', '0', 'infra']);
    expect((await e2e.sb.run(['container', 'inspect', info.InfraContainerID])).exitCode).not.toBe(0);
  });

  it('generate kube of a pod with only its infra container is an error, not YAML play kube refuses', async () => {
    const id = (await e2e.out(['pod', 'create', '--name', 'lonely'])).trim();
    const r = await e2e.sb.run(['generate', 'kube', 'lonely']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stdout)).toBe('');
    expect(String(r.stderr)).toBe(`Error: pod ${id} only has an infra container`);
    // with an app container it generates YAML that plays
    await e2e.sb.ok(['create', '--pod', 'lonely', '--name', 'member', 'localhost/bb:latest', 'sleep', '1']);
    expect(await e2e.out(['kube', 'generate', 'lonely'])).toContain('kind: Pod');
  });
});

describe('Indexed Jobs', () => {
  it('pods <job>-<index> with that host name, JOB_COMPLETION_INDEX and the completion-index annotation and label', async () => {
    const job = `apiVersion: batch/v1
kind: Job
metadata:
  name: idx
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: w
          image: localhost/bb:latest
          command: ["sh", "-c", "echo index=$JOB_COMPLETION_INDEX host=$(hostname) ann=$ANN"]
          env:
            - name: ANN
              valueFrom:
                fieldRef:
                  fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
`;
    const r = await e2e.sb.ok(['play', 'kube', manifest('idx', job)]);
    expect(String(r.stderr)).not.toContain('completionMode');
    const pods = (await e2e.json(['pod', 'ps', '--format', 'json'])).map((p: { Name: string }) => p.Name).sort();
    expect(pods).toEqual(['idx-0', 'idx-1', 'idx-2']);
    for (const i of [0, 1, 2]) {
      const logs = await until(() => e2e.out(['logs', `idx-${i}-w`]), (s) => s.includes('index='));
      expect(logs.trim()).toBe(`index=${i} host=idx-${i} ann=${i}`);
      expect((await e2e.json(['pod', 'inspect', `idx-${i}`])).Labels['batch.kubernetes.io/job-completion-index']).toBe(String(i));
    }
    // kube down finds the indexed pods by their names
    const down = await e2e.out(['kube', 'down', manifest('idx', job)]);
    expect(down.match(/^[0-9a-f]{64}$/gm)?.length).toBe(6);
  });
});

describe('hostPath without type', () => {
  it('a missing path is created as a 0755 directory, with a note, and the container writes to it', async () => {
    const dir = path.join(e2e.sb.dir, 'made', 'by', 'hostpath');
    expect(existsSync(dir)).toBe(false);
    const r = await e2e.sb.ok(['play', 'kube', manifest('hp', pod('hp', '      image: localhost/bb:latest\n      command: ["sh", "-c", "echo written > /data/f"]\n      volumeMounts: [{name: d, mountPath: /data}]\n',
      `  volumes:\n    - name: d\n      hostPath:\n        path: ${dir}\n`))]);
    expect(String(r.stderr)).toContain(`hostPath volume "d": ${dir} did not exist: created it as a directory (0755)`);
    const st = statSync(dir);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o755);
    expect(await until(() => fs.readFile(path.join(dir, 'f'), 'utf8').catch(() => ''), (s) => s !== '')).toBe('written\n');
    // present now: no note the second time
    await e2e.sb.ok(['pod', 'rm', '-f', '-t', '0', 'hp']);
    const again = await e2e.sb.ok(['play', 'kube', manifest('hp', pod('hp', '      image: localhost/bb:latest\n      command: ["true"]\n      volumeMounts: [{name: d, mountPath: /data}]\n',
      `  volumes:\n    - name: d\n      hostPath:\n        path: ${dir}\n`))]);
    expect(String(again.stderr)).not.toContain('did not exist');
  });
});

describe('supplementalGroups', () => {
  beforeAll(async () => {
    // An image whose /etc/group lists user app in wheel (10) and audio (29).
    const root = path.join(e2e.sb.dir, 'grp-rootfs');
    await fs.mkdir(root, { recursive: true });
    await execa('tar', ['-xf', await busyboxRootfsTar(e2e.sb.dir), '-C', root]);
    await fs.writeFile(path.join(root, 'etc/group'), 'root:x:0:\nwheel:x:10:app\naudio:x:29:nobody,app\napp:x:1000:\nnobody:x:65534:\n');
    const tar = path.join(e2e.sb.dir, 'grp.tar');
    await execa('tar', ['--numeric-owner', '-cf', tar, '-C', root, '.']);
    await e2e.sb.ok(['image', 'import', tar, 'grp']);
  });

  const groupsPod = (name: string, policy = '') => pod(name, '      image: localhost/grp:latest\n      command: ["id", "-G"]\n',
    `  securityContext:\n    runAsUser: 1000\n    runAsGroup: 3000\n    supplementalGroups: [4000]\n${policy ? `    supplementalGroupsPolicy: ${policy}\n` : ''}`);

  it('merge with the groups the image gives the user (the default, also with runAsGroup)', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('merge', groupsPod('merge'))]);
    const out = await until(() => e2e.out(['logs', 'merge-c']), (s) => s.trim() !== '');
    expect(out.trim().split(' ').map(Number).sort((a, b) => a - b)).toEqual([10, 29, 3000, 4000]);
  });

  it('supplementalGroupsPolicy Strict: only runAsGroup and supplementalGroups', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('strict', groupsPod('strict', 'Strict'))]);
    const out = await until(() => e2e.out(['logs', 'strict-c']), (s) => s.trim() !== '');
    expect(out.trim().split(' ').map(Number).sort((a, b) => a - b)).toEqual([3000, 4000]);
  });
});

describe('short names and pull progress (registry on 127.0.0.1)', () => {
  let reg: Registry | undefined;
  let env: Record<string, string>;
  let regDir: string;
  beforeAll(async () => {
    await requireRegistryTools(['docker-registry', 'skopeo']);
    // outside the sandbox: its leak check after each test would count the registry's process
    regDir = await fs.mkdtemp(path.join(os.tmpdir(), 'peapod-compat-registry-'));
    reg = await startRegistry({ dir: regDir });
    const closed = `127.0.0.1:${await freePort()}`;
    // No unqualified-search-registries: a short name means docker.io, here the test registry as its mirror.
    const conf = await writeRegistriesConf(e2e.sb.dir, `[[registry]]\nprefix = "docker.io"\nlocation = "${closed}"\ninsecure = true\n[[registry.mirror]]\nlocation = "${reg.host}"\ninsecure = true\n`);
    env = { PEAPOD_REGISTRIES_CONF: conf };
    const busybox = await fs.readFile(await busyboxRootfsTar(e2e.sb.dir));
    const marker = await fileLayer('marker', 'from-docker-io\n');
    const layout = await writeLayout(path.join(e2e.sb.dir, 'remote-busybox'), 'latest', [{ layers: [busybox, marker], cmd: ['sh'] }]);
    await reg.push(`${layout.dir}:latest`, 'library/busybox:latest');
  });
  afterAll(async () => {
    await reg?.stop();
    if (regDir) await fs.rm(regDir, { recursive: true, force: true });
  });

  it('`image: busybox` runs docker.io/library/busybox:latest, not the local localhost/busybox', async () => {
    const f = manifest('short', pod('short', '      image: busybox\n      imagePullPolicy: IfNotPresent\n      command: ["sh", "-c", "cat /marker 2>/dev/null || echo local-image"]\n'));
    // localhost/busybox is present (imported by the sandbox) and would match "busybox" in Podman's lookup
    expect((await e2e.json(['image', 'inspect', 'localhost/busybox:latest']))[0].Id).toMatch(/^[0-9a-f]{64}$/);
    await e2e.sb.ok(['play', 'kube', '--quiet', f], { env });
    const out = await until(() => e2e.out(['logs', 'short-c']), (s) => s.trim() !== '');
    expect(out).toBe('from-docker-io');
    const [ctr] = await e2e.json(['container', 'inspect', 'short-c']);
    expect(ctr.ImageName).toBe('docker.io/library/busybox:latest');
  });

  it('play prints one line per pulled image when not on a terminal, bars on a terminal, nothing with --quiet', async () => {
    const f = manifest('prog', pod('prog', '      image: busybox:latest\n      command: ["true"]\n'));
    const r = await e2e.sb.ok(['play', 'kube', f], { env });
    const lines = String(r.stderr).split('\n').filter((l) => l.startsWith('Pulled '));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Pulled docker\.io\/library\/busybox:latest \(for busybox:latest\): [0-9a-f]{12}$/);
    await e2e.sb.ok(['pod', 'rm', '-f', '-t', '0', 'prog']);
    // a terminal (script(1) gives the CLI a pty): progress as `pull` draws it
    const cmd = [BIN, '--root', e2e.sb.root, '--runroot', e2e.sb.runroot, 'play', 'kube', f].map((a) => `'${a}'`).join(' ');
    const tty = await execa('script', ['-qec', cmd, '/dev/null'], { reject: false, env: { ...env, PEAPOD_CGROUP_PARENT: e2e.sb.cgroupParent } });
    expect(tty.exitCode).toBe(0);
    expect(String(tty.stdout)).toContain('Trying to pull');
    expect(String(tty.stdout)).toMatch(/Copying blob [0-9a-f]{12}/);
    await e2e.sb.ok(['pod', 'rm', '-f', '-t', '0', 'prog']);
    const quiet = await e2e.sb.ok(['play', 'kube', '--quiet', f], { env });
    expect(String(quiet.stderr)).toBe('');
  });
});

// Podman 4.3.1's system tests (200-pod, 250-systemd) use these; each is checked here against the
// real runtime, with Podman's wording where scripts match on it.
describe('Podman\'s pod and container flags', () => {
  const bb = 'localhost/bb:latest';

  it('version --format and info -f \'\' (an empty template prints nothing); the infra image answers to Podman\'s pause name', async () => {
    const v = (await e2e.out(['version', '--format', '{{.Server.Version}}-{{.Server.Built}}'])).trim();
    expect(v).toMatch(/^\d+\.\d+\.\d+-0$/);
    const info = await e2e.sb.ok(['--log-level', 'warning', '--cgroup-manager=cgroupfs', 'info', '-f', '']);
    // (execa strips the one newline)
    expect([String(info.stdout), String(info.stderr)]).toEqual(['', '']);
    await e2e.sb.ok(['pod', 'create', '--name', 'pausename']);
    await e2e.sb.ok(['image', 'exists', `localhost/podman-pause:${v}`]);
    // --noout: nothing on stdout
    expect(await e2e.out(['--noout', 'pod', 'create', '--name', 'quietpod'])).toBe('');
  });

  it('pod create --share: a bad namespace fails as in Podman; without uts shared a member has its own host name', async () => {
    const bad = await e2e.sb.run(['pod', 'create', '--share', 'bogus', '--name', 'bogus']);
    expect(bad.exitCode).toBe(125);
    expect(String(bad.stderr)).toBe('Error: invalid kernel namespace to share: bogus. Options are: cgroup, ipc, net, pid, uts or none');
    await e2e.sb.ok(['pod', 'create', '--share', 'ipc', '--name', 'ipconly']);
    expect((await e2e.json(['pod', 'inspect', 'ipconly'])).SharedNamespaces).toEqual(['ipc']);
    expect((await e2e.out(['run', '--rm', '--pod', 'ipconly', '--hostname', 'foobar', bb, 'hostname'])).trim()).toBe('foobar');
    // the default shares uts: --hostname is refused with Podman's message
    await e2e.sb.ok(['pod', 'create', '--name', 'shared']);
    const r = await e2e.sb.run(['run', '--rm', '--pod', 'shared', '--hostname', 'foobar', bb, 'hostname']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toBe('Error: invalid config provided: cannot set hostname when joining the pod UTS namespace: invalid configuration');
    await e2e.sb.ok(['pod', 'create', '--share', '+pid', '--replace', '--name', 'shared']);
    expect((await e2e.json(['pod', 'inspect', 'shared'])).SharedNamespaces.sort()).toEqual(['ipc', 'net', 'pid', 'uts']);
    // --infra=false: the members share nothing (each its own PID namespace: both are PID 1)
    const id = (await e2e.out(['pod', 'create', '--infra=false'])).trim();
    expect((await e2e.json(['pod', 'inspect', id])).SharedNamespaces).toEqual([]);
    for (let i = 0; i < 2; i++) await e2e.sb.ok(['run', '-d', '--pod', id, bb, 'sleep', '1000']);
    const top = await e2e.out(['pod', 'top', id]);
    expect(top.match(/^\S+\s+root\s+\d+\s+\d+\s+.*sleep 1000$/gm)).toHaveLength(2);
  });

  it('--exit-policy: stop ends the pod with its last container, continue leaves it Degraded; pod rm then needs no --force', async () => {
    const bad = await e2e.sb.run(['pod', 'create', '--exit-policy', 'invalid']);
    expect(String(bad.stderr)).toBe('Error: running pod create option: invalid pod exit policy: "invalid"');
    await e2e.sb.ok(['pod', 'create', '--exit-policy', 'stop', '--name', 'eps']);
    await e2e.sb.ok(['pod', 'create', '--name', 'epc']);
    expect((await e2e.json(['pod', 'inspect', 'eps'])).ExitPolicy).toBe('stop');
    expect((await e2e.json(['pod', 'inspect', 'epc'])).ExitPolicy).toBe('continue');
    await e2e.sb.ok(['run', '--pod', 'eps', bb, 'true']);
    await e2e.sb.ok(['run', '--pod', 'epc', bb, 'true']);
    expect((await until(() => e2e.json(['pod', 'inspect', 'eps']), (p) => p.State === 'Exited')).State).toBe('Exited');
    expect((await e2e.json(['pod', 'inspect', 'epc'])).State).toBe('Degraded');
    await e2e.sb.ok(['pod', 'rm', 'epc']);
    // play kube's pods have the exit policy stop
    await e2e.sb.ok(['play', 'kube', manifest('playep', pod('playep', `      image: ${bb}\n      command: ["true"]\n`))]);
    expect((await e2e.json(['pod', 'inspect', 'playep'])).ExitPolicy).toBe('stop');
    expect((await until(() => e2e.json(['pod', 'inspect', 'playep']), (p) => p.State === 'Exited')).State).toBe('Exited');
  });

  it('--pod new:NAME makes the pod, which takes --hostname; rm --depend of the infra removes its pod', async () => {
    expect((await e2e.out(['run', '--rm', '--pod', 'new:np', '--hostname', 'foobar', bb, 'hostname'])).trim()).toBe('foobar');
    await e2e.sb.ok(['pod', 'rm', 'np']);
    expect((await e2e.out(['run', '--rm', '--pod', 'new:np', bb, 'hostname'])).trim()).toBe('np');
    await e2e.sb.ok(['pod', 'rm', 'np']);
    const ctr = (await e2e.out(['create', '--pod', 'new:dep', bb, 'true'])).trim();
    const infra = (await e2e.json(['pod', 'inspect', 'dep'])).InfraContainerID;
    const refused = await e2e.sb.run(['container', 'rm', '--force', infra]);
    expect(refused.exitCode).toBe(125);
    expect(String(refused.stderr)).toContain('and cannot be removed without removing the pod');
    const out = await e2e.out(['container', 'rm', '--depend', infra]);
    expect(out).toContain(infra);
    expect(out).toContain(ctr);
    expect((await e2e.sb.run(['pod', 'exists', 'dep'])).exitCode).toBe(1);
  });

  it('--restart and generate systemd --new (Restart=, StartLimitBurst=, -e), --template; --systemd=always sets container_uuid', async () => {
    const bad = await e2e.sb.run(['create', '--restart', 'sometimes', bb]);
    expect(String(bad.stderr)).toBe('Error: invalid restart policy "sometimes": use no, always, on-failure[:N] or unless-stopped');
    await e2e.sb.ok(['create', '--restart=on-failure:42', '-e', 'FOO=bar', '--name', 'rs', bb, 'sleep', '1']);
    expect((await e2e.json(['container', 'inspect', 'rs']))[0].HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 42 });
    const unit = await e2e.out(['generate', 'systemd', '--new', '-e', 'FOO', 'rs']);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^StartLimitBurst=42$/m);
    expect(unit).toMatch(/^Environment=FOO=bar$/m);
    expect(await e2e.out(['generate', 'systemd', '--new', '--restart-policy=always', 'rs'])).toMatch(/^Restart=always$/m);
    const tpl = await e2e.out(['generate', 'systemd', '--template', '-n', 'rs']);
    expect(tpl).toContain('# container-rs@.service');
    expect(tpl).toMatch(/--name rs-%i/);
    const both = await e2e.sb.run(['generate', 'systemd', '--new=false', '--template', '-n', 'rs']);
    expect(String(both.stderr)).toBe('Error: --template cannot be set with --new=false');
    await e2e.sb.ok(['pod', 'create', '--name', 'tplpod']);
    expect(String((await e2e.sb.run(['generate', 'systemd', '--new', '--template', 'tplpod'])).stderr)).toBe('Error: --template is not supported for pods');
    // unless-stopped is always for systemd
    await e2e.sb.ok(['create', '--restart=unless-stopped', '--name', 'us', bb, 'true']);
    expect(await e2e.out(['generate', 'systemd', '--new', 'us'])).toMatch(/^Restart=always$/m);
    const uuid = (await e2e.out(['run', '--systemd=always', '--name', 'sd', bb, 'sh', '-c', 'echo $container_uuid'])).trim();
    expect(uuid).toBe(((await e2e.json(['container', 'inspect', 'sd']))[0].Id as string).slice(0, 32));
  });

  it('the auto-update label needs a fully qualified image of the docker transport (Podman\'s messages)', async () => {
    await e2e.sb.ok(['tag', bb, 'shortname:latest']);
    const short = await e2e.sb.run(['create', '--label', 'io.containers.autoupdate=registry', 'shortname:latest', 'true']);
    expect(String(short.stderr)).toBe('Error: short name: auto updates require fully-qualified image reference: "shortname:latest"');
    const archive = await e2e.sb.run(['create', '--label', 'io.containers.autoupdate=registry', 'docker-archive:/nonexistent.tar', 'true']);
    expect(String(archive.stderr)).toBe('Error: auto updates require the docker image transport but image is of transport "docker-archive"');
    await e2e.sb.ok(['create', '--label', 'io.containers.autoupdate=registry', bb, 'true']);
    await e2e.sb.ok(['create', '--label', 'io.containers.autoupdate=local', 'shortname:latest', 'true']);
  });

  it('a standalone container with --restart=on-failure is restarted by its exit command', async () => {
    await e2e.sb.ok(['run', '-d', '--restart=on-failure:1', '--name', 'again', bb, 'sh', '-c', 'echo ran; exit 3'], { env: { PEAPOD_RESTART_BACKOFF_MS: '100' } });
    const logs = await until(() => e2e.out(['logs', 'again']), (s) => s.split('ran').length - 1 >= 2);
    expect(logs.split('ran').length - 1).toBe(2);
    expect((await e2e.json(['container', 'inspect', 'again']))[0].RestartCount).toBe(1);
  });
});

describe('a dead aardvark-dns (250-systemd: its unit\'s cgroup ended it)', () => {
  it('pod rm still tears the network down, drops the pod\'s names and the stale pid file', async () => {
    // two pods: removing the first leaves names in aardvark's file, so netavark must signal aardvark
    for (const n of ['dns1', 'dns2']) await e2e.sb.ok(['play', 'kube', manifest(n, pod(n, '      image: localhost/bb:latest\n      command: ["sleep", "1000"]\n'))]);
    const dir = path.join(e2e.sb.runroot, 'netavark', 'aardvark-dns');
    const pidFile = path.join(dir, 'aardvark.pid');
    const pid = Number((await fs.readFile(pidFile, 'utf8')).trim());
    expect(pid).toBeGreaterThan(1);
    const one = await e2e.json(['pod', 'inspect', 'dns1']);
    const two = await e2e.json(['pod', 'inspect', 'dns2']);
    const netFile = path.join(dir, (await fs.readdir(dir)).find((f) => f !== 'aardvark.pid')!);
    expect(await fs.readFile(netFile, 'utf8')).toContain(one.Id);
    process.kill(pid, 'SIGKILL');
    // Here PID 1 reaps no orphan, so the killed aardvark stays a zombie that signals still reach; under
    // a systemd manager it is reaped and its pid is gone: write the pid of a process gone for good.
    const gone = execa('true');
    await gone;
    await fs.writeFile(pidFile, String(gone.pid));
    const [net] = await e2e.json(['network', 'inspect', 'peapod']);
    const brif = `/sys/class/net/${net.network_interface}/brif`;
    expect((await fs.readdir(brif)).length).toBe(2);
    const r = await e2e.sb.run(['pod', 'rm', '-f', '-t', '0', 'dns1']);
    expect(String(r.stderr)).toBe('');
    expect(r.exitCode).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    const left = await fs.readFile(netFile, 'utf8');
    expect(left).not.toContain(one.Id);
    expect(left).toContain(two.Id);
    // the first pod's veth is gone from the bridge, the second's is there
    expect((await fs.readdir(brif)).length).toBe(1);
    // the next removal finds no aardvark and no pid file: no error either
    expect((await e2e.sb.run(['pod', 'rm', '-f', '-t', '0', 'dns2'])).exitCode).toBe(0);
    expect(existsSync(brif) ? (await fs.readdir(brif)).length : 0).toBe(0);
  });
});
