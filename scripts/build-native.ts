// Builds native/spawn.c into dist/native/peapod-spawn, run by `npm run build` (engine/spawn.ts says
// why it exists). Static like the infra's pause when the static libc is there. Without gcc the
// build goes on with a warning: peapod then starts its programs with node:child_process.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const project = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = path.join(project, 'dist', 'native', 'peapod-spawn');
mkdirSync(path.dirname(out), { recursive: true });
const cc = (extra: string[]) => execFileSync('gcc', [...extra, '-O2', '-Wall', '-Werror', '-o', `${out}.tmp`, path.join(project, 'native', 'spawn.c')], { stdio: ['ignore', 'inherit', 'pipe'] });
try {
  try {
    cc(['-static']);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    cc([]);
  }
  renameSync(`${out}.tmp`, out);
} catch (err) {
  const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
  if (e.code !== 'ENOENT') throw new Error(`building native/spawn.c: ${e.stderr?.toString() || e.message}`);
  process.stderr.write('build: no gcc: dist/native/peapod-spawn not built (peapod starts its programs through Node instead)\n');
}
