// npm run bench: peapod side by side with podman (where installed), interleaved, repeated.
// See bench/README.md. Everything it creates lives under one mkdtemp directory and is removed at
// the end, also on failure or Ctrl-C.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, isFullRun, USAGE, type BenchArgs, type Group } from './lib/args.js';
import { Aborted, cleaning, control, haveGnuTime, live, run, sleep, type RunResult } from './lib/exec.js';
import { Engine, Peapod, Podman } from './lib/engines.js';
import { busyboxRootfsTar } from './lib/image.js';
import { describeMachine, iptablesChains, machineLine, removeIdleNetavarkChains, type Machine } from './lib/host.js';
import { deploymentYaml, podYaml, podsYaml, GRACE_SECONDS } from './lib/manifests.js';
import { residentMemory, type MemoryReport } from './lib/memory.js';
import { registryTools, startRegistry, type LocalRegistry } from './lib/registry.js';
import { newScenario, renderMarkdown, scenarioStats, spliceReadme, type MemoryRow, type Report, type Scenario } from './lib/report.js';
import { fmtKb, fmtMs } from './lib/stats.js';
import { runProfile } from './lib/profile.js';
import { machineBusyMs, mountsUnder } from './lib/procfs.js';
import os from 'node:os';

const PROJECT = (() => {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'bin', 'peapod'))) return d;
    d = path.dirname(d);
  }
  throw new Error('cannot find the peapod project above the bench');
})();
const BIN = path.join(PROJECT, 'bin', 'peapod');

const log = (msg: string) => process.stderr.write(`${msg}\n`);

// --- state shared with the interrupt handler ----------------------------------------------------

let benchDir: string | undefined;
let engines: Engine[] = [];
let registry: LocalRegistry | undefined;
let chainsBefore: Set<string> | undefined;
let cleanedUp: Promise<string[]> | undefined;

async function cleanup(): Promise<string[]> {
  cleanedUp ??= cleaning.run(true, async () => {
    const problems: string[] = [];
    for (const c of live) {
      try { c.kill('SIGKILL'); } catch { /* gone */ }
    }
    await registry?.stop().catch(() => undefined);
    for (const e of engines) {
      try {
        problems.push(...(await e.cleanup()));
      } catch (err) {
        problems.push(`${e.name} cleanup: ${(err as Error).message}`);
      }
    }
    try {
      const removed = await removeIdleNetavarkChains(chainsBefore);
      if (removed.length) log(`removed netavark's idle chains (${removed.join(', ')}), which were not there before the bench`);
    } catch (err) {
      problems.push(`iptables: ${(err as Error).message}`);
    }
    if (benchDir) {
      for (const m of mountsUnder(benchDir)) await run(['umount', '-l', m], { timeoutMs: 30_000 });
      try {
        rmSync(benchDir, { recursive: true, force: true });
      } catch (err) {
        problems.push(`could not remove ${benchDir}: ${(err as Error).message}`);
      }
    }
    return problems;
  });
  return cleanedUp;
}

let interrupts = 0;
function onSignal(sig: NodeJS.Signals) {
  interrupts++;
  if (interrupts === 1) {
    log(`\n${sig}: stopping and removing everything the bench created (press Ctrl-C twice more to abandon the cleanup)`);
    control.aborted = true;
    for (const c of live) {
      try { c.kill('SIGTERM'); } catch { /* gone */ }
    }
    void cleanup().then((problems) => {
      for (const p of problems) log(`cleanup: ${p}`);
      process.exit(130);
    });
  } else if (interrupts >= 3) {
    log(`cleanup abandoned: remove ${benchDir} and the bench's pods by hand`);
    process.exit(130);
  } else {
    log('still cleaning up...');
  }
}

// --- measuring ------------------------------------------------------------------------------------

/** Waits until no helper process of any engine runs (exit commands of stopped containers). */
async function settle(timeoutMs = 30_000): Promise<number> {
  const t0 = Date.now();
  while (engines.some((e) => e.helpers().length)) {
    if (Date.now() - t0 > timeoutMs) {
      log(`  (helpers still running after ${timeoutMs / 1000} s: ${engines.flatMap((e) => e.helpers()).join(', ')})`);
      break;
    }
    await sleep(100);
  }
  return Date.now() - t0;
}

interface Timed extends RunResult {
  /** how long the engine's helper processes (exit commands) kept running after the command returned */
  tailMs: number;
}

