// Scope 5 of issue 14: state that survives damage. A damaged record (empty, torn JSON, a directory
// or a FIFO or a link in place of the file) is skipped with a warning naming the file, and ps, pod
// ps, play, kube down and system reset go on; system reset collects what the damaged record's
// objects left on the host (processes, mounts, netns, cgroups, network). The takeover of a dead
// holder's lock is atomic (many processes race for it: never two holders at once), and the
// leftovers of killed commands are collected.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { useSandbox } from '../helpers/e2e.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { settledLeaks } from '../helpers/leaks.js';
import { PROJECT } from '../helpers/cli.js';

const e2e = useSandbox('peapod-sec-state');

const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
`;

type Damage = 'empty' | 'torn' | 'directory' | 'fifo' | 'symlink';

function damage(file: string, how: Damage): void {
  const text = readFileSync(file, 'utf8');
  rmSync(file);
  if (how === 'empty') writeFileSync(file, '');
  else if (how === 'torn') writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
  else if (how === 'directory') mkdirSync(file);
  else if (how === 'fifo') execFileSync('mkfifo', [file]);
  else symlinkSync('/etc/shadow', file);
}

/** Network interfaces of the host, names only. */
function links(): string[] {
  return String(execFileSync('ip', ['-o', 'link', 'show'])).split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter((n): n is string => !!n).sort();
}

/** The host's iptables rules and chains, without counters. */
function rules(): string[] {
  return String(execFileSync('iptables-save')).split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).sort();
}

describe('a damaged record is skipped with a warning naming it', () => {
  const cases: Array<{ how: Damage; record: 'pod' | 'container' }> = [
    { how: 'empty', record: 'pod' },
    { how: 'torn', record: 'container' },
    { how: 'directory', record: 'pod' },
    { how: 'fifo', record: 'container' },
    { how: 'symlink', record: 'pod' },
    { how: 'torn', record: 'pod' },
  ];
  for (const { how, record } of cases) {
    it(`${how} ${record} record: ps, pod ps, play, kube down go on; system reset leaves nothing`, async () => {
      const sb = e2e.sb;
      // every case ends with a reset: the image again
      await sb.ok(['image', 'import', await busyboxRootfsTar(sb.dir), 'busybox']);
      const linksBefore = links();
      const rulesBefore = rules();
      await sb.ok(['play', 'kube', e2e.manifest('keep', pod('keep'))]);
      await sb.ok(['play', 'kube', e2e.manifest('hurt', pod('hurt'))]);
      const podId = (await e2e.out(['pod', 'inspect', '-f', '{{.Id}}', 'hurt'])).trim();
      const ctrId = (await e2e.out(['inspect', '-f', '{{.Id}}', 'hurt-app'])).trim();
      const file = record === 'pod' ? path.join(sb.root, 'pods', podId, 'pod.json') : path.join(sb.root, 'containers', ctrId, 'container.json');
      damage(file, how);

      const ps = await sb.run(['ps', '-a', '--format', 'json'], { timeout: 20_000 });
      expect(ps.exitCode, String(ps.stderr)).toBe(0);
      expect(String(ps.stderr)).toContain(`skipping damaged state record ${file}`);
      expect(JSON.parse(String(ps.stdout)).map((c: { Names: string[] }) => c.Names[0])).toContain('keep-app');
      const pps = await sb.run(['pod', 'ps', '--format', 'json'], { timeout: 20_000 });
      expect(pps.exitCode, String(pps.stderr)).toBe(0);
      expect(String(pps.stderr)).toContain(`skipping damaged state record ${file}`);
      expect(JSON.parse(String(pps.stdout)).map((p: { Name: string }) => p.Name)).toContain('keep');

      const more = e2e.manifest('more', pod('more'));
      const play = await sb.run(['play', 'kube', more], { timeout: 30_000 });
      expect(play.exitCode, String(play.stderr)).toBe(0);
      expect(String(play.stderr)).toContain(file);
      const down = await sb.run(['kube', 'down', more], { timeout: 30_000 });
      expect(down.exitCode, String(down.stderr)).toBe(0);
      const downHurt = await sb.run(['kube', 'down', e2e.manifest('hurt', pod('hurt'))], { timeout: 30_000 });
      expect(downHurt.exitCode, String(downHurt.stderr)).toBe(0);

      // reset: the damaged record's pod or container still runs (nobody could read its record)
      const reset = await sb.run(['system', 'reset', '--force'], { timeout: 60_000 });
      expect(reset.exitCode, String(reset.stderr)).toBe(0);
      expect(await settledLeaks(sb.dir)).toEqual([]);
      expect(existsSync(sb.root)).toBe(false);
      expect(links()).toEqual(linksBefore);
      expect(rules()).toEqual(rulesBefore);
    });
  }
});

/** A pid that was a process and is gone. */
function deadPid(): number {
  const r = execFileSync('sh', ['-c', 'echo $$']);
  return Number(String(r).trim());
}

describe('locks', () => {
  it('the takeover of a dead holder\'s lock is atomic: many racing processes, never two holders', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-lock-race-'));
    try {
      const lockDir = path.join(dir, 'locks', 'state.lock');
      const log = path.join(dir, 'log');
      writeFileSync(log, '');
      // Each racer takes the lock, writes "in" and "out" around a short stay; one in three then
      // dies holding it (process.exit inside), so that the others race to take over again and again.
      const racer = path.join(dir, 'racer.mjs');
      writeFileSync(racer, `
