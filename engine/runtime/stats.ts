// Live resource figures of a container (Podman's `stats`), read from its cgroup and its network
// namespace: CPU time, memory usage and limit, PIDs, block I/O from the cgroup files (v1
// controllers where the host mounts them, else the unified v2 hierarchy), network counters from
// /proc/<pid>/net/dev of a process found in that cgroup. The cgroup path is never taken from a
// record as it stands: it must be where peapod puts the container (parent/[pod/]id), else it is
// refused, so a tampered record cannot make peapod read another cgroup.
import { closeSync, constants, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PeapodError } from '../errors.js';

/** One sample of a container's figures; counters are cumulative, `at` is when they were read. */
export interface CgroupSample {
  /** CPU time used, nanoseconds */
  cpuNanos: number;
  memUsage: number;
  /** the cgroup's memory limit, or the host's memory when that is lower or there is none */
  memLimit: number;
  pids: number;
  blockRead: number;
  blockWrite: number;
  netRx: number;
  netTx: number;
  /** nanoseconds since the epoch */
  at: number;
}

const ID = /^[0-9a-f]{64}$/;

/**
 * The cgroup a container runs in, as peapod made it: `<parent>/<pod id>/<id>` for a pod member,
 * `<parent>/<id>` otherwise. The record's path must be exactly that (no `..`, no other leaf).
 */
export function containerCgroup(parent: string, id: string, pod: string | undefined, recorded: string | undefined, name: string): string {
  if (!ID.test(id) || (pod !== undefined && !ID.test(pod))) throw new PeapodError('invalid', `container ${name}: its record names no valid ID`);
  const want = path.posix.join(parent, ...(pod ? [pod] : []), id);
  if (recorded !== undefined && recorded !== want) {
    throw new PeapodError('state', `container ${name}: the cgroup path in its record (${JSON.stringify(recorded)}) is not where peapod runs it (${want}): not reading it (a damaged or tampered record, or a cgroup parent other than the one it was started with)`);
  }
  if (path.posix.normalize(want) !== want || want.split('/').some((p) => p === '..' || p === '.')) {
    throw new PeapodError('invalid', `container ${name}: cgroup path ${want} is not a plain path`);
  }
  return want;
}

/** Where each cgroup controller's hierarchy is mounted ('' for the unified v2 one). */
export function cgroupMounts(mountinfo = safeRead('/proc/self/mountinfo')): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const i = f.indexOf('-');
    if (i < 0) continue;
    if (f[i + 1] === 'cgroup2') { if (!out.has('')) out.set('', f[4]!); continue; }
    if (f[i + 1] !== 'cgroup') continue;
    for (const opt of (f[i + 3] ?? '').split(',')) if (['memory', 'cpuacct', 'pids', 'blkio'].includes(opt)) out.set(opt, f[4]!);
  }
  return out;
}

function safeRead(file: string): string {
  try { return readFileSync(file, 'utf8'); } catch { return ''; }
}

/** A cgroup file's text, opened O_NOFOLLOW; '' when it is not there. Bounded: these files are small. */
function readCg(file: string): string {
  let fd: number;
  try { fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK); } catch { return ''; }
  try {
    const buf = Buffer.alloc(256 * 1024);
    const n = readSync(fd, buf, 0, buf.length, null);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  } finally {
    closeSync(fd);
  }
}

const num = (s: string): number => { const v = Number(s.trim()); return Number.isFinite(v) ? v : 0; };

/** Read and Write bytes of blkio.throttle.io_service_bytes (v1), summed over devices. */
export function parseBlkioV1(text: string): { read: number; write: number } {
  let read = 0, write = 0;
  for (const l of text.split('\n')) {
    const [dev, op, v] = l.trim().split(/\s+/);
    if (!dev || !dev.includes(':')) continue;
    if (op === 'Read') read += num(v ?? '0');
    else if (op === 'Write') write += num(v ?? '0');
  }
  return { read, write };
}

/** rbytes and wbytes of io.stat (v2), summed over devices. */
export function parseIoStat(text: string): { read: number; write: number } {
  let read = 0, write = 0;
  for (const m of text.matchAll(/\brbytes=(\d+)/g)) read += Number(m[1]);
  for (const m of text.matchAll(/\bwbytes=(\d+)/g)) write += Number(m[1]);
  return { read, write };
}

/** Received and sent bytes of every interface but loopback in /proc/<pid>/net/dev. */
export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0, tx = 0;
  for (const l of text.split('\n').slice(2)) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    if (l.slice(0, i).trim() === 'lo') continue;
    const f = l.slice(i + 1).trim().split(/\s+/);
    rx += num(f[0] ?? '0');
    tx += num(f[8] ?? '0');
  }
  return { rx, tx };
}

/** A cgroup's figures now. `cgroup` comes from containerCgroup; `mounts` from cgroupMounts. */
export function sampleCgroup(cgroup: string, mounts = cgroupMounts()): CgroupSample {
  const rel = cgroup.replace(/^\/+/, '');
  const v1 = (ctl: string, file: string): string | undefined => {
    const m = mounts.get(ctl);
    return m === undefined ? undefined : readCg(path.join(m, rel, file));
  };
  const unified = mounts.get('');
  const v2 = (file: string): string => (unified === undefined ? '' : readCg(path.join(unified, rel, file)));
  const hostMem = os.totalmem();
  let cpuNanos: number, memUsage: number, limit: number, pids: number, blk: { read: number; write: number }, procs: string;
  if (mounts.has('memory')) {
    cpuNanos = num(v1('cpuacct', 'cpuacct.usage') ?? '0');
    memUsage = num(v1('memory', 'memory.usage_in_bytes') ?? '0');
    limit = num(v1('memory', 'memory.limit_in_bytes') ?? '0');
    pids = num(v1('pids', 'pids.current') ?? '0');
    blk = parseBlkioV1(v1('blkio', 'blkio.throttle.io_service_bytes_recursive') || v1('blkio', 'blkio.throttle.io_service_bytes') || '');
    procs = v1('pids', 'cgroup.procs') || v1('memory', 'cgroup.procs') || '';
  } else {
    const stat = /^usage_usec (\d+)$/m.exec(v2('cpu.stat'));
    cpuNanos = stat ? Number(stat[1]) * 1000 : 0;
    memUsage = num(v2('memory.current'));
    const max = v2('memory.max').trim();
    limit = max === 'max' || max === '' ? 0 : num(max);
    pids = num(v2('pids.current'));
    blk = parseIoStat(v2('io.stat'));
    procs = v2('cgroup.procs');
  }
  const memLimit = limit > 0 && limit < hostMem ? limit : hostMem;
  // the network of the container's namespace, through a process that is in its cgroup
  const pid = procs.split('\n').map((s) => s.trim()).find((s) => /^\d+$/.test(s));
  const net = pid && existsSync(`/proc/${pid}/net/dev`) ? parseNetDev(safeRead(`/proc/${pid}/net/dev`)) : { rx: 0, tx: 0 };
  return { cpuNanos, memUsage, memLimit, pids, blockRead: blk.read, blockWrite: blk.write, netRx: net.rx, netTx: net.tx, at: Date.now() * 1e6 };
}
