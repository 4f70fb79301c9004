// `events` (and `system events`): the engine's journal, as Podman prints it. Thin: one use case
// (src/app/events.ts), then each event as a line (Podman's human form, JSON, or a Go template).
import { Option, type Command } from 'commander';
import { engineOpener } from './context.js';
import { collect } from './flags.js';
import { renderTemplate } from './format.js';
import type { EngineEvent } from '../app/events.js';

const parseBool = (v: string | undefined) => v === undefined || v === '' || v === 'true';

/** Control characters of a name, image or label (an image's labels are anyone's) shown escaped, never sent to the terminal. */
function clean(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Go's time.Time String() of an RFC 3339 UTC time, in the local zone: `2026-12-03 05:40:17.969481264 +0000 UTC`. */
export function goTime(t: string): string {
  const m = /^(.{19})(\.\d+)?Z$/.exec(t);
  if (!m) return t;
  const d = new Date(`${m[1]}Z`);
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19).replace('T', ' ');
  const sign = off < 0 ? '-' : '+';
  const hhmm = `${sign}${String(Math.floor(Math.abs(off) / 60)).padStart(2, '0')}${String(Math.abs(off) % 60).padStart(2, '0')}`;
  const zone = off === 0 ? 'UTC' : (new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? hhmm);
  return `${local}${m[2] ?? ''} ${hhmm} ${zone}`;
}

/** The fields a template sees: Podman's names, Time as Go prints it, text made safe. */
function templateView(e: EngineEvent): Record<string, unknown> {
  const attrs = e.Attributes ? Object.fromEntries(Object.entries(e.Attributes).map(([k, v]) => [clean(k), clean(v)])) : null;
  return {
    ContainerExitCode: e.ContainerExitCode ?? 0, ID: e.ID ?? '', Image: clean(e.Image ?? ''), Name: clean(e.Name ?? ''), Network: '',
    Status: e.Status, Time: goTime(e.Time), Type: e.Type, HealthStatus: '', PodID: e.PodID ?? '', Attributes: attrs,
  };
}

/** Podman's human form of one event. */
export function humanEvent(e: EngineEvent): string {
  const t = goTime(e.Time);
  const id = e.ID ?? '';
  switch (e.Type) {
    case 'container':
    case 'pod': {
      let s = `${t} ${e.Type} ${e.Status} ${id} (image=${clean(e.Image ?? '')}, name=${clean(e.Name ?? '')}`;
      if (e.PodID) s += `, pod_id=${e.PodID}`;
      for (const k of Object.keys(e.Attributes ?? {}).sort()) s += `, ${clean(k)}=${clean(e.Attributes![k]!)}`;
      return `${s})`;
    }
    case 'image': return `${t} image ${e.Status} ${id} ${clean(e.Name ?? '')}`;
    case 'network': return `${t} network ${e.Status} ${id} (container=${id}, name=${clean(e.Name ?? '')})`;
    case 'volume': return `${t} volume ${e.Status} ${clean(e.Name ?? '')}`;
    default: return `${t} ${e.Type} ${e.Status}`;
  }
}

interface EventsFlags { filter?: string[]; since?: string; until?: string; stream: boolean; format?: string }

async function showEvents(o: EventsFlags, cmd: Command): Promise<void> {
  const { eventsOf } = await import('../app/events.js');
  const ac = new AbortController();
  // Interrupted while following: stop reading, end normally (as Podman does on ^C).
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const fmt = o.format;
  const json = fmt === 'json' || fmt === '{{json .}}';
  try {
    for await (const e of eventsOf(engineOpener(cmd), { filters: o.filter, since: o.since, until: o.until, stream: o.stream, signal: ac.signal })) {
      const line = json ? JSON.stringify(e) : fmt ? renderTemplate(fmt, templateView(e)) : humanEvent(e);
      if (!process.stdout.write(`${line}\n`)) await new Promise((r) => process.stdout.once('drain', r));
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function define(c: Command): Command {
  return c.description('show the events of containers, pods and images (the engine journal): history, then new ones until interrupted')
    .option('-f, --filter <key=value>', 'type, event (status), container, pod, image, label, volume, network, since, until; repeat a key for alternatives', collect)
    .option('--since <time>', 'only events since this time (RFC 3339, date, Unix seconds, or a duration back from now such as 10m)')
    .option('--until <time>', 'only events until this time (same forms); streaming stops once it has passed')
    .addOption(new Option('--stream [bool]', 'keep following new events (--stream=false: print the history and exit)').argParser(parseBool).default(true))
    .option('--no-trunc', 'show full IDs (always on)')
    .option('--format <format>', 'json, or a Go template with Podman\'s fields (.ID .Image .Name .Status .Time .Type .PodID .Attributes .ContainerExitCode)')
    .action(showEvents);
}

export function registerEventCommands(program: Command): void {
  define(program.command('events'));
  const system = program.commands.find((c) => c.name() === 'system');
  if (system) define(system.command('events'));
}
