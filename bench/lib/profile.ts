// npm run bench -- --profile: where peapod's time goes in play kube (1 × 1, 10 × 1) and kube down.
// Three views of the same commands, each from its own run:
//   1. a V8 CPU profile of the CLI (node --cpu-prof), summed by what the code was doing;
//   2. the debug log (--log-level debug), whose lines carry seconds since the CLI started;
//   3. every process the CLI spawned, with its start and duration (strace -f -e trace=execve).
// Raw files stay in bench/results/profile-<date>/ for a closer look (Chrome DevTools opens the profiles).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { live, run, sleep, which } from './exec.js';
import { Peapod } from './engines.js';
import { busyboxRootfsTar } from './image.js';
import { podYaml, podsYaml } from './manifests.js';
import { fmtMs, median } from './stats.js';

// --- CPU profile ------------------------------------------------------------------------------------

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/** What a stack was doing, judged from its innermost frame outwards (first rule that matches). */
export function categorize(stack: Array<{ functionName: string; url: string }>): string {
  for (const f of stack) {
    const u = f.url;
    if (f.functionName === '(garbage collector)') return 'garbage collection';
    if (f.functionName === '(idle)') return 'idle (waiting for child processes and I/O)';
    if (f.functionName === '(program)') return 'V8 and native, unattributed';
    if (u.includes('/node_modules/ajv/') || u.includes('/node_modules/fast-uri/') || u.includes('/node_modules/fast-deep-equal/')) return 'ajv: load and compile the schema, validate';
    if (u.includes('/node_modules/yaml/')) return 'yaml: load and parse';
    if (u.startsWith('node:internal/modules') || u.startsWith('node:internal/vm')) return 'module loading (resolve, read, compile)';
    if (u.includes('/node_modules/execa/') || u.includes('/node_modules/get-stream/') || u.includes('/node_modules/npm-run-path/')) return 'execa (process wrapper)';
    if (u.startsWith('node:internal/child_process') || u.startsWith('node:child_process')) return 'spawning processes (fork/exec, pipes)';
    if (u.startsWith('node:internal/fs') || u.startsWith('node:fs')) return 'file system calls (state, locks, mounts table)';
    if (u.includes('/node_modules/commander/')) return 'commander';
    if (u.includes('/dist/engine/')) return 'peapod engine code';
    if (u.includes('/dist/src/')) return 'peapod cli/kube code';
    if (u.includes('/node_modules/')) return `other dependencies (${u.split('/node_modules/')[1]?.split('/')[0]})`;
  }
  return 'node internals';
}

export function summarizeProfile(p: CpuProfile): { totalMs: number; categories: Array<[string, number]>; topFunctions: Array<[string, number]> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cat = new Map<string, number>();
  const fn = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const us = p.timeDeltas[i] ?? 0;
    total += us;
    const stack: Array<{ functionName: string; url: string }> = [];
    for (let id: number | undefined = p.samples[i]; id !== undefined; id = parent.get(id)) stack.push(byId.get(id)!.callFrame);
    const c = categorize(stack);
    cat.set(c, (cat.get(c) ?? 0) + us);
    const leaf = stack[0];
    if (leaf && !leaf.functionName.startsWith('(')) {
      const where = leaf.url ? leaf.url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/') : 'native';
      const key = `${leaf.functionName || '(anonymous)'} ${where}`;
      fn.set(key, (fn.get(key) ?? 0) + us);
    }
  }
  const sorted = (m: Map<string, number>) => [...m].map(([k, v]) => [k, v / 1000] as [string, number]).sort((a, b) => b[1] - a[1]);
  return { totalMs: total / 1000, categories: sorted(cat), topFunctions: sorted(fn).slice(0, 12) };
}

// --- strace ---------------------------------------------------------------------------------------

export interface Spawn { pid: string; startMs: number; ms?: number; argv: string[] }