import { appendFileSync } from 'node:fs';
import { FileLock } from ${JSON.stringify(path.join(PROJECT, 'dist/engine/state/lock.js'))};
const [lockDir, log, die] = process.argv.slice(2);
await new FileLock(lockDir, 120000).with(async () => {
  appendFileSync(log, 'in ' + process.pid + '\\n');
  await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
  appendFileSync(log, 'out ' + process.pid + '\\n');
  if (die === '1') process.exit(0);
});
`);
      // the first holder is dead already: the race starts with a takeover
      mkdirSync(lockDir, { recursive: true });
      writeFileSync(path.join(lockDir, 'owner'), `${deadPid()} 12345`);
      const n = 24;
      const procs = Array.from({ length: n }, (_, i) => execa('node', [racer, lockDir, log, i % 3 === 0 ? '1' : '0'], { reject: false, timeout: 120_000 }));
      const results = await Promise.all(procs);
      for (const r of results) expect(r.exitCode, String(r.stderr)).toBe(0);
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(2 * n);
      for (let i = 0; i < lines.length; i += 2) {
        const [inn, out] = [lines[i]!.split(' '), lines[i + 1]!.split(' ')];
        expect([inn[0], out[0], out[1]]).toEqual(['in', 'out', inn[1]]);
      }
      // the kernel lock file: 0600, never followed if it is a link
      expect(statSync(`${lockDir}.takeover`).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a link planted as the takeover file is not followed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-lock-link-'));
    try {
      const lockDir = path.join(dir, 'state.lock');
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'owner'), `${deadPid()} 12345`);
      const target = path.join(dir, 'canary');
      writeFileSync(target, 'canary');
      symlinkSync(target, `${lockDir}.takeover`);
      const script = path.join(dir, 'take.mjs');
      writeFileSync(script, `
import { FileLock } from ${JSON.stringify(path.join(PROJECT, 'dist/engine/state/lock.js'))};
await new FileLock(process.argv[2], 2000).with(async () => {});
`);
      const r = await execa('node', [script, lockDir], { reject: false });
      expect(r.exitCode).not.toBe(0);
      expect(String(r.stderr)).toMatch(/ELOOP/);
      expect(readFileSync(target, 'utf8')).toBe('canary');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('leftovers of killed commands', () => {
  it('are collected by the next command that takes over a dead holder\'s lock; a live writer\'s are kept', async () => {
    const root = e2e.sb.root;
    const dead = deadPid();
    const locks = path.join(root, 'locks');
    mkdirSync(path.join(locks, 'state.lock'), { recursive: true });
    writeFileSync(path.join(locks, 'state.lock', 'owner'), `${dead} 12345`);
    const left = [
      path.join(locks, `state.lock.new.${dead}.k2j3`),
      path.join(locks, `ctr-${'a'.repeat(64)}.lock.released.${dead}.x1`),
      path.join(locks, `pod-${'b'.repeat(64)}.lock.stale.${dead}.y2`),
      path.join(root, 'pods', `.removing-${'c'.repeat(64)}`),
      path.join(root, 'containers', 'd'.repeat(64), `.container.json.${dead}-0123456789ab.tmp`),
      path.join(root, 'networks', `.peapod.json.${dead}-0123456789ab.tmp`),
    ];
    for (const f of left) {
      mkdirSync(path.dirname(f), { recursive: true });
      if (f.endsWith('.tmp')) writeFileSync(f, '{"torn');
      else { mkdirSync(f); writeFileSync(path.join(f, 'owner'), `${dead} 1`); }
    }
    const live = path.join(root, 'containers', 'd'.repeat(64), `.container.json.${process.pid}-0123456789ab.tmp`);
    writeFileSync(live, '{"being written');
    await e2e.sb.ok(['pod', 'create', '--name', 'after-crash']);
    for (const f of left) expect(existsSync(f), f).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(readdirSync(locks).filter((n) => n.startsWith('state.lock') && n !== 'state.lock.takeover')).toEqual([]);
    rmSync(path.join(root, 'containers', 'd'.repeat(64)), { recursive: true, force: true });
  });
});
