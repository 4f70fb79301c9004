// Pure: results -> the markdown tables printed at the end, written to the README and the JSON file.
import { fmtKb, fmtMs, fmtRatio, fmtTime, median, ratio, summarize, type Summary } from './stats.js';

export type EngineName = 'peapod' | 'podman';
export const ENGINES: readonly EngineName[] = ['peapod', 'podman'];

export interface Sample {
  ms: number;
  maxRssKb?: number;
  ok: boolean;
  error?: string;
  /** how long the engine's helper processes kept running after the command returned */
  tailMs?: number;
  /** CPU time of the whole machine while the command ran (every process, the engine's children and anything else) */
  machineCpuMs?: number;
  /** user + system CPU time of the CLI and the children it waited for (GNU time %U + %S) */
  cliCpuMs?: number;
}

export interface Target {
  /** peapod/podman must be at most this */
  ratio?: number;
  /** peapod's median must be below this many ms */
  underMs?: number;
  /** peapod's median must be at most `ms` above the median of scenario `id` in the same column (a floor such as bare `node -e 0`) */
  overFloor?: { id: string; ms: number };
}

export interface Scenario {
  id: string;
  title: string;
  target?: Target;
  samples: Record<EngineName, Sample[]>;
  /** why an engine has no figure ("n/a: ...") */
  na: Partial<Record<EngineName, string>>;
  /** the two figures do not measure the same work (e.g. podman did not honour replicas) */
  notComparable?: string;
}

export function newScenario(id: string, title: string, target?: Target): Scenario {
  return { id, title, target, samples: { peapod: [], podman: [] }, na: {} };
}

export interface MemoryRow {
  label: string;
  peapod?: number;
  podman?: number;
  /** formatted already (counts) */
  text?: Partial<Record<EngineName, string>>;
}

export interface Report {
  /** display names of the two columns (default peapod and podman) */
  labels?: Record<EngineName, string>;
  machineLine: string;
  date: string;
  reps: number;
  podman: boolean;
  scenarios: Scenario[];
  memory: MemoryRow[];
  memoryTarget?: { met: boolean; text: string };
  notes: string[];
}

export interface ScenarioStats {
  time: Partial<Record<EngineName, Summary>>;
  rss: Partial<Record<EngineName, number>>;
  /** median CPU time of the whole machine during the command */
  machineCpu: Partial<Record<EngineName, number>>;
  /** median CPU time of the CLI and the children it waited for */
  cliCpu: Partial<Record<EngineName, number>>;
  failures: Partial<Record<EngineName, number>>;
  ratio?: number;
  met?: boolean;
}

/** Statistics of a scenario; `all` (the report's scenarios) resolves a target relative to another scenario. */
export function scenarioStats(s: Scenario, all: readonly Scenario[] = []): ScenarioStats {
  const st: ScenarioStats = { time: {}, rss: {}, machineCpu: {}, cliCpu: {}, failures: {} };
  for (const e of ENGINES) {
    const ok = s.samples[e].filter((x) => x.ok);
    st.time[e] = summarize(ok.map((x) => x.ms));
    const rss = ok.map((x) => x.maxRssKb).filter((x): x is number => x !== undefined);
    if (rss.length) st.rss[e] = median(rss);
    const mc = ok.map((x) => x.machineCpuMs).filter((x): x is number => x !== undefined);
    if (mc.length) st.machineCpu[e] = median(mc);
    const cc = ok.map((x) => x.cliCpuMs).filter((x): x is number => x !== undefined);
    if (cc.length) st.cliCpu[e] = median(cc);
    const bad = s.samples[e].length - ok.length;
    if (bad) st.failures[e] = bad;
  }
  if (!s.notComparable) st.ratio = ratio(st.time.peapod, st.time.podman);
  if (s.target?.ratio !== undefined && st.ratio !== undefined) st.met = st.ratio <= s.target.ratio;
  if (s.target?.underMs !== undefined && st.time.peapod) st.met = st.time.peapod.median < s.target.underMs;
  const floorOf = s.target?.overFloor && all.find((x) => x.id === s.target!.overFloor!.id);
  if (floorOf && st.time.peapod) {
    const floor = summarize(floorOf.samples.peapod.filter((x) => x.ok).map((x) => x.ms));
    if (floor) st.met = st.time.peapod.median - floor.median <= s.target!.overFloor!.ms;
  }
  return st;
}

