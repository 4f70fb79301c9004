import { describe, it, expect } from 'vitest';
import { ipToInt, intToIp, parseCidr, overlaps } from '../../engine/network/networks.js';
import { parsePublish } from '../../src/kube/plan.js';

describe('IPv4 helpers', () => {
  it.each([
    { ip: '10.90.0.1', n: 0x0a5a0001 },
    { ip: '255.255.255.255', n: 0xffffffff },
    { ip: '0.0.0.0', n: 0 },
  ])('$ip', ({ ip, n }) => {
    expect(ipToInt(ip)).toBe(n);
    expect(intToIp(n)).toBe(ip);
  });
  it('rejects bad CIDRs with the reason', () => {
    expect(() => parseCidr('10.90.0.1/24')).toThrow(/bits set outside the prefix/);
    expect(() => parseCidr('10.90.0.0/31')).toThrow(/prefix between/);
    expect(() => ipToInt('10.0.0')).toThrow(/invalid IPv4/);
  });
  it.each([
    { a: '10.90.0.0/24', b: '10.90.0.128/25', out: true },
    { a: '10.90.0.0/24', b: '10.90.1.0/24', out: false },
    { a: '10.88.0.0/16', b: '10.88.200.0/24', out: true },
  ])('$a overlaps $b: $out', ({ a, b, out }) => expect(overlaps(a, b)).toBe(out));
});

describe('--publish', () => {
  it.each([
    { spec: '8080', out: { hostIP: '', hostPort: 8080, containerPort: 8080, protocol: 'tcp' } },
    { spec: '18080:8080', out: { hostIP: '', hostPort: 18080, containerPort: 8080, protocol: 'tcp' } },
    { spec: '127.0.0.1:18080:8080/udp', out: { hostIP: '127.0.0.1', hostPort: 18080, containerPort: 8080, protocol: 'udp' } },
  ])('$spec', ({ spec, out }) => expect(parsePublish(spec)).toEqual(out));
  it.each(['x', '70000', '1:2:3:4', '8080/icmp'])('rejects %s', (spec) => expect(() => parsePublish(spec)).toThrow(/invalid --publish/));
});
