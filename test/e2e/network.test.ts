// Issue 4 acceptance: pod networking on a netavark bridge. Traffic goes only to 127.0.0.1 and to
// pod addresses on the network peapod creates here.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import path from 'node:path';
import { execa } from 'execa';
import { sandbox, requireRoot, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';

let sb: Sandbox;
let iptablesBefore: string;

const iptables = async () => (await execa('iptables-save')).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n');
const json = async (args: string[]) => JSON.parse(String((await sb.ok(args)).stdout));

// busybox has no UDP listener: a tiny static receiver that prints the first datagram.
const UDPRECV = `#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1])); a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
  char buf[512]; ssize_t n = recv(s, buf, sizeof buf - 1, 0);
  if (n < 0) return 1;
  buf[n] = 0; printf("got:%s\\n", buf); fflush(stdout);
  for (;;) pause();
}`;

beforeAll(async () => {
  requireRoot();
  iptablesBefore = await iptables();
  sb = sandbox('peapod-net');
  await sb.ok(['image', 'import', await busyboxRootfsTar(sb.dir), 'bb']);
  const dir = path.join(sb.dir, 'udp');
  mkdirSync(path.join(dir, 'rootfs'), { recursive: true });
  writeFileSync(path.join(dir, 'udprecv.c'), UDPRECV);
  await execa('gcc', ['-static', '-O2', '-o', path.join(dir, 'rootfs', 'udprecv'), path.join(dir, 'udprecv.c')]);
  await execa('tar', ['-C', path.join(dir, 'rootfs'), '-cf', path.join(dir, 'udp.tar'), '.']);
  await sb.ok(['image', 'import', '--change', 'ENTRYPOINT ["/udprecv"]', path.join(dir, 'udp.tar'), 'udprecv']);
});

afterAll(async () => {
  if (!sb) return;
  await sb.destroy();
  expect(await settledLeaks(sb.dir)).toEqual([]);
  // every iptables rule peapod added is gone again
  expect(await iptables()).toBe(iptablesBefore);
});

afterEach(async () => {
  for (const p of await json(['pod', 'ps', '--format', 'json'])) await sb.run(['pod', 'rm', '-f', '-t', '0', p.Id]);
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

function manifest(name: string, body: string): string {
  const f = path.join(sb.dir, `${name}.yaml`);
  writeFileSync(f, body);
  return f;
}

const webPod = (name: string, hostPort?: number, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 1
${extra}  containers:
    - name: srv
      image: localhost/bb:latest
      command: ["sh", "-c", "mkdir -p /www && echo hello-from-${name} > /www/index.html && exec httpd -f -p 8080 -h /www"]
      ports:
        - containerPort: 8080
${hostPort ? `          hostPort: ${hostPort}\n` : ''}`;

async function httpGet(host: string, port: number, tries = 50): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(2000) });
      return await r.text();
    } catch (err) {
      if (i >= tries) throw err;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('pod networking', () => {
  it('publishes a TCP hostPort on 127.0.0.1 and a UDP hostPort carries a datagram', async () => {
    const tcp = await freePort();
    const udp = await freePort();
    await sb.ok(['play', 'kube', manifest('pub', webPod('pub', tcp))]);
    expect(await httpGet('127.0.0.1', tcp)).toBe('hello-from-pub\n');
    expect(String((await sb.ok(['port', 'pub'])).stdout)).toBe(`8080/tcp -> 0.0.0.0:${tcp}`);
    await sb.ok(['play', 'kube', manifest('udp', `apiVersion: v1
kind: Pod
metadata:
  name: udp
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: recv
      image: localhost/udprecv:latest
      args: ["5353"]
      ports:
        - {containerPort: 5353, hostPort: ${udp}, protocol: UDP}
`)]);
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('got:datagram-ok'); i++) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((res) => s.send('datagram-ok', udp, '127.0.0.1', () => s.close(() => res())));
      await new Promise((res) => setTimeout(res, 100));
      logs = String((await sb.ok(['logs', 'udp-recv'])).stdout);
    }
    expect(logs).toContain('got:datagram-ok');
  });

  it('pods reach each other by name over the bridge, with different addresses', async () => {
    await sb.ok(['play', 'kube', manifest('a', webPod('pod-a'))]);
    await sb.ok(['play', 'kube', manifest('b', webPod('pod-b'))]);
    const ipA = String((await sb.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'pod-a-srv'])).stdout);
    const ipB = String((await sb.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'pod-b-srv'])).stdout);
    expect(ipA).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(ipB).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(ipA).not.toBe(ipB);
    let body = '';
    for (let i = 0; i < 50 && !body.includes('hello-from-pod-b'); i++) {
      body = String((await sb.run(['exec', 'pod-a-srv', 'wget', '-q', '-O', '-', 'http://pod-b:8080/'])).stdout);
      if (!body) await new Promise((res) => setTimeout(res, 100));
    }
    expect(body).toBe('hello-from-pod-b');
    // the container name resolves too
    expect(String((await sb.run(['exec', 'pod-b-srv', 'wget', '-q', '-O', '-', 'http://pod-a-srv:8080/'])).stdout)).toBe('hello-from-pod-a');
    // /etc/hosts has the pod's own address
    expect(String((await sb.ok(['exec', 'pod-a-srv', 'cat', '/etc/hosts'])).stdout)).toContain(`${ipA}\tpod-a`);
    const inspect = await json(['pod', 'inspect', 'pod-a']);
    expect(inspect.InfraConfig.StaticIP).toBe(ipA);
    expect((await json(['network', 'ls', '--format', 'json'])).map((n: any) => n.name)).toContain('peapod');
  });

  it('after kube down the address is free again and the bridge is gone', async () => {
    const f = manifest('again', webPod('again'));
    await sb.ok(['play', 'kube', f]);
    const ip1 = String((await sb.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'again-srv'])).stdout);
    await sb.ok(['kube', 'down', f]);
    const ipam = JSON.parse(readFileSync(path.join(sb.root, 'networks', 'peapod.ipam.json'), 'utf8'));
    expect(Object.keys(ipam.ips)).toEqual([]);
    // netavark removes the bridge with its last member; only the network's record stays (network ls)
    const [netw] = await json(['network', 'inspect', 'peapod']);
    expect(existsSync(`/sys/class/net/${netw.network_interface}`)).toBe(false);
    await sb.ok(['play', 'kube', f]);
    expect(String((await sb.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'again-srv'])).stdout)).toBe(ip1);
  });

  it('a host port already in use is a clear error and creates nothing', async () => {
    const port = await freePort();
    const holder = net.createServer().listen(port, '0.0.0.0');
    await new Promise((res) => holder.once('listening', res));
    try {
      const r = await sb.run(['play', 'kube', manifest('busy', webPod('busy', port))]);
      expect(r.exitCode).toBe(125);
      expect(String(r.stderr).trim()).toBe(`Error: host port ${port}/tcp is already in use on this host`);
      expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);
    } finally {
      holder.close();
    }
    // and one that another pod publishes
    await sb.ok(['play', 'kube', manifest('first', webPod('first', port))]);
    const r2 = await sb.run(['play', 'kube', manifest('second', webPod('second', port))]);
    expect(String(r2.stderr).trim()).toBe(`Error: host port ${port}/tcp is already published by pod first`);
    expect((await json(['pod', 'ps', '--format', 'json'])).map((p: any) => p.Name)).toEqual(['first']);
  });

  it('a hostNetwork pod binds its port directly on the host and has the host name', async () => {
    const port = await freePort();
    await sb.ok(['play', 'kube', manifest('hostnet', `apiVersion: v1
kind: Pod
metadata:
  name: hostnet
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
    - name: srv
      image: localhost/bb:latest
      command: ["sh", "-c", "mkdir -p /www && echo on-host > /www/index.html && exec httpd -f -p ${port} -h /www"]
`)]);
    expect(await httpGet('127.0.0.1', port)).toBe('on-host\n');
    const ss = (await execa('ss', ['-ltnH', `sport = :${port}`])).stdout;
    expect(ss).toContain(`:${port}`);
    expect(String((await sb.ok(['exec', 'hostnet-srv', 'hostname'])).stdout)).toBe((await execa('hostname')).stdout.trim());
  });

  it('20 pods from 4 concurrent play kube commands get distinct addresses and are all reachable', async () => {
    const files = [0, 1, 2, 3].map((g) => manifest(`many-${g}`, [0, 1, 2, 3, 4].map((i) => webPod(`many-${g}-${i}`)).join('---\n')));
    const results = await Promise.all(files.map((f) => sb.run(['play', 'kube', f], { timeout: 120_000 })));
    for (const r of results) expect(r.exitCode, String(r.stderr)).toBe(0);
    const pods = await json(['pod', 'ps', '--format', 'json']);
    expect(pods).toHaveLength(20);
    const ips: string[] = [];
    for (const p of pods) {
      const i = await json(['pod', 'inspect', p.Name]);
      ips.push(i.InfraConfig.StaticIP);
    }
    expect(new Set(ips).size).toBe(20);
    const bodies = await Promise.all(pods.map(async (p: any, k: number) => httpGet(ips[k], 8080)));
    expect(bodies.sort()).toEqual(pods.map((p: any) => `hello-from-${p.Name}\n`).sort());
  });
});
