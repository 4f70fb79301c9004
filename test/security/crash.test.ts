// Scope 7 of issue 14 (with scope 5): a `play kube`, `image import` or `load` killed with -9 at any
// step leaves nothing that the next `kube down` or `system reset` does not remove: no process,
// mount, network namespace, link, iptables rule, cgroup, lock held, or half layer. Each step is hit
// exactly: PEAPOD_DEBUG_PAUSE_AT=<step> makes the command stop itself (SIGSTOP) there, and the test
// kills it with SIGKILL while it is stopped.
import { describe, it, expect } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { useSandbox } from '../helpers/e2e.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { settledLeaks } from '../helpers/leaks.js';
import { BIN } from '../helpers/cli.js';

const e2e = useSandbox('peapod-sec-crash');

const manifest = () => e2e.manifest('crash', `apiVersion: v1
kind: ConfigMap
metadata: {name: crash-cm}
data: {greeting: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - {name: scratch, emptyDir: {medium: Memory}}
    - {name: cm, configMap: {name: crash-cm}}
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
      ports: [{containerPort: 80, hostPort: 18089}]
      volumeMounts: [{name: scratch, mountPath: /scratch}, {name: cm, mountPath: /cm}]
`);

/** Network interfaces of the host, names only. */
function links(): string[] {
  return String(execFileSync('ip', ['-o', 'link', 'show'])).split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter((n): n is string => !!n).sort();
}

/** The host's iptables rules and chains, without counters. */
function rules(): string[] {
  return String(execFileSync('iptables-save')).split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).sort();
}

function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/**
 * Runs peapod with PEAPOD_DEBUG_PAUSE_AT=step, waits until it has stopped itself there, kills it
 * with SIGKILL. Fails when the command ends without reaching the step.
 */
async function killAt(step: string, args: string[]): Promise<void> {
  const sb = e2e.sb;
  const child = spawn(BIN, ['--root', sb.root, '--runroot', sb.runroot, ...args], {
    env: { ...process.env, PEAPOD_CGROUP_PARENT: sb.cgroupParent, PEAPOD_DEBUG_PAUSE_AT: step },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // listened for from the start: a fast command may end before any later listener is attached
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += String(d); });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let ended = false;
  void closed.then(() => { ended = true; });
  const pid = child.pid!;
  for (let i = 0; i < 600 && !ended && procState(pid) !== 'T'; i++) await new Promise((r) => setTimeout(r, 50));
  if (ended || procState(pid) !== 'T') {
    child.kill('SIGKILL');
    await closed;
    throw new Error(`peapod ${args.join(' ')} did not stop at ${step}: ${stderr}`);
  }
  expect(stderr).toContain(`paused at ${step}`);
  process.kill(pid, 'SIGKILL');
  await closed;
}

/** Nothing of the sandbox left on the host, and links and iptables as they were. */
async function expectClean(before: { links: string[]; rules: string[] }): Promise<void> {
  expect(await settledLeaks(e2e.sb.dir)).toEqual([]);
  expect(links()).toEqual(before.links);
  expect(rules()).toEqual(before.rules);
  const netns = path.join(e2e.sb.runroot, 'netns');
  expect(existsSync(netns) ? readdirSync(netns) : []).toEqual([]);
}

const PLAY_STEPS = ['pod-record', 'netns', 'network-setup', 'network-setup-done', 'shm', 'volumes', 'infra-rootfs', 'infra-created', 'infra-started', 'rootfs', 'created', 'started'];

describe('play kube killed with -9', () => {
  for (const step of PLAY_STEPS) {
    for (const after of ['kube down', 'system reset'] as const) {
      it(`at ${step}, then ${after}: nothing left`, async () => {
        const sb = e2e.sb;
        await sb.ok(['image', 'import', await busyboxRootfsTar(sb.dir), 'busybox']); // a reset before removed it
        const before = { links: links(), rules: rules() };
        const file = manifest();
        await killAt(step, ['play', 'kube', file]);
        if (after === 'kube down') {
          const down = await sb.run(['kube', 'down', file], { timeout: 60_000 });
          expect(down.exitCode, String(down.stderr)).toBe(0);
          // the locks the killed play held are taken over: the next play works, and goes down cleanly
          await sb.ok(['play', 'kube', file]);
          await sb.ok(['kube', 'down', file]);
        } else {
          const reset = await sb.run(['system', 'reset', '--force'], { timeout: 60_000 });
          expect(reset.exitCode, String(reset.stderr)).toBe(0);
          expect(existsSync(sb.root)).toBe(false);
        }
        await expectClean(before);
      });
    }
  }
});

describe('image import and load killed with -9', () => {
  /** A rootfs tar of its own (a layer busybox does not share), a few MiB. */
  function otherTar(): string {
    const dir = path.join(e2e.sb.dir, 'other');
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    for (let i = 0; i < 8; i++) writeFileSync(path.join(dir, 'data', `f${i}`), Buffer.alloc(512 * 1024, i));
    const tar = path.join(e2e.sb.dir, 'other.tar');
    execFileSync('tar', ['-C', dir, '-cf', tar, '.']);
    return tar;
  }
  const storage = () => path.join(e2e.sb.root, 'storage');
  const layerDirs = () => readdirSync(path.join(storage(), 'layers')).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();

  for (const step of ['import-unpacked', 'import-layer-committed']) {
    it(`import at ${step}: images works, the import is redone, the next removal collects the half of it; reset leaves nothing`, async () => {
      const sb = e2e.sb;
      await sb.ok(['image', 'import', await busyboxRootfsTar(sb.dir), 'busybox']);
      const layersBefore = layerDirs();
      const tar = otherTar();
      await killAt(step, ['image', 'import', tar, 'other']);
      const images = await sb.run(['images', '--format', 'json']);
      expect(images.exitCode, String(images.stderr)).toBe(0);
      expect(String(images.stdout)).not.toContain('localhost/other');
      await sb.ok(['image', 'import', tar, 'other']);
      await sb.ok(['rmi', 'other']);
      // no half layer, no scratch directory of the killed import
      expect(layerDirs()).toEqual(layersBefore);
      expect(readdirSync(path.join(storage(), 'tmp'))).toEqual([]);
      const before = { links: links(), rules: rules() };
      const reset = await sb.run(['system', 'reset', '--force']);
      expect(reset.exitCode, String(reset.stderr)).toBe(0);
      await expectClean(before);
      expect(existsSync(sb.root)).toBe(false);
    });
  }

  it('load at load-staged: the load is redone, nothing half is left; reset leaves nothing', async () => {
    const sb = e2e.sb;
    await sb.ok(['image', 'import', await busyboxRootfsTar(sb.dir), 'busybox']);
    await sb.ok(['image', 'import', otherTar(), 'other']);
    const archive = path.join(sb.dir, 'other-archive.tar');
    await sb.ok(['save', '-o', archive, 'localhost/other:latest']);
    await sb.ok(['rmi', 'other']);
    const layersBefore = layerDirs();
    await killAt('load-staged', ['load', '-i', archive]);
    expect((await sb.run(['images'])).exitCode).toBe(0);
    await sb.ok(['load', '-i', archive]);
    await sb.ok(['rmi', 'other']);
    expect(layerDirs()).toEqual(layersBefore);
    expect(readdirSync(path.join(storage(), 'tmp'))).toEqual([]);
    const reset = await sb.run(['system', 'reset', '--force']);
    expect(reset.exitCode, String(reset.stderr)).toBe(0);
    expect(await settledLeaks(sb.dir)).toEqual([]);
  });
});
