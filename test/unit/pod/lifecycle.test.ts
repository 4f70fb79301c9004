// The pod lifecycle (Pods.start/stop, Containers.start/stop/cleanup) against a fake Launcher: no
// runc, conmon, mounts or namespaces. What is checked here is the decisions of the pod and
// container layers (order, which namespaces each container gets, states recorded, everything
// released); that the real host does what the launcher is told is the e2e suites' part.
import { promises as fs, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineConfig } from '../../../engine/config.js';
import { StateStore } from '../../../engine/state/store.js';
import { ImageStore } from '../../../engine/image/store.js';
import { Containers } from '../../../engine/pod/containers.js';
import { Pods } from '../../../engine/pod/pods.js';
import { Networks } from '../../../engine/network/networks.js';
import { Secrets } from '../../../engine/volume/secrets.js';
import { Volumes } from '../../../engine/volume/volumes.js';
import type { ContainerLaunch, ContainerPaths, ExecOptions, HostFacts, Launcher } from '../../../engine/runtime/launcher.js';
import type { NetworkBackend } from '../../../engine/network/backend.js';
import { makeTar } from '../image/tar-fixtures.js';

/** Records every call; a container "runs" from start until a kill, which writes its exit file as conmon would. */
class FakeLauncher implements Launcher {
  calls: string[] = [];
  specs = new Map<string, ContainerLaunch>();
  private live = new Set<number>();
  private next = 4_000_000;
  private exitDirs = new Map<string, string>();
  private conmonPids = new Map<string, number>();

  hostFacts(): HostFacts { return { hostRlimitNofileHard: 1024, hostPidMax: 4096, hostCapabilities: ['CAP_CHOWN', 'CAP_KILL'] }; }
  alive(pid: number): boolean { return this.live.has(pid); }
  async waitGone(): Promise<void> { /* a fake conmon is gone once killed */ }
  async mountRootfs(_layers: string[], p: ContainerPaths): Promise<void> {
    this.calls.push(`mount ${path.basename(path.dirname(p.merged))}`);
    await fs.mkdir(p.merged, { recursive: true });
  }
  async writeFiles(files: Array<{ path: string; content: string }>): Promise<void> {
    for (const f of files) { await fs.mkdir(path.dirname(f.path), { recursive: true }); writeFileSync(f.path, f.content); }
  }
  async create(l: ContainerLaunch): Promise<{ pid: number; conmonPid: number }> {
    this.calls.push(`create ${l.name}`);
    this.specs.set(l.name, l);
    this.exitDirs.set(l.id, l.paths.exitDir);
    const pid = this.next++;
    const conmonPid = this.next++;
    this.live.add(conmonPid);
    this.conmonPids.set(l.id, conmonPid);
    return { pid, conmonPid };
  }
  async start(id: string): Promise<void> { this.calls.push(`start ${id}`); }
  async kill(id: string, signal: string): Promise<void> {
    this.calls.push(`kill ${id} ${signal}`);
    await fs.mkdir(this.exitDirs.get(id)!, { recursive: true });
    writeFileSync(path.join(this.exitDirs.get(id)!, id), signal === 'SIGKILL' ? '137' : '0');
    this.live.delete(this.conmonPids.get(id) ?? 0);
  }
  async execQuiet(): Promise<number> { return 0; }
  async exec(_id: string, _o: ExecOptions): Promise<number> { return 0; }
  async release(id: string): Promise<void> { this.calls.push(`release ${id}`); }
  async bindHeld(_fdPath: string, target: string): Promise<void> { this.calls.push(`bind ${path.basename(target)}`); }
  async makePodNetns(netnsPath: string): Promise<void> { this.calls.push('netns'); await fs.mkdir(path.dirname(netnsPath), { recursive: true }); writeFileSync(netnsPath, ''); }
  async mountShm(dir: string): Promise<void> { this.calls.push('shm'); await fs.mkdir(dir, { recursive: true }); }
  async applyCgroupLimits(): Promise<void> { this.calls.push('pod cgroup limits'); }
  async releasePodMounts(_prefix: string, nsFiles: string[]): Promise<void> {
    this.calls.push('release pod mounts');
    for (const f of nsFiles) await fs.rm(f, { force: true });
  }
  async removeCgroup(p: string): Promise<void> { this.calls.push(`rm cgroup ${p}`); }
}

const noNetwork: NetworkBackend = {
  setup: async () => { throw new Error('a pod on network none needs no network setup'); },
  teardown: async () => { throw new Error('a pod on network none needs no network teardown'); },
} as unknown as NetworkBackend;

