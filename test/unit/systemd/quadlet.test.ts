// The pure translation of Quadlet `.kube` files (src/systemd/quadlet.ts): Podman's keys and
// semantics, the unit it makes (read back as systemd reads it), errors with file:line, and hostile
// names and paths that must not change the shape of the unit.
import { describe, it, expect } from 'vitest';
import { convertKube, kubeFileFor, kubeFileNameFor, isValidUnitName, QuadletError, type QuadletProblem } from '../../../src/systemd/quadlet.js';
import { parseUnit } from '../../../src/systemd/unit.js';
import { resolveWord, splitExecLine } from '../../../src/systemd/escape.js';

const EXE = '/opt/peapod/bin/peapod';
const opts = { executable: EXE, user: true };

/** The words a command line of the unit runs, specifiers (%n, %h, %N) and $ resolved as systemd would. */
function argv(line: string, spec: Record<string, string> = {}): string[] {
  return splitExecLine(line).words.map((w) => resolveWord(w, { n: 'web.service', N: 'web', h: '/home/u', t: '/run/user/1000', ...spec }, {}));
}

function problems(file: string, text: string, o = opts): QuadletProblem[] {
  try {
    convertKube(file, text, o);
  } catch (err) {
    if (err instanceof QuadletError) return err.problems;
    throw err;
  }
  throw new Error('no error');
}

// Podman's documentation (podman-systemd.unit(5), "Example for Kube"), only the directory changed
const PODMAN_DOC = `[Unit]
Description=A kubernetes yaml based service
Before=local-fs.target

[Kube]
Yaml=/srv/k8s/deployment.yml

[Install]
# Start by default on boot
WantedBy=multi-user.target default.target
`;

describe('a .kube file from Podman\'s documentation', () => {
  const u = convertKube('/etc/peapod/systemd/web.kube', PODMAN_DOC, { executable: EXE, user: false });
  const unit = parseUnit(u.text);

  it('is web.service: Type=notify, KillMode=mixed, play --replace --wait, kube down after stop', () => {
    expect(u.name).toBe('web.service');
    expect(unit.Unit).toEqual({
      Wants: ['network-online.target'], After: ['network-online.target'],
      Description: ['A kubernetes yaml based service'], Before: ['local-fs.target'],
      SourcePath: ['/etc/peapod/systemd/web.kube'], RequiresMountsFor: ['%t/peapod'],
    });
    expect(unit.Service.Type).toEqual(['notify']);
    expect(unit.Service.NotifyAccess).toEqual(['all']);
    expect(unit.Service.KillMode).toEqual(['mixed']);
    expect(unit.Service.Environment).toEqual(['PEAPOD_SYSTEMD_UNIT=%n']);
    expect(unit.Service.SyslogIdentifier).toEqual(['%N']);
    expect(unit.Service.ExecStart.map((l) => argv(l))).toEqual([[EXE, 'kube', 'play', '--replace', '--wait', '--', '/srv/k8s/deployment.yml']]);
    expect(unit.Service.ExecStopPost.map((l) => argv(l))).toEqual([[EXE, 'kube', 'down', '--', '/srv/k8s/deployment.yml']]);
    expect(unit.Service.ExecStop).toBeUndefined();
    expect(unit.Install).toEqual({ WantedBy: ['multi-user.target default.target'] });
  });

  it('[Install] WantedBy= becomes the .wants links systemctl enable would make', () => {
    expect(u.links).toEqual([
      { path: 'multi-user.target.wants/web.service', target: '../web.service' },
      { path: 'default.target.wants/web.service', target: '../web.service' },
    ]);
  });

  it('the user flavour has no network-online.target (a user manager has none)', () => {
    const user = parseUnit(convertKube('/home/u/.config/peapod/systemd/web.kube', PODMAN_DOC, opts).text);
    expect(user.Unit.Wants).toBeUndefined();
    expect(user.Unit.After).toBeUndefined();
  });
});

