// engine/spawn.ts: programs started by peapod-spawn (dist/native/, built by `npm run build`) give
// exactly what node:child_process gives (the fallback, PEAPOD_SPAWN_HELPER=0), on real programs.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { asSystemCall } from '../../../engine/spawn.js';
import { requireRoot } from '../../helpers/cli.js';

type SpawnModule = typeof import('../../../engine/spawn.js');
const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A fresh copy of engine/spawn.ts (its helper is chosen once per module instance). */
async function load(helper: boolean): Promise<SpawnModule> {
  vi.resetModules();
  const before = process.env.PEAPOD_SPAWN_HELPER;
  if (helper) delete process.env.PEAPOD_SPAWN_HELPER; else process.env.PEAPOD_SPAWN_HELPER = '0';
  const m = await import('../../../engine/spawn.js');
  await m.runProgram('/bin/true', []); // the choice is made at the first call
  if (before === undefined) delete process.env.PEAPOD_SPAWN_HELPER; else process.env.PEAPOD_SPAWN_HELPER = before;
  return m;
}

let viaHelper: SpawnModule;
let viaNode: SpawnModule;

beforeAll(async () => {
  if (!existsSync(path.join(PROJECT, 'dist', 'native', 'peapod-spawn'))) {
    throw new Error('dist/native/peapod-spawn is not built: run `npm run build` first (scripts/test.sh does)');
  }
  viaHelper = await load(true);
  viaNode = await load(false);
});
afterAll(() => { delete process.env.PEAPOD_SPAWN_TEST; });

const cases: [string, string[], { input?: string; timeoutMs?: number }?][] = [
  ['echo', ['hello', 'two words', '']],
  ['sh', ['-c', 'echo out; echo err >&2; exit 3']],
  ['cat', [], { input: 'from stdin\n' }],
  ['cat', [], { input: 'x'.repeat(300_000) }],
  ['cat', [], { input: '' }],
  ['sh', ['-c', 'exec 0<&-; exit 0'], { input: 'y'.repeat(300_000) }],
  ['sh', ['-c', 'head -c 200000 /dev/zero | tr "\\0" z; head -c 100000 /dev/zero | tr "\\0" e >&2']],
  ['no-such-program-here', []],
  ['/etc/passwd', []],
  ['sleep', ['5'], { timeoutMs: 200 }],
  ['sh', ['-c', 'kill -9 $$']],
  ['sh', ['-c', 'ls /proc/self/fd | sort; pwd; trap -p; cat /proc/self/status | grep -E "^Sig(Blk|Ign)"']],
  ['sh', ['-c', 'echo "$PEAPOD_SPAWN_TEST"']],
];

