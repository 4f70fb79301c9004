// `stats` and `pod stats`: live figures of running containers from their cgroups and network
// namespaces (engine/runtime/stats.ts), and the views Podman 4.3.1 prints them in: `stats` JSON
// (id, name, cpu_time, cpu_percent, avg_cpu, mem_usage, mem_percent, net_io, block_io, pids),
// `pod stats` JSON (CPU, MemUsage, MemUsageBytes, Mem, NetIO, BlockIO, PIDS, Pod, CID, Name), and
// the fields their templates see. Shared by every front end.
import type { Opener } from './engine.js';
import { PeapodError } from '../../engine/errors.js';
import { isRunning } from '../../engine/pod/status.js';
import type { CgroupSample } from '../../engine/runtime/stats.js';
export type { CgroupSample } from '../../engine/runtime/stats.js';
import type { ContainerRecord } from '../../engine/types.js';

/** One container's sample, with what CPU % is computed against. */
export interface ContainerStatsReport {
  id: string;
  name: string;
  pod?: string;
  podName?: string;
  running: boolean;
  sample?: CgroupSample;
  /** nanoseconds since the epoch the container started (the first CPU % is over its whole run) */
  startedAt: number;
}

/**
 * Samples of the named containers (all running ones without names; with `all` the stopped ones
 * too, without figures). Unknown names are an error naming them.
 */
export async function containerStats(open: Opener, o: { refs?: string[]; all?: boolean } = {}): Promise<ContainerStatsReport[]> {
  const engine = await open();
  let recs: ContainerRecord[];
  if (o.refs?.length) {
    recs = [];
    for (const r of o.refs) recs.push(await engine.containers.get(r));
  } else {
    recs = (await engine.containers.list()).filter((c) => o.all || isRunning(c));
  }
  const pods = new Map((await engine.pods.list()).map((p) => [p.id, p.name]));
  return recs.map((c) => report(c, engine.containers.stats(c), pods.get(c.spec.pod ?? '')));
}

function report(c: ContainerRecord, sample: CgroupSample | undefined, podName?: string): ContainerStatsReport {
  return {
    id: c.id, name: c.name, pod: c.spec.pod, podName, running: !!sample, sample,
    startedAt: (Date.parse(c.state.startedAt ?? '') || Date.now()) * 1e6,
  };
}

/** Samples of every container of the named pods (all running pods without names), the infra container too. */
export async function podStats(open: Opener, o: { refs?: string[]; all?: boolean } = {}): Promise<ContainerStatsReport[]> {
  const engine = await open();
  const all = await engine.pods.list();
  const pods = o.refs?.length ? await Promise.all(o.refs.map((r) => engine.pods.get(r))) : all;
  const ctrs = await engine.containers.list();
  const out: ContainerStatsReport[] = [];
  for (const p of pods) {
    const members = ctrs.filter((c) => c.spec.pod === p.id);
    if (!o.refs?.length && !o.all && !members.some(isRunning)) continue;
    for (const c of members) out.push(report(c, engine.containers.stats(c), p.name));
  }
  if (o.refs?.length && !out.length) throw new PeapodError('not-found', `no containers in pod ${o.refs.join(', ')}`);
  return out;
}

// ------------------------------------------------------------------ Podman's forms

