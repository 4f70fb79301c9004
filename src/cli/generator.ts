// peapod-generator: the systemd generator that turns Quadlet `.kube` files into service units
// (systemd.generator(7); Podman's quadlet is the model). A front end of its own, run by systemd at
// boot and at every daemon-reload: bin/peapod-generator requires this file's bundle
// (dist/bundle/generator.js) and nothing else, so it starts fast and never opens the store; the
// translation is pure (src/systemd/quadlet.ts).
//
// Flavours: the user one when called as *user* (peapod-user-generator), with --user, or when
// systemd says SYSTEMD_SCOPE=user. A file with problems is reported (file:line, on stderr and, for
// the system flavour, /dev/kmsg) and skipped; the other files still generate; the exit code is 1
// when any file failed, as quadlet's.
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { convertKube, formatProblem, MAX_KUBE_FILE, QuadletError, type QuadletUnit } from '../systemd/quadlet.js';

export interface GeneratorInput {
  /** the path the program was called by (its name tells the flavour) */
  argv0: string;
  args: string[];
  /** the peapod executable the units run */
  peapod: string;
  env: Record<string, string | undefined>;
}

/** The directories the flavour reads, first wins on a name: $PEAPOD_UNIT_DIRS (colon-separated) replaces them. */
export function unitDirs(user: boolean, env: Record<string, string | undefined>): string[] {
  if (env.PEAPOD_UNIT_DIRS) return env.PEAPOD_UNIT_DIRS.split(':').filter((d) => path.isAbsolute(d));
  if (!user) return ['/etc/peapod/systemd', '/usr/share/peapod/systemd'];
  const dirs: string[] = [];
  if (env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR)) dirs.push(path.join(env.XDG_RUNTIME_DIR, 'peapod', 'systemd'));
  const config = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : env.HOME ? path.join(env.HOME, '.config') : undefined;
  if (config) dirs.push(path.join(config, 'peapod', 'systemd'));
  return dirs;
}

const USAGE = `usage: peapod-generator [--user] [--dryrun] [--no-kmsg-log] [-v] NORMAL-DIR [EARLY-DIR LATE-DIR]
Writes a .service unit for every *.kube file of peapod's Quadlet directories into NORMAL-DIR.
--dryrun prints the units instead (no directory needed).`;

export function runGenerator(input: GeneratorInput): number {
  const flags = new Set(input.args.filter((a) => a.startsWith('-')));
  const positional = input.args.filter((a) => !a.startsWith('-'));
  if (flags.has('--help') || flags.has('-h')) { process.stdout.write(`${USAGE}\n`); return 0; }
  const unknown = [...flags].filter((f) => !['--user', '--dryrun', '-dryrun', '--no-kmsg-log', '-no-kmsg-log', '-v', '--verbose', '-user'].includes(f));
  const user = flags.has('--user') || flags.has('-user') || path.basename(input.argv0).includes('user') || input.env.SYSTEMD_SCOPE === 'user';
  const dryRun = flags.has('--dryrun') || flags.has('-dryrun');
  const verbose = flags.has('-v') || flags.has('--verbose');
  const useKmsg = !user && !dryRun && !flags.has('--no-kmsg-log') && !flags.has('-no-kmsg-log');
  let failed = false;
  const log = (line: string) => {
    const text = `peapod-generator[${process.pid}]: ${line}\n`;
    process.stderr.write(text);
    if (useKmsg) {
      try {
        const fd = openSync('/dev/kmsg', 'w');
        try { writeSync(fd, text); } finally { closeSync(fd); }
      } catch { /* no kmsg: stderr only */ }
    }
  };
  const error = (line: string) => { failed = true; log(line); };
  if (unknown.length) { error(`unknown flag ${unknown[0]}\n${USAGE}`); return 1; }
  const out = positional[0];
  if (!dryRun && !out) { error(`missing output directory argument\n${USAGE}`); return 1; }

  const seen = new Set<string>();
  const units = new Map<string, { from: string; unit: QuadletUnit }>();
  for (const dir of unitDirs(user, input.env)) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.kube')).sort();
    } catch (err: any) {
      if (err?.code !== 'ENOENT' && err?.code !== 'ENOTDIR') error(`reading ${dir}: ${err.message}`);
      continue;
    }
    if (verbose) log(`reading ${dir}: ${names.length} .kube file${names.length === 1 ? '' : 's'}`);
    for (const name of names) {
      if (seen.has(name)) continue; // an earlier directory has a file of this name: it wins
      seen.add(name);
      const file = path.join(dir, name);
      let text: string;
      try {
        const st = statSync(file);
        if (!st.isFile()) { error(`${file}: not a regular file`); continue; }
        if (st.size > MAX_KUBE_FILE) { error(`${file}: larger than ${MAX_KUBE_FILE} bytes`); continue; }
        text = readFileSync(file, 'utf8');
      } catch (err: any) {
        error(`reading ${file}: ${err.message}`);
        continue;
      }
      try {
        const unit = convertKube(file, text, { executable: input.peapod, user, generator: user ? 'peapod-user-generator' : 'peapod-generator' });
        const clash = units.get(unit.name);
        if (clash) { error(`${file}: its unit ${unit.name} is already made from ${clash.from}; skipped`); continue; }
        units.set(unit.name, { from: file, unit });
      } catch (err) {
        if (!(err instanceof QuadletError)) throw err;
        for (const p of err.problems) error(formatProblem(p));
        error(`${file}: skipped (no unit made)`);
      }
    }
  }

  if (dryRun) {
    for (const { unit } of units.values()) {
      process.stdout.write(`---${unit.name}---\n${unit.text}\n`);
      for (const l of unit.links) process.stdout.write(`---link ${l.path} -> ${l.target}---\n`);
    }
    return failed ? 1 : 0;
  }
  if (units.size) mkdirSync(out, { recursive: true });
  for (const { unit } of units.values()) {
    try {
      writeFileSync(path.join(out, unit.name), unit.text, { mode: 0o644 });
    } catch (err: any) {
      error(`writing ${path.join(out, unit.name)}: ${err.message}`);
      continue;
    }
    for (const l of unit.links) {
      // names were checked as unit names (no '/' but the one of `<target>.wants/`): nothing leaves `out`
      const link = path.join(out, l.path);
      try {
        mkdirSync(path.dirname(link), { recursive: true });
        try { if (lstatSync(link)) unlinkSync(link); } catch { /* none */ }
        symlinkSync(l.target, link);
      } catch (err: any) {
        error(`linking ${link}: ${err.message}`);
      }
    }
    if (verbose) log(`wrote ${unit.name}${unit.links.length ? ` and ${unit.links.length} link${unit.links.length === 1 ? '' : 's'}` : ''}`);
  }
  return failed ? 1 : 0;
}
