// Pure parts of rootless mode: subordinate id files, keep-id mappings, low-port refusal, pasta's
// port list and the OCI spec rewrite.
import { describe, it, expect } from 'vitest';
import { subIdRanges, freeSubIdStart, checkSubIds } from '../../../engine/rootless/userns.js';
import { adaptSpecForRootless, keepIdMappings, rootlessCgroups, type CgroupFs } from '../../../engine/rootless/spec.js';
import { checkUnprivilegedPorts, pastaPortSpec } from '../../../engine/network/pasta.js';
import { buildOciSpec, type SpecInput } from '../../../engine/runtime/spec.js';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SUBUID = 'alice:100000:65536\n1001:165536:65536\nbob:231072:1000\n# comment\n';

describe('subordinate ids', () => {
  it.each([
    { name: 'by name', user: 'alice', uid: 1000, want: [{ start: 100000, count: 65536 }] },
    { name: 'by uid', user: 'carol', uid: 1001, want: [{ start: 165536, count: 65536 }] },
    { name: 'none', user: 'dave', uid: 1002, want: [] },
  ])('$name', ({ user, uid, want }) => {
    expect(subIdRanges(SUBUID, user, uid)).toEqual(want);
  });

  it('suggests a range above every existing one', () => {
    expect(freeSubIdStart(SUBUID)).toBe(232072);
    expect(freeSubIdStart('')).toBe(100000);
  });

  it('names the exact line to add', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-subid-'));
    try {
      const subuid = path.join(dir, 'subuid');
      const subgid = path.join(dir, 'subgid');
      writeFileSync(subuid, SUBUID);
      writeFileSync(subgid, '');
      expect(() => checkSubIds('dave', 1002, { subuid, subgid })).toThrow(`add the line "dave:232072:65536" to ${subuid}`);
      expect(() => checkSubIds('alice', 1000, { subuid, subgid })).toThrow(`user alice has no subordinate gid range in ${subgid}: add the line "alice:100000:65536"`);
      writeFileSync(subgid, 'alice:100000:65536\n');
      expect(() => checkSubIds('alice', 1000, { subuid, subgid })).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('keep-id', () => {
  it('maps the user to itself and the other ids around it', () => {
    expect(keepIdMappings(1000, 65536)).toEqual([
      { containerID: 0, hostID: 1, size: 1000 },
      { containerID: 1000, hostID: 0, size: 1 },
      { containerID: 1001, hostID: 1001, size: 64535 },
    ]);
    expect(keepIdMappings(0, 65536)).toEqual([{ containerID: 0, hostID: 0, size: 65536 }]);
  });
});

describe('rootless ports', () => {
  it('refuses host ports below the unprivileged start, naming the sysctl', () => {
    const p = (hostPort: number) => ({ hostIP: '', hostPort, containerPort: 80, protocol: 'tcp' as const });
    expect(() => checkUnprivilegedPorts([p(8080)], 1024)).not.toThrow();
    expect(() => checkUnprivilegedPorts([p(80), p(8080), p(443)], 1024)).toThrow(/host ports 80, 443: ports below 1024 \(net\.ipv4\.ip_unprivileged_port_start\)/);
    expect(() => checkUnprivilegedPorts([p(80)], 0)).not.toThrow();
  });

  it('gives pasta one spec per port and protocol', () => {
    const ports = [
      { hostIP: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' as const },
      { hostIP: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' as const },
    ];
    expect(pastaPortSpec(ports, 'tcp')).toEqual(['8080:80']);
    expect(pastaPortSpec(ports, 'udp')).toEqual(['127.0.0.1/5353:53']);
    expect(pastaPortSpec([], 'tcp')).toEqual(['none']);
  });
});

describe('rootless cgroups', () => {
  const APP = '/user.slice/user-1000.slice/user@1000.service/app.slice';
  /** A fake cgroup tree: dir -> [writable, procs, controllers]. */
  const fake = (v2: boolean, tree: Record<string, [boolean, string, string]>): CgroupFs => ({
    exists: (f) => v2 && f === '/sys/fs/cgroup/cgroup.controllers',
    writable: (d) => tree[d.replace('/sys/fs/cgroup', '') || '/']?.[0] ?? false,
    read: (f) => {
      if (f === '/proc/self/cgroup') return `0::${APP}/run-1.scope\n`;
      const dir = path.posix.dirname(f).replace('/sys/fs/cgroup', '') || '/';
      const e = tree[dir];
      if (!e) throw new Error('ENOENT');
      return f.endsWith('cgroup.procs') ? e[1] : e[2];
    },
  });

  it.each([
    { name: 'v1 host', v2: false, tree: {}, usable: false, says: /cgroups v1/ },
    { name: 'not delegated', v2: true, tree: { [`${APP}/run-1.scope`]: [false, '42', 'cpu memory pids'] }, usable: false, says: /not delegated/ },
    { name: 'delegated: the nearest cgroup without processes', v2: true,
      tree: { [`${APP}/run-1.scope`]: [true, '42', 'cpu memory pids'], [APP]: [true, '', 'cpu memory pids'] }, usable: true, parent: APP },
    { name: 'a controller missing', v2: true,
      tree: { [`${APP}/run-1.scope`]: [true, '42', 'memory pids'] }, usable: false, says: /lacks the cpu controller/ },
  ] as Array<{ name: string; v2: boolean; tree: Record<string, [boolean, string, string]>; usable: boolean; parent?: string; says?: RegExp }>)('$name', ({ v2, tree, usable, parent, says }) => {
    const cg = rootlessCgroups(fake(v2, tree));
    expect(cg.usable).toBe(usable);
    if (parent) expect(cg.parent).toBe(parent);
    if (says) expect(cg.reason).toMatch(says);
  });
});

describe('rootless OCI spec', () => {
  const input: SpecInput = {
    rootfs: '/r', args: ['sh'], env: [], cwd: '/', user: { uid: 0, gid: 0 }, hostname: 'h',
    namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/netns/x' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
    mounts: [], cgroupsPath: '/peapod/p/c', resources: { memoryLimit: 1 << 30 },
  } as SpecInput;

  it('drops cgroups when none is delegated and binds the cgroup filesystem', () => {
    const spec = buildOciSpec(input);
    adaptSpecForRootless(spec, { usable: false, reason: 'v1' });
    expect(spec.linux.resources).toBeUndefined();
    expect(spec.linux.cgroupsPath).toBeUndefined();
    const cg = spec.mounts.find((m) => m.destination === '/sys/fs/cgroup')!;
    expect(cg.type).toBe('bind');
    expect(cg.options).toContain('ro');
    expect(spec.mounts.find((m) => m.destination === '/sys')!.type).toBe('sysfs');
  });

  it('binds /sys without a network namespace of its own (hostNetwork)', () => {
    const spec = buildOciSpec({ ...input, namespaces: input.namespaces.filter((n) => n.type !== 'network') });
    adaptSpecForRootless(spec, { usable: false, reason: 'v1' });
    expect(spec.mounts.find((m) => m.destination === '/sys')!.type).toBe('bind');
  });

  it('gives a keep-id pod\'s user namespace its mappings', () => {
    const spec = buildOciSpec({ ...input, namespaces: [...input.namespaces, { type: 'user' }] });
    adaptSpecForRootless(spec, { usable: false, reason: 'v1' }, { uid: 1000, gid: 1000, size: 65536 });
    const linux = spec.linux as unknown as { uidMappings: unknown[]; gidMappings: unknown[] };
    expect(linux.uidMappings).toEqual(keepIdMappings(1000, 65536));
    expect(linux.gidMappings).toEqual(keepIdMappings(1000, 65536));
  });

  it('keeps limits under a delegated cgroup', () => {
    const spec = buildOciSpec(input);
    adaptSpecForRootless(spec, { usable: true, parent: '/user.slice/user-1000.slice/peapod', reason: 'delegated' });
    expect(spec.linux.cgroupsPath).toBe('/user.slice/user-1000.slice/peapod/peapod/p/c');
    expect(spec.linux.resources.memory?.limit).toBe(1 << 30);
  });
});
