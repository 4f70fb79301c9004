import type { Command } from 'commander';
import { Option } from 'commander';
import { existsSync, accessSync, constants as fsc } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeapodError } from '../../engine/errors.js';
import type { KubeType } from '../kube/generate.js';
import { GENERATE_TYPES } from '../kube/kinds.js';
import { getEngine, globals } from './context.js';
import { collect } from './flags.js';

const TYPES = [...GENERATE_TYPES];

const uint = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new PeapodError('invalid', `invalid argument "${v}" for "${name}" flag: expected a non-negative integer`);
  return Number(v);
};

// ---------------------------------------------------------------------------------------------
// generate kube

interface KubeFlags { filename?: string; service?: boolean; type: KubeType; replicas?: number; includeSecrets?: boolean }

/** `generate kube` (also `kube generate`): the flags and the action on a command. */
export function addGenerateKube(c: Command): Command {
  return c.description('generate Kubernetes YAML from pods and containers')
    .argument('<refs...>', 'pods, containers, or the Deployments, DaemonSets and Jobs they were played from (names or IDs)')
    .option('-f, --filename <file>', 'write to this file (refused when it exists) instead of stdout')
    .option('-s, --service', 'add a Service (type NodePort) for the published ports')
    .addOption(new Option('--type <type>', 'kind of object: pod, deployment, daemonset or job').choices(TYPES).default('pod'))
    .option('--replicas <n>', 'replicas of a Deployment (default: the number of its pods)', uint('replicas'))
    .option('--include-secrets', 'write the Secrets the pods use, with their values (never written without this flag)')
    .action(async (refs: string[], o: KubeFlags, cmd: Command) => {
      if (o.replicas !== undefined && o.type !== 'deployment') throw new PeapodError('invalid', '--replicas needs --type deployment');
      const { generateKube } = await import('../app/generate.js');
      const text = await generateKube(() => getEngine(cmd), refs, { type: o.type, replicas: o.replicas, service: !!o.service, includeSecrets: !!o.includeSecrets });
      if (!o.filename) {
        process.stdout.write(text);
        return;
      }
      try {
        await writeFile(o.filename, text, { flag: 'wx' });
      } catch (err: any) {
        if (err?.code === 'EEXIST') throw new PeapodError('exists', `cannot write ${o.filename}: the file exists`);
        throw new PeapodError('invalid', `writing ${o.filename}: ${err.message}`);
      }
    });
}

// ---------------------------------------------------------------------------------------------
// generate systemd

interface SystemdFlags {
  new?: boolean; files?: boolean; name?: boolean; restartPolicy?: string; restartSec?: number; time?: number; startTimeout?: number;
  header: boolean; format?: string; kubeTemplate?: boolean; includeSecrets?: boolean; template?: boolean; env?: string[];
}

/** The peapod to put in units: the path the user ran, else this installation's bin/peapod. */
export function peapodExecutable(): string {
  const script = process.argv[1] ? path.resolve(process.argv[1]) : '';
  const executable = (p: string) => { try { accessSync(p, fsc.X_OK); return true; } catch { return false; } };
  if (script && path.basename(script) !== 'main.js' && executable(script)) return script;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'bin', 'peapod');
    if (existsSync(p)) return p;
    if (path.dirname(dir) === dir) break;
  }
  return script || 'peapod';
}

async function generateSystemd(ref: string | undefined, o: SystemdFlags, cmd: Command): Promise<void> {
  const { generateSystemd: units } = await import('../app/generate.js');
  const g = globals(cmd);
  const out = new Map<string, string>();
  for (const u of await units(() => getEngine(cmd), ref, { ...o, executable: peapodExecutable(), runtime: g.runtime, infraImage: g.infraImage })) {
    if (o.files) {
      const file = path.resolve(`${u.name}.service`);
      await writeFile(file, u.text);
      out.set(u.name, file);
    } else {
      out.set(u.name, u.text);
    }
  }
  if (o.format === 'json') {
    process.stdout.write(`${JSON.stringify(Object.fromEntries([...out].sort(([a], [b]) => a.localeCompare(b))), null, 1)}\n`);
  } else {
    process.stdout.write([...out.values()].map((v) => (o.files ? `${v}\n` : v)).join(''));
  }
}

function addGenerateSystemd(c: Command): Command {
  return c.description('generate systemd units for a pod or container')
    .argument('[ref]', 'pod or container (name or ID)')
    .option('--new', 'units create the pod or container on start and remove it on stop')
    .addOption(new Option('--no-new', 'units start and stop the existing pod or container (the default)').hideHelp())
    .option('--template', 'a template unit (NAME@.service): each instance runs its own container, named NAME-%i (implies --new; containers only)')
    .option('-e, --env <K[=V]>', 'Environment= of the units; a name alone takes its value from the container\'s environment', collect)
    .option('-f, --files', 'write the units to files in the current directory and print their paths')
    .option('-n, --name', 'use names instead of IDs in unit names and commands')
    .option('--restart-policy <policy>', `Restart= of the units (default on-failure): no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always`)
    .option('--restart-sec <seconds>', 'RestartSec= of the units', uint('restart-sec'))
    .option('-t, --time <seconds>', 'stop timeout (default: the pod\'s or container\'s)', uint('time'))
    .addOption(new Option('--stop-timeout <seconds>', 'same as --time').argParser(uint('stop-timeout')).hideHelp())
    .option('--start-timeout <seconds>', 'TimeoutStartSec= of units that play YAML (--new pod units, --kube-template): how long the pods may take to be ready', uint('start-timeout'))
    .option('--no-header', 'leave out the header (version and date)')
    .option('--format <format>', 'json: the units (or with --files their paths) by name')
    .option('--kube-template', 'print the template unit peapod-kube@.service that plays any YAML file')
    .option('--include-secrets', 'write secret values into YAML copies (never without this flag)')
    .action(async (ref: string | undefined, o: SystemdFlags & { stopTimeout?: number }, cmd: Command) => {
      // Podman's rule: --template means --new, and cannot be combined with an explicit --new=false
      if (o.template && o.new === false) throw new PeapodError('invalid', '--template cannot be set with --new=false');
      await generateSystemd(ref, { ...o, new: o.new || o.template, time: o.time ?? o.stopTimeout }, cmd);
    });
}

/** `peapod generate kube|systemd`. */
export function registerGenerateCommands(program: Command): void {
  const gen = program.command('generate').description('generate Kubernetes YAML or systemd units');
  addGenerateKube(gen.command('kube'));
  addGenerateSystemd(gen.command('systemd'));
}
