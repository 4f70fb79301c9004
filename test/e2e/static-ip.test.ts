// Issue 22, static addresses: the peapod.io/ip annotation, play kube --ip, pod create --ip, their
// round trip through generate kube and kube down + play, and every way an address can be wrong.
// Traffic goes only to addresses on the network this test creates.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { sandbox, requireRoot, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';

let sb: Sandbox;
let iptablesBefore: string;
let subnet = '';
let prefix = '';

const iptables = async () => (await execa('iptables-save')).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n');
const json = async (args: string[]) => JSON.parse(String((await sb.ok(args)).stdout));
const ipOf = async (ctr: string) => String((await sb.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', ctr])).stdout);

beforeAll(async () => {
  requireRoot();
  iptablesBefore = await iptables();
  sb = sandbox('peapod-staticip');
  await sb.ok(['image', 'import', await busyboxRootfsTar(sb.dir), 'bb']);
  // a network of the test's own: its subnet is whatever is free on this host
  await sb.ok(['network', 'create', 'lan']);
  subnet = (await json(['network', 'inspect', 'lan']))[0].subnets[0].subnet;
  prefix = subnet.split('.').slice(0, 3).join('.');
  expect(subnet).toMatch(/\/24$/);
});

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

function manifest(name: string, body: string): string {
  const f = path.join(sb.dir, `${name}.yaml`);
  writeFileSync(f, body);
  return f;
}

const webPod = (name: string, ip?: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
${ip === undefined ? '' : `  annotations:\n    peapod.io/ip: ${JSON.stringify(ip)}\n`}spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: srv
      image: localhost/bb:latest
      command: ["sh", "-c", "mkdir -p /www && echo hello-from-${name} > /www/index.html && exec httpd -f -p 8080 -h /www"]
`;

async function wgetFrom(ctr: string, url: string): Promise<string> {
  let body = '';
  for (let i = 0; i < 50 && !body; i++) {
    body = String((await sb.run(['exec', ctr, 'wget', '-q', '-O', '-', url])).stdout);
    if (!body) await new Promise((res) => setTimeout(res, 100));
  }
  return body;
}

describe('static IP of a pod', () => {
  it('the annotation is the pod\'s address, survives kube down + play, and generate kube writes it back', async () => {
    const ip = `${prefix}.77`;
    const f = manifest('fixed', webPod('fixed', ip));
    await sb.ok(['play', 'kube', '--network', 'lan', f]);
    expect(await ipOf('fixed-srv')).toBe(ip);
    expect((await json(['pod', 'inspect', 'fixed'])).InfraConfig.StaticIP).toBe(ip);
    // another pod reaches it there
    await sb.ok(['play', 'kube', '--network', 'lan', manifest('client', webPod('client'))]);
    expect(await wgetFrom('client-srv', `http://${ip}:8080/`)).toBe('hello-from-fixed');
    // the client did not get the next free address by chance only: kube down, a dynamic pod first, then play again
    await sb.ok(['kube', 'down', f]);
    await sb.ok(['play', 'kube', '--network', 'lan', manifest('other', webPod('other'))]);
    await sb.ok(['play', 'kube', '--network', 'lan', f]);
    expect(await ipOf('fixed-srv')).toBe(ip);
    // round trip: the generated YAML carries the annotation, and plays to the same address
    const yaml = String((await sb.ok(['generate', 'kube', 'fixed'])).stdout);
    expect(yaml).toContain(`peapod.io/ip: ${ip}`);
    await sb.ok(['pod', 'rm', '-f', '-t', '0', 'fixed']);
    await sb.ok(['play', 'kube', '--network', 'lan', manifest('generated', yaml)]);
    expect(await ipOf('fixed-srv')).toBe(ip);
  });

  it('play kube --ip gives the pods their addresses in order, over the annotation, and generate kube keeps them', async () => {
    const f = manifest('two', `${webPod('one', `${prefix}.90`)}---\n${webPod('two')}`);
    await sb.ok(['play', 'kube', '--network', 'lan', '--ip', `${prefix}.91`, '--ip', `${prefix}.92`, f]);
    expect(await ipOf('one-srv')).toBe(`${prefix}.91`);
    expect(await ipOf('two-srv')).toBe(`${prefix}.92`);
    expect(String((await sb.ok(['generate', 'kube', 'two'])).stdout)).toContain(`peapod.io/ip: ${prefix}.92`);
    // a static address asked for by a pod that is not running yet is not handed to another pod
    await sb.ok(['pod', 'create', '--network', 'lan', '--ip', `${prefix}.2`, 'waiting']);
    await sb.ok(['play', 'kube', '--network', 'lan', manifest('dyn', webPod('dyn'))]);
    expect(await ipOf('dyn-srv')).not.toBe(`${prefix}.2`);
  });

  it('a wrong or taken address is an error naming it, and nothing is created', async () => {
    await sb.ok(['play', 'kube', '--network', 'lan', manifest('holder', webPod('holder', `${prefix}.40`))]);
    const cases: Array<[string, RegExp]> = [
      ['10.254.254.7', new RegExp(`10\\.254\\.254\\.7 is outside the subnet ${subnet.replace(/\./g, '\\.')} of network lan`)],
      [`${prefix}.1`, /is the gateway of network lan/],
      [`${prefix}.255`, /is the broadcast address of network lan/],
      [`${prefix}.0`, /is the subnet address of network lan/],
      ['0.0.0.0', /0\.0\.0\.0 is outside the subnet/],
      [`${prefix}.40`, new RegExp(`IP address ${prefix.replace(/\./g, '\\.')}\\.40 is already in use by pod holder on network lan`)],
      [`${prefix}.300`, /static IP ".*\.300" is not an IPv4 address/],
      ['10.0.0.1/24', /"10\.0\.0\.1\/24" is not an IPv4 address/],
      ['../../etc/passwd', /"\.\.\/\.\.\/etc\/passwd" is not an IPv4 address/],
      [`${prefix}.5,${prefix}.6`, /more than one IPv4 address/],
      ['', /static IP is empty/],
      ['1'.repeat(5000), /"1{64}\.\.\." is not an IPv4 address/],
    ];
    for (const [ip, msg] of cases) {
      const r = await sb.run(['play', 'kube', '--network', 'lan', manifest('bad', webPod('bad', ip))]);
      expect(r.exitCode, `ip ${ip.slice(0, 20)}`).toBe(125);
      expect(String(r.stderr), `ip ${ip.slice(0, 20)}`).toMatch(msg);
      // the annotation's position is named for what the YAML alone gets wrong
      if (/not an IPv4|empty|more than one/.test(msg.source)) expect(String(r.stderr)).toMatch(/bad\.yaml:\d+:\d+: metadata\.annotations/);
      expect(String(r.stderr).length).toBeLessThan(2000);
      expect((await json(['pod', 'ps', '--format', 'json'])).map((p: any) => p.Name)).toEqual(['holder']);
    }
    // the same checks for --ip and pod create --ip
    let r = await sb.run(['play', 'kube', '--network', 'lan', '--ip', 'not-an-ip', manifest('bad', webPod('bad'))]);
    expect(String(r.stderr)).toMatch(/invalid --ip "not-an-ip": static IP "not-an-ip" is not an IPv4 address/);
    r = await sb.run(['pod', 'create', '--network', 'lan', '--ip', `${prefix}.40`, 'p2']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/already in use by pod holder/);
    r = await sb.run(['pod', 'create', '--network', 'host', '--ip', `${prefix}.41`, 'p3']);
    expect(String(r.stderr)).toMatch(/cannot have a static IP/);
    // two replicas cannot share one address
    r = await sb.run(['play', 'kube', '--network', 'lan', manifest('deploy', `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {peapod.io/ip: "${prefix}.60"}
    spec:
      containers: [{name: srv, image: localhost/bb:latest, command: [sleep, "100"]}]
`)]);
    expect(String(r.stderr)).toMatch(new RegExp(`Deployment web: its pods cannot all have the static IP ${prefix.replace(/\./g, '\\.')}\\.60`));
    expect((await json(['pod', 'ps', '--format', 'json'])).map((p: any) => p.Name)).toEqual(['holder']);
  });
});
