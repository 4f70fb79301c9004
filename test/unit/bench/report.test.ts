// The bench's pure parts: statistics, formatting, the README splice, flags, manifests, profile parsing.
// No timing here: benchmarks never become timed assertions.
import { describe, it, expect } from 'vitest';
import { median, summarize, ratio, fmtMs, fmtTime, fmtKb, fmtRatio } from '../../../bench/lib/stats.js';
import { newScenario, scenarioStats, timeTable, markdownTable, spliceReadme, renderMarkdown, MARK_START, MARK_END, type Report } from '../../../bench/lib/report.js';
import { parseArgs, isFullRun } from '../../../bench/lib/args.js';
import { podYaml, podsYaml, deploymentYaml } from '../../../bench/lib/manifests.js';
import { categorize, parseStrace } from '../../../bench/lib/profile.js';
import { netavarkChainsOf, splitRule } from '../../../bench/lib/host.js';
import { parseAllDocuments } from 'yaml';

describe('statistics', () => {
  it.each([
    { xs: [3, 1, 2], m: 2 },
    { xs: [4, 1, 3, 2], m: 2.5 },
    { xs: [7], m: 7 },
  ])('median of $xs is $m', ({ xs, m }) => {
    expect(median(xs)).toBe(m);
  });

  it('median of nothing is NaN and leaves its input alone', () => {
    expect(median([])).toBeNaN();
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });

  it('summarizes n, median, min and max, ignoring non-finite values', () => {
    expect(summarize([5, 1, NaN, 3])).toEqual({ n: 3, median: 3, min: 1, max: 5 });
    expect(summarize([])).toBeUndefined();
  });

  it('ratio of medians; undefined without both sides', () => {
    expect(ratio(summarize([1, 2, 3]), summarize([4, 4]))).toBe(0.5);
    expect(ratio(summarize([1]), undefined)).toBeUndefined();
    expect(ratio(summarize([1]), summarize([0]))).toBeUndefined();
  });
});

describe('formatting', () => {
  it.each([
    { ms: 87.4, out: '87 ms' },
    { ms: 999.4, out: '999 ms' },
    { ms: 1234, out: '1.23 s' },
    { ms: NaN, out: 'n/a' },
  ])('fmtMs($ms) = $out', ({ ms, out }) => {
    expect(fmtMs(ms)).toBe(out);
  });

  it('prints min–max in the unit of the median', () => {
    expect(fmtTime(summarize([80, 95, 87]))).toBe('87 ms (80–95)');
    expect(fmtTime(summarize([900, 1500, 980]))).toBe('980 ms (900–1500)');
    expect(fmtTime(summarize([1100, 1500, 1230]))).toBe('1.23 s (1.10–1.50)');
    expect(fmtTime(summarize([42]))).toBe('42 ms');
    expect(fmtTime(undefined)).toBe('n/a');
  });

  it('memory and ratios', () => {
    expect(fmtKb(812)).toBe('812 KiB');
    expect(fmtKb(2355)).toBe('2.3 MiB');
    expect(fmtKb(undefined)).toBe('n/a');
    expect(fmtRatio(0.4234)).toBe('0.42×');
    expect(fmtRatio(undefined)).toBe('n/a');
  });

  it('markdown tables escape pipes', () => {
    expect(markdownTable(['a', 'b'], [['x|y', '1']])).toBe('| a | b |\n| --- | --- |\n| x\\|y | 1 |');
  });
});

