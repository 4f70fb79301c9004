import { describe, it, expect } from 'vitest';
import { parseManifests } from '../../../src/kube/parse.js';
import { planKube } from '../../../src/kube/plan.js';
import { formatDiagnostic } from '../../../src/kube/diagnostics.js';
import { parseStaticIPs } from '../../../src/kube/plan-network.js';
import { staticAddressProblem, isIPv4 } from '../../../engine/network/address.js';

const pod = (name: string, ann?: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
${ann === undefined ? '' : `  annotations:\n    peapod.io/ip: ${JSON.stringify(ann)}\n`}spec:
  containers: [{name: c, image: localhost/bb:latest}]
`;
const plan = (yaml: string, opts = {}) => planKube(parseManifests(yaml, 'p.yaml').docs, opts);
const errors = (p: ReturnType<typeof plan>) => p.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);

describe('static addresses', () => {
  const net = { name: 'lan', subnet: '10.93.7.0/24', gateway: '10.93.7.1' };
  it.each([
    ['10.93.7.9', undefined],
    ['10.93.8.9', 'outside the subnet 10.93.7.0/24 of network lan'],
    ['10.93.7.0', 'subnet address'],
    ['10.93.7.255', 'broadcast address'],
    ['10.93.7.1', 'gateway'],
    ['0.0.0.0', 'outside the subnet'],
    ['010.93.7.9', 'not an IPv4 address'],
    ['10.93.7', 'not an IPv4 address'],
  ])('%s', (ip, problem) => {
    const p = staticAddressProblem(net, ip);
    if (problem) expect(p).toContain(problem);
    else expect(p).toBeUndefined();
  });

  it('parses the annotation strictly', () => {
    expect(parseStaticIPs('10.1.2.3')).toEqual({ ips: ['10.1.2.3'] });
    expect(parseStaticIPs(' 10.1.2.3 ')).toEqual({ ips: ['10.1.2.3'] });
    expect(parseStaticIPs('').problem).toMatch(/empty/);
    expect(parseStaticIPs('10.1.2.3,10.1.2.4').problem).toMatch(/more than one/);
    expect(parseStaticIPs('x'.repeat(1000)).problem).toBe(`"${'x'.repeat(64)}..." is not an IPv4 address`);
    expect(parseStaticIPs(7).problem).toMatch(/must be a string/);
    expect(isIPv4('1.2.3.4\n')).toBe(false);
  });

  it('plans the annotation into the pod, and --ip over it in order', () => {
    expect(plan(pod('a', '10.93.7.9')).pods[0].pod.ips).toEqual(['10.93.7.9']);
    const p = plan(`${pod('a', '10.93.7.9')}---\n${pod('b')}---\n${pod('c')}`, { ips: ['10.93.7.20', '10.93.7.21'] });
    expect(p.pods.map((x) => x.pod.ips)).toEqual([['10.93.7.20'], ['10.93.7.21'], undefined]);
    expect(p.diagnostics.map((d) => d.message)).toContain('2 --ip given for 3 pods: no more static IPs left, pod c and later ones get a free address');
  });

  it('a malformed annotation is an error at its position', () => {
    expect(errors(plan(pod('a', 'nope')))).toEqual(['p.yaml:6:5: metadata.annotations["peapod.io/ip"]: static IP "nope" is not an IPv4 address']);
  });

  it('the same address for two pods is an error', () => {
    expect(errors(plan(`${pod('a', '10.93.7.9')}---\n${pod('b', '10.93.7.9')}`)).join()).toContain('static IP 10.93.7.9 is given to both pod "a" and pod "b"');
  });
});
