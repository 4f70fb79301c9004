// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports from src/ and engine/)
// into one CommonJS file, dist/bundle/main.js, run by `npm run build`; bin/peapod requires it.
// Why: Node 20 loads ~100 ES modules one file at a time for each command, and its ES module loader
// alone costs ~40 ms of CPU per command on a loaded 2-core host (measured: ps on an empty store
// 278 -> 226 ms, images 277 -> 237 ms against a bundle of ES module chunks). The lazy imports
// stay lazy: esbuild evaluates a module of the bundle at its first import().
// Packages in node_modules stay outside (require()d, or import()ed for the ES-only execa), except
// commander, which every command loads.
// The file is called main.js: the exit command (src/cli/context.ts selfCommand) re-runs the CLI by
// that name next to the code that holds it. Modules that find files next to themselves through
// import.meta.url (validators, infra-image, bin) see the bundle's own URL.
import { build, type Plugin } from 'esbuild';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(dist, 'bundle');
const main = path.join(dist, 'src', 'cli', 'main.js');
const pkg = JSON.parse(readFileSync(path.join(dist, '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const external = Object.keys(pkg.dependencies).filter((d) => d !== 'commander').flatMap((d) => [d, `${d}/*`]);

// CommonJS has no top-level await; main.ts (an ES module script) uses it. Its body, after the
// import lines, runs inside an async function instead: the same statements in the same order.
// An import left in the body would be a syntax error there, so a change of shape fails the build.
const wrapMain: Plugin = {
  name: 'main-without-top-level-await',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/]cli[\\/]main\.js$/ }, (args) => {
      const lines = readFileSync(args.path, 'utf8').split('\n');
      const body = lines.findIndex((l) => !/^import .* from '[^']+';$/.test(l));
      return { contents: `${lines.slice(0, body).join('\n')}\nvoid (async () => {\n${lines.slice(body).join('\n')}\n})();\n`, loader: 'js', resolveDir: path.dirname(args.path) };
    });
  },
};

// Node built-ins that most commands never touch are loaded at their first use, not when the bundle
// starts: an import of one resolves to a small object whose properties (the module's names, read
// at build time) load the real module when first read. `ps` on an empty store loaded child_process,
// crypto, dgram, net, readline, stream, zlib and vm for nothing (~10 ms of every command here).
// fs, path, url, events and process stay as they are (Node's bootstrap has them loaded already).
const LAZY_BUILTINS = ['child_process', 'crypto', 'dgram', 'fs/promises', 'http', 'https', 'net', 'os', 'readline', 'readline/promises', 'stream', 'stream/promises', 'tls', 'vm', 'zlib'];
const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.map((m) => m.replace('/', '\\/')).join('|')})$`);
    b.onResolve({ filter }, (args) => (args.namespace === 'lazy-builtin'
      ? { path: args.path, external: true }
      : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async (args) => {
      const real = (await import(`node:${args.path}`)) as Record<string, unknown>;
      const names = Object.keys(real).filter((k) => k !== 'default');
      return {
        loader: 'js',
        contents: `let m;
const load = () => (m ??= require(${JSON.stringify(`node:${args.path}`)}));
for (const k of ${JSON.stringify(names)}) Object.defineProperty(exports, k, { enumerable: true, get: () => load()[k] });
`,
      };
    });
  },
};

rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [{ in: main, out: 'main' }],
  outdir: out,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external,
  // keep import() of the external ES-only packages (execa) as it is
  supported: { 'dynamic-import': true },
  define: { 'import.meta.url': '__peapodModuleUrl' },
  banner: { js: "const __peapodModuleUrl = require('node:url').pathToFileURL(__filename).href;\nconst __peapodImport = globalThis.__peapodImport ?? ((name) => import(name));" },
  plugins: [wrapMain, lazyBuiltins],
  sourcemap: true,
  logLevel: 'warning',
});
// The external packages that stay import()ed (execa is ES-only) are imported through a function of
// bin/peapod: functions V8 takes from the code cache lose the script's dynamic-import callback
// ("A dynamic import callback was not specified"), a plain CommonJS file's never does. Run
// without bin/peapod, the bundle imports by itself.
{
  const file = path.join(out, 'main.js');
  let n = 0;
  const code = readFileSync(file, 'utf8').replace(/\bimport\((["'])([^"'./][^"']*)\1\)/g, (_m, _q, name: string) => {
    n++;
    return `__peapodImport(${JSON.stringify(name)})`;
  });
  if (!n) throw new Error('bundle: no import() of an external package found; check the rewrite in scripts/bundle.ts');
  writeFileSync(file, code);
}
writeFileSync(path.join(out, 'package.json'), '{ "type": "commonjs" }\n');
// The systemd generator (bin/peapod-generator) has a bundle of its own: systemd runs it at boot and
// at every daemon-reload, so it carries only the .kube translation (src/systemd/), no commander,
// no engine, no package from node_modules.
{
  const r = await build({
    entryPoints: [{ in: path.join(dist, 'src', 'cli', 'generator.js'), out: 'generator' }],
    outdir: out,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    metafile: true,
    logLevel: 'warning',
  });
  const heavy = Object.keys(r.metafile.inputs).filter((f) => /node_modules|[\\/]engine[\\/]/.test(f));
  if (heavy.length) throw new Error(`bundle: the generator must not load ${heavy.join(', ')}`);
}
// validate.ts looks for the precompiled validators next to the module that holds it.
cpSync(path.join(dist, 'src', 'kube', 'validators'), path.join(out, 'validators'), { recursive: true });

// V8's code cache of the bundle, read by bin/peapod: made from a run of `--help`, which compiles
// what every command needs (commander, the command tables); measured: the same gain (~18 ms per
// command) as a cache made from `ps`. Made without extra Node flags: V8 rejects a cache made
// under other flags. A failure here leaves no cache, never a broken build.
{
  const bin = path.join(dist, '..', 'bin', 'peapod');
  const cache = path.join(out, 'main.js.cache');
  const r = spawnSync(process.execPath, [bin, '--help'], { env: { ...process.env, PEAPOD_WRITE_CODE_CACHE: cache }, stdio: 'ignore' });
  if (r.status !== 0) {
    rmSync(cache, { force: true });
    console.warn(`bundle: no code cache (peapod --help exited ${r.status ?? r.signal})`);
  }
}