function report(): Report {
  const play = newScenario('play-1x1', 'play kube: 1 pod × 1 container', { ratio: 0.5 });
  play.samples.peapod.push({ ms: 200, ok: true, maxRssKb: 80_000, cliCpuMs: 300, machineCpuMs: 500 }, { ms: 220, ok: true, maxRssKb: 81_000, cliCpuMs: 320, machineCpuMs: 520 }, { ms: 900, ok: false, error: 'boom' });
  play.samples.podman.push({ ms: 450, ok: true, maxRssKb: 40_000, cliCpuMs: 90, machineCpuMs: 400 }, { ms: 500, ok: true, maxRssKb: 41_000, cliCpuMs: 110 });
  const ver = newScenario('version', '`--version`', { underMs: 100 });
  ver.samples.peapod.push({ ms: 120, ok: true });
  ver.samples.podman.push({ ms: 30, ok: true });
  const gen = newScenario('generate-systemd', 'generate systemd');
  gen.na.peapod = 'n/a (no `peapod generate systemd` yet)';
  gen.samples.podman.push({ ms: 40, ok: true });
  const dep = newScenario('play-deploy10', 'Deployment');
  dep.samples.peapod.push({ ms: 2000, ok: true });
  dep.samples.podman.push({ ms: 300, ok: true });
  dep.notComparable = 'podman made 1 pod, not 10';
  const node = newScenario('node', 'bare `node -e 0`');
  node.samples.peapod.push({ ms: 80, ok: true }, { ms: 100, ok: true });
  node.samples.podman.push({ ms: 85, ok: true });
  const fast = newScenario('version-fast', '`--version` near the floor', { overFloor: { id: 'node', ms: 30 } });
  fast.samples.peapod.push({ ms: 115, ok: true }, { ms: 125, ok: true });
  fast.samples.podman.push({ ms: 30, ok: true });
  return {
    machineLine: '2 × CPU', date: '2026-11-22T10:00:00.000Z', reps: 2, podman: true,
    scenarios: [play, ver, gen, dep, node, fast], memory: [{ label: 'conmon, per container', peapod: 2048, podman: 2400 }], notes: ['a note'],
  };
}

describe('report', () => {
  it('failed samples count as failures, not in the medians; targets are judged on the ratio or the absolute time', () => {
    const r = report();
    const st = scenarioStats(r.scenarios[0]);
    expect(st.time.peapod).toEqual({ n: 2, median: 210, min: 200, max: 220 });
    expect(st.failures.peapod).toBe(1);
    expect(st.ratio).toBeCloseTo(210 / 475);
    expect(st.met).toBe(true);
    expect(scenarioStats(r.scenarios[1]).met).toBe(false);
    expect(scenarioStats(r.scenarios[3]).ratio).toBeUndefined();
    // 120 ms median against the floor's 90 ms: within 30 ms
    expect(scenarioStats(r.scenarios[5], r.scenarios).met).toBe(true);
    r.scenarios[5].samples.peapod.push({ ms: 200, ok: true });
    expect(scenarioStats(r.scenarios[5], r.scenarios).met).toBe(false);
  });

  it('renders the table with n/a, failures, targets and not-comparable rows', () => {
    const t = timeTable(report());
    expect(t).toContain('| play kube: 1 pod × 1 container | 210 ms (200–220) **1 failed** | 475 ms (450–500) | 0.44× | ≤ 0.5× ✓ | 310 ms / 100 ms | 510 ms / 400 ms | 78.6 MiB / 39.6 MiB |');
    expect(t).toContain('| `--version` | 120 ms | 30 ms | 4.00× | < 100 ms ✗ | n/a / n/a | n/a / n/a |');
    expect(t).toContain('| generate systemd | n/a (no `peapod generate systemd` yet) | 40 ms | n/a |  | n/a / n/a | n/a / n/a |');
    expect(t).toContain('| `--version` near the floor | 120 ms (115–125) | 30 ms | 4.00× | ≤ node + 30 ms ✓ |');
    expect(t).toContain('not comparable (podman made 1 pod, not 10)');
  });

  it('peapod alone when podman is absent', () => {
    const r = { ...report(), podman: false };
    const t = timeTable(r);
    expect(t.split('\n')[0]).toBe('| scenario | peapod | target | CLI CPU peapod | machine CPU peapod | CLI max RSS peapod |');
    expect(renderMarkdown(r)).toContain('podman absent');
  });

  it('replaces only what is between the markers', () => {
    const before = `# peapod\n\ntext\n\n## Benchmarks\n\n${MARK_START}\nold\n${MARK_END}\n\n## After\n`;
    const after = spliceReadme(before, 'new table');
    expect(after).toBe(`# peapod\n\ntext\n\n## Benchmarks\n\n${MARK_START}\nnew table\n${MARK_END}\n\n## After\n`);
    expect(spliceReadme(after, 'new table')).toBe(after);
  });

  it('appends a Benchmarks section with the markers when there is none', () => {
    expect(spliceReadme('# peapod\n', 'x')).toBe(`# peapod\n\n## Benchmarks\n\n${MARK_START}\nx\n${MARK_END}\n`);
  });
});

