// The layering rule of CODE_STRUCTURE.md, checked on every import form: static imports,
// `export ... from`, side-effect imports, dynamic `import('...')` (the lazy loading), `import('...')`
// types and require(). eslint's no-restricted-imports sees only the first two.
//
//   engine/      imports nothing of src/, test/, bench/, scripts/; types.ts and errors.ts nothing internal
//   src/kube/, src/systemd/   import nothing of src/cli/ or src/app/
//   src/app/     imports nothing of src/cli/
//   src/cli/     reaches the engine through src/app/, save the leaves and the listed exceptions
//   src/api/     (the API socket, a second front end) the same as src/cli/ without exceptions; never
//                imports src/cli/; nothing below the front ends imports it, the CLI only its server
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The engine modules a front end may import itself: leaves (errors, types, log, version, what a status allows) and the opener. */
const CLI_ENGINE_DOORS = ['engine/errors.ts', 'engine/types.ts', 'engine/log.ts', 'engine/version.ts', 'engine/engine.ts', 'engine/pod/status.ts'];
/**
 * What src/cli/ still imports of the engine directly (not yet behind src/app/). Shrink it; never
 * grow it: a new need of the CLI gets a use case in src/app/.
 */
const CLI_ENGINE_EXCEPTIONS: Record<string, string[]> = {
  'src/cli/main.ts': ['engine/rootless/userns.ts'],             // entering the user namespace comes before any command
  'src/cli/system.ts': ['engine/rootless/userns.ts', 'engine/network/unprivileged.ts', 'engine/config.ts'],
  'src/cli/registry.ts': ['engine/image/registry/login.ts', 'engine/image/registry/pull.ts', 'engine/image/util.ts'],
  'src/cli/images.ts': ['engine/image/util.ts'],
};

export interface ImportRef { spec: string; line: number; form: string }

