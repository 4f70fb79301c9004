// conmon's exit command (engine/pod/containers.ts exitCommand): with stop()'s marker present it
// removes the marker and runs nothing; without it, it runs the CLI's cleanup command as given.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { exitCommand } from '../../../engine/pod/containers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-exitcmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the argv the way conmon does (program and arguments, no shell around it). */
const run = (argv: string[]) => execa(argv[0], argv.slice(1), { reject: false });

describe('exit command', () => {
  const ran = path.join(dir, 'ran');
  const cleanup = ['/bin/sh', '-c', 'printf "%s|" "$@" > "$0"', ran, 'container', 'cleanup', 'ID with space'];

  it('without the marker runs the cleanup command with its arguments unchanged', async () => {
    const r = await run(exitCommand(path.join(dir, 'no-marker'), cleanup));
    expect(r.exitCode).toBe(0);
    expect(readFileSync(ran, 'utf8')).toBe('container|cleanup|ID with space|');
  });

  it('with the marker ends at once, runs nothing and removes the marker', async () => {
    rmSync(ran, { force: true });
    const marker = path.join(dir, 'marker');
    writeFileSync(marker, '');
    const r = await run(exitCommand(marker, cleanup));
    expect(r.exitCode).toBe(0);
    expect(existsSync(ran)).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });
});
