// What a container's status allows lives in engine/pod/status.ts alone.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerStatus } from '../../../engine/types.js';
import * as st from '../../../engine/pod/status.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const rec = (status: ContainerStatus) => ({ state: { status } }) as Parameters<typeof st.isRunning>[0];

describe('container status', () => {
  it('allows each operation in the states the lifecycle permits', () => {
    const all: ContainerStatus[] = ['created', 'running', 'exited', 'stopped', 'removing'];
    const which = (f: (c: ReturnType<typeof rec>) => boolean) => all.filter((s) => f(rec(s)));
    expect(which(st.canStart)).toEqual(['created', 'exited', 'stopped']);
    expect(which(st.canExec)).toEqual(['running']);
    expect(which(st.canStop)).toEqual(['running']);
    expect(which((c) => st.canRemove(c))).toEqual(['created', 'exited', 'stopped', 'removing']);
    expect(which((c) => st.canRemove(c, true))).toEqual(all);
    expect(which(st.canRestart)).toEqual(['exited']);
    expect(which(st.hasEnded)).toEqual(['exited', 'stopped']);
  });

  it('computes a pod status as Podman does', () => {
    expect(st.podStatus([])).toBe('Created');
    expect(st.podStatus(['running', 'running'])).toBe('Running');
    expect(st.podStatus(['running', 'exited'])).toBe('Degraded');
    expect(st.podStatus(['stopped', 'stopped'])).toBe('Stopped');
    expect(st.podStatus(['exited', 'stopped'])).toBe('Exited');
    expect(st.podStatus(['created', 'created'])).toBe('Created');
    expect(st.podStatus(['created', 'exited'])).toBe('Exited');
  });

  it('is the only place that compares status strings', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(path.join(ROOT, dir))) {
        const rel = path.posix.join(dir, name);
        if (statSync(path.join(ROOT, rel)).isDirectory()) walk(rel);
        else if (rel.endsWith('.ts') && rel !== 'engine/pod/status.ts') {
          readFileSync(path.join(ROOT, rel), 'utf8').split('\n').forEach((line, i) => {
            if (/state\.status\s*[!=]==|status\)?\s*[!=]==?\s*'(running|exited|stopped|created|removing)'|case '(running|exited|stopped|created|removing)'/.test(line)) offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
          });
        }
      }
    };
    walk('engine');
    walk('src');
    expect(offenders).toEqual([]);
  });
});