describe('[Kube] keys as Podman\'s', () => {
  const file = '/etc/peapod/systemd/app.kube';
  const text = `[Unit]
Description=app

[Kube]
Yaml=app.yaml
AutoUpdate=registry
AutoUpdate=sidecar/local
ConfigMap=cm/settings.yaml
ConfigMap=/abs/cm.yaml
GlobalArgs=--log-level=debug
GlobalArgs="--root" /srv/peapod
KubeDownForce=yes
LogDriver=k8s-file
Network=backend
PodmanArgs=--validate=warn
PublishPort=8080:80
PublishPort=127.0.0.1:9090:90/udp
UserNS=keep-id
ExitCodePropagation=any
SetWorkingDirectory=yaml

[Service]
Restart=on-failure
TimeoutStartSec=900
`;
  const unit = parseUnit(convertKube(file, text, opts).text);

  it('become flags of kube play and kube down, paths relative to the .kube file', () => {
    expect(argv(unit.Service.ExecStart[0])).toEqual([
      EXE, '--log-level=debug', '--root', '/srv/peapod', 'kube', 'play', '--replace', '--wait',
      '--service-exit-code-propagation=any', '--userns=keep-id', '--network=backend',
      '--annotation=io.containers.autoupdate=registry', '--annotation=io.containers.autoupdate/sidecar=local',
      '--configmap=/etc/peapod/systemd/cm/settings.yaml', '--configmap=/abs/cm.yaml',
      '--publish=8080:80', '--publish=127.0.0.1:9090:90/udp', '--validate=warn', '--', '/etc/peapod/systemd/app.yaml',
    ]);
    expect(argv(unit.Service.ExecStopPost[0])).toEqual([EXE, '--log-level=debug', '--root', '/srv/peapod', 'kube', 'down', '--force', '--', '/etc/peapod/systemd/app.yaml']);
  });

  it('[Service] passes through; SetWorkingDirectory=yaml is the YAML\'s directory', () => {
    expect(unit.Service.Restart).toEqual(['on-failure']);
    expect(unit.Service.TimeoutStartSec).toEqual(['900']);
    expect(unit.Service.WorkingDirectory).toEqual(['/etc/peapod/systemd']);
  });

  it('ServiceName= names the unit; several Yaml= play together; an empty value resets a list', () => {
    const u = convertKube(file, '[Kube]\nServiceName=my-app\nYaml=a.yaml b.yaml\nPublishPort=1:1\nPublishPort=\nYaml=/x/c.yaml\n', opts);
    expect(u.name).toBe('my-app.service');
    expect(argv(parseUnit(u.text).Service.ExecStart[0])).toEqual([EXE, 'kube', 'play', '--replace', '--wait', '--', '/etc/peapod/systemd/a.yaml', '/etc/peapod/systemd/b.yaml', '/x/c.yaml']);
  });

  it('a Yaml= that starts with a specifier stays for systemd (%h is the home directory); ../ is resolved', () => {
    const u = parseUnit(convertKube(file, '[Kube]\nYaml=%h/pods/web.yaml\nYaml=../shared/db.yaml\n', opts).text);
    expect(argv(u.Service.ExecStart[0]).slice(-2)).toEqual(['/home/u/pods/web.yaml', '/etc/peapod/shared/db.yaml']);
  });

  it('Type=oneshot plays without staying (YAML without containers); a KillMode of control-group is kept', () => {
    const u = parseUnit(convertKube(file, '[Kube]\nYaml=a.yaml\n[Service]\nType=oneshot\nRemainAfterExit=yes\nKillMode=control-group\n', opts).text);
    expect(u.Service.Type).toEqual(['oneshot']);
    expect(u.Service.NotifyAccess).toBeUndefined();
    expect(u.Service.KillMode).toEqual(['control-group']);
    expect(argv(u.Service.ExecStart[0])).toEqual([EXE, 'kube', 'play', '--replace', '--', '/etc/peapod/systemd/a.yaml']);
  });

  it('[Quadlet] DefaultDependencies=false drops network-online.target; X- sections pass', () => {
    const u = parseUnit(convertKube(file, '[Quadlet]\nDefaultDependencies=false\n[Kube]\nYaml=a.yaml\n[X-Notes]\nOwner=ops\n', { executable: EXE, user: false }).text);
    expect(u.Unit.Wants).toBeUndefined();
    expect(u['X-Notes']).toEqual({ Owner: ['ops'] });
    expect(u.Quadlet).toBeUndefined();
  });

  it('a template (name@.kube) links only its DefaultInstance; Alias= and RequiredBy= link too', () => {
    const t = convertKube('/d/web@.kube', '[Kube]\nYaml=%I\n[Install]\nWantedBy=default.target\nDefaultInstance=one\n', opts);
    expect(t.name).toBe('web@.service');
    expect(t.links).toEqual([{ path: 'default.target.wants/web@one.service', target: '../web@.service' }]);
    expect(convertKube('/d/web@.kube', '[Kube]\nYaml=%I\n[Install]\nWantedBy=default.target\n', opts).links).toEqual([]);
    expect(convertKube('/d/web.kube', '[Kube]\nYaml=a.yaml\n[Install]\nAlias=www.service\nRequiredBy=app.target\n', opts).links).toEqual([
      { path: 'www.service', target: 'web.service' },
      { path: 'app.target.requires/web.service', target: '../web.service' },
    ]);
  });
});

