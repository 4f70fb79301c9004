// Issue 3 acceptance: pods with an infra container; play kube and kube down for a v1 Pod.
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PROJECT } from '../helpers/cli.js';
import { useSandbox } from '../helpers/e2e.js';
import { settledLeaks } from '../helpers/leaks.js';

const e2e = useSandbox('peapod-pods', { images: ['bb'] });
const { manifest } = e2e;

const twoContainerPod = (name: string, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels:
    app: ${name}
spec:
  terminationGracePeriodSeconds: 2
${extra}  containers:
    - name: web
      image: localhost/bb:latest
      command: ["sh", "-c", "mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
    - name: client
      image: localhost/bb:latest
      command: ["sleep", "1000"]
`;

async function execIn(ctr: string, script: string) {
  return e2e.sb.run(['exec', ctr, 'sh', '-c', script]);
}

describe('play kube', () => {
  it('plays a 2-container pod whose members talk over localhost', async () => {
    const f = manifest('talk', twoContainerPod('talk'));
    const r = await e2e.sb.ok(['play', 'kube', f]);
    const out = String(r.stdout);
    expect(out).toMatch(/^Pod:\n[0-9a-f]{64}\nContainers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n$/);
    // busybox httpd needs a moment to listen
    let body = '';
    for (let i = 0; i < 50 && !body.includes('served-by-web'); i++) {
      body = String((await execIn('talk-client', "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080")).stdout);
      if (!body.includes('served-by-web')) await new Promise((res) => setTimeout(res, 100));
    }
    expect(body).toContain('served-by-web');
  });

  it('shares hostname, /dev/shm and IPC; shareProcessNamespace shows the other processes', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('share', twoContainerPod('share', '  shareProcessNamespace: true\n'))]);
    for (const c of ['share-web', 'share-client']) {
      expect(String((await execIn(c, 'hostname')).stdout).trim()).toBe('share');
      expect(String((await execIn(c, 'cat /etc/hostname')).stdout).trim()).toBe('share');
    }
    await execIn('share-web', 'echo shm-data > /dev/shm/note');
    expect(String((await execIn('share-client', 'cat /dev/shm/note')).stdout).trim()).toBe('shm-data');
    const ps = String((await execIn('share-client', 'ps -o comm')).stdout);
    expect(ps).toContain('httpd');
    expect(ps).toContain('pause');
    // the same IPC namespace
    const ipcA = String((await execIn('share-web', 'readlink /proc/self/ns/ipc')).stdout);
    const ipcB = String((await execIn('share-client', 'readlink /proc/self/ns/ipc')).stdout);
    expect(ipcA).toBe(ipcB);
  });

  it('without shareProcessNamespace members do not see each other; spec.hostname wins', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('priv', twoContainerPod('priv', '  hostname: custom-host\n'))]);
    const ps = String((await execIn('priv-client', 'ps -o comm')).stdout);
    expect(ps).not.toContain('httpd');
    expect(String((await execIn('priv-web', 'hostname')).stdout).trim()).toBe('custom-host');
  });

  it('kube down leaves no process, mount, netns file, cgroup or runc state; a second run exits 0', async () => {
    const f = manifest('down', twoContainerPod('down'));
    await e2e.sb.ok(['play', 'kube', f]);
    const d = await e2e.sb.ok(['kube', 'down', f]);
    expect(String(d.stdout)).toMatch(/^Pods stopped:\n[0-9a-f]{64}\nPods removed:\n[0-9a-f]{64}$/);
    expect(await settledLeaks(e2e.sb.dir)).toEqual([]);
    const netns = path.join(e2e.sb.runroot, 'netns');
    expect(existsSync(netns) ? readdirSync(netns) : []).toEqual([]);
    expect(JSON.parse(String((await e2e.sb.ok(['ps', '-a', '--format', 'json'])).stdout))).toEqual([]);
    const again = await e2e.sb.run(['play', 'kube', '--down', f]);
    expect(again.exitCode).toBe(0);
  });

  it('rolls back a pod whose third container has a missing command and names that container', async () => {
    const f = manifest('broken', `apiVersion: v1
kind: Pod
metadata:
  name: broken
spec:
  containers:
    - name: one
      image: localhost/bb:latest
      command: ["sleep", "1000"]
    - name: two
      image: localhost/bb:latest
      command: ["sleep", "1000"]
    - name: three
      image: localhost/bb:latest
      command: ["/no/such/program"]
`);
    const r = await e2e.sb.run(['play', 'kube', f]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/^Error: starting container "three" of pod broken: .*(not found|no such file)/);
    expect(JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout))).toEqual([]);
    expect(JSON.parse(String((await e2e.sb.ok(['ps', '-a', '--format', 'json'])).stdout))).toEqual([]);
    expect(await settledLeaks(e2e.sb.dir)).toEqual([]);
  });

  it('reports the typo manifest with file:line:col and a suggestion, and creates nothing', async () => {
    const f = path.join(PROJECT, 'test/fixtures/play/typo.yaml');
    const r = await e2e.sb.run(['play', 'kube', f]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toContain(`${f}:9:7: spec.containers[0].comand: unknown field (did you mean "command"?)`);
    expect(JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout))).toEqual([]);
  });

  it('refuses to play a pod that exists without --replace, and replaces it with --replace', async () => {
    const f = manifest('again', twoContainerPod('again'));
    await e2e.sb.ok(['play', 'kube', f]);
    const before = JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout));
    const r = await e2e.sb.run(['play', 'kube', f]);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/^Error: .*pod "again" already exists/);
    const same = JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout));
    expect(same.map((p: any) => p.Id)).toEqual(before.map((p: any) => p.Id));
    await e2e.sb.ok(['play', 'kube', '--replace', f]);
    const after = JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout));
    expect(after).toHaveLength(1);
    expect(after[0].Id).not.toBe(before[0].Id);
  });

  it('--start=false creates the pod without starting it', async () => {
    const f = manifest('later', twoContainerPod('later'));
    await e2e.sb.ok(['play', 'kube', '--start=false', f]);
    const [p] = JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout));
    expect(p.Status).toBe('Created');
    await e2e.sb.ok(['pod', 'start', 'later']);
    const [q] = JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout));
    expect(q.Status).toBe('Running');
  });
});

describe('pod commands', () => {
  it('pod ps and pod inspect carry Podman field names', async () => {
    await e2e.sb.ok(['play', 'kube', manifest('fields', twoContainerPod('fields'))]);
    const [p] = JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout));
    for (const k of ['Cgroup', 'Containers', 'Created', 'Id', 'InfraId', 'Name', 'Namespace', 'Networks', 'Status', 'Labels']) expect(p).toHaveProperty(k);
    expect(p).toMatchObject({ Name: 'fields', Status: 'Running', Labels: { app: 'fields' } });
    expect(p.Containers).toHaveLength(3);
    const i = JSON.parse(String((await e2e.sb.ok(['pod', 'inspect', 'fields'])).stdout));
    for (const k of ['Id', 'Name', 'Created', 'State', 'Hostname', 'Labels', 'CgroupParent', 'CgroupPath', 'InfraContainerID', 'SharedNamespaces', 'NumContainers', 'Containers']) expect(i).toHaveProperty(k);
    expect(i).toMatchObject({ Name: 'fields', State: 'Running', Hostname: 'fields', NumContainers: 3, InfraContainerID: p.InfraId });
    const infra = i.Containers.find((c: any) => c.Id === p.InfraId);
    expect(infra.Name).toBe(`${i.Id.slice(0, 12)}-infra`);
    expect(String((await e2e.sb.ok(['pod', 'inspect', '--format', '{{.Name}} {{.State}}', 'fields'])).stdout)).toBe('fields Running');
  });

  it('pod create, run --pod, stop (members first), start, logs, top, rm', async () => {
    const id = String((await e2e.sb.ok(['pod', 'create', '--name', 'hand', '--hostname', 'handmade', '--label', 'k=v'])).stdout).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await e2e.sb.ok(['run', '-d', '--pod', 'hand', '--name', 'hand-a', 'localhost/bb:latest', 'sh', '-c', 'echo from-a; exec sleep 1000']);
    await e2e.sb.ok(['run', '-d', '--pod', 'hand', '--name', 'hand-b', 'localhost/bb:latest', 'sh', '-c', 'echo from-b; exec sleep 1000']);
    expect(String((await execIn('hand-b', 'hostname')).stdout).trim()).toBe('handmade');
    const top = String((await e2e.sb.ok(['pod', 'top', 'hand'])).stdout);
    expect(top).toContain('sleep 1000');
    expect(top).toContain('/pause');
    await new Promise((res) => setTimeout(res, 200));
    const logs = String((await e2e.sb.ok(['pod', 'logs', 'hand'])).stdout);
    expect(logs).toContain('from-a');
    expect(logs).toContain('from-b');
    expect(String((await e2e.sb.ok(['pod', 'logs', '-c', 'hand-a', 'hand'])).stdout)).toBe('from-a');
    const t0 = Date.now();
    await e2e.sb.ok(['pod', 'stop', '-t', '1', 'hand']);
    // sleep ignores TERM: both members get KILLed after one grace period, in parallel
    expect(Date.now() - t0).toBeLessThan(8000);
    const [p] = JSON.parse(String((await e2e.sb.ok(['pod', 'ps', '--format', 'json'])).stdout));
    expect(['Exited', 'Stopped']).toContain(p.Status);
    await e2e.sb.ok(['pod', 'start', 'hand']);
    expect(String((await execIn('hand-a', 'hostname')).stdout).trim()).toBe('handmade');
    const rm = await e2e.sb.run(['pod', 'rm', 'hand']);
    expect(rm.exitCode).toBe(125);
    expect(String(rm.stderr)).toMatch(/^Error: pod hand has running containers/);
    await e2e.sb.ok(['pod', 'rm', '-f', '-t', '0', 'hand']);
    expect(JSON.parse(String((await e2e.sb.ok(['ps', '-a', '--format', 'json'])).stdout))).toEqual([]);
  });
});

describe('the README demo', () => {
  it('plays examples/demo-pod.yaml and the client reaches the web server', async () => {
    await e2e.sb.ok(['tag', 'localhost/bb:latest', 'localhost/busybox:latest']);
    await e2e.sb.ok(['play', 'kube', path.join(PROJECT, 'examples/demo-pod.yaml')]);
    let logs = '';
    for (let i = 0; i < 60 && !logs.includes('hello from a peapod pod'); i++) {
      await new Promise((res) => setTimeout(res, 100));
      logs = String((await e2e.sb.ok(['logs', 'demo-client'])).stdout);
    }
    expect(logs).toContain('hello from a peapod pod');
    await e2e.sb.ok(['kube', 'down', path.join(PROJECT, 'examples/demo-pod.yaml')]);
  });
});
