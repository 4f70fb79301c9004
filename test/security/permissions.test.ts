// Scope 3 of issue 14: another user of the host (uid 65534 here) can read no secret under --root and
// --runroot and run no setuid file of an image there. The sandbox directory is opened to everyone
// (0755) first, so that only peapod's own modes stand in the way.
import { describe, it, expect, beforeAll } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, copyFileSync, rmSync, statSync, lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { useSandbox, until } from '../helpers/e2e.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';

const e2e = useSandbox('peapod-sec-perms');

/** Runs a command as uid/gid 65534 without supplementary groups; never throws. */
function asNobody(cmd: string[]) {
  return execa('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', ...cmd], { reject: false, timeout: 30_000 });
}

beforeAll(async () => {
  chmodSync(e2e.sb.dir, 0o755);
  // the test means something only if the other user gets as far as the sandbox
  expect((await asNobody(['ls', e2e.sb.dir])).exitCode).toBe(0);
});

describe('another host user', () => {
  it('finds no secret value readable under --root and --runroot (env, secret volume, bundle)', async () => {
    await e2e.sb.ok(['play', 'kube', e2e.manifest('sec', `apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {token: SECRETVALUE-perm-42}
---
apiVersion: v1
kind: Pod
metadata: {name: sec}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {fsGroup: 3000}
  volumes: [{name: s, secret: {secretName: creds, defaultMode: 0444}}]
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
      env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: creds, key: token}}}]
      volumeMounts: [{name: s, mountPath: /s}]
`)]);
    // as root the value is there (env in config.json, the volume's file): the search would find it
    const asRoot = await execa('grep', ['-rl', 'SECRETVALUE-perm-42', e2e.sb.root, e2e.sb.runroot], { reject: false });
    expect(String(asRoot.stdout)).not.toBe('');
    const r = await asNobody(['grep', '-r', 'SECRETVALUE-perm-42', e2e.sb.root, e2e.sb.runroot]);
    expect(String(r.stdout)).toBe('');
    expect(String(r.stderr)).toMatch(/Permission denied/);
    // the modes that make it so
    for (const d of [e2e.sb.root, e2e.sb.runroot]) expect(statSync(d).mode & 0o777).toBe(0o700);
    const id = await e2e.out(['inspect', '-f', '{{.Id}}', 'sec-app']);
    const bundle = path.join(e2e.sb.runroot, 'containers', id);
    expect(statSync(bundle).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(bundle, 'config.json')).mode & 0o777).toBe(0o600);
    const podId = await e2e.out(['pod', 'inspect', '-f', '{{.Id}}', 'sec']);
    const tmpfs = path.join(e2e.sb.runroot, 'pods', podId, 'volumes', 's');
    expect(statSync(tmpfs).mode & 0o777).toBe(0o700);
    // inside, the files keep defaultMode and fsGroup, and the container reads them
    expect(await e2e.out(['exec', 'sec-app', 'stat', '-L', '-c', '%a %g', '/s/token'])).toBe('444 3000');
    expect(await e2e.out(['exec', 'sec-app', 'cat', '/s/token'])).toBe('SECRETVALUE-perm-42');
  });

  it('cannot run an image\'s setuid files under --root or --runroot', async () => {
    const dir = mkdtempSync(path.join(e2e.sb.dir, 'img-'));
    const rootfs = path.join(dir, 'rootfs');
    mkdirSync(rootfs);
    await execa('tar', ['-xf', await busyboxRootfsTar(e2e.sb.dir), '-C', rootfs]);
    copyFileSync(path.join(rootfs, 'bin/busybox'), path.join(rootfs, 'bin/suid-sh'));
    chmodSync(path.join(rootfs, 'bin/suid-sh'), 0o4755);
    await execa('tar', ['-cf', path.join(dir, 'img.tar'), '-C', rootfs, '.']);
    rmSync(rootfs, { recursive: true, force: true });
    await e2e.sb.ok(['image', 'import', path.join(dir, 'img.tar'), 'localhost/suid']);
    await e2e.sb.ok(['run', '-d', '--name', 'suid', 'localhost/suid', 'sh', '-c', "trap 'exit 0' TERM; sleep 3600 & wait"]);
    await until(() => e2e.json(['inspect', 'suid']), (x) => x[0].State.Status === 'running');
    // as root: the setuid file is there, in the layer store and in the running container's rootfs
    const found = String((await execa('find', [e2e.sb.root, e2e.sb.runroot, '-xdev', '-name', 'suid-sh', '-perm', '-4000'], { reject: false })).stdout).split('\n').filter(Boolean);
    const merged = path.join(e2e.sb.runroot, 'containers', await e2e.out(['inspect', '-f', '{{.Id}}', 'suid']), 'merged', 'bin', 'suid-sh');
    expect(lstatSync(merged).mode & 0o4000).toBe(0o4000);
    for (const f of [...found, merged]) {
      // through a shell: the path is looked up as 65534 (setpriv itself would resolve it as root)
      const r = await asNobody(['/bin/sh', '-c', 'exec "$0" id -u', f]);
      expect(r.exitCode, f).not.toBe(0);
      expect(String(r.stdout), f).not.toBe('0');
      expect(String(r.stderr), f).toMatch(/Permission denied/);
    }
    expect(found.length).toBeGreaterThan(0);
  });
});

describe('host-wide claims', () => {
  it('live in a root-owned 0700 directory, not in world-writable /run/lock', async () => {
    await e2e.sb.ok(['network', 'create', 'permnet']);
    await e2e.sb.ok(['play', 'kube', '--network', 'permnet', e2e.manifest('net', `apiVersion: v1
kind: Pod
metadata: {name: net}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: localhost/busybox:latest, command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}]
`)]);
    const st = lstatSync('/run/peapod-host');
    expect(st.isDirectory()).toBe(true);
    expect(st.uid).toBe(0);
    expect(st.mode & 0o777).toBe(0o700);
    expect(readdirSync('/run/peapod-host/bridges').length).toBeGreaterThan(0);
    expect((await asNobody(['ls', '/run/peapod-host'])).exitCode).not.toBe(0);
    await e2e.sb.ok(['pod', 'rm', '-f', '-t', '0', 'net']);
    await e2e.sb.ok(['network', 'rm', 'permnet']);
  });
});
