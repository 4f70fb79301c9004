// Issue 17 acceptance: Services on one host, as kube-proxy (iptables mode) and CoreDNS make them,
// on real netavark, aardvark-dns and iptables. Traffic goes only to pod and service addresses on
// the networks this test makes, and to 127.0.0.1.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { writeFileSync, mkdirSync, readdirSync, readFileSync, existsSync, symlinkSync, rmSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { sandbox, requireRoot, PROJECT, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';

let sb: Sandbox;
let iptablesBefore: string;

/** The rules as iptables-save prints them, without comments and counters. */
const iptables = async () => (await execa('iptables-save')).stdout.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '')).join('\n');
const json = async (args: string[], box = sb) => JSON.parse(String((await box.ok(args)).stdout));

// busybox has no UDP server or client: a tiny static one. `udp serve PORT` answers every datagram
// with its host name; `udp ask IP PORT [SRCPORT]` sends one (from SRCPORT: the same flow each
// time) and prints the answer (1 s timeout).
const UDP = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  char buf[256];
  if (argc == 3 && !strcmp(argv[1], "serve")) {
    a.sin_port = htons(atoi(argv[2])); a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    char name[128]; gethostname(name, sizeof name);
    for (;;) {
      struct sockaddr_in from; socklen_t fl = sizeof from;
      if (recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) < 0) continue;
      sendto(s, name, strlen(name), 0, (struct sockaddr *)&from, fl);
    }
  }
  if ((argc == 4 || argc == 5) && !strcmp(argv[1], "ask")) {
    if (argc == 5) {
      int one = 1; setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      struct sockaddr_in src = {0}; src.sin_family = AF_INET; src.sin_port = htons(atoi(argv[4]));
      if (bind(s, (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); return 1; }
    }
    a.sin_port = htons(atoi(argv[3])); inet_pton(AF_INET, argv[2], &a.sin_addr);
    struct timeval tv = {1, 0}; setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sendto(s, "?", 1, 0, (struct sockaddr *)&a, sizeof a);
    ssize_t n = recv(s, buf, sizeof buf - 1, 0);
    if (n < 0) return 1;
    buf[n] = 0; printf("%s\\n", buf);
    return 0;
  }
  return 2;
}`;

beforeAll(async () => {
  requireRoot();
  iptablesBefore = await iptables();
  sb = sandbox('peapod-svc');
  const tar = await busyboxRootfsTar(sb.dir);
  await sb.ok(['image', 'import', tar, 'bb']);
  const dir = path.join(sb.dir, 'udp');
  mkdirSync(path.join(dir, 'rootfs', 'bin'), { recursive: true });
  writeFileSync(path.join(dir, 'udp.c'), UDP);
  await execa('tar', ['-C', path.join(dir, 'rootfs'), '-xf', tar]);
  await execa('gcc', ['-static', '-O2', '-o', path.join(dir, 'rootfs', 'bin', 'udp'), path.join(dir, 'udp.c')]);
  await execa('tar', ['-C', path.join(dir, 'rootfs'), '-cf', path.join(dir, 'udp.tar'), '.']);
  await sb.ok(['image', 'import', path.join(dir, 'udp.tar'), 'bbudp']);
}, 120_000);

afterAll(async () => {
  if (!sb) return;
  await sb.destroy();
  expect(await settledLeaks(sb.dir)).toEqual([]);
  expect(await iptables()).toBe(iptablesBefore);
});

afterEach(async () => {
  for (const p of await json(['pod', 'ps', '--format', 'json'])) await sb.run(['pod', 'rm', '-f', '-t', '0', p.Id]);
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

function manifest(name: string, body: string, box = sb): string {
  const f = path.join(box.dir, `${name}.yaml`);
  writeFileSync(f, body);
  return f;
}

/** A Deployment of 3 busybox httpd answering their host name on 8080 (named http); ready unless /tmp/unready exists. */
const WEB = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      subdomain: web-headless
      containers:
        - name: httpd
          image: localhost/bbudp:latest
          command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && (udp serve 5300 &) && exec httpd -f -p 8080 -h /www"]
          ports:
            - {name: http, containerPort: 8080}
            - {name: dns, containerPort: 5300, protocol: UDP}
          readinessProbe:
            exec: {command: ["sh", "-c", "test ! -e /tmp/unready"]}
            periodSeconds: 1
            failureThreshold: 1
            successThreshold: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: http}
---
apiVersion: v1
kind: Service
metadata:
  name: web-headless
spec:
  clusterIP: None
  selector: {app: web}
  ports:
    - {name: http, port: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: web-udp
spec:
  selector: {app: web}
  ports:
    - {name: dns, port: 53, targetPort: dns, protocol: UDP}
`;

