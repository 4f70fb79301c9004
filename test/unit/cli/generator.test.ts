// peapod-generator's file handling (src/cli/generator.ts) on temporary directories: which
// directories each flavour reads, first directory wins, a bad file is reported and skipped while
// the others generate, the [Install] links, --dryrun. The units' content is quadlet.test.ts's.
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, readlinkSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runGenerator, unitDirs } from '../../../src/cli/generator.js';

let dir: string;
let err: string[];
let out: string[];
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-gen-'));
  err = [];
  out = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true; });
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true; });
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string>, argv0 = '/usr/lib/systemd/user-generators/peapod-user-generator') =>
  runGenerator({ argv0, args, peapod: '/opt/peapod/bin/peapod', env });

describe('search paths', () => {
  it('root: /etc/peapod/systemd then /usr/share/peapod/systemd; user: $XDG_RUNTIME_DIR then $XDG_CONFIG_HOME (or ~/.config)', () => {
    expect(unitDirs(false, {})).toEqual(['/etc/peapod/systemd', '/usr/share/peapod/systemd']);
    expect(unitDirs(true, { XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u' })).toEqual(['/run/user/1000/peapod/systemd', '/home/u/.config/peapod/systemd']);
    expect(unitDirs(true, { XDG_CONFIG_HOME: '/cfg', HOME: '/home/u' })).toEqual(['/cfg/peapod/systemd']);
    expect(unitDirs(true, { PEAPOD_UNIT_DIRS: '/a:relative:/b', HOME: '/home/u' })).toEqual(['/a', '/b']);
  });
});

describe('generating', () => {
  it('a bad file is reported with file:line and skipped; the other files generate; exit 1', () => {
    const cfg = path.join(dir, 'home', '.config', 'peapod', 'systemd');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(path.join(cfg, 'good.kube'), '[Kube]\nYaml=good.yaml\n[Install]\nWantedBy=default.target\n');
    writeFileSync(path.join(cfg, 'bad.kube'), '[Kube]\nYaml=bad.yaml\nYam=typo.yaml\n');
    writeFileSync(path.join(cfg, 'notes.txt'), 'not a unit');
    const outDir = path.join(dir, 'out');
    expect(run([outDir, `${outDir}.early`, `${outDir}.late`], { HOME: path.join(dir, 'home') })).toBe(1);
    expect(err.join('')).toContain(`${path.join(cfg, 'bad.kube')}:3: unknown key "Yam" in [Kube] (did you mean "Yaml"?)`);
    expect(readdirSync(outDir).sort()).toEqual(['default.target.wants', 'good.service']);
    expect(readlinkSync(path.join(outDir, 'default.target.wants', 'good.service'))).toBe('../good.service');
    expect(readFileSync(path.join(outDir, 'good.service'), 'utf8')).toContain(`ExecStart=/opt/peapod/bin/peapod kube play --replace --wait -- ${cfg}/good.yaml`);
    expect(existsSync(`${outDir}.early`)).toBe(false);
  });

  it('the first directory wins a name; two files making one unit name: the second is refused', () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(path.join(a, 'web.kube'), '[Kube]\nYaml=/from/a.yaml\n');
    writeFileSync(path.join(b, 'web.kube'), '[Kube]\nYaml=/from/b.yaml\n');
    writeFileSync(path.join(b, 'www.kube'), '[Kube]\nYaml=/from/www.yaml\nServiceName=web\n');
    expect(run(['--dryrun'], { PEAPOD_UNIT_DIRS: `${a}:${b}` })).toBe(1);
    const text = out.join('');
    expect(text).toContain('---web.service---');
    expect(text).toContain('/from/a.yaml');
    expect(text).not.toContain('/from/b.yaml');
    expect(err.join('')).toContain(`${path.join(b, 'www.kube')}: its unit web.service is already made from ${path.join(a, 'web.kube')}; skipped`);
  });

  it('the flavour: the user one by name, --user or SYSTEMD_SCOPE=user (no network-online.target)', () => {
    writeFileSync(path.join(dir, 'web.kube'), '[Kube]\nYaml=/w.yaml\n');
    const env = { PEAPOD_UNIT_DIRS: dir };
    run(['--dryrun'], env, '/usr/lib/systemd/system-generators/peapod-generator');
    expect(out.join('')).toContain('Wants=network-online.target');
    for (const [args, e] of [[['--dryrun', '--user'], env], [['--dryrun'], { ...env, SYSTEMD_SCOPE: 'user' }]] as const) {
      out = [];
      run([...args], e, '/usr/lib/systemd/system-generators/peapod-generator');
      expect(out.join('')).not.toContain('network-online.target');
    }
  });

  it('no output directory, an unknown flag: usage and exit 1; nothing to read: exit 0', () => {
    expect(run([], { PEAPOD_UNIT_DIRS: dir })).toBe(1);
    expect(err.join('')).toContain('missing output directory argument');
    expect(run(['--bogus', path.join(dir, 'o')], { PEAPOD_UNIT_DIRS: dir })).toBe(1);
    expect(run([path.join(dir, 'o')], { PEAPOD_UNIT_DIRS: path.join(dir, 'none') })).toBe(0);
    expect(existsSync(path.join(dir, 'o'))).toBe(false);
  });
});
