// engine/spawn.ts: programs started by peapod-spawn (dist/native/, built by `npm run build`) give
// exactly what node:child_process gives (the fallback, PEAPOD_SPAWN_HELPER=0), on real programs.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

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
