// Quadlet-compatible `.kube` files (Podman 4.4+, podman-systemd.unit(5), "Kube units"): a file in
// systemd's syntax with a [Kube] section, turned by peapod's generator into a `<name>.service`
// unit that plays the YAML as a Type=notify service (READY=1 once every pod is Ready), and the
// links `systemctl enable` would make for its [Install] section. Also the other direction: the
// text of a `.kube` file for a YAML (`peapod kube quadlet`).
// Pure: text in, text out. The generator (src/cli/generator.ts) reads and writes the files.
//
// What a .kube file says is the operator's (it lives in root's or the user's own directories),
// but nothing of it may change the shape of the unit: values become single, quoted words of the
// command lines, paths that cannot be written in a unit file (control characters) are refused,
// the unit's name and every name of [Install] must be a valid unit name (no `/`, no `..`, no
// spaces), and a problem is reported as `file:line: ...` and the file generates nothing.
import path from 'node:path';
import { quoteWord, splitWords } from './escape.js';
import { renderUnit, type Section } from './unit.js';
import { ENV_VARIABLE } from './generate.js';

/** One problem of a .kube file: its line (1-based; 0 for the file as a whole) and what is wrong. */
export interface QuadletProblem { file: string; line: number; message: string }

/** A .kube file that generates nothing: every problem found in it. */
export class QuadletError extends Error {
  constructor(readonly problems: QuadletProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'QuadletError';
  }
}

export const formatProblem = (p: QuadletProblem) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`;

interface Entry { key: string; value: string; line: number }
interface SourceSection { name: string; line: number; entries: Entry[] }

/** A .kube file larger than this is refused (the generator runs at boot). */
export const MAX_KUBE_FILE = 1024 * 1024;

const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Reads a file in systemd's syntax keeping the line of every entry: `#`/`;` comments, `[Section]`
 * headers, `Key=Value` (whitespace around both trimmed), a trailing backslash continuing the line
 * (joined with a space; comment lines inside are skipped). Sections of the same name are merged.
 */
export function parseSystemdFile(file: string, text: string, problems: QuadletProblem[]): SourceSection[] {
  const sections: SourceSection[] = [];
  let current: SourceSection | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i].replace(/\r$/, '').trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const t = lines[++i].replace(/\r$/, '').trim();
      if (t.startsWith('#') || t.startsWith(';')) continue;
      line = `${line.slice(0, -1)} ${t}`;
    }
    if (CONTROL.test(line)) { problems.push({ file, line: lineNo, message: 'control character in the line' }); continue; }
    if (line.startsWith('[')) {
      const m = /^\[([^[\]]+)\]$/.exec(line);
      if (!m) { problems.push({ file, line: lineNo, message: `invalid section header ${JSON.stringify(line)}` }); current = undefined; continue; }
      current = sections.find((s) => s.name === m[1]);
      if (!current) sections.push((current = { name: m[1], line: lineNo, entries: [] }));
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) { problems.push({ file, line: lineNo, message: `expected [Section] or Key=Value, got ${JSON.stringify(line)}` }); continue; }
    if (!current) { problems.push({ file, line: lineNo, message: `${line.slice(0, eq).trim()}= is outside any section` }); continue; }
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z0-9_-]+$/.test(key)) { problems.push({ file, line: lineNo, message: `invalid key name ${JSON.stringify(key)}` }); continue; }
    current.entries.push({ key, value: line.slice(eq + 1).trim(), line: lineNo });
  }
  return sections;
}

/** systemd's unit name rules (unit_name_is_valid): [A-Za-z0-9:_.\-] and at most one `@`, below 256 bytes. */
export function isValidUnitName(name: string, suffix?: string): boolean {
  if (name.length >= 256 || (suffix && !name.endsWith(suffix))) return false;
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || !/^[a-z]+$/.test(name.slice(dot + 1))) return false;
  return /^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?$/.test(name.slice(0, dot));
}

