// The CLI starts fast because heavy modules load only when a command needs them (see #9): this
// walks the static imports reachable from src/cli/main.ts and refuses the heavy packages there.
import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const HEAVY = ['execa', 'ajv', 'yaml', '@kubernetes/client-node', 'tar-stream', 'smol-toml', 'openpgp'];

/** Static, value imports of a TypeScript file (`import type` and dynamic import() are not loaded at start). */
function staticImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) out.push(m[1]);
  return out;
}

function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const spec of staticImports(f)) {
      if (spec.startsWith('.')) {
        const ts = path.resolve(path.dirname(f), spec.replace(/\.js$/, '.ts'));
        if (existsSync(ts)) todo.push(ts);
      } else if (!spec.startsWith('node:')) {
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
  }
  return { files, packages };
}

describe('CLI start-up', () => {
  it('loads no heavy package before a command needs it', () => {
    const { files, packages } = reachable(path.join(ROOT, 'src/cli/main.ts'));
    expect(files.size).toBeGreaterThan(10);
    expect([...packages].filter((p) => HEAVY.includes(p))).toEqual([]);
    expect([...packages]).toContain('commander');
    // the API server loads only for `system service` (a dynamic import there)
    expect([...files].filter((f) => f.includes(`${path.sep}src${path.sep}api${path.sep}`))).toEqual([]);
  });

  it('bin/peapod answers --version from package.json without loading the CLI: the same version as the engine\'s', async () => {
    const { VERSION } = await import('../../../engine/version.js');
    expect(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version).toBe(VERSION);
    expect(readFileSync(path.join(ROOT, 'bin', 'peapod'), 'utf8')).toContain("require('../package.json').version");
  });

  it('opening the engine (every ps, inspect, play) loads no heavy package either', () => {
    const { packages } = reachable(path.join(ROOT, 'engine/engine.ts'));
    expect([...packages].filter((p) => HEAVY.includes(p))).toEqual([]);
  });
});
