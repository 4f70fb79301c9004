// Scope 1 of issue 14: paths a manifest or an image controls are resolved inside their root, and
// what was resolved is what gets mounted. Each case plays the trick for real (runc, conmon,
// overlayfs) and checks that the harm did not happen: no host directory in a container, no host
// /etc/passwd read for USER.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, symlinkSync, renameSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { useSandbox } from '../helpers/e2e.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { holdInRoot, fdPath } from '../../engine/runtime/resolve.js';

const e2e = useSandbox('peapod-sec-paths');
const { json, manifest } = e2e;

const SLEEP = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

let canary: string;
beforeAll(() => {
  canary = mkdtempSync(path.join(os.tmpdir(), 'peapod-canary-'));
  writeFileSync(path.join(canary, 'host-only'), 'host-secret');
});
afterAll(() => rmSync(canary, { recursive: true, force: true }));

/** The links an init container plants in the volume before the app container mounts a subPath of it. */
const plant = () => [
  'ln -s nope/../esc /vol/x', 'ln -s /etc /vol/esc', // ".." after a missing component, then an absolute link
  `ln -s ${canary} /vol/abs`,
  'ln -s ../../../../../../../.. /vol/up',
  'ln -s l2 /vol/l1', 'ln -s l1 /vol/l2',
  'mkdir -p /vol/d && ln -s ../.. /vol/d/deep',
  `ln -s ${canary}/host-only /vol/file`,
  'mkdir -p /vol/real/inside && echo inside > /vol/real/inside/f && ln -s real/inside /vol/ok',
].join(' && ');

function subPathPod(name: string, mount: string): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  volumes: [{name: v, emptyDir: {}}]
  initContainers:
    - {name: plant, image: localhost/busybox:latest, command: ["sh", "-c", "${plant()}"], volumeMounts: [{name: v, mountPath: /vol}]}
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${SLEEP}
      env: [{name: TRICK, value: x}]
      volumeMounts: [${mount}]