describe('peapod-spawn', () => {
  it('gives what node:child_process gives: output, exit codes, input, failures to start, timeouts, signals, descriptors, signal state', async () => {
    process.env.PEAPOD_SPAWN_TEST = 'set after the helper started';
    for (const [file, args, opts] of cases) {
      const a = await viaHelper.runProgram(file, args, opts);
      const b = await viaNode.runProgram(file, args, opts);
      expect({ file, args, ...a }).toEqual({ file, args, ...b });
    }
    expect((await viaHelper.runProgram('sh', ['-c', 'echo "$PEAPOD_SPAWN_TEST"'])).stdout).toBe('set after the helper started');
  });

  it('really starts the programs from the helper, many at once', async () => {
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => viaHelper.runProgram('sh', ['-c', `echo ${i} $PPID`])));
    expect(rs.map((r) => r.stdout.split(' ')[0])).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
    const parents = new Set(rs.map((r) => r.stdout.split(' ')[1]));
    expect(parents.size).toBe(1);
    expect(parents.has(String(process.pid))).toBe(false);
  });

  it('refuses a NUL byte inside an argument (it would shift the arguments after it) as Node does', async () => {
    const a = await viaHelper.runProgram('echo', ['a\0--b', 'c']);
    expect(a.exitCode).toBe(-1);
    expect(a.stdout).toBe('');
    const b = await viaNode.runProgram('echo', ['a\0--b', 'c']);
    expect(b.exitCode).toBe(-1);
    await expect(viaHelper.launchWithSyncPipes('sh', ['-c', 'true', 'x\0y'], process.env, '/')).rejects.toThrow(/null byte/);
  });

  it('launches with sync pipes (conmon) as Node does: fd 3 reports, fd 4 gives "0", a new session, the working directory', async () => {
    const script = 'read x <&4; echo "{\\"go\\":\\"$x\\",\\"cwd\\":\\"$(pwd)\\",\\"leader\\":$(($(ps -o sid= -p $$) == $$)),\\"v\\":\\"$V\\"}" >&3; sleep 0.2';
    for (const m of [viaHelper, viaNode]) {
      const r = await m.launchWithSyncPipes('sh', ['-c', script], { ...process.env, V: 'env given' }, '/tmp');
      expect(JSON.parse(r.line)).toEqual({ go: '0', cwd: '/tmp', leader: 1, v: 'env given' });
      const quiet = await m.launchWithSyncPipes('sh', ['-c', 'echo oops >&2'], process.env, '/');
      expect(quiet.line).toBe('');
      await expect(m.launchWithSyncPipes('no-such-conmon', [], process.env, '/')).rejects.toThrow(/ENOENT/);
    }
  });
});

describe('waiting for a process to end (pidfd in peapod-spawn)', () => {
  it('wakes at the exit, at the timeout, at once for a process already gone; without the helper the caller polls', async () => {
    const { spawn } = await import('node:child_process');
    const start = (secs: string) => { const c = spawn('sleep', [secs], { detached: true, stdio: 'ignore' }); c.unref(); return c; };
    const short = start('0.3');
    let t = Date.now();
    expect(await viaHelper.waitForExit(short.pid!, 10_000)).toBe('exited');
    expect(Date.now() - t).toBeLessThan(9_000);
    const long = start('30');
    t = Date.now();
    expect(await viaHelper.waitForExit(long.pid!, 300)).toBe('timeout');
    expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    long.kill('SIGKILL');
    expect(await viaHelper.waitForExit(long.pid!, 10_000)).toBe('exited');
    expect(await viaHelper.waitForExit(2 ** 22 + 12345, 10_000)).toBe('exited');
    expect(await viaNode.waitForExit(process.pid, 10)).toBe('unsupported');
  });
});

