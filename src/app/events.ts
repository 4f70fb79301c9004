// `events`: the engine's journal of lifecycle events, read with Podman's filters and time bounds.
// One use case for every front end: the CLI prints what it yields, the API streams it.
import type { Opener } from './engine.js';
import { PeapodError } from '../../engine/errors.js';
import { readEvents, type EngineEvent } from '../../engine/events.js';

export type { EngineEvent } from '../../engine/events.js';

export interface EventsOptions {
  /** Podman's --filter values, KEY=VALUE (type, event or status, container, pod, image, label, volume, network) */
  filters?: string[];
  /** Podman's time forms: RFC 3339, a date, Unix seconds, or a duration back from now (10m, 1h30m) */
  since?: string;
  until?: string;
  /** follow new events after the history (Podman's --stream, true by default on the CLI) */
  stream?: boolean;
  signal?: AbortSignal;
}

const FILTER_KEYS = new Set(['type', 'event', 'status', 'container', 'pod', 'image', 'label', 'volume', 'network', 'since', 'until']);
const TYPES = new Set(['container', 'pod', 'image', 'volume', 'network', 'system']);

/** The KEY=VALUE filters as a map of alternatives; since/until given as filters join the flags. */
export function parseEventFilters(list: string[] = []): { filters: Record<string, string[]>; since?: string; until?: string } {
  const filters: Record<string, string[]> = {};
  let since: string | undefined;
  let until: string | undefined;
  for (const f of list) {
    const i = f.indexOf('=');
    const key = i < 0 ? f : f.slice(0, i).toLowerCase();
    if (i < 0 || !FILTER_KEYS.has(key)) throw new PeapodError('invalid', `${JSON.stringify(f)} is an invalid filter: want KEY=VALUE with KEY one of ${[...FILTER_KEYS].join(', ')}`);
    const value = f.slice(i + 1);
    if (key === 'type' && !TYPES.has(value)) throw new PeapodError('invalid', `filter ${JSON.stringify(f)}: unknown event type ${JSON.stringify(value)} (want one of ${[...TYPES].join(', ')})`);
    if (key === 'since') since = value;
    else if (key === 'until') until = value;
    else (filters[key] ??= []).push(value);
  }
  return { filters, since, until };
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A time bound in nanoseconds since the epoch, from Podman's forms; `now` for the relative ones. */
export function parseEventTime(value: string, what: string, now = Date.now()): bigint {
  const v = value.trim();
  if (/^\d+(\.\d{1,9})?$/.test(v)) {
    const [s, frac = ''] = v.split('.');
    return BigInt(s!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0'));
  }
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * UNITS[m[2]!]!;
    return BigInt(Math.round((now - ms) * 1000)) * 1000n;
  }
  const withZone = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00` : v;
  const m = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/.exec(withZone);
  if (m) {
    const ms = Date.parse(`${m[1]!.replace(' ', 'T')}${m[3] ?? ''}`);
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
  }
  throw new PeapodError('invalid', `${what} ${JSON.stringify(value)}: not a time (want RFC 3339 such as 2026-12-03T10:00:00Z, a date, Unix seconds, or a duration such as 10m)`);
}

/**
 * The events of this run root that pass the options: the history, then (stream) each new one as
 * the engine records it, until the signal aborts or `until` has passed. Bad filters and times are
 * refused before anything is read.
 */
export async function* eventsOf(open: Opener, opts: EventsOptions = {}): AsyncGenerator<EngineEvent> {
  const parsed = parseEventFilters(opts.filters);
  const sinceText = opts.since ?? parsed.since;
  const untilText = opts.until ?? parsed.until;
  const now = Date.now();
  const since = sinceText !== undefined ? parseEventTime(sinceText, '--since', now) : undefined;
  const until = untilText !== undefined ? parseEventTime(untilText, '--until', now) : undefined;
  const engine = await open();
  yield* readEvents(engine.events.dir, { filters: parsed.filters, since, until, stream: opts.stream, signal: opts.signal });
}
