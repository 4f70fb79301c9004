// /proc and /sys/fs/cgroup: processes, their resident memory, cgroups and mounts.
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import path from 'node:path';

export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  state: string;
}

function read(file: string): string | undefined {
  try { return readFileSync(file, 'utf8'); } catch { return undefined; }
}

export function proc(pid: number): Proc | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const close = stat.lastIndexOf(')');
  const fields = stat.slice(close + 2).split(' ');
  return {
    pid,
    ppid: Number(fields[1]),
    comm: stat.slice(stat.indexOf('(') + 1, close),
    state: fields[0],
    cmdline: (read(`/proc/${pid}/cmdline`) ?? '').split('\0').join(' ').trim(),
  };
}

export function allProcs(): Proc[] {
  const out: Proc[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const p = proc(Number(d));
    if (p) out.push(p);
  }
  return out;
}

/** pid and every descendant of it (by parent pid). */
export function withDescendants(pid: number, procs: Proc[] = allProcs()): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const p of procs) if (p.ppid === out[i]) out.push(p.pid);
  return out;
}

/** Resident set (VmRSS) in KiB; 0 for a zombie or a process that is gone. */
export function rssKb(pid: number): number {
  const m = read(`/proc/${pid}/status`)?.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : 0;
}

/** Proportional set size in KiB (shared pages divided among their users). */
export function pssKb(pid: number): number {
  const m = read(`/proc/${pid}/smaps_rollup`)?.match(/^Pss:\s+(\d+) kB/m);
  return m ? Number(m[1]) : 0;
}

/** The process's cgroup path in the memory controller (v1) or the unified hierarchy (v2). */
export function memoryCgroupOf(pid: number): { root: string; path: string } | undefined {
  const lines = (read(`/proc/${pid}/cgroup`) ?? '').trim().split('\n');
  for (const l of lines) {
    const [, ctrls, p] = l.split(':');
    if (ctrls?.split(',').includes('memory')) return { root: '/sys/fs/cgroup/memory', path: p };
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2 && existsSync('/sys/fs/cgroup/cgroup.controllers')) return { root: '/sys/fs/cgroup', path: v2.slice(3) };
  return undefined;
}

/** Every pid in a cgroup directory and its descendants. */
export function cgroupProcs(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string) => {
    for (const l of (read(path.join(d, 'cgroup.procs')) ?? '').split('\n')) if (l.trim()) out.push(Number(l));
    let entries: string[] = [];
    try { entries = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { /* gone */ }
    for (const e of entries) walk(path.join(d, e));
  };
  walk(dir);
  return [...new Set(out)];
}

/** Mount points of every cgroup hierarchy (v1 controllers and named ones, the unified one, or the v2 root). */
export function cgroupRoots(): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return ['/sys/fs/cgroup'];
  return (read('/proc/self/mountinfo') ?? '').split('\n')
    .map((l) => l.split(' '))
    .filter((f) => { const i = f.indexOf('-'); return i > 0 && (f[i + 1] === 'cgroup' || f[i + 1] === 'cgroup2'); })
    .map((f) => f[4]);
}

/**
 * Removes a cgroup directory and everything below it, deepest first, in every hierarchy; only
 * empty cgroups can go (rmdir), so a cgroup that still holds a process is left and reported.
 */
export function removeCgroupTree(rel: string): string[] {
  const left: string[] = [];
  for (const root of cgroupRoots()) {
    const top = path.join(root, rel);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      try { for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name)); } catch { /* gone */ }
    };
    walk(top);
    for (const d of dirs.reverse()) {
      try { rmdirSync(d); } catch (err: any) { if (err?.code !== 'ENOENT') left.push(d); }
    }
  }
  return left;
}

/** Removes one cgroup directory in every hierarchy where it is empty (nothing below it either). */
export function removeCgroupDir(rel: string): void {
  for (const root of cgroupRoots()) {
    try { rmdirSync(path.join(root, rel)); } catch { /* absent, or in use */ }
  }
}

/** Directory exists in any cgroup hierarchy. */
export function cgroupExists(rel: string): boolean {
  return cgroupRoots().some((r) => existsSync(path.join(r, rel)));
}

/** Mount points at or below dir, deepest first. */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o) => String.fromCharCode(parseInt(o, 8)));
  return (read('/proc/self/mountinfo') ?? '').split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export function mtimeMs(file: string): number | undefined {
  try { return statSync(file).mtimeMs; } catch { return undefined; }
}

/** Busy CPU time of the whole machine so far (user, nice, system, irq, softirq, steal), in ms. */
export function machineBusyMs(): number {
  const f = (read('/proc/stat') ?? '').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const hz = 100; // USER_HZ on Linux
  return ((f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) * 1000) / hz;
}
