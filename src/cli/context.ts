import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { Engine } from '../../engine/engine.js';
import { setLogLevel } from '../../engine/log.js';

/** Global flags, read from the root program. */
export interface GlobalOpts {
  root?: string;
  runroot?: string;
  runtime?: string;
  logLevel?: string;
  infraImage?: string;
}

let engine: Engine | undefined;

/** argv that re-runs this CLI (used for conmon's exit command). */
export function selfCommand(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // from the bundle, through bin/peapod, which loads it with its code cache (exit commands, the
  // probe monitor and the rootless re-run start the CLI often)
  const bin = path.resolve(here, '..', '..', 'bin', 'peapod');
  if (path.basename(here) === 'bundle' && existsSync(bin)) return [process.execPath, bin];
  return [process.execPath, path.resolve(here, 'main.js')];
}

export function globals(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals() as GlobalOpts;
}

/**
 * Opens the engine once per invocation with the global flags. Loaded lazily so that commands
 * which need no engine (--version, help) start fast.
 */
export async function getEngine(cmd: Command): Promise<Engine> {
  if (!engine) {
    const g = globals(cmd);
    if (g.logLevel) setLogLevel(g.logLevel);
    const { Engine } = await import('../../engine/engine.js');
    engine = Engine.open({ root: g.root, runroot: g.runroot, runtime: g.runtime, logLevel: g.logLevel, infraImage: g.infraImage, selfCommand: selfCommand() });
  }
  return engine;
}

/**
 * A fresh engine with the global flags at every call, not cached: the API service opens one per
 * request, as each CLI command opens its own.
 */
export function engineOpener(cmd: Command): () => Promise<Engine> {
  const g = globals(cmd);
  return async () => {
    const { Engine } = await import('../../engine/engine.js');
    return Engine.open({ root: g.root, runroot: g.runroot, runtime: g.runtime, logLevel: g.logLevel, infraImage: g.infraImage, selfCommand: selfCommand() });
  };
}

/** Sets the process exit code without cutting output short. */
export function setExit(code: number): void {
  process.exitCode = code;
}
