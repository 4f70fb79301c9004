// `stats` (= `container stats`) and `pod stats`: live CPU, memory, network, block I/O and PIDs of
// running containers, as Podman prints them. Thin: one use case (src/app/stats.ts) per refresh.
import type { Command } from 'commander';
import { engineOpener } from './context.js';
import { printItems } from './format.js';
import { int } from './flags.js';
import type { ContainerStatsReport, StatsFigures } from '../app/stats.js';
import type { CgroupSample } from '../app/stats.js';

interface StatsFlags { all?: boolean; stream: boolean; format?: string; interval?: number; noheading?: boolean }

/** Samples, printed once (--no-stream) or every interval until interrupted, CPU % over each interval. */
async function loop(o: StatsFlags, sample: () => Promise<ContainerStatsReport[]>, print: (rows: Array<[ContainerStatsReport, StatsFigures]>) => void): Promise<void> {
  const { figures } = await import('../app/stats.js');
  const prev = new Map<string, CgroupSample>();
  let stop = false;
  const end = () => { stop = true; };
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
  try {
    for (;;) {
      const reports = await sample();
      const rows = reports.map((r): [ContainerStatsReport, StatsFigures] => [r, figures(r, prev.get(r.id))]);
      for (const r of reports) if (r.sample) prev.set(r.id, r.sample);
      if (o.stream && process.stdout.isTTY) process.stdout.write('\u001b[2J\u001b[H');
      print(rows);
      if (!o.stream || stop) return;
      const until = Date.now() + (o.interval ?? 5) * 1000;
      while (!stop && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(200, until - Date.now())));
      if (stop) return;
    }
  } finally {
    process.off('SIGINT', end);
    process.off('SIGTERM', end);
  }
}

function define(c: Command, what: 'container' | 'pod'): Command {
  return c
    .option('-a, --all', what === 'container' ? 'also the containers that are not running (zeros)' : 'every pod, also those with nothing running')
    .option('--no-stream', 'print one sample and exit')
    .option('--no-reset', 'do not clear the screen between samples (accepted)')
    .option('--no-trunc', 'accepted (IDs are short in the figures, as Podman)')
    .option('-i, --interval <seconds>', 'seconds between samples while streaming (default 5)', int('interval'))
    .option('--format <format>', 'json, or a Go template with Podman\'s fields')
    .option('-n, --noheading', 'no header line');
}

export function registerStatsCommands(program: Command): void {
  const ctrStats = (c: Command) => define(c.description('show live CPU, memory, network and block I/O, and PIDs of containers').argument('[containers...]'), 'container')
    .action(async (refs: string[], o: StatsFlags, cmd: Command) => {
      const app = await import('../app/stats.js');
      await loop(o, () => app.containerStats(engineOpener(cmd), { refs, all: o.all }), (rows) => {
        printItems(rows, o.format, {
          headers: ['ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET IO', 'BLOCK IO', 'PIDS', 'CPU TIME', 'AVG CPU %'],
          row: ([r, f]) => { const j = app.statsJson(r, f); return [j.id, j.name, j.cpu_percent, j.mem_usage, j.mem_percent, j.net_io, j.block_io, j.pids, j.cpu_time, j.avg_cpu]; },
        }, { noHeading: o.noheading, templateView: ([r, f]) => app.statsTemplateView(r, f), json: ([r, f]) => app.statsJson(r, f) });
      });
    });
  ctrStats(program.command('stats'));
  const container = program.commands.find((c) => c.name() === 'container');
  if (container) ctrStats(container.command('stats'));
  const pod = program.commands.find((c) => c.name() === 'pod');
  if (pod) {
    define(pod.command('stats').description('show live CPU, memory, network and block I/O, and PIDs of the containers of pods').argument('[pods...]'), 'pod')
      .action(async (refs: string[], o: StatsFlags, cmd: Command) => {
        const app = await import('../app/stats.js');
        await loop(o, () => app.podStats(engineOpener(cmd), { refs, all: o.all }), (rows) => {
          printItems(rows, o.format, {
            headers: ['POD', 'CID', 'NAME', 'CPU %', 'MEM USAGE/ LIMIT', 'MEM %', 'NET IO', 'BLOCK IO', 'PIDS'],
            row: ([r, f]) => { const v = app.podStatsView(r, f); return [v.Pod!, v.CID!, v.Name!, v.CPU!, v.MemUsage!, v.Mem!, v.NetIO!, v.BlockIO!, v.PIDS!]; },
          }, { noHeading: o.noheading, templateView: ([r, f]) => app.podStatsView(r, f), json: ([r, f]) => app.podStatsView(r, f) });
        });
      });
  }
}