const client = (name: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: localhost/bbudp:latest
      command: ["sleep", "100000"]
`;

/** n HTTP requests from the client pod to url; the bodies (host names of the replicas that answered). */
async function requests(ctr: string, url: string, n: number): Promise<string[]> {
  const r = await sb.run(['exec', ctr, 'sh', '-c', `for i in $(seq ${n}); do wget -q -O - ${url} || echo FAILED; done`]);
  return String(r.stdout).split('\n').filter(Boolean);
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, tries = 100): Promise<T> {
  let v = await fn();
  for (let i = 0; i < tries && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}

/**
 * The A records of the first name busybox's nslookup found. With the kubelet's search list and
 * ndots:5 it asks every search domain (NAME.NS.svc.cluster.local first, as a libc resolver would,
 * then NAME.dns.podman, ...) and prints every answer; a resolver uses the first.
 */
function firstAnswer(out: string): string[] {
  let first: string | undefined;
  let cur: string | undefined;
  const ips: string[] = [];
  for (const line of out.split('\n')) {
    const n = /^Name:\s*(\S+)/.exec(line);
    if (n) { cur = n[1]; first ??= cur; continue; }
    const a = /^Address:\s*(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (a && cur !== undefined && cur === first) ips.push(a[1]);
  }
  return ips;
}

/** Our lines in this sandbox's aardvark-dns files. */
function dnsEntries(box = sb): string[] {
  const dir = path.join(box.runroot, 'netavark', 'aardvark-dns');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => !f.includes('.pid') && lstatSync(path.join(dir, f)).isFile())
    .flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => l.startsWith('peapod-svc-')));
}

/** VIP claims held by this sandbox's root. */
function claims(box = sb): string[] {
  const dir = '/run/peapod-host/service-ips';
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((ip) => {
    try { return JSON.parse(readFileSync(path.join(dir, ip), 'utf8')).root === box.root; } catch { return false; }
  });
}

describe('services', () => {
  it('a ClusterIP Service spreads requests over the Ready replicas by name, FQDN and VIP; headless, UDP, env, readiness; down leaves nothing', async () => {
    const before = await iptables();
    // the client first: Services made after it started still resolve in it
    await sb.ok(['play', 'kube', manifest('client', client('client'))]);
    const app = manifest('web', WEB);
    await sb.ok(['play', 'kube', '--wait-ready', app], { timeout: 120_000 });
    const svcs = await json(['service', 'ls', '--format', 'json']);
    const web = svcs.find((s: any) => s.Name === 'web');
    expect(web.Type).toBe('ClusterIP');
    expect(web.ClusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(web.Ports).toBe('80/TCP->http');
    await until(async () => (await json(['service', 'inspect', 'web']))[0].Endpoints.length, (n) => n === 3);
    const ls = String((await sb.ok(['service', 'ls'])).stdout);
    expect(ls.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+PORTS\s+ENDPOINTS/);
    expect(ls).toMatch(new RegExp(`web\\s+ClusterIP\\s+${web.ClusterIP.replace(/\./g, '\\.')}\\s+80/TCP->http\\s+10\\.`));

    // 30 requests by name reach all 3 replicas; the same through the FQDN and the VIP
    const replicas = ['web-pod-0', 'web-pod-1', 'web-pod-2'];
    for (const url of ['http://web/', 'http://web.default.svc.cluster.local/', `http://${web.ClusterIP}/`]) {
      const got = await requests('client-c', url, 30);
      expect(got, url).toHaveLength(30);
      expect(new Set(got), url).toEqual(new Set(replicas));
    }
    // from the host too (OUTPUT chain)
    const fromHost = new Set<string>();
    for (let i = 0; i < 30; i++) fromHost.add((await (await fetch(`http://${web.ClusterIP}/`, { signal: AbortSignal.timeout(3000) })).text()).trim());
    expect(fromHost).toEqual(new Set(replicas));

    // the kernel's rules have kube-proxy's shape
    const nat = (await execa('iptables-save', ['-t', 'nat'])).stdout;
    expect(nat).toMatch(new RegExp(`-A PEAPOD-SVCS-[0-9a-f]{8} -d ${web.ClusterIP.replace(/\./g, '\\.')}/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j PPD[0-9a-f]{8}-SVC-`));
    expect(nat).toContain('-m statistic --mode random --probability 0.33333333349');
    expect(nat).toMatch(/-j DNAT --to-destination 10\.\d+\.\d+\.\d+:8080/);

    // headless: the Ready pods' own addresses
    const ips: string[] = await Promise.all(replicas.map(async (p) => (await json(['pod', 'inspect', p])).InfraConfig.StaticIP));
    const ns = String((await sb.run(['exec', 'client-c', 'nslookup', '-type=a', 'web-headless'])).stdout);
    expect(ns).toContain('Name:\tweb-headless.default.svc.cluster.local');
    const answers = firstAnswer(ns);
    expect(answers.sort(), ns).toEqual([...ips].sort());
    expect(String((await sb.run(['exec', 'client-c', 'nslookup', '-type=a', 'web.default'])).stdout)).toContain(web.ClusterIP);
    // a pod with subdomain = a headless Service: HOSTNAME.SUBDOMAIN.NS.svc.cluster.local
    const own = String((await sb.run(['exec', 'client-c', 'nslookup', '-type=a', 'web-pod-2.web-headless.default.svc.cluster.local'])).stdout);
    expect(firstAnswer(own)).toEqual([ips[2]]);

    // UDP through the VIP
    const udp = svcs.find((s: any) => s.Name === 'web-udp');
    const udpAnswers = new Set<string>();
    for (let i = 0; i < 30 && udpAnswers.size < 3; i++) {
      const r = await sb.run(['exec', 'client-c', 'sh', '-c', `for i in 1 2 3 4 5; do udp ask ${udp.ClusterIP} 53; done`]);
      for (const l of String(r.stdout).split('\n').filter(Boolean)) udpAnswers.add(l);
    }
    expect(udpAnswers).toEqual(new Set(replicas));

    // the kubelet's variables in a pod started after the Services
    await sb.ok(['play', 'kube', manifest('client2', client('client2'))]);
    const env = String((await sb.ok(['exec', 'client2-c', 'env'])).stdout).split('\n').filter((l) => /^WEB/.test(l)).sort();
    const v = web.ClusterIP;
    const u = udp.ClusterIP;
    expect(env).toEqual([
      `WEB_PORT=tcp://${v}:80`, `WEB_PORT_80_TCP=tcp://${v}:80`, `WEB_PORT_80_TCP_ADDR=${v}`, `WEB_PORT_80_TCP_PORT=80`, `WEB_PORT_80_TCP_PROTO=tcp`,
      `WEB_SERVICE_HOST=${v}`, `WEB_SERVICE_PORT=80`, 'WEB_SERVICE_PORT_HTTP=80',
      `WEB_UDP_PORT=udp://${u}:53`, `WEB_UDP_PORT_53_UDP=udp://${u}:53`, `WEB_UDP_PORT_53_UDP_ADDR=${u}`, `WEB_UDP_PORT_53_UDP_PORT=53`, `WEB_UDP_PORT_53_UDP_PROTO=udp`,
      `WEB_UDP_SERVICE_HOST=${u}`, 'WEB_UDP_SERVICE_PORT=53', 'WEB_UDP_SERVICE_PORT_DNS=53',
    ].sort());
    // the client started before the Services has none (as with the kubelet)
    expect(String((await sb.ok(['exec', 'client-c', 'env'])).stdout)).not.toContain('WEB_SERVICE_HOST');

    // readiness: a replica whose probe fails stops receiving, and comes back when it passes
    await sb.ok(['exec', 'web-pod-1-httpd', 'touch', '/tmp/unready']);
    const t0 = Date.now();
    await until(async () => (await json(['service', 'inspect', 'web']))[0].Endpoints.length, (n) => n === 2, 200);
    const out = await until(() => requests('client-c', 'http://web/', 20), (g) => !g.includes('web-pod-1'), 50);
    console.log(`readiness failure -> replica out of the Service after ${Date.now() - t0} ms`);
    expect(out.filter((g) => g === 'web-pod-1')).toEqual([]);
    expect(new Set(out)).toEqual(new Set(['web-pod-0', 'web-pod-2']));
    await sb.ok(['exec', 'web-pod-1-httpd', 'rm', '/tmp/unready']);
    const back = await until(() => requests('client-c', 'http://web/', 20), (g) => g.includes('web-pod-1'), 50);
    expect(back).toContain('web-pod-1');

    // down: no rule, no name, no claim left
    expect(dnsEntries().length).toBeGreaterThan(0);
    expect(claims()).toHaveLength(2);
    const down = String((await sb.ok(['kube', 'down', app])).stdout);
    expect(down).toContain('Services removed:\nweb\nweb-headless\nweb-udp');
    await sb.ok(['pod', 'rm', '-f', '-t', '0', 'client', 'client2']);
    expect(await json(['service', 'ls', '--format', 'json'])).toEqual([]);
    expect(dnsEntries()).toEqual([]);
    expect(claims()).toEqual([]);
    expect(await iptables()).toBe(before);
  }, 300_000);

  it('NodePort and LoadBalancer publish on the host through the Service rules: 127.0.0.1 and a host address reach every Ready replica; Local keeps the client address; claims are host-wide', async () => {
    const before = await iptables();
    const NP = 31780;
    const app = manifest('np', `apiVersion: apps/v1
kind: Deployment
metadata:
  name: np
spec:
  replicas: 3
  selector:
    matchLabels: {app: np}
  template:
    metadata:
      labels: {app: np}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: httpd
          image: localhost/bb:latest
          command: ["sh", "-c"]
          args:
            - |
              mkdir -p /www/cgi-bin && hostname > /www/index.html
              echo '#!/bin/sh' > /www/cgi-bin/addr
              echo 'echo "Content-Type: text/plain"; echo; echo "$REMOTE_ADDR"' >> /www/cgi-bin/addr
              chmod +x /www/cgi-bin/addr
              exec httpd -f -p 8080 -h /www
          ports:
            - {name: http, containerPort: 8080}
          readinessProbe:
            exec: {command: ["sh", "-c", "test ! -e /tmp/unready"]}
            periodSeconds: 1
            failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata:
  name: np
spec:
  type: NodePort
  selector: {app: np}
  ports:
    - {name: http, port: 80, targetPort: http, nodePort: ${NP}}
---
apiVersion: v1
kind: Service
metadata:
  name: np-local
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: np}
  ports:
    - {port: 80, targetPort: 8080}
`);
    await sb.ok(['play', 'kube', '--wait-ready', app], { timeout: 120_000 });
    const replicas = ['np-pod-0', 'np-pod-1', 'np-pod-2'];
    const [np] = await json(['service', 'inspect', 'np']);
    expect(np.Type).toBe('NodePort');
    expect(np.Ports).toBe(`80:${NP}/TCP->http`);
    expect(np.ExternalTrafficPolicy).toBe('Cluster');
    const [lb] = await json(['service', 'inspect', 'np-local']);
    expect(lb.ExternalTrafficPolicy).toBe('Local');
    const allocated = Number(/^80:(\d+)\/TCP->8080$/.exec(lb.Ports)?.[1]);
    expect(allocated).toBeGreaterThanOrEqual(30000);
    expect(allocated).toBeLessThanOrEqual(32767);
    const nodeClaims = () => (existsSync('/run/peapod-host/node-ports') ? readdirSync('/run/peapod-host/node-ports') : [])
      .filter((n) => { try { return JSON.parse(readFileSync(`/run/peapod-host/node-ports/${n}`, 'utf8')).root === sb.root; } catch { return false; } }).map(Number).sort();
    expect(nodeClaims()).toEqual([NP, allocated].sort());
    // no pod publishes a host port: the only way in is the Service's rules
    for (const p of replicas) expect((await json(['pod', 'inspect', p])).InfraConfig.PortBindings ?? {}).toEqual({});
    expect((await execa('iptables-save', ['-t', 'nat'])).stdout).not.toMatch(new RegExp(`-A NETAVARK.*--dport ${NP}\\b`));
    await until(async () => (await json(['service', 'inspect', 'np']))[0].Endpoints.length, (n) => n === 3);

    const get = async (url: string) => (await (await fetch(url, { signal: AbortSignal.timeout(3000) })).text()).trim();
    const spread = async (url: string, n = 30) => { const out: string[] = []; for (let i = 0; i < n; i++) out.push(await get(url)); return out; };
    expect(new Set(await spread(`http://127.0.0.1:${NP}/`))).toEqual(new Set(replicas));
    expect(new Set(await spread(`http://127.0.0.1:${allocated}/`))).toEqual(new Set(replicas));

    // a network the test makes: a client namespace behind a veth pair, the host's address on it
    const ns = `ppnp${process.pid}`;
    const hostAddr = '192.168.237.1';
    try {
      await execa('ip', ['netns', 'add', ns]);
      await execa('ip', ['link', 'add', 'ppnp0', 'type', 'veth', 'peer', 'name', 'ppnp1', 'netns', ns]);
      await execa('ip', ['addr', 'add', `${hostAddr}/24`, 'dev', 'ppnp0']);
      await execa('ip', ['link', 'set', 'ppnp0', 'up']);
      await execa('ip', ['-n', ns, 'addr', 'add', '192.168.237.2/24', 'dev', 'ppnp1']);
      await execa('ip', ['-n', ns, 'link', 'set', 'ppnp1', 'up']);
      const curl = async (url: string) => String((await execa('ip', ['netns', 'exec', ns, 'curl', '-s', '-m', '3', url])).stdout).trim();
      const fromOutside: string[] = [];
      for (let i = 0; i < 30; i++) fromOutside.push(await curl(`http://${hostAddr}:${NP}/`));
      expect(new Set(fromOutside)).toEqual(new Set(replicas));
      // the host itself through that address (OUTPUT, a local destination)
      expect(new Set(await spread(`http://${hostAddr}:${NP}/`))).toEqual(new Set(replicas));
      // Cluster: the backend sees the host's bridge address; Local: the client's own
      // (busybox httpd writes it as an IPv4-mapped address: [::ffff:a.b.c.d])
      expect(await curl(`http://${hostAddr}:${NP}/cgi-bin/addr`)).toMatch(/^\[::ffff:10\.\d+\.\d+\.1\]$/);
      expect(await curl(`http://${hostAddr}:${allocated}/cgi-bin/addr`)).toBe('[::ffff:192.168.237.2]');
    } finally {
      await execa('ip', ['netns', 'del', ns]).catch(() => undefined);
      await execa('ip', ['link', 'del', 'ppnp0']).catch(() => undefined);
    }

    // a replica that stops being Ready stops receiving node port traffic, and comes back
    await sb.ok(['exec', 'np-pod-1-httpd', 'touch', '/tmp/unready']);
    await until(async () => (await json(['service', 'inspect', 'np']))[0].Endpoints.length, (n) => n === 2, 200);
    const out = await spread(`http://127.0.0.1:${NP}/`, 20);
    expect(new Set(out)).toEqual(new Set(['np-pod-0', 'np-pod-2']));
    await sb.ok(['exec', 'np-pod-1-httpd', 'rm', '/tmp/unready']);
    await until(async () => (await json(['service', 'inspect', 'np']))[0].Endpoints.length, (n) => n === 3, 200);
    expect(new Set(await spread(`http://127.0.0.1:${NP}/`))).toEqual(new Set(replicas));

    // adversarial: the port is the host's, whoever asks
    const other = sandbox('peapod-svc-np');
    const listener = (await import('node:net')).createServer();
    try {
      await new Promise<void>((r) => listener.listen(NP + 1, '0.0.0.0', () => r()));
      const nodeSvc = (name: string, port: number) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  type: NodePort
  selector: {app: x}
  ports:
    - {port: 80, nodePort: ${port}}
`;
      const taken = await other.run(['play', 'kube', manifest('taken', nodeSvc('taken', NP), other)]);
      expect(taken.exitCode).toBe(125);
      expect(String(taken.stderr)).toContain(`service default/taken: nodePort ${NP} is already allocated (to service default/np of peapod root ${sb.root})`);
      const busy = await other.run(['play', 'kube', manifest('busy', nodeSvc('busy', NP + 1), other)]);
      expect(busy.exitCode).toBe(125);
      expect(String(busy.stderr)).toContain(`service default/busy: nodePort ${NP + 1}/tcp is already in use on this host (a program listening on this host)`);
      for (const bad of [29999, 32768, 80]) {
        const r = await other.run(['play', 'kube', manifest('range', nodeSvc('range', bad), other)]);
        expect(r.exitCode).toBe(125);
        expect(String(r.stderr)).toContain(`nodePort ${bad} is not in the node port range 30000-32767`);
      }
      const r = await other.run(['play', 'kube', manifest('cip', nodeSvc('cip', 31000).replace('type: NodePort', 'type: ClusterIP'), other)]);
      expect(String(r.stderr)).toContain('a nodePort may not be given when type is ClusterIP');
      // a pod of another root cannot take the node port as its hostPort either
      await other.ok(['image', 'import', await busyboxRootfsTar(other.dir), 'bb']);
      const hp = await other.run(['pod', 'create', '--name', 'hp', '-p', `${NP}:80`]);
      const started = hp.exitCode === 0 ? await other.run(['pod', 'start', 'hp']) : hp;
      expect(started.exitCode).not.toBe(0);
      expect(String(started.stderr)).toContain(`host port ${NP} is the nodePort of service default/np of peapod root ${sb.root}`);
      expect(await json(['service', 'ls', '--format', 'json'], other)).toEqual([]);
      // the other way round: a hostPort another root's pod publishes (a netavark rule, no socket) is no free node port
      await other.ok(['pod', 'create', '--name', 'hp2', '-p', `${NP + 10}:80`]);
      await other.ok(['pod', 'start', 'hp2']);
      const fwd = await sb.run(['play', 'kube', manifest('fwd', nodeSvc('fwd', NP + 10))]);
      expect(fwd.exitCode).toBe(125);
      expect(String(fwd.stderr)).toContain(`service default/fwd: nodePort ${NP + 10}/tcp is already in use on this host (a container's published port (a netavark rule))`);
      expect((await json(['service', 'ls', '--format', 'json'])).map((x: any) => x.Name).sort()).toEqual(['np', 'np-local']);
    } finally {
      listener.close();
      await other.destroy();
    }

    await sb.ok(['kube', 'down', app]);
    expect(nodeClaims()).toEqual([]);
    expect(await iptables()).toBe(before);
  }, 300_000);

  it('resolv.conf as the kubelet writes it; ExternalName answers with its name\'s addresses; a Service without selector refuses at once; hostile externalNames are refused', async () => {
    const before = await iptables();
    const f = manifest('ext', `apiVersion: v1
kind: Service
metadata: {name: ext, namespace: shop}
spec:
  type: ExternalName
  externalName: localhost.
---
apiVersion: v1
kind: Service
metadata: {name: nosel}
spec:
  ports: [{port: 80}]
---
${client('shopc').replace('name: shopc', 'name: shopc\n  namespace: shop')}`);
    const played = await sb.ok(['play', 'kube', f]);
    expect(String(played.stderr)).toContain('Service nosel has no selector');
    const resolv = String((await sb.ok(['exec', 'shopc-c', 'cat', '/etc/resolv.conf'])).stdout).split('\n');
    expect(resolv[0]).toBe('search shop.svc.cluster.local svc.cluster.local cluster.local dns.podman');
    expect(resolv.filter((l) => l.startsWith('options'))).toEqual(['options ndots:5']);
    expect(resolv[1]).toMatch(/^nameserver 10\.\d+\.\d+\.1$/);

    const [ext] = await json(['service', 'inspect', 'shop/ext']);
    expect(ext.Type).toBe('ExternalName');
    expect(ext.ExternalName).toBe('localhost');
    expect(ext.ExternalAddresses).toEqual(['127.0.0.1']);
    expect(ext.Endpoints).toEqual([]);
    expect(String((await sb.ok(['service', 'ls'])).stdout)).toMatch(/shop\/ext\s+ExternalName\s+<none>\s+<none>\s+localhost \(127\.0\.0\.1\)/);
    for (const name of ['ext', 'ext.shop', 'ext.shop.svc.cluster.local']) {
      const out = String((await sb.run(['exec', 'shopc-c', 'nslookup', '-type=a', name])).stdout);
      expect(firstAnswer(out), `${name}: ${out}`).toEqual(['127.0.0.1']);
    }
    // no VIP, no rule, no variable for it
    expect((await execa('iptables-save', ['-t', 'nat'])).stdout).not.toContain('shop/ext');

    // without a selector: a VIP whose connections are refused at once (REJECT), not left to time out
    const [nosel] = await json(['service', 'inspect', 'nosel']);
    expect(nosel.Endpoints).toEqual([]);
    const err = await fetch(`http://${nosel.ClusterIP}:80/`, { signal: AbortSignal.timeout(3000) }).then(() => undefined, (e) => e);
    expect(err?.cause?.code).toBe('ECONNREFUSED');

    // hostile externalNames never reach aardvark-dns's files or a resolver: refused before anything is made
    for (const bad of ['a;b', '-x', `${'a'.repeat(60)}.`.repeat(5).slice(0, 300), 'x.example\\n10.0.0.9 evil', '10.96.0.1 -j ACCEPT']) {
      const r = await sb.run(['play', 'kube', manifest('badext', `apiVersion: v1
kind: Service
metadata: {name: badext}
spec:
  type: ExternalName
  externalName: ${JSON.stringify(bad)}
`)]);
      expect(r.exitCode, bad).toBe(125);
      expect(String(r.stderr), bad).toMatch(/spec\.externalName: externalName .* must be a lower-case RFC 1123 DNS name/);
      expect(String(r.stderr)).toContain('nothing was created');
    }
    // an address literal is no DNS name for an ExternalName
    const lit = await sb.run(['play', 'kube', manifest('litext', `apiVersion: v1
kind: Service
metadata: {name: litext}
spec:
  type: ExternalName
  externalName: 127.0.0.1
`)]);
    expect(lit.exitCode).toBe(125);
    expect(String(lit.stderr)).toContain('externalName 127.0.0.1 is an IP address');
    expect((await json(['service', 'ls', '--format', 'json'])).map((x: any) => x.Name).sort()).toEqual(['ext', 'nosel']);
    expect(dnsEntries().join('\n')).not.toMatch(/evil|10\.0\.0\.9/);

    await sb.ok(['kube', 'down', f]);
    expect(await json(['service', 'ls', '--format', 'json'])).toEqual([]);
    expect(dnsEntries()).toEqual([]);
    expect(claims()).toEqual([]);
    expect(await iptables()).toBe(before);
  }, 180_000);

  it('UDP: when an endpoint leaves, its conntrack entries go, so a client\'s flow moves to the endpoint that is left', async () => {
    expect(existsSync('/usr/sbin/conntrack'), 'conntrack(8) is needed (Debian package conntrack, scripts/setup.sh)').toBe(true);
    const before = await iptables();
    const member = (name: string, unready: boolean) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {app: ct}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: udp
      image: localhost/bbudp:latest
      command: ["sh", "-c", "${unready ? 'touch /tmp/unready; ' : ''}exec udp serve 5300"]
      readinessProbe:
        exec: {command: ["sh", "-c", "test ! -e /tmp/unready"]}
        periodSeconds: 1
        failureThreshold: 1
`;
    const f = manifest('ct', `apiVersion: v1
kind: Service
metadata: {name: ct}
spec:
  selector: {app: ct}
  ports:
    - {port: 53, targetPort: 5300, protocol: UDP}
---
${member('ct-a', false)}---
${member('ct-b', true)}---
${client('ctc')}`);
    await sb.ok(['play', 'kube', f]);
    const [svc] = await json(['service', 'inspect', 'ct']);
    await until(async () => (await json(['service', 'inspect', 'ct']))[0].Endpoints.map((e: any) => e.Pod), (p) => p.length === 1 && p[0] === 'ct-a', 200);
    // one flow (the same source port every time), as a DNS client or a syslog sender keeps
    const ask = async () => String((await sb.run(['exec', 'ctc-c', 'udp', 'ask', svc.ClusterIP, '53', '40053'])).stdout).trim();
    expect(await until(ask, (a) => a === 'ct-a', 50)).toBe('ct-a');
    const flows = (await execa('conntrack', ['-L', '-p', 'udp', '--orig-dst', svc.ClusterIP], { reject: false })).stdout;
    expect(flows).toContain('dport=53');
    // ct-a stops being Ready, ct-b becomes Ready: the flow must go to ct-b, not stay on ct-a (which still answers)
    await sb.ok(['exec', 'ct-a-udp', 'touch', '/tmp/unready']);
    await sb.ok(['exec', 'ct-b-udp', 'rm', '/tmp/unready']);
    await until(async () => (await json(['service', 'inspect', 'ct']))[0].Endpoints.map((e: any) => e.Pod), (p) => p.length === 1 && p[0] === 'ct-b', 200);
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) answers.push(await ask());
    expect(answers).toEqual(['ct-b', 'ct-b', 'ct-b', 'ct-b', 'ct-b']);
    await sb.ok(['kube', 'down', f]);
    expect((await execa('conntrack', ['-L', '-p', 'udp', '--orig-dst', svc.ClusterIP], { reject: false })).stdout).not.toContain('dport=53');
    expect(await iptables()).toBe(before);
  }, 120_000);

  it('spec.clusterIP is used when free; taken by another root it is an error; sessionAffinity ClientIP sticks', async () => {
    const svc = (name: string, ip: string, extra = '') => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  clusterIP: ${ip}
  selector: {app: sticky}
${extra}  ports:
    - {port: 80, targetPort: 8080}
`;
    const pods = [0, 1, 2].map((i) => `apiVersion: v1
kind: Pod
metadata:
  name: sticky-${i}
  labels: {app: sticky}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: httpd
      image: localhost/bb:latest
      command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
`).join('---\n');
    const f = manifest('sticky', `${svc('sticky', '10.96.200.10', '  sessionAffinity: ClientIP\n')}---\n${pods}---\n${client('sclient')}`);
    await sb.ok(['play', 'kube', f]);
    expect((await json(['service', 'inspect', 'sticky']))[0].ClusterIP).toBe('10.96.200.10');
    await until(async () => (await json(['service', 'inspect', 'sticky']))[0].Endpoints.length, (n) => n === 3);
    const got = await requests('sclient-c', 'http://10.96.200.10/', 15);
    expect(got).toHaveLength(15);
    expect(new Set(got).size).toBe(1);

    // another peapod root asks for the same VIP: refused, nothing of it left
    const other = sandbox('peapod-svc2');
    try {
      const r = await other.run(['play', 'kube', manifest('taken', svc('taken', '10.96.200.10'), other)]);
      expect(r.exitCode).toBe(125);
      expect(String(r.stderr)).toContain(`spec.clusterIP 10.96.200.10 is already allocated (to service default/sticky of peapod root ${sb.root})`);
      expect(await json(['service', 'ls', '--format', 'json'], other)).toEqual([]);
      // an address outside the service range (here: the host's own loopback) is refused before anything is made
      const r2 = await other.run(['play', 'kube', manifest('lo', svc('lo', '127.0.0.1'), other)]);
      expect(r2.exitCode).toBe(125);
      expect(String(r2.stderr)).toContain('spec.clusterIP 127.0.0.1 is not inside peapod\'s service range 10.96.0.0/16');
    } finally {
      await other.destroy();
    }
    // and in this root a second Service cannot take it either
    const r3 = await sb.run(['play', 'kube', manifest('dup', svc('dup', '10.96.200.10'))]);
    expect(String(r3.stderr)).toContain('spec.clusterIP 10.96.200.10 is already allocated (to service default/sticky)');
    await sb.ok(['kube', 'down', f]);
    expect(claims()).toEqual([]);
  }, 180_000);

  it('hostile Services: names, ports and selectors that try to become iptables arguments are refused; a planted claim symlink is not followed', async () => {
    const before = await iptables();
    const hostile = [
      { name: 'web -j ACCEPT', port: '80', target: '8080', sel: 'web' },
      { name: 'web', port: '80', target: '"http --to-destination 1.2.3.4"', sel: 'web' },
      { name: 'web', port: '"80 -j DROP"', target: '8080', sel: 'web' },
      { name: 'web', port: '80', target: '8080', sel: '"x\\" -j ACCEPT #"' },
      { name: 'web\\n-A OUTPUT -j DROP', port: '80', target: '8080', sel: 'web' },
    ];
    for (const h of hostile) {
      const r = await sb.run(['play', 'kube', manifest('hostile', `apiVersion: v1
kind: Service
metadata:
  name: "${h.name}"
spec:
  selector: {app: ${h.sel}}
  ports:
    - {port: ${h.port}, targetPort: ${h.target}}
`)]);
      expect(r.exitCode, JSON.stringify(h)).toBe(125);
      expect(String(r.stderr)).toContain('nothing was created');
    }
    expect(await json(['service', 'ls', '--format', 'json'])).toEqual([]);
    expect(await iptables()).toBe(before);

    // a local user plants a symlink where the next VIP's claim goes: it is replaced, never written through
    const victim = path.join(sb.dir, 'victim');
    writeFileSync(victim, 'untouched');
    mkdirSync('/run/peapod-host/service-ips', { recursive: true, mode: 0o700 });
    const planted = '/run/peapod-host/service-ips/10.96.201.7';
    rmSync(planted, { force: true });
    symlinkSync(victim, planted);
    const f = manifest('planted', `apiVersion: v1
kind: Service
metadata:
  name: planted
spec:
  clusterIP: 10.96.201.7
  selector: {app: none}
  ports:
    - {port: 80}
`);
    await sb.ok(['play', 'kube', f]);
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    expect(lstatSync(planted).isSymbolicLink()).toBe(false);
    expect(lstatSync(planted).mode & 0o777).toBe(0o600);
    await sb.ok(['kube', 'down', f]);
    expect(existsSync(planted)).toBe(false);
    expect(await iptables()).toBe(before);
  }, 120_000);

  it('kube apply creates, updates (keeping the VIP) and prunes Services; a play\'s Service is a conflict', async () => {
    const pod = `apiVersion: v1
kind: Pod
metadata:
  name: applied
  labels: {app: applied}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: httpd
      image: localhost/bb:latest
      command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
      ports: [{name: http, containerPort: 8080}]
`;
    const svc = (port: number) => `apiVersion: v1
kind: Service
metadata:
  name: applied
spec:
  selector: {app: applied}
  ports:
    - {port: ${port}, targetPort: http}
`;
    const f = manifest('applied', `${pod}---\n${svc(80)}`);
    expect(String((await sb.ok(['kube', 'apply', f])).stdout)).toContain('service/applied created');
    const [s1] = await json(['service', 'inspect', 'applied']);
    await until(async () => (await json(['service', 'inspect', 'applied']))[0].Endpoints.length, (n) => n === 1);
    expect((await (await fetch(`http://${s1.ClusterIP}:80/`, { signal: AbortSignal.timeout(3000) })).text()).trim()).toBe('applied');
    writeFileSync(f, `${pod}---\n${svc(81)}`);
    const again = String((await sb.ok(['kube', 'apply', f])).stdout);
    expect(again).toContain('service/applied configured');
    expect(again).toContain('pod/applied unchanged');
    const [s2] = await json(['service', 'inspect', 'applied']);
    expect(s2.ClusterIP).toBe(s1.ClusterIP);
    expect(s2.Ports).toBe('81/TCP->http');
    expect((await (await fetch(`http://${s1.ClusterIP}:81/`, { signal: AbortSignal.timeout(3000) })).text()).trim()).toBe('applied');
    expect(String((await sb.ok(['kube', 'apply', f])).stdout)).toContain('service/applied unchanged');
    // a play's Service of the same name is not the set's to change
    const other = manifest('played', svc(90).replace('name: applied', 'name: played'));
    await sb.ok(['play', 'kube', other]);
    writeFileSync(f, `${pod}---\n${svc(81)}---\n${svc(90).replace('name: applied', 'name: played')}`);
    const clash = await sb.run(['kube', 'apply', f]);
    expect(String(clash.stderr)).toContain('service played (of apply set "applied") already exists, made by play kube');
    await sb.ok(['kube', 'down', other]);
    // gone from the files: pruned
    writeFileSync(f, pod);
    expect(String((await sb.ok(['kube', 'apply', f])).stdout)).toContain('service/applied pruned');
    expect(await json(['service', 'ls', '--format', 'json'])).toEqual([]);
    expect(claims()).toEqual([]);
    await sb.ok(['kube', 'down', f]);
  }, 120_000);

  it('examples/services/frontend-backend.yaml plays unmodified: the frontend reaches its backend by Service name and port', async () => {
    await sb.ok(['image', 'tag', 'localhost/bb:latest', 'localhost/busybox:latest']);
    const f = path.join(PROJECT, 'examples', 'services', 'frontend-backend.yaml');
    await sb.ok(['play', 'kube', '--wait-ready', f], { timeout: 120_000 });
    const [front] = await json(['service', 'inspect', 'frontend']);
    await until(async () => (await json(['service', 'inspect', 'backend']))[0].Endpoints.length, (n) => n === 2);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const body = await (await fetch(`http://${front.ClusterIP}/cgi-bin/index`, { signal: AbortSignal.timeout(5000) })).text();
      seen.add(body.trim());
    }
    expect(seen).toEqual(new Set(['backend says: backend-pod-0', 'backend says: backend-pod-1']));
    await sb.ok(['kube', 'down', f]);
    expect(await json(['service', 'ls', '--format', 'json'])).toEqual([]);
  }, 180_000);

  it('crash then reset: the rules, names and claims of a root are gone', async () => {
    const before = await iptables();
    const box = sandbox('peapod-svc3');
    try {
      await box.ok(['image', 'import', await busyboxRootfsTar(box.dir), 'bb']);
      await box.ok(['play', 'kube', manifest('crash', `${client('crashc').replace('bbudp', 'bb')}---
apiVersion: v1
kind: Service
metadata:
  name: crash
spec:
  selector: {app: none}
  ports:
    - {port: 80}
`, box)]);
      expect(claims(box)).toHaveLength(1);
      expect(await iptables()).not.toBe(before);
      // no down, and even the Service records lost (a crash at the worst moment): reset finds the
      // rules by the root's tag, the names by their prefix and the claims by the root
      rmSync(path.join(box.root, 'services'), { recursive: true, force: true });
      await box.ok(['system', 'reset', '--force']);
      expect(claims(box)).toEqual([]);
      expect(dnsEntries(box)).toEqual([]);
      expect(await iptables()).toBe(before);
    } finally {
      await box.destroy();
    }
    expect(await settledLeaks(box.dir)).toEqual([]);
  }, 120_000);
});