function targetText(t: Target | undefined): string {
  if (!t) return '';
  if (t.ratio !== undefined) return `≤ ${t.ratio}×`;
  if (t.underMs !== undefined) return `< ${t.underMs} ms`;
  if (t.overFloor) return `≤ ${t.overFloor.id} + ${t.overFloor.ms} ms`;
  return '';
}

function cell(s: Scenario, st: ScenarioStats, e: EngineName): string {
  if (s.na[e]) return s.na[e]!;
  const f = st.failures[e] ? ` **${st.failures[e]} failed**` : '';
  return `${fmtTime(st.time[e])}${f}`;
}

/** Markdown table of the timed scenarios. */
function labels(r: Report): Record<EngineName, string> {
  return r.labels ?? { peapod: 'peapod', podman: 'podman' };
}

export function timeTable(r: Report): string {
  const { peapod: a, podman: b } = labels(r);
  const head = r.podman
    ? ['scenario', a, b, `${a}/${b}`, 'target', `CLI CPU ${a} / ${b}`, `machine CPU ${a} / ${b}`, `CLI max RSS ${a} / ${b}`]
    : ['scenario', a, 'target', `CLI CPU ${a}`, `machine CPU ${a}`, `CLI max RSS ${a}`];
  const rows = r.scenarios.map((s) => {
    const st = scenarioStats(s, r.scenarios);
    const mark = st.met === undefined ? '' : st.met ? ' ✓' : ' ✗';
    const target = `${targetText(s.target)}${targetText(s.target) ? mark : ''}`;
    const cpu = (e: EngineName) => (st.cliCpu[e] === undefined ? 'n/a' : fmtMs(st.cliCpu[e]!));
    const mcpu = (e: EngineName) => (st.machineCpu[e] === undefined ? 'n/a' : fmtMs(st.machineCpu[e]!));
    if (!r.podman) return [s.title, cell(s, st, 'peapod'), s.target?.ratio === undefined ? target : targetText(s.target), cpu('peapod'), mcpu('peapod'), fmtKb(st.rss.peapod)];
    const rt = s.notComparable ? `not comparable (${s.notComparable})` : fmtRatio(st.ratio);
    return [s.title, cell(s, st, 'peapod'), cell(s, st, 'podman'), rt, target, `${cpu('peapod')} / ${cpu('podman')}`, `${mcpu('peapod')} / ${mcpu('podman')}`, `${fmtKb(st.rss.peapod)} / ${fmtKb(st.rss.podman)}`];
  });
  return markdownTable(head, rows);
}

export function memoryTable(r: Report): string {
  const { peapod: a, podman: b } = labels(r);
  const head = r.podman ? ['resident memory (RSS)', a, b] : ['resident memory (RSS)', a];
  const rows = r.memory.map((m) => {
    const v = (e: EngineName) => m.text?.[e] ?? fmtKb(m[e]);
    return r.podman ? [m.label, v('peapod'), v('podman')] : [m.label, v('peapod')];
  });
  return markdownTable(head, rows);
}

export function markdownTable(head: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** The whole section: what the README holds between the markers. */
export function renderMarkdown(r: Report): string {
  const out: string[] = [];
  out.push(`Measured ${r.date.slice(0, 10)} by \`npm run bench\` (${r.reps} repetitions${r.podman ? `, ${labels(r).peapod} and ${labels(r).podman} interleaved` : ', podman absent'}; `
    + 'median, min–max in brackets). Machine: ' + `${r.machineLine}.`);
  out.push('');
  out.push(timeTable(r));
  if (r.memory.length) {
    out.push('');
    out.push(memoryTable(r));
    if (r.memoryTarget) out.push('', `Target: ${r.memoryTarget.text} ${r.memoryTarget.met ? '✓' : '✗'}`);
  }
  if (r.notes.length) {
    out.push('');
    for (const n of r.notes) out.push(`- ${n}`);
  }
  return out.join('\n');
}

export const MARK_START = '<!-- bench:start -->';
export const MARK_END = '<!-- bench:end -->';

/**
 * README with the section between the markers replaced (only that part changes). Without the
 * markers, a "Benchmarks" section holding them is appended at the end.
 */
export function spliceReadme(readme: string, section: string): string {
  const block = `${MARK_START}\n${section.trim()}\n${MARK_END}`;
  const a = readme.indexOf(MARK_START);
  const b = readme.indexOf(MARK_END);
  if (a >= 0 && b > a) return readme.slice(0, a) + block + readme.slice(b + MARK_END.length);
  const sep = readme.endsWith('\n\n') ? '' : readme.endsWith('\n') ? '\n' : '\n\n';
  return `${readme}${sep}## Benchmarks\n\n${block}\n`;
}