/** Podman's [Kube] keys: what each becomes in peapod (undefined: supported below), or why not. */
const KUBE_KEYS: Record<string, string | undefined> = {
  AutoUpdate: undefined, ConfigMap: undefined, ExitCodePropagation: undefined, GlobalArgs: undefined,
  KubeDownForce: undefined, LogDriver: undefined, Network: undefined, PodmanArgs: undefined,
  PublishPort: undefined, ServiceName: undefined, SetWorkingDirectory: undefined, UserNS: undefined, Yaml: undefined,
  ContainersConfModule: 'peapod reads no containers.conf modules',
  LogOpt: 'peapod writes k8s-file logs without options',
  RemapUid: 'deprecated by Podman; use UserNS=', RemapGid: 'deprecated by Podman; use UserNS=',
  RemapUidSize: 'deprecated by Podman; use UserNS=', RemapUsers: 'deprecated by Podman; use UserNS=',
};
const QUADLET_KEYS = ['DefaultDependencies'];
const PASSED_SECTIONS = ['Unit', 'Service', 'Install'];
const INSTALL_LINKS: Record<string, string> = { WantedBy: 'wants', RequiredBy: 'requires', UpheldBy: 'upholds' };
const USERNS = ['host', 'keep-id'];
const EXIT_CODE_PROPAGATION = ['all', 'any', 'none'];

export interface QuadletOptions {
  /** absolute path of the peapod executable the unit runs */
  executable: string;
  /** the user flavour (a user manager): no network-online.target there */
  user: boolean;
  /** the program named in the header (default peapod-generator) */
  generator?: string;
}

export interface QuadletUnit {
  /** the service file's name, e.g. `web.service` */
  name: string;
  text: string;
  /** links to make in the generator's output directory, as `systemctl enable` would: path -> target, both relative */
  links: Array<{ path: string; target: string }>;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = t;
    }
  }
  return d[b.length];
}

