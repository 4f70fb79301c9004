import { describe, expect, it } from 'vitest';
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  boundingSetFromProcStatus,
  buildOciSpec,
  mergeCapabilities,
  normalizeCapability,
  parseProcLimits,
  type OciSpec,
  type SpecInput,
} from '../../../engine/runtime/spec.js';
import { PeapodError } from '../../../engine/errors.js';

const INFRA_NS: SpecInput['namespaces'] = [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
const MEMBER_NS: SpecInput['namespaces'] = [
  { type: 'pid' },
  { type: 'network', path: '/run/peapod/netns/pod1' },
  { type: 'ipc', path: '/proc/100/ns/ipc' },
  { type: 'uts', path: '/proc/100/ns/uts' },
  { type: 'mount' },
];

function base(over: Partial<SpecInput> = {}): SpecInput {
  return {
    rootfs: '/var/lib/peapod/overlay/abc/merged',
    args: ['/bin/sh', '-c', 'sleep 1'],
    env: ['PATH=/bin', 'FOO=bar'],
    cwd: '/',
    user: { uid: 0, gid: 0 },
    namespaces: INFRA_NS,
    cgroupsPath: '/peapod/pod1/ctr1',
    ...over,
  };
}

const mountDests = (s: OciSpec) => s.mounts.map((m) => m.destination);

describe('buildOciSpec: default spec', () => {
  it('matches the snapshot of a default rootful container', () => {
    const spec = buildOciSpec({
      rootfs: '/var/lib/peapod/overlay/abc/merged',
      args: ['sleep', '100'],
      env: ['FOO=bar'],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [10], home: '/root' },
      hostname: 'web',
      namespaces: INFRA_NS,
      cgroupsPath: '/peapod/pod1/ctr1',
      hostRlimitNofileHard: 20000,
      hostPidMax: 32768,
    });
    expect(spec).toMatchSnapshot();
  });

  it('has Podman\'s default mounts in depth order', () => {
    const spec = buildOciSpec(base());
    expect(mountDests(spec)).toEqual(['/proc', '/dev', '/sys', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys/fs/cgroup']);
    const byDest = Object.fromEntries(spec.mounts.map((m) => [m.destination, m]));
    expect(byDest['/dev']).toEqual({ destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'strictatime', 'mode=755', 'size=65536k'] });
    expect(byDest['/dev/pts'].options).toEqual(['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    expect(byDest['/dev/shm'].options).toEqual(['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k']);
    expect(byDest['/sys'].options).toEqual(['nosuid', 'noexec', 'nodev', 'ro']);
    expect(byDest['/sys/fs/cgroup'].options).toEqual(['rprivate', 'nosuid', 'noexec', 'nodev', 'relatime', 'ro']);
  });

  it('has the default security settings', () => {
    const spec = buildOciSpec(base());
    expect(spec.ociVersion).toBe('1.0.2-dev');
    expect(spec.linux.maskedPaths).toEqual(DEFAULT_MASKED_PATHS);
    expect(spec.linux.readonlyPaths).toEqual(DEFAULT_READONLY_PATHS);
    expect(spec.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }]);
    expect(spec.linux.resources.pids).toEqual({ limit: 2048 });
    expect(spec.process.capabilities.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(spec.process.capabilities.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(spec.process.capabilities.permitted).toEqual([...DEFAULT_CAPABILITIES]);
    expect(spec.process.capabilities.inheritable).toEqual([]);
    expect(spec.process.capabilities.ambient).toEqual([]);
    expect(spec.process.user.umask).toBe(0o022);
    expect(spec.process.terminal).toBe(false);
    expect(spec.process).not.toHaveProperty('noNewPrivileges');
    expect(spec.process).not.toHaveProperty('oomScoreAdj');
    expect(spec.linux).not.toHaveProperty('seccomp');
    expect(spec.root).toEqual({ path: '/var/lib/peapod/overlay/abc/merged' });
  });

  it('is deterministic', () => {
    const input = base({ annotations: { b: '2', a: '1' }, sysctl: { 'kernel.msgmax': '1', 'fs.mqueue.msg_max': '9' } });
    expect(JSON.stringify(buildOciSpec(input))).toBe(JSON.stringify(buildOciSpec(input)));
    expect(Object.keys(buildOciSpec(input).annotations ?? {})).toEqual(['a', 'b']);
  });
});

describe('buildOciSpec: env, hostname, namespaces', () => {
  const cases: Array<{ name: string; input: Partial<SpecInput>; env: string[]; hostname?: string }> = [
    { name: 'adds PATH when absent', input: { env: ['A=1'] }, env: ['A=1', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    { name: 'keeps a given PATH', input: { env: ['PATH=/x'] }, env: ['PATH=/x'] },
    { name: 'TERM only with a terminal', input: { env: ['PATH=/x'], terminal: true }, env: ['PATH=/x', 'TERM=xterm'] },
    { name: 'keeps a given TERM', input: { env: ['PATH=/x', 'TERM=vt100'], terminal: true }, env: ['PATH=/x', 'TERM=vt100'] },
    { name: 'HOME from the user', input: { env: ['PATH=/x'], user: { uid: 0, gid: 0, home: '/root' } }, env: ['PATH=/x', 'HOME=/root'] },
    { name: 'a given HOME wins', input: { env: ['PATH=/x', 'HOME=/h'], user: { uid: 0, gid: 0, home: '/root' } }, env: ['PATH=/x', 'HOME=/h'] },
    { name: 'hostname and HOSTNAME in the UTS creator', input: { env: ['PATH=/x'], hostname: 'pod1' }, env: ['PATH=/x', 'HOSTNAME=pod1'], hostname: 'pod1' },
    { name: 'no hostname field in a UTS joiner, HOSTNAME from envHostname', input: { env: ['PATH=/x'], namespaces: MEMBER_NS, hostname: 'pod1', envHostname: 'pod1' }, env: ['PATH=/x', 'HOSTNAME=pod1'] },
    { name: 'a given HOSTNAME wins', input: { env: ['PATH=/x', 'HOSTNAME=me'], hostname: 'pod1' }, env: ['PATH=/x', 'HOSTNAME=me'], hostname: 'pod1' },
  ];
  it.each(cases)('$name', ({ input, env, hostname }) => {
    const spec = buildOciSpec(base(input));
    expect(spec.process.env).toEqual(env);
    expect(spec.hostname).toBe(hostname);
  });

  it('orders namespaces canonically and keeps paths', () => {
    const spec = buildOciSpec(base({ namespaces: [{ type: 'mount' }, { type: 'uts', path: '/proc/1/ns/uts' }, { type: 'pid' }] }));
    expect(spec.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'uts', path: '/proc/1/ns/uts' }, { type: 'mount' }]);
  });

  it('sets ping_group_range only where the network namespace is created', () => {
    expect(buildOciSpec(base()).linux.sysctl).toEqual({ 'net.ipv4.ping_group_range': '0 0' });
    expect(buildOciSpec(base({ namespaces: MEMBER_NS })).linux).not.toHaveProperty('sysctl');
    expect(buildOciSpec(base({ namespaces: MEMBER_NS, sysctl: { 'kernel.shmmax': '1' } })).linux.sysctl).toEqual({ 'kernel.shmmax': '1' });
    expect(buildOciSpec(base({ sysctl: { 'net.ipv4.ping_group_range': '0 2147483647' } })).linux.sysctl).toEqual({ 'net.ipv4.ping_group_range': '0 2147483647' });
  });
});

describe('buildOciSpec: rlimits', () => {
  const cases: Array<{ name: string; input: Partial<SpecInput>; expected: Array<{ type: string; hard: number; soft: number }> }> = [
    {
      name: 'defaults unclamped',
      input: {},
      expected: [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }, { type: 'RLIMIT_NPROC', hard: 1048576, soft: 1048576 }],
    },
    {
      name: 'host hard 20000 clamps RLIMIT_NOFILE (and the types of unknown host limit)',
      input: { hostRlimitNofileHard: 20000 },
      expected: [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }, { type: 'RLIMIT_NPROC', hard: 20000, soft: 20000 }],
    },
    {
      name: 'per-type host limits win over the nofile fallback',
      input: { hostRlimitNofileHard: 20000, hostRlimits: { RLIMIT_NOFILE: 20000, RLIMIT_NPROC: 96365 }, hostPidMax: 32768 },
      expected: [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }, { type: 'RLIMIT_NPROC', hard: 32768, soft: 32768 }],
    },
    {
      name: 'NPROC defaults to pid_max',
      input: { hostPidMax: 4194304, hostRlimits: { RLIMIT_NPROC: 96365 } },
      expected: [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }, { type: 'RLIMIT_NPROC', hard: 96365, soft: 96365 }],
    },
    {
      name: 'given limits replace the defaults, short names accepted',
      input: { rlimits: [{ type: 'nofile', soft: 1024, hard: 4096 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }], hostRlimitNofileHard: 20000 },
      expected: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 1024 }, { type: 'RLIMIT_CORE', hard: 0, soft: 0 }, { type: 'RLIMIT_NPROC', hard: 20000, soft: 20000 }],
    },
    {
      name: 'a given limit above the host is clamped, soft kept when below',
      input: { rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 65536 }], hostRlimitNofileHard: 20000, hostRlimits: { RLIMIT_NPROC: 50000 } },
      expected: [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 1024 }, { type: 'RLIMIT_NPROC', hard: 50000, soft: 50000 }],
    },
  ];
  it.each(cases)('$name', ({ input, expected }) => {
    expect(buildOciSpec(base(input)).process.rlimits).toEqual(expected);
  });

  it('rejects unknown types and soft above hard', () => {
    expect(() => buildOciSpec(base({ rlimits: [{ type: 'bogus', soft: 1, hard: 1 }] }))).toThrow(/unknown rlimit type "bogus"/);
    expect(() => buildOciSpec(base({ rlimits: [{ type: 'nofile', soft: 2, hard: 1 }] }))).toThrow(/soft limit 2 is greater than the hard limit 1/);
  });
});