describe('errors name the file and line; the file generates nothing', () => {
  const file = '/home/u/.config/peapod/systemd/web.kube';
  it('an unknown key, with a suggestion', () => {
    expect(problems(file, '[Kube]\nYaml=a.yaml\nPublishPorts=80:80\n')).toEqual([
      { file, line: 3, message: 'unknown key "PublishPorts" in [Kube] (did you mean "PublishPort"?)' },
    ]);
    expect(String(new QuadletError(problems(file, '[Kube]\nYaml=a.yaml\nPublishPorts=80:80\n')).message)).toBe(`${file}:3: unknown key "PublishPorts" in [Kube] (did you mean "PublishPort"?)`);
  });

  it('an unknown section, a key outside a section, a line that is not Key=Value: all reported', () => {
    expect(problems(file, 'Orphan=1\n[Kube]\nYaml=a.yaml\njust words\n\n[Container]\nImage=x\n')).toEqual([
      { file, line: 1, message: 'Orphan= is outside any section' },
      { file, line: 4, message: 'expected [Section] or Key=Value, got "just words"' },
      { file, line: 6, message: 'unknown section [Container] (known: [Kube], [Quadlet], [Unit], [Service], [Install], and [X-...] ones)' },
    ]);
  });

  it.each([
    ['[Unit]\nDescription=x\n', 0, 'no [Kube] section'],
    ['[Kube]\nNetwork=host\n', 1, 'no Yaml= key: it names the Kubernetes YAML file to play'],
    ['[Kube]\nYaml=a.yaml\nContainersConfModule=/etc/nvd.conf\n', 3, 'ContainersConfModule= is not supported by peapod: peapod reads no containers.conf modules'],
    ['[Kube]\nYaml=a.yaml\nLogDriver=journald\n', 3, 'LogDriver=journald is not supported by peapod: it writes k8s-file logs (peapod logs)'],
    ['[Kube]\nYaml=a.yaml\nUserNS=auto\n', 3, 'UserNS=auto is not supported by peapod (host, keep-id)'],
    ['[Kube]\nYaml=a.yaml\nNetwork=db.network\n', 3, 'Network=db.network: peapod has no .network or .container Quadlet units; name a network made with peapod network create'],
    ['[Kube]\nYaml=a.yaml\nNetwork=a\nNetwork=b\n', 4, 'peapod plays every pod of a unit on one network: give Network= once'],
    ['[Kube]\nYaml=a.yaml\nAutoUpdate=always\n', 3, 'invalid AutoUpdate=always (registry, local, or CONTAINER/registry, CONTAINER/local)'],
    ['[Kube]\nYaml=a.yaml\nKubeDownForce=maybe\n', 3, 'invalid KubeDownForce=maybe (true or false)'],
    ['[Kube]\nYaml=a.yaml\nExitCodePropagation=some\n', 3, 'invalid ExitCodePropagation=some (all, any, none)'],
    ['[Kube]\nYaml=a.yaml b.yaml\nSetWorkingDirectory=yaml\n', 3, 'SetWorkingDirectory=yaml needs exactly one Yaml='],
    ['[Kube]\nYaml="a.yaml\n', 2, 'Yaml=: unbalanced quotes in the value'],
    ['[Kube]\nYaml=a.yaml\nPublishPort=80:80; rm -rf /\n', 3, 'invalid PublishPort=80:80; rm -rf / ([[IP:][HOST-PORT]:]CONTAINER-PORT[/PROTOCOL])'],
    ['[Kube]\nYaml=a.yaml\n[Service]\nExecStart=/bin/sh -c evil\n', 4, 'ExecStart= is set by the generator for a .kube unit; remove it'],
    ['[Kube]\nYaml=a.yaml\n[Service]\nKillMode=none\n', 4, 'invalid KillMode=none (mixed or control-group)'],
    ['[Kube]\nYaml=a.yaml\n[Service]\nType=simple\n', 4, 'invalid Type=simple (notify, or oneshot for YAML without containers)'],
    ['[Kube]\nYaml=a.yaml\n[Install]\nWantedBy=../../etc/x.target\n', 4, 'WantedBy=../../etc/x.target: not a valid unit name'],
    ['[Kube]\nYaml=a.yaml\n[Install]\nAlias=www.socket\n', 4, 'Alias=www.socket: an alias of a service ends in .service'],
    ['[Kube]\nYaml=a.yaml\nServiceName=../../evil\n', 3, 'ServiceName=: "../../evil" is not a valid unit name (letters, digits, ":", "_", ".", "-", "\\" and one "@")'],
    ['[Kube]\nYaml=a.yaml\nX=\u0001\n', 3, 'control character in the line'],
    ['[Kube]\nYaml="a\\x00b"\n', 2, 'Yaml=: a NUL character cannot be an argument'],
  ])('%j', (text, line, message) => {
    expect(problems(file, text)).toEqual([{ file, line, message }]);
  });

  it.each(['my web.kube', 'a\nb.kube', 'x"y.kube', 'p%n.kube', '.kube', 'a@b@c.kube'])('a file named %j makes no unit name', (name) => {
    const ps = problems(`/d/${name}`, '[Kube]\nYaml=/a.yaml\n');
    expect(ps.map((p) => p.line)).toEqual([0]);
    expect(ps[0].message).toMatch(/does not make a valid unit name|control characters/);
  });
});

