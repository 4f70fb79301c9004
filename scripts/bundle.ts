// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports from src/ and engine/)
// into dist/bundle/, run by `npm run build`. Node 20 loads ~100 ES modules one file at a time for
// each command; a few chunks (split at the CLI's dynamic imports, so a command still loads only what
// it needs) parse and link faster. Packages in node_modules stay outside, loaded as they are,
// except commander, which every command loads: bundled, Node neither resolves its package nor scans
// its CommonJS for exports at each start.
// The entry is called main.js: the exit command (src/cli/context.ts selfCommand) re-runs the CLI by
// that name next to the chunk that holds it.
import { build } from 'esbuild';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(dist, 'bundle');
const pkg = JSON.parse(readFileSync(path.join(dist, '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const external = Object.keys(pkg.dependencies).filter((d) => d !== 'commander').flatMap((d) => [d, `${d}/*`]);
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [{ in: path.join(dist, 'src', 'cli', 'main.js'), out: 'main' }],
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  // commander is CommonJS and calls require() for Node's own modules
  banner: { js: "import { createRequire as __peapodRequire } from 'node:module'; const require = __peapodRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});
// validate.ts looks for the precompiled validators next to the module that holds it.
cpSync(path.join(dist, 'src', 'kube', 'validators'), path.join(out, 'validators'), { recursive: true });