/** Every module specifier a TypeScript file names, in any import form (comments stripped). */
export function importsOf(text: string): ImportRef[] {
  // Comments out, keeping line breaks (and string contents) so that lines still count.
  const code = text.replace(/\/\*[\s\S]*?\*\/|(^|[^:'"`\\])\/\/[^\n]*/g, (m, pre: string | undefined) => (pre ?? '') + m.slice((pre ?? '').length).replace(/[^\n]/g, ' '));
  const out: ImportRef[] = [];
  const forms: Array<[string, RegExp]> = [
    ['import/export ... from', /\b(?:import|export)\s[^;'"`]*?\bfrom\s*(['"])([^'"]+)\1/g],
    ['side-effect import', /\bimport\s*(['"])([^'"]+)\1/g],
    ['import()', /\bimport\s*\(\s*(['"`])([^'"`]+)\1/g],
    ['require()', /\brequire\s*\(\s*(['"`])([^'"`]+)\1/g],
  ];
  for (const [form, re] of forms) {
    for (const m of code.matchAll(re)) out.push({ spec: m[2], line: code.slice(0, m.index).split('\n').length, form });
  }
  // A computed specifier cannot be checked: it is a violation by itself.
  for (const m of code.matchAll(/\bimport\s*\(\s*(?!['"`\s])/g)) out.push({ spec: '<computed>', line: code.slice(0, m.index).split('\n').length, form: 'import() with a computed specifier' });
  return out;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(ROOT, dir))) {
    const rel = path.posix.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...tsFiles(rel));
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** The repository path (e.g. engine/pod/pods.ts) a relative specifier of `from` names; undefined for packages. */
function target(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, '.ts');
}

/** What the layering rule says of `file` importing `to` (a repository path): a reason when refused. */
export function refusal(file: string, to: string): string | undefined {
  const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
  if (under(file, 'engine')) {
    if (['src', 'test', 'bench', 'scripts'].some((d) => under(to, d))) return 'engine/ must not import src/, test/, bench/ or scripts/ (one-way rule: src -> engine)';
    if ((file === 'engine/types.ts' || file === 'engine/errors.ts')) return 'engine/types.ts and engine/errors.ts are leaves: they import nothing internal';
  }
  if ((under(file, 'src/kube') || under(file, 'src/systemd')) && (under(to, 'src/cli') || under(to, 'src/app'))) return `${file.split('/').slice(0, 2).join('/')}/ must not import src/cli/ or src/app/`;
  if (under(to, 'src/api') && !under(file, 'src/api') && !(file === 'src/cli/system.ts' && to === 'src/api/server.ts')) {
    return 'src/api/ is a front end: only `system service` (src/cli/system.ts) starts its server, nothing else imports it';
  }
  if (under(file, 'src/api') && under(to, 'src/cli')) return 'src/api/ must not import src/cli/ (two front ends side by side, sharing src/app/)';
  if (under(file, 'src/api') && under(to, 'engine') && !CLI_ENGINE_DOORS.includes(to)) return 'src/api/ reaches the engine through src/app/ (a use case), not directly';
  if (under(file, 'src/app') && under(to, 'src/cli')) return 'src/app/ must not import src/cli/ (front ends call the use cases, not the reverse)';
  if (under(file, 'src/cli') && under(to, 'engine') && !CLI_ENGINE_DOORS.includes(to) && !(CLI_ENGINE_EXCEPTIONS[file] ?? []).includes(to)) {
    return 'src/cli/ reaches the engine through src/app/ (a use case), not directly';
  }
  return undefined;
}

function violations(files: string[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    for (const ref of importsOf(readFileSync(path.join(ROOT, file), 'utf8'))) {
      if (ref.spec === '<computed>') {
        if (file.startsWith('engine/') || file.startsWith('src/')) out.push(`${file}:${ref.line}: ${ref.form}: the layering rule cannot check it`);
        continue;
      }
      const to = target(file, ref.spec);
      const why = to && refusal(file, to);
      if (why) out.push(`${file}:${ref.line}: ${ref.form} '${ref.spec}': ${why}`);
    }
  }
  return out;
}

describe('layering', () => {
  it('sees every import form', () => {
    const refs = importsOf([
      "import a from './a.js';",
      "import type { B } from './b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "import './e.js';",
      "const f = await import('./f.js');",
      "type G = import('./g.js').G;",
      "const h = require('./h.js');",
      '// import x from "./commented.js";',
      "/* const y = await import('./block-commented.js'); */",
      'const z = await import(name);',
      "import {\n  many,\n  lines,\n} from './i.js';",
    ].join('\n'));
    expect(refs.map((r) => r.spec).sort()).toEqual(['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js', './g.js', './h.js', './i.js', '<computed>']);
    expect(refs.find((r) => r.spec === './i.js')!.line).toBe(12);
  });

  it('refuses what the rule forbids', () => {
    expect(refusal('engine/pod/pods.ts', 'src/cli/main.ts')).toMatch(/one-way rule/);
    expect(refusal('engine/pod/pods.ts', 'test/helpers/cli.ts')).toMatch(/one-way rule/);
    expect(refusal('engine/types.ts', 'engine/errors.ts')).toMatch(/leaves/);
    expect(refusal('src/kube/plan.ts', 'src/cli/flags.ts')).toMatch(/src\/kube/);
    expect(refusal('src/app/kube.ts', 'src/cli/context.ts')).toMatch(/src\/app/);
    expect(refusal('src/cli/kube.ts', 'engine/pod/pods.ts')).toMatch(/through src\/app/);
    expect(refusal('src/cli/kube.ts', 'engine/errors.ts')).toBeUndefined();
    expect(refusal('src/app/kube.ts', 'engine/pod/pods.ts')).toBeUndefined();
    expect(refusal('engine/pod/pods.ts', 'engine/pod/containers.ts')).toBeUndefined();
    expect(refusal('src/api/libpod.ts', 'src/cli/format.ts')).toMatch(/src\/api/);
    expect(refusal('src/api/libpod.ts', 'engine/pod/pods.ts')).toMatch(/through src\/app/);
    expect(refusal('src/app/kube.ts', 'src/api/http.ts')).toMatch(/front end/);
    expect(refusal('src/cli/kube.ts', 'src/api/server.ts')).toMatch(/front end/);
    expect(refusal('src/cli/system.ts', 'src/api/server.ts')).toBeUndefined();
    expect(refusal('src/api/libpod.ts', 'src/app/kube.ts')).toBeUndefined();
    expect(refusal('src/api/libpod.ts', 'engine/errors.ts')).toBeUndefined();
  });

  it('holds for every file of engine/ and src/', () => {
    expect(violations([...tsFiles('engine'), ...tsFiles('src')])).toEqual([]);
  });
});