describe('mount and umount made by peapod-spawn itself', () => {
  it('takes only the plain forms; anything else runs mount(8)/umount(8)', () => {
    expect(asSystemCall('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=1777,size=65536k', 'shm', '/x'])).toEqual(['mount', 'tmpfs', 'shm', '/x', '14', 'mode=1777,size=65536k']);
    expect(asSystemCall('mount', ['-t', 'overlay', 'overlay', '-o', 'lowerdir=/a:/b,upperdir=/u,workdir=/w', '/t'])).toEqual(['mount', 'overlay', 'overlay', '/t', '0', 'lowerdir=/a:/b,upperdir=/u,workdir=/w']);
    expect(asSystemCall('umount', ['-l', '/a', '/b'])).toEqual(['umount', '1', '/a', '/b']);
    expect(asSystemCall('umount', ['/a'])).toEqual(['umount', '0', '/a']);
    for (const args of [['--bind', '/a', '/b'], ['-o', 'bind', '/a', '/b'], ['-t', 'tmpfs', '-o', 'size=1k,X-mount.mkdir', 'x', '/b'], ['-t', 'tmpfs', '-o', 'loop=/dev/loop0', 'x', '/b'], ['-t', 'tmpfs', 'x'], ['-t', 'tmpfs', 'x', '/b', '/c'], ['-t', 'tmpfs', '-o', 'rw,,size=1k', 'x', '/b']]) {
      expect(asSystemCall('mount', args)).toBeUndefined();
    }
    expect(asSystemCall('unshare', ['--net=/run/ns', 'ip', 'link', 'set', 'lo', 'up'])).toEqual(['netns', '/run/ns']);
    expect(asSystemCall('unshare', ['--net=/run/ns', 'ip', 'link', 'set', 'eth0', 'up'])).toBeUndefined();
    expect(asSystemCall('unshare', ['--net', 'ip', 'link', 'set', 'lo', 'up'])).toBeUndefined();
    expect(asSystemCall('umount', ['-R', '/a'])).toBeUndefined();
    expect(asSystemCall('umount', [])).toBeUndefined();
    expect(asSystemCall('/bin/mount', ['-t', 'tmpfs', 'x', '/b'])).toBeUndefined();
  });

  it('mounts with the same options and fails with the same exit codes as the programs', async () => {
    requireRoot();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-spawn-mount-'));
    const mountsOf = (d: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === d)
      .map((l) => { const f = l.split(' '); return `${f[5]} ${f.slice(f.indexOf('-') + 1).join(' ').replace(/ \S+ /, ' SRC ')}`; });
    try {
      const seen: unknown[] = [];
      for (const [name, m] of [['helper', viaHelper], ['node', viaNode]] as const) {
        const d = path.join(dir, name);
        (await import('node:fs')).mkdirSync(d);
        const up = await m.runProgram('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=1777,size=65536k', 'shm', d]);
        const mode = (statSync(d).mode & 0o7777).toString(8);
        const table = mountsOf(d);
        const missing = await m.runProgram('mount', ['-t', 'tmpfs', '-o', 'size=1k', 'tmpfs', path.join(d, 'no', 'such')]);
        const down = await m.runProgram('umount', [d]);
        const again = await m.runProgram('umount', [d]);
        seen.push({ up: up.exitCode, mode, table, missing: missing.exitCode, missingSaid: missing.stderr.includes(path.join(d, 'no', 'such')), down: down.exitCode, again: again.exitCode, after: mountsOf(d) });
      }
      expect(seen[0]).toEqual(seen[1]);
      expect(seen[0]).toMatchObject({ up: 0, mode: '1777', missing: 32, missingSaid: true, down: 0, again: 32, after: [] });
    } finally {
      for (const d of ['helper', 'node']) await viaNode.runProgram('umount', ['-l', path.join(dir, d)]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a network namespace made by peapod-spawn itself', () => {
  it('is what `unshare --net=FILE ip link set lo up` makes: bound on the file, loopback up, and fails alike', async () => {
    requireRoot();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-spawn-netns-'));
    const fs = await import('node:fs');
    try {
      const seen: unknown[] = [];
      for (const [name, m] of [['helper', viaHelper], ['node', viaNode]] as const) {
        const f = path.join(dir, name);
        fs.writeFileSync(f, '');
        const made = await m.runProgram('unshare', [`--net=${f}`, 'ip', 'link', 'set', 'lo', 'up']);
        const inside = await viaNode.runProgram('nsenter', [`--net=${f}`, 'ip', '-o', 'addr', 'show']);
        const links = await viaNode.runProgram('nsenter', [`--net=${f}`, 'ip', '-o', 'link', 'show']);
        const bound = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === f);
        const failed = await m.runProgram('unshare', [`--net=${path.join(dir, 'no', 'such')}`, 'ip', 'link', 'set', 'lo', 'up']);
        await m.runProgram('umount', [f]);
        seen.push({ made: made.exitCode, addrs: inside.stdout.replace(/\s+/g, ' '), links: links.stdout.split('\n').length, up: /lo: <LOOPBACK,UP/.test(links.stdout), bound, failed: failed.exitCode, said: /unshare: .*No such file/.test(failed.stderr) });
      }
      expect(seen[0]).toEqual(seen[1]);
      expect(seen[0]).toMatchObject({ made: 0, links: 1, up: true, bound: true, failed: 1, said: true });
    } finally {
      for (const d of ['helper', 'node']) await viaNode.runProgram('umount', ['-l', path.join(dir, d)]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