describe('adversarial paths stay one argument and mean what they say', () => {
  // a directory holding the .kube file (and the YAML beside it) whose name tries to break out
  const evilDirs = ['/srv/evil dir; touch PWNED', '/srv/%n %h $HOME ${X}', "/srv/q\"uo'te\\s", '/srv/ünï'];
  for (const dir of evilDirs) {
    it(`a relative Yaml= in ${JSON.stringify(dir)}`, () => {
      const u = parseUnit(convertKube(`${dir}/web.kube`, '[Kube]\nYaml=web.yaml\nSetWorkingDirectory=unit\n', opts).text);
      expect(argv(u.Service.ExecStart[0])).toEqual([EXE, 'kube', 'play', '--replace', '--wait', '--', `${dir}/web.yaml`]);
      expect(argv(u.Service.ExecStopPost[0]).at(-1)).toBe(`${dir}/web.yaml`);
      // WorkingDirectory= and SourcePath= take the value as it is: only % is special there
      expect(resolveWord(u.Service.WorkingDirectory[0], {}, null)).toBe(dir);
      expect(resolveWord(u.Unit.SourcePath[0], {}, null)).toBe(`${dir}/web.kube`);
    });
  }

  it('a directory with a line break cannot be written into a unit: refused', () => {
    expect(problems('/srv/a\nb/web.kube', '[Kube]\nYaml=web.yaml\n')[0].message).toMatch(/control characters/);
  });

  it('a quoted Yaml= with a newline, quotes, %% and $ reaches peapod as that one path', () => {
    const u = parseUnit(convertKube('/d/web.kube', '[Kube]\nYaml="/srv/a\\nb \\"c\\" 50%% $HOME ;.yaml"\n', opts).text);
    expect(argv(u.Service.ExecStart[0]).slice(-2)).toEqual(['--', '/srv/a\nb "c" 50% $HOME ;.yaml']);
  });

  it('SetWorkingDirectory=yaml with a YAML under a directory with a line break is refused (WorkingDirectory= cannot quote)', () => {
    expect(problems('/d/web.kube', '[Kube]\nYaml="/srv/a\\nb/x.yaml"\nSetWorkingDirectory=yaml\n')[0]).toMatchObject({ line: 3 });
  });

  it('a Network= or PodmanArgs= value is a single word each, never a second command', () => {
    const u = parseUnit(convertKube('/d/web.kube', '[Kube]\nYaml=a.yaml\nNetwork=x; touch /PWNED\nPodmanArgs="--validate=warn; touch /PWNED"\n', opts).text);
    const words = argv(u.Service.ExecStart[0]);
    expect(words).toContain('--network=x; touch /PWNED');
    expect(words).toContain('--validate=warn; touch /PWNED');
    expect(u.Service.ExecStart).toHaveLength(1);
  });
});

describe('kube quadlet: the .kube file for a YAML', () => {
  it('is Podman\'s documented form, and the generator reads it back to the same path', () => {
    const text = kubeFileFor('/srv/pods/web.yaml');
    expect(parseUnit(text)).toEqual({ Unit: { Description: ['peapod kube play /srv/pods/web.yaml'] }, Kube: { Yaml: ['/srv/pods/web.yaml'] }, Install: { WantedBy: ['default.target'] } });
    expect(kubeFileNameFor('/srv/pods/web.yaml')).toBe('web.kube');
  });

  it.each(['/srv/my pods/web app.yaml', '/srv/%n/$HOME/"q"\'s\\.yaml', '/srv/a\nb/c\td.yml', '/srv/ü/…/x.json', '/srv/x;.yaml'])('round trip of %j', (yaml) => {
    const name = kubeFileNameFor(yaml);
    expect(isValidUnitName(name.replace(/\.kube$/, '.service'))).toBe(true);
    const u = parseUnit(convertKube(`/etc/peapod/systemd/${name}`, kubeFileFor(yaml), opts).text);
    expect(argv(u.Service.ExecStart[0]).slice(-2)).toEqual(['--', yaml]);
    expect(u.Unit.Description).toHaveLength(1);
  });
});