describe('buildOciSpec: capabilities', () => {
  const defaults = [...DEFAULT_CAPABILITIES];
  const cases: Array<{ name: string; input: Partial<SpecInput>; bounding: string[]; effective: string[]; ambient?: string[] }> = [
    { name: 'root: defaults', input: {}, bounding: defaults, effective: defaults },
    {
      name: 'root: add and drop, any case and prefix',
      input: { capabilities: { add: ['net_raw', 'CAP_SYS_ADMIN'], drop: ['Chown'] } },
      bounding: ['CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_ADMIN', 'CAP_SYS_CHROOT'],
      effective: ['CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_ADMIN', 'CAP_SYS_CHROOT'],
    },
    { name: 'root: drop ALL, add KILL', input: { capabilities: { add: ['kill'], drop: ['all'] } }, bounding: ['CAP_KILL'], effective: ['CAP_KILL'] },
    { name: 'root: drop ALL', input: { capabilities: { drop: ['ALL'] } }, bounding: [], effective: [] },
    {
      name: 'root: add ALL, drop NET_ADMIN, limited by the host bounding set',
      input: { capabilities: { add: ['ALL'], drop: ['NET_ADMIN'] }, hostCapabilities: ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'] },
      bounding: ['CAP_CHOWN', 'CAP_SYS_ADMIN'],
      effective: ['CAP_CHOWN', 'CAP_SYS_ADMIN'],
    },
    {
      name: 'root: a default missing on the host is left out',
      input: { hostCapabilities: defaults.filter((c) => c !== 'CAP_SETFCAP') },
      bounding: defaults.filter((c) => c !== 'CAP_SETFCAP'),
      effective: defaults.filter((c) => c !== 'CAP_SETFCAP'),
    },
    { name: 'non-root: bounding only, nothing effective', input: { user: { uid: 1000, gid: 1000 } }, bounding: defaults, effective: [], ambient: [] },
    {
      name: 'non-root: added caps are effective and ambient',
      input: { user: { uid: 1000, gid: 1000 }, capabilities: { add: ['NET_RAW', 'kill'] } },
      bounding: [...defaults, 'CAP_NET_RAW'].sort(),
      effective: ['CAP_KILL', 'CAP_NET_RAW'],
      ambient: ['CAP_KILL', 'CAP_NET_RAW'],
    },
    {
      name: 'non-root: add ALL drop NET_ADMIN never exceeds the bounding set',
      input: { user: { uid: 1000, gid: 1000 }, capabilities: { add: ['ALL'], drop: ['NET_ADMIN'] } },
      bounding: ALL_CAPABILITIES.filter((c) => c !== 'CAP_NET_ADMIN').sort(),
      effective: ALL_CAPABILITIES.filter((c) => c !== 'CAP_NET_ADMIN').sort(),
    },
    { name: 'privileged root: all host caps', input: { privileged: true, hostCapabilities: ['CAP_SYS_ADMIN', 'CAP_CHOWN'] }, bounding: ['CAP_CHOWN', 'CAP_SYS_ADMIN'], effective: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] },
    { name: 'privileged non-root: bounding all, effective only added', input: { privileged: true, user: { uid: 5, gid: 5 }, hostCapabilities: ['CAP_SYS_ADMIN', 'CAP_CHOWN'] }, bounding: ['CAP_CHOWN', 'CAP_SYS_ADMIN'], effective: [] },
  ];
  it.each(cases)('$name', ({ input, bounding, effective, ambient }) => {
    const caps = buildOciSpec(base(input)).process.capabilities;
    expect(caps.bounding).toEqual(bounding);
    expect(caps.effective).toEqual(effective);
    expect(caps.permitted).toEqual(effective);
    const uid = input.user?.uid ?? 0;
    expect(caps.inheritable).toEqual(uid === 0 ? [] : effective);
    expect(caps.ambient).toEqual(ambient ?? (uid === 0 ? [] : effective));
  });

  const errors: Array<{ name: string; add?: string[]; drop?: string[]; message: RegExp }> = [
    { name: 'unknown capability', add: ['CAP_FLY'], message: /unknown capability "CAP_FLY"/ },
    { name: 'add and drop the same', add: ['net_raw'], drop: ['NET_RAW'], message: /capability "CAP_NET_RAW" cannot be dropped and added/ },
    { name: 'add ALL and drop ALL', add: ['all'], drop: ['ALL'], message: /adding all caps and removing all caps not allowed/ },
  ];
  it.each(errors)('rejects $name', ({ add, drop, message }) => {
    const fn = () => buildOciSpec(base({ capabilities: { add, drop } }));
    expect(fn).toThrow(PeapodError);
    expect(fn).toThrow(message);
  });

  it('normalizes names', () => {
    expect(normalizeCapability('sys_admin')).toBe('CAP_SYS_ADMIN');
    expect(normalizeCapability('Cap_Kill')).toBe('CAP_KILL');
    expect(normalizeCapability('all')).toBe('ALL');
    expect(mergeCapabilities(['CAP_KILL'], ['chown'])).toEqual(['CAP_CHOWN', 'CAP_KILL']);
  });

  it('reads the bounding set from /proc/self/status', () => {
    // capabilities 0-40 without 24 (CAP_SYS_RESOURCE), as on this host
    const mask = ((1n << 41n) - 1n) & ~(1n << 24n);
    const caps = boundingSetFromProcStatus(`Name:\tnode\nCapBnd:\t${mask.toString(16).padStart(16, '0')}\nCapAmb:\t0000000000000000\n`);
    expect(caps).toHaveLength(40);
    expect(caps).not.toContain('CAP_SYS_RESOURCE');
    expect(caps).toContain('CAP_CHECKPOINT_RESTORE');
    expect(boundingSetFromProcStatus('CapBnd:\t0000000000000021\n')).toEqual(['CAP_CHOWN', 'CAP_KILL']);
  });
});

