// The CLI's first module (bin/peapod runs its bundle, dist/bundle/main.js): it loads nothing, so that
// what needs no command parser (--version) costs no more than Node's own start (#19); every other
// command loads the whole CLI (main.ts) through one dynamic import.
import { VERSION } from './version.js';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  // commander's output for the same flag (main.ts: program.version)
  process.stdout.write(`peapod version ${VERSION}\n`);
} else {
  await import('./main.js');
}