/** Processes from `strace -f -tt -e trace=execve` output: start offset, duration, argv (the last execve of each pid). */
export function parseStrace(text: string): { spawns: Spawn[]; mainExitMs?: number } {
  const toMs = (t: string) => { const [h, m, s] = t.split(':'); return (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1000; };
  let t0: number | undefined;
  let main: string | undefined;
  let mainExitMs: number | undefined;
  const byPid = new Map<string, Spawn>();
  for (const line of text.split('\n')) {
    const m = line.match(/^(\d+)\s+(\d\d:\d\d:\d\d\.\d+)\s+(.*)$/);
    if (!m) continue;
    const [, pid, ts, rest] = m;
    const t = toMs(ts);
    t0 ??= t;
    main ??= pid;
    const ex = rest.match(/^execve\("[^"]*", \[(.*?)\]/);
    if (ex && !/= -1 /.test(rest)) {
      // strace prints long strings cut short, as "abc"...
      const argv = [...ex[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((a) => a[1]);
      const prev = byPid.get(pid);
      byPid.set(pid, { pid, startMs: prev?.startMs ?? t - t0, argv });
    }
    if (/^\+\+\+ (exited|killed)/.test(rest)) {
      const sp = byPid.get(pid);
      if (sp && sp.ms === undefined) sp.ms = t - t0 - sp.startMs;
      if (pid === main) mainExitMs = t - t0;
    }
  }
  return { spawns: [...byPid.values()].filter((s) => s.pid !== main), mainExitMs };
}

function programOf(s: Spawn): string {
  const a = s.argv;
  const base = path.basename(a[0] ?? '?');
  if (base === 'runc' || base === 'crun') return `${base} ${a.find((x) => ['create', 'start', 'kill', 'delete', 'state', 'init'].includes(x)) ?? ''}`.trim();
  if (base === 'netavark') return `netavark ${a.find((x) => x === 'setup' || x === 'teardown') ?? ''}`.trim();
  if (base === 'iptables' || base === 'ip6tables') return 'iptables (run by netavark)';
  if (base === 'mount' || base === 'umount') return `${base}${a.includes('overlay') ? ' overlay' : a.includes('tmpfs') ? ' tmpfs' : ''}`;
  return base;
}

// --- running ----------------------------------------------------------------------------------------

async function straced(out: string, argv: string[], env: Record<string, string>): Promise<void> {
  const child = spawn('strace', ['-f', '-tt', '--seccomp-bpf', '-e', 'trace=execve', '-e', 'signal=none', '-o', out, ...argv], {
    stdio: 'ignore', env: { ...process.env, ...env },
  });
  live.add(child);
  // strace -f also follows conmon, which stays: stop tracing once the CLI itself has exited.
  for (let i = 0; i < 6000; i++) {
    await sleep(50);
    if (child.exitCode !== null) break;
    const text = existsSync(out) ? readFileSync(out, 'utf8') : '';
    const main = text.match(/^(\d+) /)?.[1];
    if (main && new RegExp(`^${main}\\s+\\S+\\s+\\+\\+\\+ (exited|killed)`, 'm').test(text)) break;
  }
  await sleep(100);
  if (child.exitCode === null) child.kill('SIGKILL');
  live.delete(child);
}

interface ProfileOptions {
  project: string;
  bin: string;
  log: (msg: string) => void;
  /** hands the engine and the temp dir to the caller, which cleans them up (also on Ctrl-C) */
  register: (e: Peapod, dir: string) => void;
}

export async function runProfile(o: ProfileOptions): Promise<number> {
  const dir = mkdtempSync('/tmp/peapod-bench-profile-');
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const outDir = path.join(o.project, 'bench', 'results', `profile-${stamp}`);
  mkdirSync(outDir, { recursive: true });
  const p = new Peapod(dir, o.bin);
  o.register(p, dir);
  const main = path.join(o.project, 'dist', 'src', 'cli', 'main.js');
  const hasStrace = !!which('strace');
  const report: string[] = [];
  const say = (s = '') => { report.push(s); process.stdout.write(`${s}\n`); };
  try {
    const tar = await busyboxRootfsTar(dir);
    await p.setup(tar);
    const f1 = path.join(dir, 'pod-1x1.yaml');
    const f10 = path.join(dir, 'pods-10x1.yaml');
    writeFileSync(f1, podYaml('b1', 1));
    writeFileSync(f10, podsYaml('p', 10, 1));
    await p.must(p.playArgs(f1));
    await p.must(p.downArgs(f1));
    const settle = async () => {
      for (let i = 0; i < 600 && p.helpers().length; i++) await sleep(50);
      await sleep(100);
    };
    say(`# peapod profile, ${new Date().toISOString().slice(0, 10)}`);
    say();
    say('Figures from instrumented runs (the CPU profiler and strace slow the CLI down); plain wall times are medians of 3 uninstrumented runs.');
    for (const [label, file] of [['1 pod × 1 container', f1], ['10 pods × 1 container', f10]] as const) {
      for (const step of ['play', 'down'] as const) {
        const args = step === 'play' ? p.playArgs(file) : p.downArgs(file);
        const prepare = async () => {
          // play needs a clean root; down needs the pods up
          await settle();
          if (step === 'play') await p.removeAllPods();
          else if (!(await p.listPods()).length) await p.must(p.playArgs(file));
          await settle();
        };
        const name = `${step === 'play' ? 'play kube' : 'kube down'} ${label}`;
        const slug = `${step}-${label.startsWith('1 ') ? '1x1' : '10x1'}`;
        o.log(`profile: ${name}`);
        // plain
        const plain: number[] = [];
        for (let i = 0; i < 3; i++) {
          await prepare();
          const r = await p.run(args);
          if (r.code !== 0) throw new Error(`${name}: ${r.stderr.trim()}`);
          plain.push(r.ms);
        }
        // CPU profile
        await prepare();
        const profDir = path.join(outDir, `${slug}-cpuprofile`);
        mkdirSync(profDir, { recursive: true });
        await run([process.execPath, '--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '200', main, ...p.base().slice(1), ...args], { env: p.env, timeoutMs: 600_000 });
        const profFile = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
        // debug log
        await prepare();
        const dbg = await run([...p.base(), '--log-level', 'debug', ...args], { env: p.env, timeoutMs: 600_000 });
        writeFileSync(path.join(outDir, `${slug}-debug.log`), dbg.stderr);
        // process spawns
        let spawns: ReturnType<typeof parseStrace> | undefined;
        if (hasStrace) {
          await prepare();
          const st = path.join(outDir, `${slug}-strace.txt`);
          await straced(st, [...p.base(), ...args], p.env);
          spawns = parseStrace(readFileSync(st, 'utf8'));
        }

        say();
        say(`## ${name}: ${fmtMs(median(plain))} (plain runs: ${plain.map(fmtMs).join(', ')})`);
        if (profFile) {
          const s = summarizeProfile(JSON.parse(readFileSync(path.join(profDir, profFile), 'utf8')));
          say();
          say(`CPU profile of the CLI process (${fmtMs(s.totalMs)} under the profiler):`);
          say();
          say('| what the CLI was doing | ms | share |');
          say('| --- | ---: | ---: |');
          for (const [c, ms] of s.categories) say(`| ${c} | ${ms.toFixed(0)} | ${((ms / s.totalMs) * 100).toFixed(0)}% |`);
          say();
          say('Hottest functions (self time): ' + s.topFunctions.slice(0, 8).map(([f, ms]) => `${f} ${ms.toFixed(0)} ms`).join('; '));
        }
        const lines = dbg.stderr.split('\n').filter((l) => l.startsWith('DEBUG['));
        if (lines.length) {
          say();
          say('Debug log (seconds since the CLI started):');
          say();
          say('```');
          for (const l of lines) say(l.length > 160 ? `${l.slice(0, 157)}...` : l);
          say('```');
        }
        if (spawns) {
          const byProg = new Map<string, { n: number; ms: number[] }>();
          for (const sp of spawns.spawns) {
            const k = programOf(sp);
            const e = byProg.get(k) ?? { n: 0, ms: [] };
            e.n++;
            if (sp.ms !== undefined) e.ms.push(sp.ms);
            byProg.set(k, e);
          }
          const first = Math.min(...spawns.spawns.map((s) => s.startMs));
          say();
          say(`Processes the CLI started (strace; the CLI exited at ${fmtMs(spawns.mainExitMs ?? NaN)}, its first child started at ${fmtMs(first)}; `
            + 'strace slows down whatever starts many processes, netavark above all (it runs iptables about 20 times): take the debug log\'s timestamps for real durations):');
          say();
          say('| program | count | median duration | sum of durations |');
          say('| --- | ---: | ---: | ---: |');
          for (const [k, v] of [...byProg].sort((a, b) => b[1].ms.reduce((x, y) => x + y, 0) - a[1].ms.reduce((x, y) => x + y, 0))) {
            say(`| ${k} | ${v.n} | ${v.ms.length ? fmtMs(median(v.ms)) : 'still running'} | ${v.ms.length ? fmtMs(v.ms.reduce((x, y) => x + y, 0)) : ''} |`);
          }
        }
      }
    }
    writeFileSync(path.join(outDir, 'profile.md'), `${report.join('\n')}\n`);
    o.log(`profile: written to ${outDir}`);
    return 0;
  } catch (err) {
    o.log(`profile: failed: ${(err as Error).stack ?? err}`);
    return 1;
  }
}
