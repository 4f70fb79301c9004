// The engine's journal of lifecycle events (Podman's `events`, its "file" events backend): one JSON
// object per line in <runroot>/events/events.log, appended by whichever process changes an object
// (the CLI, conmon's exit command, the pod monitor), so the journal outlives every command.
//
// - One write(2) per event on an O_APPEND descriptor opened O_NOFOLLOW, mode 0600 in a 0700
//   directory (names, labels and images may be private): concurrent writers never interleave.
// - Bounded: past maxSize bytes the file is renamed to events.log.1 (the older one is replaced) by
//   the one writer holding events.rotate (O_EXCL); a line is at most MAX_LINE bytes (the largest
//   attributes are dropped first, never the event).
// - Read back by `readEvents`: history (events.log.1, then events.log) and, when asked, new events
//   as they are appended (inotify on the directory, a poll as the fallback), across rotations.
//   Damaged lines are skipped; a line longer than MAX_LINE is skipped whole.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, watch, writeSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { debug } from './log.js';

export type EventType = 'container' | 'pod' | 'image' | 'volume' | 'network' | 'system';

/** One event, with Podman 4.3.1's JSON field names and order (`podman events --format json`). */
export interface EngineEvent {
  ContainerExitCode?: number;
  ID?: string;
  Image?: string;
  Name?: string;
  Status: string;
  /** RFC 3339 with nanoseconds, UTC (Go's RFC3339Nano: trailing zeros trimmed). */
  Time: string;
  Type: EventType;
  PodID?: string;
  Attributes: Record<string, string> | null;
}

export type NewEvent = Omit<EngineEvent, 'Time' | 'Attributes'> & { Attributes?: Record<string, string> | null };

/** The largest line written or read back. */
export const MAX_LINE = 64 * 1024;
/** Rotation size by default (Podman's events_logfile_max_size is 1 MB too). */
export const DEFAULT_MAX_SIZE = 1024 * 1024;