/** One measurement: settle, run (wall time and peak RSS), then wait for the engine's helpers to finish. */
async function measure(s: Scenario, e: Engine, argv: string[]): Promise<Timed> {
  await settle();
  await sleep(100);
  const busy0 = machineBusyMs();
  const r = await run(argv, { env: e.env, measure: true, timeoutMs: 600_000 });
  const machineCpuMs = machineBusyMs() - busy0;
  const tailMs = await settle();
  s.samples[e.name].push({ ms: r.ms, maxRssKb: r.maxRssKb, ok: r.code === 0, error: r.code === 0 ? undefined : lastLines(r.stderr), tailMs, machineCpuMs, cliCpuMs: r.cpuMs });
  if (r.code !== 0) log(`  ${e.name} ${argv.slice(e.base().length).join(' ')}: exit ${r.code}: ${lastLines(r.stderr)}`);
  return { ...r, tailMs };
}

function lastLines(text: string): string {
  return text.trim().split('\n').filter((l) => !/failed to connect to syslog/.test(l)).slice(-2).join(' | ').slice(0, 300);
}

function progress(s: Scenario, rep: number, reps: number): void {
  const last = (e: Engine) => {
    const xs = s.samples[e.name];
    const x = xs[xs.length - 1];
    return x ? `${e.label} ${x.ok ? fmtMs(x.ms) : 'failed'}` : undefined;
  };
  log(`  [${rep}/${reps}] ${s.title}: ${engines.map(last).filter(Boolean).join(', ')}`);
}

// --- the run --------------------------------------------------------------------------------------

interface Results {
  machine: Machine;
  args: BenchArgs;
  report: Report;
  memory: Record<string, Partial<Record<string, MemoryReport>>>;
  replicas: Partial<Record<string, number[]>>;
}