describe('buildOciSpec: privileged, mounts, resources', () => {
  it('privileged: no masked or read-only paths, rw sysfs and cgroup, all devices allowed', () => {
    const spec = buildOciSpec(base({ privileged: true }));
    expect(spec.linux).not.toHaveProperty('maskedPaths');
    expect(spec.linux).not.toHaveProperty('readonlyPaths');
    expect(spec.linux.resources.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.mounts.find((m) => m.destination === '/sys')).toEqual({ destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['rprivate', 'nosuid', 'noexec', 'nodev', 'rw'] });
    expect(spec.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options).toContain('rw');
    expect(spec.process.capabilities.bounding).toEqual([...ALL_CAPABILITIES].sort());
  });

  it('a new user namespace without its own network namespace binds /sys and has no cgroup mount', () => {
    const spec = buildOciSpec(base({ namespaces: [...MEMBER_NS, { type: 'user' }] }));
    expect(spec.mounts.find((m) => m.destination === '/sys')).toEqual({ destination: '/sys', type: 'bind', source: '/sys', options: ['rprivate', 'nosuid', 'noexec', 'nodev', 'ro', 'rbind'] });
    expect(mountDests(spec)).not.toContain('/sys/fs/cgroup');
  });

  const mountCases: Array<{ name: string; mounts: SpecInput['mounts']; dests: string[]; check?: (s: OciSpec) => void }> = [
    {
      name: 'the pod\'s /dev/shm replaces the default one',
      mounts: [{ destination: '/dev/shm', type: 'bind', source: '/run/peapod/pods/p/shm', options: ['bind', 'rprivate', 'nosuid', 'noexec', 'nodev'] }],
      dests: ['/proc', '/dev', '/sys', '/dev/pts', '/dev/mqueue', '/dev/shm', '/sys/fs/cgroup'],
      check: (s) => {
        const shm = s.mounts.filter((m) => m.destination === '/dev/shm');
        expect(shm).toHaveLength(1);
        expect(shm[0].source).toBe('/run/peapod/pods/p/shm');
      },
    },
    {
      name: 'extras sorted by depth after the defaults of the same depth',
      mounts: [
        { destination: '/data/sub', type: 'bind', source: '/srv/b', options: ['rbind'] },
        { destination: '/etc/hosts', type: 'bind', source: '/run/x/hosts', options: ['bind'] },
        { destination: '/data/', type: 'bind', source: '/srv/a', options: ['rbind'] },
      ],
      dests: ['/proc', '/dev', '/sys', '/data', '/dev/pts', '/dev/shm', '/dev/mqueue', '/data/sub', '/etc/hosts', '/sys/fs/cgroup'],
    },
    {
      name: 'a user /dev drops every default under /dev',
      mounts: [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }],
      dests: ['/proc', '/sys', '/dev', '/sys/fs/cgroup'],
    },
    {
      name: 'a user /proc replaces the default proc',
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid'] }],
      dests: ['/dev', '/sys', '/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys/fs/cgroup'],
    },
  ];
  it.each(mountCases)('$name', ({ mounts, dests, check }) => {
    const spec = buildOciSpec(base({ mounts }));
    expect(mountDests(spec)).toEqual(dests);
    check?.(spec);
  });

  it('rejects duplicate and relative mount destinations', () => {
    const m = { type: 'bind', source: '/a', options: [] };
    expect(() => buildOciSpec(base({ mounts: [{ ...m, destination: '/x' }, { ...m, destination: '/x/' }] }))).toThrow(/duplicate mount destination "\/x"/);
    expect(() => buildOciSpec(base({ mounts: [{ ...m, destination: 'x' }] }))).toThrow(/not absolute/);
  });

  const resourceCases: Array<{ name: string; resources: SpecInput['resources']; expected: object }> = [
    { name: 'defaults', resources: undefined, expected: { devices: [{ allow: false, access: 'rwm' }], pids: { limit: 2048 } } },
    { name: 'no pids limit with 0', resources: { pidsLimit: 0 }, expected: { devices: [{ allow: false, access: 'rwm' }] } },
    {
      name: 'memory, cpu and pids',
      resources: { memoryLimit: 64 << 20, memoryReservation: 32 << 20, cpuQuota: 50000, cpuPeriod: 100000, cpuShares: 512, pidsLimit: 100 },
      expected: { devices: [{ allow: false, access: 'rwm' }], memory: { limit: 67108864, reservation: 33554432 }, cpu: { shares: 512, quota: 50000, period: 100000 }, pids: { limit: 100 } },
    },
  ];
  it.each(resourceCases)('resources: $name', ({ resources, expected }) => {
    expect(buildOciSpec(base({ resources })).linux.resources).toEqual(expected);
  });

  it('passes through the optional settings', () => {
    const seccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [] };
    const spec = buildOciSpec(base({ noNewPrivileges: true, oomScoreAdj: 500, seccomp, readonlyRootfs: true, terminal: true, user: { uid: 1, gid: 2, additionalGids: [2, 3, 2], umask: 0o077 }, cwd: '/app' }));
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.process.oomScoreAdj).toBe(500);
    expect(spec.linux.seccomp).toBe(seccomp);
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.terminal).toBe(true);
    expect(spec.process.user).toEqual({ uid: 1, gid: 2, umask: 0o077, additionalGids: [2, 3] });
    expect(spec.process.cwd).toBe('/app');
  });

  const invalidCases: Array<{ name: string; input: Partial<SpecInput>; message: RegExp }> = [
    { name: 'relative rootfs', input: { rootfs: 'rootfs' }, message: /rootfs path "rootfs" is not absolute/ },
    { name: 'relative cgroups path', input: { cgroupsPath: 'peapod/x' }, message: /cgroups path "peapod\/x" is not absolute/ },
    { name: 'empty args', input: { args: [] }, message: /no command specified/ },
    { name: 'relative cwd', input: { cwd: 'app' }, message: /working directory "app" is not absolute/ },
    { name: 'negative uid', input: { user: { uid: -1, gid: 0 } }, message: /invalid uid -1/ },
    { name: 'duplicate namespace', input: { namespaces: [{ type: 'pid' }, { type: 'pid' }] }, message: /namespace "pid" given twice/ },
    { name: 'relative namespace path', input: { namespaces: [{ type: 'network', path: 'netns' }] }, message: /not absolute/ },
    { name: 'oom score out of range', input: { oomScoreAdj: 2000 }, message: /invalid oom score adjustment 2000/ },
    { name: 'reservation above limit', input: { resources: { memoryLimit: 10, memoryReservation: 20 } }, message: /memory reservation 20 is greater than the memory limit 10/ },
  ];
  it.each(invalidCases)('rejects $name', ({ input, message }) => {
    expect(() => buildOciSpec(base(input))).toThrow(message);
  });
});

describe('parseProcLimits', () => {
  it('reads the finite hard limits', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max cpu time              unlimited            unlimited            seconds   ',
      'Max stack size            8388608              unlimited            bytes     ',
      'Max processes             96365                96365                processes ',
      'Max open files            1024                 20000                files     ',
      'Max nice priority         0                    0                    ',
      '',
    ].join('\n');
    expect(parseProcLimits(text)).toEqual({ RLIMIT_NPROC: 96365, RLIMIT_NOFILE: 20000, RLIMIT_NICE: 0 });
  });
});