/** Time as Go's RFC3339Nano in UTC, from nanoseconds since the epoch. */
export function rfc3339Nano(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${new Date(ms).toISOString().slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

/** Nanoseconds of an RFC 3339 time (fraction kept to the nanosecond); NaN-safe: undefined when unparsable. */
export function timeNanos(t: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(t);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

let lastNs = 0n;
/** Now in nanoseconds, strictly increasing within this process (so events keep their order). */
function nowNanos(): bigint {
  let ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  return ns;
}

/** The line an event is written as: bounded by MAX_LINE, dropping the largest attributes first. */
export function eventLine(ev: EngineEvent): string {
  let line = JSON.stringify(ev);
  if (Buffer.byteLength(line) < MAX_LINE) return `${line}\n`;
  const attrs = { ...(ev.Attributes ?? {}) };
  const keys = Object.keys(attrs).sort((a, b) => (attrs[b]!.length + b.length) - (attrs[a]!.length + a.length));
  for (const k of keys) {
    delete attrs[k];
    line = JSON.stringify({ ...ev, Attributes: attrs });
    if (Buffer.byteLength(line) < MAX_LINE) return `${line}\n`;
  }
  // Only a name or image that long is left: keep what identifies the event.
  return `${JSON.stringify({ ID: ev.ID, Status: ev.Status, Time: ev.Time, Type: ev.Type, Attributes: null })}\n`;
}

/** Writes and reads the events journal of one run root. */
export class EventLog {
  readonly file: string;

  constructor(readonly dir: string, readonly maxSize = envMaxSize()) {
    this.file = path.join(dir, 'events.log');
  }

  /** Appends one event. Never throws: a journal that cannot be written must not fail the operation it records. */
  write(ev: NewEvent): void {
    const full: EngineEvent = {
      ...(ev.ContainerExitCode !== undefined ? { ContainerExitCode: ev.ContainerExitCode } : {}),
      ...(ev.ID ? { ID: ev.ID } : {}),
      ...(ev.Image ? { Image: ev.Image } : {}),
      ...(ev.Name ? { Name: ev.Name } : {}),
      Status: ev.Status,
      Time: rfc3339Nano(nowNanos()),
      Type: ev.Type,
      ...(ev.PodID ? { PodID: ev.PodID } : {}),
      Attributes: ev.Attributes && Object.keys(ev.Attributes).length ? ev.Attributes : null,
    };
    try {
      // Only the journal's own directory is made: a run root removed by system reset stays removed.
      try { mkdirSync(this.dir, { mode: 0o700 }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
      const fd = openSync(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      try {
        const st = fstatSync(fd);
        if (!st.isFile()) throw new Error('not a regular file');
        const line = eventLine(full);
        writeSync(fd, line);
        if (st.size + line.length >= this.maxSize) this.rotate(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      debug(`events: cannot record ${full.Type} ${full.Status} of ${full.Name ?? full.ID ?? ''} in ${this.file}: ${(err as Error).message}`);
    }
  }

  /** Renames a full journal to events.log.1; only one writer at a time (events.rotate, O_EXCL). */
  private rotate(fd: number): void {
    if (fstatSync(fd).size < this.maxSize) return;
    const lock = path.join(this.dir, 'events.rotate');
    let lfd: number;
    try {
      lfd = openSync(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch {
      // Another writer rotates; a lock left by a killed one goes after a minute.
      try { if (Date.now() - lstatSync(lock).mtimeMs > 60_000) rmSync(lock, { force: true }); } catch { /* gone */ }
      return;
    }
    try {
      const st = lstatSync(this.file);
      // Still the file this writer filled (no one rotated it meanwhile) and still full.
      if (st.isFile() && st.ino === fstatSync(fd).ino && st.size >= this.maxSize) renameSync(this.file, `${this.file}.1`);
    } finally {
      closeSync(lfd);
      rmSync(lock, { force: true });
    }
  }
}

function envMaxSize(): number {
  const v = Number(process.env.PEAPOD_EVENTS_MAX_SIZE);
  return Number.isInteger(v) && v >= 1024 ? v : DEFAULT_MAX_SIZE;
}

/** Which events to show: each key's values are alternatives (OR), the keys all apply (AND). */
export interface EventFilter {
  /** type, event (status), container, pod, image, label, volume, network: values as Podman's --filter */
  filters?: Record<string, string[]>;
  /** nanoseconds since the epoch */
  since?: bigint;
  until?: bigint;
}

function idOrName(value: string, id: string | undefined, name: string | undefined): boolean {
  return (!!name && name === value) || (!!id && value.length > 0 && /^[0-9a-f]+$/.test(value) && id.startsWith(value));
}

/** Whether an event passes a filter (Podman's keys; `status` is `event`'s other name). */
export function matchEvent(ev: EngineEvent, f: EventFilter): boolean {
  const t = timeNanos(ev.Time);
  if (f.since !== undefined && (t === undefined || t < f.since)) return false;
  if (f.until !== undefined && (t === undefined || t > f.until)) return false;
  for (const [key, values] of Object.entries(f.filters ?? {})) {
    if (!values.length) continue;
    const one = (v: string): boolean => {
      switch (key) {
        case 'type': return ev.Type === v;
        case 'event': case 'status': return ev.Status === v;
        case 'container': return ev.Type === 'container' && idOrName(v, ev.ID, ev.Name);
        // a pod's own events and those of its containers
        case 'pod': return (ev.Type === 'pod' && idOrName(v, ev.ID, ev.Name)) || (ev.Type === 'container' && !!ev.PodID && idOrName(v, ev.PodID, undefined));
        // an image's own events and those of the containers made from it
        case 'image': return ev.Type === 'image' ? idOrName(v, ev.ID, ev.Name) : ev.Type === 'container' && !!ev.Image && (ev.Image === v || shortImage(ev.Image) === shortImage(v));
        case 'volume': return ev.Type === 'volume' && idOrName(v, ev.ID, ev.Name);
        case 'network': return ev.Type === 'network' && idOrName(v, ev.ID, ev.Name);
        case 'label': {
          const i = v.indexOf('=');
          const attrs = ev.Attributes ?? {};
          return i < 0 ? Object.prototype.hasOwnProperty.call(attrs, v) : Object.prototype.hasOwnProperty.call(attrs, v.slice(0, i)) && attrs[v.slice(0, i)] === v.slice(i + 1);
        }
        default: return false;
      }
    };
    if (!values.some(one)) return false;
  }
  return true;
}

function shortImage(ref: string): string {
  const r = ref.replace(/^(docker\.io\/library\/|docker\.io\/|localhost\/)/, '');
  return r.includes(':') && !r.includes('@') && r.lastIndexOf(':') > r.lastIndexOf('/') ? r : `${r}:latest`;
}

/** The event a line holds, or undefined for a damaged line. */
export function parseEventLine(line: string): EngineEvent | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
    const e = v as Record<string, unknown>;
    if (typeof e.Status !== 'string' || typeof e.Time !== 'string' || typeof e.Type !== 'string') return undefined;
    for (const k of ['ID', 'Image', 'Name', 'PodID'] as const) if (e[k] !== undefined && typeof e[k] !== 'string') return undefined;
    if (e.Attributes !== null && e.Attributes !== undefined) {
      if (typeof e.Attributes !== 'object' || Array.isArray(e.Attributes)) return undefined;
      for (const x of Object.values(e.Attributes as object)) if (typeof x !== 'string') return undefined;
    }
    return { ...(e as unknown as EngineEvent), Attributes: (e.Attributes as Record<string, string> | undefined) ?? null };
  } catch {
    return undefined;
  }
}

/** A journal file read from where it was left, line by line; survives being renamed away (rotation). */
class Cursor {
  private fd: number | undefined;
  private ino = 0;
  private rest = Buffer.alloc(0);
  private skipping = false;

  constructor(private readonly file: string) {}

  /** Opens the file if it exists (O_NOFOLLOW: a link planted in its place is never followed). */
  open(): boolean {
    if (this.fd !== undefined) return true;
    try {
      const fd = openSync(this.file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const st = fstatSync(fd);
      if (!st.isFile()) { closeSync(fd); debug(`events: ${this.file} is not a regular file: skipped`); return false; }
      this.fd = fd;
      this.ino = st.ino;
      return true;
    } catch {
      return false;
    }
  }

  get inode(): number { return this.ino; }

  /** Whether the path now names another file than the one open (rotated). */
  replaced(): boolean {
    try { return statSync(this.file).ino !== this.ino; } catch { return true; }
  }

  /** Complete lines appended since the last call. */
  lines(): string[] {
    if (this.fd === undefined) return [];
    const out: string[] = [];
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(this.fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      let chunk = Buffer.concat([this.rest, buf.subarray(0, n)]);
      let nl: number;
      while ((nl = chunk.indexOf(10)) >= 0) {
        if (!this.skipping) out.push(chunk.subarray(0, nl).toString('utf8'));
        this.skipping = false;
        chunk = chunk.subarray(nl + 1);
      }
      if (chunk.length > MAX_LINE) { this.skipping = true; chunk = Buffer.alloc(0); }
      this.rest = Buffer.from(chunk);
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.rest = Buffer.alloc(0);
    this.skipping = false;
  }
}

export interface ReadEventsOptions extends EventFilter {
  /** keep following new events (until `until` passes or the signal aborts) */
  stream?: boolean;
  signal?: AbortSignal;
  /** poll interval while following, ms (inotify wakes the reader sooner) */
  pollMs?: number;
}

/**
 * The events of a run root's journal that pass the filter: the history, then (stream) every new
 * one as it is appended, until the signal aborts or `until` has passed.
 */
export async function* readEvents(dir: string, opts: ReadEventsOptions = {}): AsyncGenerator<EngineEvent> {
  const file = path.join(dir, 'events.log');
  const take = (lines: string[]): EngineEvent[] => lines.map(parseEventLine).filter((e): e is EngineEvent => !!e && matchEvent(e, opts));
  const old = new Cursor(`${file}.1`);
  let cur = new Cursor(file);
  // Open the current file first: if a rotation happens meanwhile, the open file is read to its end.
  cur.open();
  if (old.open()) { for (const e of take(old.lines())) yield e; old.close(); }
  for (const e of take(cur.lines())) yield e;
  if (!opts.stream) { cur.close(); return; }

  const pastUntil = () => opts.until !== undefined && BigInt(Date.now()) * 1_000_000n > opts.until;
  let wake: (() => void) | undefined;
  const poke = () => { const w = wake; wake = undefined; w?.(); };
  let watcher: FSWatcher | undefined;
  try {
    try {
      try { mkdirSync(dir, { mode: 0o700 }); } catch { /* there, or no run root: polling finds it */ }
      watcher = watch(dir, { persistent: false }, poke);
      watcher.on('error', () => undefined);
    } catch { /* polling only */ }
    opts.signal?.addEventListener('abort', poke, { once: true });
    while (!opts.signal?.aborted && !pastUntil()) {
      // The timer keeps the process alive while it follows; inotify or an abort wake it early.
      await new Promise<void>((resolve) => {
        const t = setTimeout(poke, opts.pollMs ?? 500);
        wake = () => { clearTimeout(t); resolve(); };
      });
      if (!cur.open()) continue;
      for (const e of take(cur.lines())) yield e;
      if (cur.replaced()) {
        // rotated: the rest of the old file was just read; if it was rotated more than once
        // meanwhile, events.log.1 is a newer file than the one read: read it whole; then the new one
        for (const e of take(cur.lines())) yield e;
        const seen = cur.inode;
        cur.close();
        const between = new Cursor(`${file}.1`);
        if (between.open() && between.inode !== seen) for (const e of take(between.lines())) yield e;
        between.close();
        cur = new Cursor(file);
        if (cur.open()) for (const e of take(cur.lines())) yield e;
      }
    }
  } finally {
    watcher?.close();
    opts.signal?.removeEventListener('abort', poke);
    cur.close();
  }
}