async function bench(args: BenchArgs): Promise<Results> {
  const want = (g: Group) => args.only.includes(g);
  chainsBefore = (await iptablesChains())?.chains;
  benchDir = mkdtempSync('/tmp/peapod-bench-');
  writeFileSync(path.join(benchDir, 'owner'), `${process.pid}\n`);
  const work = path.join(benchDir, 'work');
  mkdirSync(work);

  log(`bench: working in ${benchDir}`);
  const loadStart = os.loadavg()[0];
  const tar = await busyboxRootfsTar(work);
  const peapod = new Peapod(benchDir, args.peapodBin ? path.resolve(args.peapodBin) : BIN);
  if (args.peapodBin) log(`bench: measuring the peapod at ${peapod.bin}`);
  engines = [peapod];
  const podmanWanted = args.podman && !args.against && Podman.installed();
  const podman = podmanWanted ? new Podman(benchDir) : undefined;
  const other = args.against ? new Peapod(benchDir, path.resolve(args.against), 'podman') : undefined;
  if (podman) engines.push(podman);
  if (other) {
    peapod.label = 'peapod A';
    other.label = 'peapod B';
    engines.push(other);
    log(`bench: A/B of two peapod builds: ${peapod.bin} against ${other.bin}`);
  }
  for (const e of engines) {
    log(`bench: setting up ${e.name} (private root, busybox image)`);
    await e.setup(tar);
  }
  const machine = await describeMachine(peapod.version);
  log(`bench: ${machineLine(machine)}`);
  if (!podman && !other) log(args.podman ? 'bench: podman is not installed: peapod\'s figures alone' : 'bench: --no-podman: peapod\'s figures alone');

  const file = (name: string, text: string) => {
    const f = path.join(work, name);
    writeFileSync(f, text);
    return f;
  };
  const f1x1 = file('pod-1x1.yaml', podYaml('b1', 1));
  const f1x5 = file('pod-1x5.yaml', podYaml('b5', 5));
  const f10x1 = file('pods-10x1.yaml', podsYaml('p', 10, 1));
  const fDeploy = file('deployment-10.yaml', deploymentYaml('d', 10));
  const fPs = file('pods-10x9.yaml', podsYaml('ps', 10, 9));

  // Warm-up (not measured): each engine builds its infra image and brings its network up once.
  for (const e of engines) {
    log(`bench: warm-up of ${e.name} (infra image, network)`);
    const r = await e.must(e.playArgs(f1x1));
    e.rememberPods(r.stdout);
    await e.must(e.downArgs(f1x1));
  }
  await peapod.describeNetwork();
  await podman?.describeNetwork();
  await other?.describeNetwork();

  const scenarios: Scenario[] = [];
  const add = (s: Scenario) => { scenarios.push(s); return s; };
  const sNode = add(newScenario('node', 'bare `node -e 0` (Node\'s own start: the floor of a Node CLI)'));
  const sVersion = add(newScenario('version', '`--version` (CLI start-up)', { overFloor: { id: 'node', ms: 30 } }));
  const play = {
    '1x1': add(newScenario('play-1x1', 'play kube: 1 pod × 1 container', { ratio: 0.6 })),
    '1x5': add(newScenario('play-1x5', 'play kube: 1 pod × 5 containers')),
    '10x1': add(newScenario('play-10x1', 'play kube: 10 pods × 1 container (one file)', { ratio: 0.35 })),
    deploy: add(newScenario('play-deploy10', 'play kube: Deployment, replicas 10')),
  };
  const down = {
    '1x1': add(newScenario('down-1x1', 'kube down: 1 pod × 1 container', { ratio: 0.25 })),
    '1x5': add(newScenario('down-1x5', 'kube down: 1 pod × 5 containers', { ratio: 0.25 })),
    '10x1': add(newScenario('down-10x1', 'kube down: 10 pods × 1 container', { ratio: 0.25 })),
    deploy: add(newScenario('down-deploy10', 'kube down: Deployment, replicas 10', { ratio: 0.25 })),
  };
  const sGenKube = add(newScenario('generate-kube', 'generate kube (1 pod × 1 container)', { ratio: 1 }));
  const sGenSystemd = add(newScenario('generate-systemd', 'generate systemd (1 pod × 1 container)', { ratio: 1 }));
  const sInspect = add(newScenario('inspect', '`inspect` of a container (1 pod × 1 container)', { ratio: 1 }));
  const sImages = add(newScenario('images', '`images` (busybox and the infra image)', { ratio: 1 }));
  const sPsPlay = add(newScenario('play-10x9', 'play kube: 10 pods × 9 containers (100 containers with infra; 1 run)'));
  const sPs = add(newScenario('ps-100', '`ps` with 100 running containers', { ratio: 1 }));
  const sPsA = add(newScenario('ps-a-100', '`ps -a` with 100 containers', { ratio: 1 }));
  const sPodPs = add(newScenario('pod-ps-10', '`pod ps` with 10 pods of 100 containers', { ratio: 1 }));
  const sPsDown = add(newScenario('down-10x9', 'kube down: 10 pods × 9 containers (1 run)'));
  const sPull = add(newScenario('pull-5', 'pull: 5-layer image (≈6 MiB) from a local registry', { ratio: 1 }));

  for (const e of engines) {
    if (!e.has.generateKube) sGenKube.na[e.name] = `n/a (no \`${e.name} generate kube\` yet)`;
    if (!e.has.generateSystemd) sGenSystemd.na[e.name] = `n/a (no \`${e.name} generate systemd\` yet)`;
  }
  const groupOf: Record<string, Group> = {
    'node': 'version', 'version': 'version', 'play-1x1': '1x1', 'inspect': '1x1', 'images': '1x1', 'down-1x1': '1x1', 'generate-kube': '1x1', 'generate-systemd': '1x1',
    'play-1x5': '1x5', 'down-1x5': '1x5', 'play-10x1': '10x1', 'down-10x1': '10x1', 'play-deploy10': 'deploy', 'down-deploy10': 'deploy',
    'play-10x9': 'ps', 'ps-100': 'ps', 'ps-a-100': 'ps', 'pod-ps-10': 'ps', 'down-10x9': 'ps', 'pull-5': 'pull',
  };

  const memory: Results['memory'] = {};
  const replicas: Results['replicas'] = {};
  const notes: string[] = [];
  const files = { '1x1': f1x1, '1x5': f1x5, '10x1': f10x1, deploy: fDeploy } as const;
  const expected = { '1x1': 2, '1x5': 6, '10x1': 20, deploy: 20 } as const;

  for (let rep = 1; rep <= args.reps; rep++) {
    log(`bench: repetition ${rep} of ${args.reps}`);
    // Interleaved, and the engine that goes first alternates from one repetition to the next.
    const order = rep % 2 ? engines : [...engines].reverse();
    if (want('version')) {
      // The same bare Node start in each column, right before each engine's own start-up.
      for (const e of order) {
        await measure(sNode, e, [process.execPath, '-e', '0']);
        await measure(sVersion, e, e.versionArgv());
      }
      progress(sNode, rep, args.reps);
      progress(sVersion, rep, args.reps);
    }
    for (const key of ['1x1', '1x5', '10x1', 'deploy'] as const) {
      if (!want(key)) continue;
      for (const e of order) {
        const r = await measure(play[key], e, e.argv(e.playArgs(files[key])));
        e.rememberPods(r.stdout);
      }
      progress(play[key], rep, args.reps);
      if (key === 'deploy') {
        for (const e of engines) (replicas[e.name] ??= []).push((await e.listPods()).length);
      }
      if (rep === 1) {
        for (const e of engines) {
          const n = (await e.runningContainers()).length;
          if (n !== expected[key] && !(key === 'deploy' && e.name === 'podman')) {
            notes.push(`${e.name}: after play kube ${key}, ${n} containers were running (expected ${expected[key]}, infra included)`);
          }
        }
        if (key === '1x1' || key === '1x5') {
          await settle();
          for (const e of engines) {
            const m = await residentMemory(e);
            if (m) (memory[key] ??= {})[e.name] = m;
          }
        }
      }
      if (key === '1x1') {
        for (const e of order) if (e.has.generateKube) await measure(sGenKube, e, e.argv(['generate', 'kube', 'b1']));
        if (engines.some((e) => e.has.generateKube)) progress(sGenKube, rep, args.reps);
        for (const e of order) if (e.has.generateSystemd) await measure(sGenSystemd, e, e.argv(['generate', 'systemd', 'b1']));
        if (engines.some((e) => e.has.generateSystemd)) progress(sGenSystemd, rep, args.reps);
        for (const e of order) await measure(sInspect, e, e.argv(['inspect', 'b1-c1']));
        progress(sInspect, rep, args.reps);
        for (const e of order) await measure(sImages, e, e.argv(['images']));
        progress(sImages, rep, args.reps);
      }
      for (const e of order) await measure(down[key], e, e.argv(e.downArgs(files[key])));
      progress(down[key], rep, args.reps);
      // Whatever a failed step left is removed before the next scenario (not measured).
      for (const e of engines) if ((await e.listPods()).length) {
        log(`  ${e.name}: pods left after kube down; removing them`);
        await e.removeAllPods();
      }
    }
  }

  if (want('ps')) {
    log('bench: 100 containers per engine for ps and pod ps');
    for (const e of engines) {
      const r = await measure(sPsPlay, e, e.argv(e.playArgs(fPs)));
      e.rememberPods(r.stdout);
    }
    progress(sPsPlay, 1, 1);
    for (const e of engines) {
      const n = (await e.runningContainers()).length;
      if (n !== 100) notes.push(`${e.name}: ${n} containers running for the ps scenarios (expected 100)`);
    }
    for (let rep = 1; rep <= args.reps; rep++) {
      const order = rep % 2 ? engines : [...engines].reverse();
      for (const [s, a] of [[sPs, ['ps']], [sPsA, ['ps', '-a']], [sPodPs, ['pod', 'ps']]] as const) {
        for (const e of order) await measure(s, e, e.argv([...a]));
        progress(s, rep, args.reps);
      }
    }
    for (const e of engines) await measure(sPsDown, e, e.argv(e.downArgs(fPs)));
    progress(sPsDown, 1, 1);
    for (const e of engines) if ((await e.listPods()).length) await e.removeAllPods();
  }

  if (want('pull')) {
    const missing = registryTools();
    if (!peapod.has.pull) {
      for (const e of engines) sPull.na[e.name] = 'n/a (no `peapod pull` yet)';
    } else if (missing) {
      for (const e of engines) sPull.na[e.name] = `n/a (${missing})`;
    } else {
      log('bench: local registry with a 5-layer image');
      registry = await startRegistry(path.join(benchDir, 'registry'), tar, live);
      sPull.title = `pull: 5-layer image (${fmtKb(registry.bytes / 1024)} compressed) from a local registry`;
      for (let rep = 1; rep <= args.reps; rep++) {
        const order = rep % 2 ? engines : [...engines].reverse();
        for (const e of order) {
          await e.run(['rmi', '-f', registry.ref]);
          await measure(sPull, e, e.argv(['pull', '--tls-verify=false', registry.ref]));
        }
        progress(sPull, rep, args.reps);
      }
      for (const e of engines) await e.run(['rmi', '-f', registry.ref]);
      await registry.stop();
      registry = undefined;
    }
  }

  // --- notes: what was compared ---
  const shown = scenarios.filter((s) => args.only.includes(groupOf[s.id]));
  const deployCounts = replicas.podman ?? [];
  if (podman && deployCounts.length && deployCounts.some((n) => n !== 10)) {
    play.deploy.notComparable = `podman made ${Math.min(...deployCounts)} pod${Math.min(...deployCounts) === 1 ? '' : 's'}, not 10`;
    down.deploy.notComparable = play.deploy.notComparable;
    notes.push(`Deployment replicas: podman ${podman.version.replace(/^podman version /, '')} created ${[...new Set(deployCounts)].join('/')} pod(s) for replicas: 10 (it does not honour replicas); peapod created ${[...new Set(replicas.peapod ?? [])].join('/')}.`);
  }
  if (other) notes.push(`A/B of two peapod builds: A is ${peapod.bin}, B is ${other.bin}.`);
  notes.push(`Networks: peapod ${peapod.networkNote}${podman ? `; podman ${podman.networkNote}` : ''}${other ? `; the other peapod ${other.networkNote}` : ''}.`);
  notes.push(`Every container runs \`/bin/sleep 3600\` (busybox-static, imported into each engine); every pod sets terminationGracePeriodSeconds: ${GRACE_SECONDS}${podman ? ', the same manifest for both engines' : ''}. `
    + `peapod, the grace period being 0, stops with SIGKILL straight away (as Podman's stop -t 0)${podman ? '; so does podman 4.3.1\'s kube down (it does not read the grace period)' : ''}.`);
  const tails = shown.filter((s) => s.id.startsWith('down-')).flatMap((s) => engines.map((e) => ({ e: e.name, t: s.samples[e.name].map((x) => x.tailMs ?? NaN) })));
  const tailText = engines.map((e) => {
    const all = tails.filter((t) => t.e === e.name).flatMap((t) => t.t).filter((x) => Number.isFinite(x));
    return all.length ? `${e.name} up to ${fmtMs(Math.max(...all))}` : '';
  }).filter(Boolean).join(', ');
  if (tailText && tails.some((t) => t.t.some((x) => x > 50))) notes.push(`After kube down returns, the engines' exit commands (\`container cleanup\`, started by conmon) keep running for a while (${tailText}); the bench waits for them before the next measurement.`);
  const spread = shown.flatMap((s) => engines.map((e) => ({ s, e, st: scenarioStats(s).time[e.name] })))
    .filter((x) => x.st && x.st.n >= 3 && x.st.max > 3 * x.st.min);
  if (spread.length) {
    const podmanDown = spread.some((x) => x.e === podman && x.s.id.startsWith('down-'));
    notes.push(`Widely spread (max more than 3 × min): ${spread.map((x) => `${x.e.label} ${x.s.title.replace(/`/g, '')} (${fmtMs(x.st!.min)} to ${fmtMs(x.st!.max)})`).join('; ')}.`
      + (podmanDown ? ' podman 4.3.1\'s kube down is bimodal on this host: in the slow runs it waits about 3 s for one of its `podman container cleanup` exit commands (seen with strace), in the fast ones it returns in 0.3–0.4 s.' : ''));
  }
  notes.push('Warm-up before measuring: one play and down per engine (builds the infra image, brings the network up). Root and run root of both engines are in /tmp on the same file system.');
  notes.push(`Load average (1 min) at the start and the end of the run: ${loadStart.toFixed(2)} and ${os.loadavg()[0].toFixed(2)}; other work on the machine adds noise to both engines alike (interleaving).`);
  if (!haveGnuTime) notes.push('CLI max RSS: n/a (/usr/bin/time is not installed: apt-get install time).');
  else notes.push('CLI CPU and CLI max RSS: user + system CPU time and peak resident memory of the command and of the children it waited for (GNU time %U + %S, %M); conmon and what it starts are not included. CPU time hardly depends on other load on the machine, wall time does.');

  // --- memory rows ---
  const memRows: MemoryRow[] = [];
  let memoryTarget: Report['memoryTarget'];
  const m11 = memory['1x1'];
  const m15 = memory['1x5'];
  if (m11 || m15) {
    const pick = (f: (m: MemoryReport) => number) => ({ peapod: m11?.peapod ? f(m11.peapod) : m15?.peapod ? f(m15.peapod) : undefined, podman: m11?.podman ? f(m11.podman) : m15?.podman ? f(m15.podman) : undefined });
    memRows.push({ label: 'conmon, per container', ...pick((m) => m.conmonKb) });
    memRows.push({ label: 'engine processes left running (besides conmon)', ...pick((m) => m.engineLeftKb), text: Object.fromEntries(engines.map((e) => [e.name, `${(m11?.[e.name] ?? m15?.[e.name])?.engineLeftCount ?? 0} (${fmtKb(pick((m) => m.engineLeftKb)[e.name])})`])) });
    memRows.push({ label: 'per running container: conmon + engine extras (workload excluded)', ...pick((m) => m.perContainerKb) });
    memRows.push({ label: 'infra process, per pod', ...pick((m) => m.infraKb) });
    memRows.push({ label: 'other processes in the pod\'s cgroup', ...pick((m) => m.otherInPodKb) });
    memRows.push({ label: 'workload (sleep), per container', ...pick((m) => m.workloadKb) });
    if (m11) memRows.push({ label: 'whole pod 1 × 1 (conmons, infra, workload)', peapod: m11.peapod?.perPodKb, podman: m11.podman?.perPodKb });
    if (m15) memRows.push({ label: 'whole pod 1 × 5', peapod: m15.peapod?.perPodKb, podman: m15.podman?.perPodKb });
    memRows.push({ label: 'aardvark-dns (one per network, shared by its pods)', ...pick((m) => m.aardvarkKb) });
    const pm = (m11 ?? m15)?.peapod;
    if (pm) memoryTarget = { met: pm.perContainerKb <= pm.conmonKb, text: `peapod's memory per running container at most conmon's own (${fmtKb(pm.perContainerKb)} vs ${fmtKb(pm.conmonKb)})` };
  }

  const report: Report = {
    labels: { peapod: peapod.label, podman: other?.label ?? 'podman' },
    machineLine: machineLine(machine),
    date: machine.date,
    reps: args.reps,
    podman: !!podman || !!other,
    scenarios: shown.filter((s) => !(s.id === 'pull-5' && Object.keys(s.na).length === 0 && !s.samples.peapod.length)),
    memory: memRows,
    memoryTarget,
    notes,
  };
  return { machine, args, report, memory, replicas };
}

async function main(): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    log(`bench: ${(err as Error).message}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    log('bench: needs root (it runs pods with runc, conmon and netavark, as the tests do): sudo npm run bench');
    return 2;
  }
  if (!existsSync(path.join(PROJECT, 'dist', 'src', 'cli', 'main.js'))) {
    log('bench: the CLI is not built: run `npm run build` first');
    return 2;
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  if (args.profile) {
    chainsBefore = (await iptablesChains())?.chains;
    const code = await runProfile({ project: PROJECT, bin: args.peapodBin ? path.resolve(args.peapodBin) : BIN, log, register: (e, dir) => { engines = [e]; benchDir = dir; } });
    if (control.aborted) return new Promise<number>(() => undefined); // the signal handler finishes
    for (const p of await cleanup()) log(`cleanup: ${p}`);
    return code;
  }

  let results: Results | undefined;
  let failure: unknown;
  const t0 = Date.now();
  try {
    results = await bench(args);
  } catch (err) {
    failure = err;
  }
  if (control.aborted) return new Promise<number>(() => undefined); // the signal handler finishes
  log('bench: cleaning up');
  const problems = await cleanup();
  for (const p of problems) log(`cleanup: ${p}`);
  if (failure) {
    if (!(failure instanceof Aborted)) log(`bench: failed: ${(failure as Error).stack ?? failure}`);
    return 1;
  }
  const r = results!;
  // The raw results first: whatever happens next, the measurements are kept.
  const outDir = path.join(PROJECT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const stamp = r.machine.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const jsonFile = path.join(outDir, `${stamp}.json`);
  writeFileSync(jsonFile, `${JSON.stringify({ ...r, stats: Object.fromEntries(r.report.scenarios.map((s) => [s.id, scenarioStats(s)])), elapsedMs: Date.now() - t0 }, null, 2)}\n`);
  const md = renderMarkdown(r.report);
  process.stdout.write(`\n${md}\n\n`);
  log(`bench: results in ${path.relative(process.cwd(), jsonFile) || jsonFile}; took ${fmtMs(Date.now() - t0)}`);
  if (args.readme && isFullRun(args)) {
    const readmeFile = path.join(PROJECT, 'README.md');
    writeFileSync(readmeFile, spliceReadme(readFileSync(readmeFile, 'utf8'), md));
    log('bench: README.md Benchmarks section updated');
  } else if (args.readme) {
    log(`bench: ${args.peapodBin ? '--peapod-bin' : 'partial run (--only)'}: README.md not updated`);
  }
  return 0;
}

process.exitCode = await main();