describe('flags', () => {
  it('defaults: 5 repetitions, every group, podman, README', () => {
    const a = parseArgs([]);
    expect(a.reps).toBe(5);
    expect(isFullRun(a)).toBe(true);
    expect(a.podman && a.readme && !a.profile).toBe(true);
  });

  it('parses --reps, --only, --no-podman, --no-readme', () => {
    const a = parseArgs(['--reps', '3', '--only=1x1,ps', '--no-podman', '--no-readme']);
    expect(a).toMatchObject({ reps: 3, only: ['1x1', 'ps'], podman: false, readme: false });
    expect(isFullRun(a)).toBe(false);
  });

  it.each([['--reps', '0'], ['--reps', 'x'], ['--only', 'nope'], ['--frobnicate'], ['--reps']])('rejects %s %s', (...argv) => {
    expect(() => parseArgs(argv.filter((x) => x !== undefined))).toThrow();
  });
});

describe('manifests', () => {
  it('are valid YAML with the expected objects, the same grace period everywhere', () => {
    const pods = parseAllDocuments(podsYaml('p', 10, 1)).map((d) => d.toJS());
    expect(pods.map((p) => p.metadata.name)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    const five = parseAllDocuments(podYaml('b5', 5))[0].toJS();
    expect(five.spec.containers.map((c: { name: string }) => c.name)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(five.spec.containers[0].command).toEqual(['/bin/sleep', '3600']);
    const d = parseAllDocuments(deploymentYaml('d', 10))[0].toJS();
    expect(d.spec.replicas).toBe(10);
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(five.spec.terminationGracePeriodSeconds);
    expect(d.spec.template.spec.containers).toHaveLength(1);
  });
});

describe('profile parsing', () => {
  it('categorizes a stack from the innermost frame', () => {
    expect(categorize([{ functionName: 'compile', url: 'file:///p/node_modules/ajv/dist/compile/index.js' }, { functionName: 'x', url: 'file:///p/dist/src/kube/validate.js' }])).toMatch(/^ajv/);
    expect(categorize([{ functionName: 'readFileUtf8', url: '' }, { functionName: 'readFileSync', url: 'node:fs' }, { functionName: 'y', url: 'file:///p/dist/engine/state/store.js' }])).toMatch(/^file system/);
    expect(categorize([{ functionName: '(idle)', url: '' }])).toMatch(/^idle/);
  });

  it('reads spawns, durations and the CLI exit from strace output', () => {
    const text = [
      '100 10:00:00.000000 execve("/usr/bin/node", ["node", "main.js"], 0x1 /* 1 var */) = 0',
      '101 10:00:00.500000 execve("/usr/sbin/runc", ["/usr/sbin/runc", "--root=/r", "start", "abc"], 0x1 /* 1 var */) = 0',
      '102 10:00:00.510000 execve("/nope", ["x"], 0x1) = -1 ENOENT (No such file or directory)',
      '101 10:00:00.520000 +++ exited with 0 +++',
      '100 10:00:00.600000 +++ exited with 0 +++',
    ].join('\n');
    const r = parseStrace(text);
    expect(r.mainExitMs).toBeCloseTo(600);
    expect(r.spawns).toHaveLength(1);
    expect(r.spawns[0].argv).toEqual(['/usr/sbin/runc', '--root=/r', 'start', 'abc']);
    expect(r.spawns[0].startMs).toBeCloseTo(500);
    expect(r.spawns[0].ms).toBeCloseTo(20);
  });
});

describe('netavark chains', () => {
  it('are named after the network (sha512, 13 hex digits)', () => {
    expect(netavarkChainsOf('peapod')).toEqual(['NETAVARK-935BD817B9882', 'NETAVARK-DN-935BD817B9882']);
  });

  it('splits iptables-save rules into argv, quoted words kept whole', () => {
    expect(splitRule('-s 10.90.1.0/24 -m comment --comment "netavark portfw masq mark" -j X')).toEqual(['-s', '10.90.1.0/24', '-m', 'comment', '--comment', 'netavark portfw masq mark', '-j', 'X']);
  });
});