`;
}

describe('subPath through symbolic links a container planted', () => {
  const cases = [
    { name: '".." after a missing component (x -> nope/../esc, esc -> /etc)', subPath: 'x', why: 'esc is a symbolic link to the absolute path /etc' },
    { name: 'below a link that leaves (x/passwd)', subPath: 'x/passwd', why: 'absolute path /etc' },
    { name: 'an absolute link to a host directory', subPath: 'abs', why: `absolute path ${'$CANARY'}` },
    { name: 'an absolute link to a host file', subPath: 'file', why: 'absolute path' },
    { name: 'a relative link above the volume', subPath: 'up', why: 'goes above the root' },
    { name: 'a relative link above the volume, deeper', subPath: 'd/deep/deep', why: 'goes above the root' },
    { name: 'a symlink loop', subPath: 'l1', why: 'too many levels of symbolic links' },
    { name: 'subPathExpr expanding to a trick', subPathExpr: '$(TRICK)', subPath: 'x', why: 'absolute path /etc' },
  ];
  it.each(cases.map((c, i) => ({ ...c, i })))('$name: refused, naming pod, container, volume and subPath; nothing of the host is mounted', async (c) => {
    const pod = `sp${c.i}`;
    const mount = c.subPathExpr ? `{name: v, mountPath: /mnt/x, subPathExpr: "${c.subPathExpr}"}` : `{name: v, mountPath: /mnt/x, subPath: "${c.subPath}"}`;
    const r = await e2e.sb.run(['play', 'kube', manifest(pod, subPathPod(pod, mount))]);
    expect(r.exitCode).not.toBe(0);
    const err = String(r.stderr);
    expect(err).toContain(`pod ${pod}, container app, volume v: subPath "${c.subPath}" leaves the volume`);
    expect(err).toContain(c.why.replace('$CANARY', canary));
    // the harm: the container never ran with a host directory (or file) as its mount
    const running = (await json(['ps', '--format', 'json'])).filter((x: { Names: string[] }) => x.Names.includes(`${pod}-app`));
    expect(running).toEqual([]);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(e2e.sb.dir));
    expect(mounts.filter((l) => / \/etc | \/tmp\/peapod-canary-/.test(l))).toEqual([]);
    // the canary is as it was
    expect(readFileSync(path.join(canary, 'host-only'), 'utf8')).toBe('host-secret');
  });

  it('a subPath through a relative link that stays inside the volume works (and missing directories are made)', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('spok', subPathPod('spok', '{name: v, mountPath: /mnt/ok, subPath: ok}, {name: v, mountPath: /mnt/new, subPath: made/here}'))]);
    expect(await e2e.out(['exec', 'spok-app', 'cat', '/mnt/ok/f'])).toBe('inside');
    expect(await e2e.out(['exec', 'spok-app', 'sh', '-c', 'touch /mnt/new/y && ls /mnt/new'])).toBe('y');
  });
});

describe('mounting what was resolved', () => {
  it('a directory held by fd and swapped for a symlink afterwards still mounts the original', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-swap-'));
    const stage = path.join(dir, 'stage');
    try {
      mkdirSync(path.join(dir, 'vol/d'), { recursive: true });
      writeFileSync(path.join(dir, 'vol/d/mine'), '');
      mkdirSync(stage);
      const held = holdInRoot(path.join(dir, 'vol'), 'd', { mode: 'contained' });
      expect(held).toBeDefined();
      // the container's move: swap the directory for a link to the host between resolution and mount
      renameSync(path.join(dir, 'vol/d'), path.join(dir, 'vol/d.old'));
      symlinkSync(canary, path.join(dir, 'vol/d'));
      try {
        await execa('mount', ['--no-canonicalize', '--bind', fdPath(held!.fd), stage]);
      } finally {
        held!.close();
      }
      try {
        expect(readdirSync(stage)).toEqual(['mine']);
      } finally {
        await execa('umount', [stage]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('workingDir', () => {
  it('a working directory through a leaked fd (CVE-2024-21626) never reaches the host', async () => {
    // runc resolves the working directory inside the container; its fix refuses a cwd outside the
    // container's root. Whatever fd numbers a runtime leaks, the host's canary stays out of reach.
    for (const fd of [3, 4, 5, 6, 7, 8, 9]) {
      const r = await e2e.sb.run(['run', '--rm', '--workdir', `/proc/self/fd/${fd}`, 'localhost/busybox:latest', 'sh', '-c', `cat ../../../../../../..${canary}/host-only`]);
      expect(String(r.stdout) + String(r.stderr), `fd ${fd}`).not.toContain('host-secret');
    }
  });
});

describe("an image whose /etc leads out of its rootfs", () => {
  /** A busybox image with `change` applied to its rootfs, imported as `name`. */
  async function image(name: string, change: (rootfs: string) => void): Promise<void> {
    const dir = mkdtempSync(path.join(e2e.sb.dir, 'img-'));
    const rootfs = path.join(dir, 'rootfs');
    mkdirSync(rootfs);
    await execa('tar', ['-xf', await busyboxRootfsTar(e2e.sb.dir), '-C', rootfs]);
    change(rootfs);
    await execa('tar', ['-cf', path.join(dir, 'img.tar'), '-C', rootfs, '.']);
    await e2e.sb.ok(['image', 'import', path.join(dir, 'img.tar'), name]);
    rmSync(dir, { recursive: true, force: true });
  }

  it('etc -> nope/../hostetc, hostetc -> /etc: USER nobody is not found (the host has nobody; the image has no passwd)', async () => {
    expect(readFileSync('/etc/passwd', 'utf8')).toMatch(/^nobody:/m);
    await image('localhost/etc-escape', (r) => {
      rmSync(path.join(r, 'etc'), { recursive: true });
      symlinkSync('nope/../hostetc', path.join(r, 'etc'));
      symlinkSync('/etc', path.join(r, 'hostetc'));
    });
    const r = await e2e.sb.run(['run', '--rm', '--user', 'nobody', 'localhost/etc-escape', 'id', '-u']);
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr)).toContain('unable to find user nobody');
    expect(String(r.stdout)).not.toContain('65534');
  });

  it('etc/passwd -> /../../../../etc/passwd stays in the image (a loop there), never the host file', async () => {
    await image('localhost/passwd-climb', (r) => {
      rmSync(path.join(r, 'etc/passwd'));
      symlinkSync('/../../../../../etc/passwd', path.join(r, 'etc/passwd'));
    });
    const r = await e2e.sb.run(['run', '--rm', '--user', '_apt', 'localhost/passwd-climb', 'id', '-u']);
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr)).toContain('/etc/passwd in the container');
    expect(String(r.stderr)).toContain('too many levels of symbolic links');
    expect(String(r.stdout)).not.toContain('42');
    expect(statSync('/etc/passwd').isFile()).toBe(true);
  });
});