let dir: string;
let fake: FakeLauncher;
let containers: Containers;
let pods: Pods;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'peapod-lifecycle-'));
  const cfg: EngineConfig = {
    root: path.join(dir, 'root'), runroot: path.join(dir, 'run'), runtimeName: 'runc', runtimePath: '/nonexistent/runc', runtimeReason: 'test',
    conmonPath: '/nonexistent/conmon', selfCommand: ['/nonexistent/peapod'], logLevel: 'error', cgroupParent: '/peapod-test',
  };
  const store = new StateStore(cfg.root);
  const images = new ImageStore({ root: path.join(cfg.root, 'storage'), lock: store.lock });
  const tar = path.join(dir, 'layer.tar');
  writeFileSync(tar, await makeTar([{ name: 'pause', body: '#!/bin/true\n', mode: 0o755 }]));
  await images.importTar(tar, { name: 'localhost/fake:1', changes: ['ENTRYPOINT ["/pause"]', 'STOPSIGNAL SIGTERM'] });
  fake = new FakeLauncher();
  const secrets = new Secrets(store);
  const volumes = new Volumes(store);
  containers = new Containers(cfg, store, images, secrets, fake);
  pods = new Pods(cfg, store, images, containers, new Networks(store, false), () => noNetwork, secrets, volumes);
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('pod lifecycle against a fake launcher', () => {
  it('start prepares the pod once, starts the infra first, and members join its namespaces', async () => {
    const pod = await pods.create({ name: 'web', network: 'none', volumes: [{ name: 'data', type: 'emptyDir' }] }, { infraImage: 'localhost/fake:1' });
    await pods.addContainer(pod.id, { name: 'web-a', image: 'localhost/fake:1', volumeMounts: [{ name: 'data', mountPath: '/data', subPath: 'a' }] });
    await pods.addContainer(pod.id, { name: 'web-b', image: 'localhost/fake:1' });

    const r = await pods.start(pod.id);
    expect(r.errors).toEqual([]);
    // the pod's shared resources once, then the infra, then the members
    expect(fake.calls.filter((c) => c === 'netns' || c === 'shm')).toEqual(['netns', 'shm']);
    const creates = fake.calls.filter((c) => c.startsWith('create '));
    expect(creates[0]).toBe(`create ${pod.id.slice(0, 12)}-infra`);
    expect(creates.slice(1).sort()).toEqual(['create web-a', 'create web-b']);

    const infra = fake.specs.get(`${pod.id.slice(0, 12)}-infra`)!;
    const infraRec = await containers.get(pod.infraId);
    const a = fake.specs.get('web-a')!.spec;
    expect(infra.spec.hostname).toBe('web');
    expect(infra.spec.linux.namespaces.find((n) => n.type === 'ipc')).toEqual({ type: 'ipc' });
    expect(a.linux.namespaces).toEqual([
      { type: 'pid' },
      { type: 'network', path: pod.netnsPath },
      { type: 'ipc', path: `/proc/${infraRec.state.pid}/ns/ipc` },
      { type: 'uts', path: `/proc/${infraRec.state.pid}/ns/uts` },
      { type: 'mount' },
    ]);
    expect(a.process.env).toContain('HOSTNAME=web');
    expect(a.linux.cgroupsPath).toBe(`/peapod-test/${pod.id}/${fake.specs.get('web-a')!.id}`);
    // the subPath of the volumeMount is made inside the pod's volume and mounted from its staging path
    const data = a.mounts.find((m) => m.destination === '/data')!;
    expect(data.source).toBe(path.join(containers.subPathDir(fake.specs.get('web-a')!.id), '0'));
    expect(existsSync(path.join(dir, 'root', 'pods', pod.id, 'volumes', 'data', 'a'))).toBe(true);
    expect(fake.calls).toContain('bind 0');
    expect(a.mounts.find((m) => m.destination === '/etc/hosts')!.source).toBe(path.join(pods.runDir(pod.id), 'hosts'));

    const members = await pods.members(pod);
    expect(members.map((c) => c.state.status)).toEqual(['running', 'running', 'running']);
    expect(await pods.status(pod, members)).toBe('Running');

    await pods.stop(pod.id);
    const after = await pods.members(pod);
    expect(after.map((c) => c.state.status)).toEqual(['exited', 'exited', 'exited']);
    expect(await pods.status(pod, after)).toBe('Exited');
    // members are signalled before the infra, and everything is released
    const kills = fake.calls.filter((c) => c.startsWith('kill '));
    expect(kills.at(-1)).toBe(`kill ${pod.infraId} SIGTERM`);
    for (const c of after) expect(fake.calls).toContain(`release ${c.id}`);
    expect(fake.calls).toContain('release pod mounts');
    expect(fake.calls.at(-1)).toBe(`rm cgroup /peapod-test/${pod.id}`);
    expect(existsSync(pod.netnsPath)).toBe(false);
  });

  it('a member started alone brings up its pod first; a standalone container needs no pod', async () => {
    const pod = await pods.create({ name: 'solo', network: 'none' }, { infraImage: 'localhost/fake:1' });
    const m = await pods.addContainer(pod.id, { name: 'solo-a', image: 'localhost/fake:1' });
    await expect(containers.start(m.id)).rejects.toThrow(/started through its pod/);
    await pods.startContainer(m.id);
    expect(fake.calls.filter((c) => c.startsWith('create '))).toEqual([`create ${pod.id.slice(0, 12)}-infra`, 'create solo-a']);

    const c = await containers.create({ name: 'alone', image: 'localhost/fake:1' });
    await pods.startContainer(c.id);
    const spec = fake.specs.get('alone')!.spec;
    expect(spec.linux.namespaces.every((n) => n.path === undefined)).toBe(true);
    expect(spec.hostname).toBe(c.id.slice(0, 12));
    await containers.stop(c.id, 0);
    expect((await containers.get(c.id)).state).toMatchObject({ status: 'exited', exitCode: 137 });
    await pods.remove(pod.id, { force: true });
    expect(await pods.list()).toEqual([]);
  });

  it('a start that fails records why on the container and releases what it took', async () => {
    const pod = await pods.create({ name: 'bad', network: 'none' }, { infraImage: 'localhost/fake:1' });
    const m = await pods.addContainer(pod.id, { name: 'bad-a', image: 'localhost/fake:1', secretEnv: [{ name: 'X', secret: 'missing', key: 'k' }] });
    const r = await pods.start(pod.id);
    expect(r.errors.map((e) => e.error.message)).toEqual(['container bad-a: secret "missing" not found']);
    const rec = await containers.get(m.id);
    expect(rec.state.error).toBe('container bad-a: secret "missing" not found');
    expect(containers.reason(rec)).toBe('CreateContainerError');
    expect(fake.calls).toContain(`release ${m.id}`);
    await pods.remove(pod.id, { force: true });
  });
});