/** go-units HumanSizeWithPrecision(n, 3): decimal units, three significant digits. */
export function humanSize3(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${Number(n.toPrecision(3))}${units[i]}`;
}

/** go-units BytesSize: binary units, up to four significant digits (`1.5MiB`). */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

/** Go's time.Duration String() of nanoseconds (`2.5ms`, `1.25s`, `1m2.5s`). */
export function goDuration(ns: number): string {
  ns = Math.round(ns);
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${Number((ns / 1e3).toFixed(3))}µs`;
  if (ns < 1e9) return `${Number((ns / 1e6).toFixed(6))}ms`;
  const h = Math.floor(ns / 3.6e12), m = Math.floor((ns % 3.6e12) / 6e10), s = Number(((ns % 6e10) / 1e9).toFixed(9));
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

const pct = (v: number) => `${v.toFixed(2)}%`;

/** The figures of one report, CPU % over the time since `prev` (or since the container started). */
export interface StatsFigures {
  cpu: number; avgCpu: number; cpuNanos: number; memUsage: number; memLimit: number; memPerc: number;
  netRx: number; netTx: number; blockRead: number; blockWrite: number; pids: number; upNanos: number;
}

export function figures(r: ContainerStatsReport, prev?: CgroupSample): StatsFigures {
  const s = r.sample;
  if (!s) return { cpu: 0, avgCpu: 0, cpuNanos: 0, memUsage: 0, memLimit: 0, memPerc: 0, netRx: 0, netTx: 0, blockRead: 0, blockWrite: 0, pids: 0, upNanos: 0 };
  const up = Math.max(0, s.at - r.startedAt);
  const base = prev ?? { cpuNanos: 0, at: r.startedAt };
  const wall = s.at - base.at;
  const cpu = wall > 0 && s.cpuNanos > base.cpuNanos ? ((s.cpuNanos - base.cpuNanos) / wall) * 100 : 0;
  return {
    cpu, avgCpu: up > 0 ? (s.cpuNanos / up) * 100 : 0, cpuNanos: s.cpuNanos, memUsage: s.memUsage, memLimit: s.memLimit,
    memPerc: s.memLimit > 0 ? (s.memUsage / s.memLimit) * 100 : 0, netRx: s.netRx, netTx: s.netTx, blockRead: s.blockRead, blockWrite: s.blockWrite,
    pids: s.pids, upNanos: up,
  };
}

/** `stats --format json`: one object per container (Podman's jsonStat). */
export function statsJson(r: ContainerStatsReport, f: StatsFigures): Record<string, string> {
  return {
    id: r.id.slice(0, 12), name: r.name, cpu_time: goDuration(f.cpuNanos), cpu_percent: pct(f.cpu), avg_cpu: pct(f.avgCpu),
    mem_usage: `${humanSize3(f.memUsage)} / ${humanSize3(f.memLimit)}`, mem_percent: pct(f.memPerc),
    net_io: `${humanSize3(f.netRx)} / ${humanSize3(f.netTx)}`, block_io: `${humanSize3(f.blockRead)} / ${humanSize3(f.blockWrite)}`, pids: String(f.pids),
  };
}

/** What a `stats` template sees: Podman's ContainerStats fields and its string methods. */
export function statsTemplateView(r: ContainerStatsReport, f: StatsFigures): Record<string, unknown> {
  const j = statsJson(r, f);
  return {
    ID: j.id, ContainerID: r.id, Name: r.name, CPUPerc: j.cpu_percent, AVGCPU: j.avg_cpu, CPU: f.cpu, AvgCPU: f.avgCpu, CPUNano: f.cpuNanos,
    MemUsage: j.mem_usage, MemUsageBytes: `${bytesSize(f.memUsage)} / ${bytesSize(f.memLimit)}`, MemLimit: f.memLimit, MemPerc: j.mem_percent,
    NetIO: j.net_io, NetInput: f.netRx, NetOutput: f.netTx, BlockIO: j.block_io, BlockInput: f.blockRead, BlockOutput: f.blockWrite,
    PIDS: j.pids, PIDs: f.pids, CPUTime: j.cpu_time, UpTime: goDuration(f.upNanos), Duration: f.cpuNanos, Up: goDuration(f.upNanos),
  };
}

/** `pod stats --format json` and its templates: Podman's PodStatsReport. */
export function podStatsView(r: ContainerStatsReport, f: StatsFigures): Record<string, string> {
  return {
    CPU: pct(f.cpu), MemUsage: `${humanSize3(f.memUsage)} / ${humanSize3(f.memLimit)}`, MemUsageBytes: `${bytesSize(f.memUsage)} / ${bytesSize(f.memLimit)}`,
    Mem: pct(f.memPerc), NetIO: `${humanSize3(f.netRx)} / ${humanSize3(f.netTx)}`, BlockIO: `${humanSize3(f.blockRead)} / ${humanSize3(f.blockWrite)}`,
    PIDS: String(f.pids), Pod: (r.pod ?? '').slice(0, 12), CID: r.id.slice(0, 12), Name: r.name,
  };
}