function didYouMean(key: string, known: string[]): string {
  const best = known.map((k) => [k, distance(key, k)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${best[0]}"?)` : '';
}

/** systemd's booleans. */
function parseBool(v: string): boolean | undefined {
  if (/^(1|yes|y|true|t|on)$/i.test(v)) return true;
  if (/^(0|no|n|false|f|off)$/i.test(v)) return false;
  return undefined;
}

/** A literal path written into unit syntax: `%` doubled; control characters cannot be written. */
const literalPath = (p: string) => p.replace(/%/g, '%%');

/** A value that starts with a specifier (`%h/...`), not `%%`: left as it is, as Quadlet does. */
const startsWithSpecifier = (v: string) => v.startsWith('%') && !v.startsWith('%%');

/**
 * Turns one `.kube` file into its service unit. `file` is the file's absolute path (relative
 * Yaml= and ConfigMap= paths are resolved against its directory, as Quadlet does). Throws a
 * QuadletError with every problem of the file.
 */
export function convertKube(file: string, text: string, o: QuadletOptions): QuadletUnit {
  const problems: QuadletProblem[] = [];
  const fail = (line: number, message: string) => problems.push({ file, line, message });
  if (CONTROL.test(file) || !path.isAbsolute(file)) throw new QuadletError([{ file: JSON.stringify(file), line: 0, message: 'the file path must be absolute and free of control characters' }]);
  if (text.length > MAX_KUBE_FILE) throw new QuadletError([{ file, line: 0, message: `larger than ${MAX_KUBE_FILE} bytes` }]);
  const sections = parseSystemdFile(file, text, problems);
  const section = (name: string) => sections.find((s) => s.name === name);
  for (const s of sections) {
    const known = ['Kube', 'Quadlet', ...PASSED_SECTIONS];
    if (!known.includes(s.name) && !s.name.startsWith('X-')) fail(s.line, `unknown section [${s.name}]${didYouMean(s.name, known)} (known: ${known.map((k) => `[${k}]`).join(', ')}, and [X-...] ones)`);
  }
  const kube = section('Kube');
  if (!kube) fail(0, 'no [Kube] section');
  const kubeEntries = kube?.entries ?? [];
  for (const e of kubeEntries) {
    if (!(e.key in KUBE_KEYS)) fail(e.line, `unknown key "${e.key}" in [Kube]${didYouMean(e.key, Object.keys(KUBE_KEYS))}`);
    else if (KUBE_KEYS[e.key] !== undefined) fail(e.line, `${e.key}= is not supported by peapod: ${KUBE_KEYS[e.key]}`);
  }
  for (const e of section('Quadlet')?.entries ?? []) {
    if (!QUADLET_KEYS.includes(e.key)) fail(e.line, `unknown key "${e.key}" in [Quadlet]${didYouMean(e.key, QUADLET_KEYS)}`);
  }

  /** Every value of a key (an empty value resets the list, as in systemd). */
  const all = (key: string, entries = kubeEntries): Entry[] => {
    let out: Entry[] = [];
    for (const e of entries) if (e.key === key) out = e.value === '' ? [] : [...out, e];
    return out;
  };
  const last = (key: string, entries = kubeEntries) => all(key, entries).at(-1);
  /** Every word of every value of a key, each with its line. */
  const words = (key: string): Array<{ word: string; line: number }> => all(key).flatMap((e) => {
    try {
      const ws = splitWords(e.value);
      if (ws.some((w) => w.includes('\0'))) { fail(e.line, `${key}=: a NUL character cannot be an argument`); return []; }
      return ws.map((word) => ({ word, line: e.line }));
    } catch (err) {
      fail(e.line, `${key}=: ${(err as Error).message.split(':')[0].replace('command line', 'the value')}`);
      return [];
    }
  });
  /** A path of the file: absolute, a specifier, or relative to the .kube file's directory (resolved). */
  const dir = path.dirname(file);
  const pathOf = (key: string, v: { word: string; line: number }): string | undefined => {
    if (v.word === '') { fail(v.line, `${key}= is empty`); return undefined; }
    if (startsWithSpecifier(v.word)) return v.word;
    if (path.isAbsolute(v.word)) return v.word;
    return path.join(literalPath(dir), v.word);
  };

  // the unit's name: ServiceName= or the file's name
  const base = path.basename(file);
  let serviceName = `${base.replace(/\.kube$/, '')}.service`;
  const sn = last('ServiceName');
  if (sn) {
    if (sn.value.endsWith('.service')) fail(sn.line, `ServiceName=${sn.value}: give the name without .service`);
    serviceName = `${sn.value}.service`;
    if (!isValidUnitName(serviceName, '.service')) fail(sn.line, `ServiceName=: ${JSON.stringify(sn.value)} is not a valid unit name (letters, digits, ":", "_", ".", "-", "\\" and one "@")`);
  } else if (!base.endsWith('.kube') || !isValidUnitName(serviceName, '.service')) {
    fail(0, `${JSON.stringify(base)} does not make a valid unit name (letters, digits, ":", "_", ".", "-", "\\" and one "@", then .kube): rename the file or set ServiceName=`);
  }

  const yamls = words('Yaml').map((v) => pathOf('Yaml', v)).filter((x): x is string => x !== undefined);
  if (kube && !all('Yaml').length) fail(kube.line, 'no Yaml= key: it names the Kubernetes YAML file to play');

  // [Service]: passed through, save what the generator owns
  const service = section('Service')?.entries ?? [];
  for (const key of ['ExecStart', 'ExecStop', 'NotifyAccess']) {
    const e = last(key, service);
    if (e) fail(e.line, `${key}= is set by the generator for a .kube unit; remove it`);
  }
  const killMode = last('KillMode', service);
  if (killMode && !['mixed', 'control-group'].includes(killMode.value)) fail(killMode.line, `invalid KillMode=${killMode.value} (mixed or control-group)`);
  const type = last('Type', service);
  if (type && !['notify', 'oneshot'].includes(type.value)) fail(type.line, `invalid Type=${type.value} (notify, or oneshot for YAML without containers)`);
  const oneshot = type?.value === 'oneshot';

  // peapod's global flags and the play flags
  const globalArgs = words('GlobalArgs').map((v) => v.word);
  const play: string[] = [];
  const ecp = last('ExitCodePropagation');
  if (ecp) {
    if (!EXIT_CODE_PROPAGATION.includes(ecp.value)) fail(ecp.line, `invalid ExitCodePropagation=${ecp.value} (${EXIT_CODE_PROPAGATION.join(', ')})`);
    else if (oneshot) fail(ecp.line, 'ExitCodePropagation= needs the pods served (not Type=oneshot)');
    else play.push(`--service-exit-code-propagation=${ecp.value}`);
  }
  const logDriver = last('LogDriver');
  if (logDriver && logDriver.value !== 'k8s-file') fail(logDriver.line, `LogDriver=${logDriver.value} is not supported by peapod: it writes k8s-file logs (peapod logs)`);
  const userns = last('UserNS');
  if (userns) {
    if (!USERNS.includes(userns.value)) fail(userns.line, `UserNS=${userns.value} is not supported by peapod (${USERNS.join(', ')})`);
    else play.push(`--userns=${userns.value}`);
  }
  const networks = all('Network');
  for (const n of networks) if (/\.(network|container)(:|$)/.test(n.value)) fail(n.line, `Network=${n.value}: peapod has no .network or .container Quadlet units; name a network made with peapod network create`);
  if (networks.length > 1) fail(networks[1].line, 'peapod plays every pod of a unit on one network: give Network= once');
  if (networks.length) play.push(`--network=${networks[0].value}`);
  for (const v of words('AutoUpdate')) {
    const m = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?(registry|local)$/.exec(v.word);
    if (!m) fail(v.line, `invalid AutoUpdate=${v.word} (registry, local, or CONTAINER/registry, CONTAINER/local)`);
    else play.push(`--annotation=io.containers.autoupdate${m[1] ? `/${m[1]}` : ''}=${m[3]}`);
  }
  for (const v of words('ConfigMap')) {
    const p = pathOf('ConfigMap', v);
    if (p) play.push(`--configmap=${p}`);
  }
  for (const e of all('PublishPort')) {
    if (!/^[0-9a-fA-F.:[\]-]*[0-9](\/(tcp|udp|sctp))?$/.test(e.value)) fail(e.line, `invalid PublishPort=${e.value} ([[IP:][HOST-PORT]:]CONTAINER-PORT[/PROTOCOL])`);
    else play.push(`--publish=${e.value}`);
  }
  const podmanArgs = words('PodmanArgs').map((v) => v.word);
  let downForce = false;
  const kdf = last('KubeDownForce');
  if (kdf) {
    const b = parseBool(kdf.value);
    if (b === undefined) fail(kdf.line, `invalid KubeDownForce=${kdf.value} (true or false)`);
    else downForce = b;
  }
  let defaultDeps = true;
  const dd = last('DefaultDependencies', section('Quadlet')?.entries ?? []);
  if (dd) {
    const b = parseBool(dd.value);
    if (b === undefined) fail(dd.line, `invalid DefaultDependencies=${dd.value} (true or false)`);
    else defaultDeps = b;
  }
  let workingDir: string | undefined;
  const swd = last('SetWorkingDirectory');
  if (swd && !last('WorkingDirectory', service)) {
    const v = swd.value.toLowerCase();
    if (v === 'yaml') {
      if (yamls.length !== 1) fail(swd.line, 'SetWorkingDirectory=yaml needs exactly one Yaml=');
      else workingDir = path.dirname(yamls[0]);
    } else if (v === 'unit') {
      workingDir = literalPath(dir);
    } else {
      fail(swd.line, `invalid SetWorkingDirectory=${swd.value} (yaml or unit)`);
    }
    // WorkingDirectory= takes the rest of the line as it is: no quoting can carry these
    if (workingDir !== undefined && (CONTROL.test(workingDir) || workingDir !== workingDir.trim())) fail(swd.line, `SetWorkingDirectory=${swd.value}: ${JSON.stringify(workingDir)} cannot be written in a unit file`);
  }

  // [Install]: the links systemctl enable would make
  const install = section('Install')?.entries ?? [];
  const links: QuadletUnit['links'] = [];
  const [tmplBase, instance] = serviceName.slice(0, -'.service'.length).split('@');
  const isTemplate = serviceName.includes('@') && instance === '';
  let linkName: string | undefined = serviceName;
  if (isTemplate) {
    const di = last('DefaultInstance', install);
    linkName = di ? `${tmplBase}@${di.value}.service` : undefined;
    if (di && !isValidUnitName(linkName!, '.service')) fail(di.line, `DefaultInstance=${di.value} does not make a valid unit name`);
  }
  for (const e of install) {
    const targets = (() => { try { return splitWords(e.value); } catch { fail(e.line, `${e.key}=: unbalanced quotes`); return []; } })();
    if (e.key in INSTALL_LINKS || e.key === 'Alias') {
      for (const t of targets) {
        if (!isValidUnitName(t)) { fail(e.line, `${e.key}=${t}: not a valid unit name`); continue; }
        if (e.key === 'Alias') {
          if (!t.endsWith('.service')) fail(e.line, `Alias=${t}: an alias of a service ends in .service`);
          else links.push({ path: t, target: serviceName });
        } else if (linkName) {
          links.push({ path: `${t}.${INSTALL_LINKS[e.key]}/${linkName}`, target: `../${serviceName}` });
        }
      }
    }
  }

  if (problems.length) throw new QuadletError(problems);

  const q = (w: string) => quoteWord(w, { percent: false });
  const cmd = (...args: string[]) => [quoteWord(o.executable), ...globalArgs.map(q), ...args.map(q)].join(' ');
  const unitEntries: Section = [
    ...(!o.user && defaultDeps ? [['Wants', 'network-online.target'], ['After', 'network-online.target']] as const : []),
    ...(section('Unit')?.entries ?? []).map((e) => [e.key, e.value] as const),
    ['SourcePath', literalPath(file)],
    ['RequiresMountsFor', '%t/peapod'],
  ];
  const serviceEntries: Section = [
    ...service.map((e) => [e.key, e.value] as const),
    ...(killMode ? [] : [['KillMode', 'mixed'] as const]),
    ['Environment', `${ENV_VARIABLE}=%n`],
    ...(oneshot ? [] : [['Type', 'notify'], ['NotifyAccess', 'all']] as const),
    ...(last('SyslogIdentifier', service) ? [] : [['SyslogIdentifier', '%N'] as const]),
    // `--` ends the options: a path (a specifier's value) is never read as a flag
    ['ExecStart', cmd('kube', 'play', '--replace', ...(oneshot ? [] : ['--wait']), ...play, ...podmanArgs, '--', ...yamls)],
    ['ExecStopPost', cmd('kube', 'down', ...(downForce ? ['--force'] : []), '--', ...yamls)],
    ...(workingDir ? [['WorkingDirectory', workingDir] as const] : []),
  ];
  const extra = sections.filter((s) => s.name.startsWith('X-'));
  const unitText = renderUnit({
    name: serviceName,
    header: [`${serviceName}: generated by ${o.generator ?? 'peapod-generator'} from ${file}`, 'edit the .kube file, not this one, then systemctl daemon-reload'],
    sections: [
      { name: 'Unit', entries: unitEntries },
      ...extra.map((s) => ({ name: s.name, entries: s.entries.map((e) => [e.key, e.value] as const) })),
      { name: 'Service', entries: serviceEntries },
      { name: 'Install', entries: install.map((e) => [e.key, e.value] as const) },
    ],
  });
  return { name: serviceName, text: unitText, links };
}

/** The name of the .kube file `kube quadlet` writes for a YAML file: its base name, made a valid unit name. */
export function kubeFileNameFor(yamlFile: string): string {
  const stem = path.basename(yamlFile).replace(/\.(ya?ml|json)$/i, '') || 'pod';
  // systemd-escape's rules for what is not allowed, and no '@' (a template needs an instance)
  const safe = stem.replace(/[^A-Za-z0-9:_.-]/g, (c) => Buffer.from(c, 'utf8').toString('hex').replace(/../g, '\\x$&')).replace(/^\./, '\\x2e');
  return `${safe}.kube`;
}

/**
 * The text of a `.kube` file that plays `yamlFile` (an absolute path) at boot: a starting point
 * written by `peapod kube quadlet`, in the form of Podman's documentation.
 */
export function kubeFileFor(yamlFile: string, o: { description?: string; wantedBy?: string; fileName?: string } = {}): string {
  if (!path.isAbsolute(yamlFile)) throw new Error(`the YAML path must be absolute: ${yamlFile}`);
  // the description is free text: no specifier, no line break
  const desc = (o.description ?? `peapod kube play ${yamlFile}`).replace(/%/g, '%%').replace(/[\x00-\x1f\x7f]/g, ' ');
  return renderUnit({
    name: o.fileName ?? kubeFileNameFor(yamlFile),
    header: [
      `${o.fileName ?? kubeFileNameFor(yamlFile)}: made by peapod kube quadlet; put it in ~/.config/peapod/systemd/ (a user)`,
      `or /etc/peapod/systemd/ (root), then: systemctl [--user] daemon-reload; systemctl [--user] start ${(o.fileName ?? kubeFileNameFor(yamlFile)).replace(/\.kube$/, '.service')}`,
    ],
    sections: [
      { name: 'Unit', entries: [['Description', desc]] },
      { name: 'Kube', entries: [['Yaml', quoteWord(yamlFile, { env: false })]] },
      { name: 'Install', entries: [['WantedBy', o.wantedBy ?? 'default.target']] },
    ],
  });
}
