import { describe, expect, it } from 'vitest';
import { hostsFile, localResolverSource, parseHosts, parseResolvConf, resolvConf, type HostsOptions, type ResolvOptions } from '../../../engine/runtime/hostfiles.js';

describe('hostsFile', () => {
  const cases: Array<{ name: string; opts: HostsOptions; expected: string }> = [
    {
      name: 'no address: hostname on 127.0.0.1',
      opts: { hostname: 'web' },
      expected: '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\tweb\n',
    },
    {
      name: 'pod address with hostname and more names',
      opts: { hostname: 'web', ip: '10.90.0.5', names: ['abc123-infra', 'web'] },
      expected: '127.0.0.1\tlocalhost\n::1\tlocalhost\n10.90.0.5\tweb abc123-infra\n',
    },
    {
      name: 'extra entries first, and they win a name',
      opts: { hostname: 'web', ip: '10.90.0.5', extra: [{ ip: '10.0.0.9', names: ['db', 'db.local'] }, { ip: '10.0.0.10', names: ['web'] }] },
      expected: '10.0.0.9\tdb db.local\n10.0.0.10\tweb\n127.0.0.1\tlocalhost\n::1\tlocalhost\n',
    },
    {
      // What Podman 4.3.1 wrote on this host for `podman create --network none --name c1` (host /etc/hosts as base).
      name: 'Podman\'s file with the host /etc/hosts as base',
      opts: { hostname: '72225dcb31db', names: ['c1'], base: '127.0.0.1 localhost\n127.0.0.1 runsc\n127.0.0.1 vm\n', hostContainersInternal: '192.0.2.2' },
      expected: '127.0.0.1\tlocalhost\n127.0.0.1\trunsc\n127.0.0.1\tvm\n192.0.2.2\thost.containers.internal\n127.0.0.1\t72225dcb31db c1\n',
    },
    {
      name: 'base comments and blank lines dropped, IPv6 names kept',
      opts: { hostname: 'h', base: '# static\n\n::1 localhost ip6-localhost ip6-loopback # lo\nff02::1 ip6-allnodes\n1.2.3.4\n' },
      expected: '::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\n127.0.0.1\th\n',
    },
  ];
  it.each(cases)('$name', ({ opts, expected }) => {
    expect(hostsFile(opts)).toBe(expected);
  });

  it('parses hosts text', () => {
    expect(parseHosts('1.1.1.1 a b # c\n#x\n  2.2.2.2\tz\n')).toEqual([{ ip: '1.1.1.1', names: ['a', 'b'] }, { ip: '2.2.2.2', names: ['z'] }]);
  });
});

describe('resolvConf', () => {
  const HOST = '# generated\nsearch example.com corp.example\nnameserver 10.255.255.53\nnameserver 127.0.0.53\noptions edns0 trust-ad\n';
  const cases: Array<{ name: string; host: string; opts?: ResolvOptions; expected: string }> = [
    {
      name: 'host file with a stub resolver: the stub dropped',
      host: HOST,
      expected: 'search example.com corp.example\nnameserver 10.255.255.53\noptions edns0 trust-ad\n',
    },
    {
      name: 'only localhost nameservers: Google fallback',
      host: 'nameserver 127.0.0.53\nnameserver ::1\nsearch lan\n',
      expected: 'search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n',
    },
    {
      name: 'only localhost nameservers with IPv6: both fallbacks',
      host: 'nameserver 127.0.1.1\n',
      opts: { ipv6: true },
      expected: 'nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n',
    },
    {
      name: 'IPv6 nameservers dropped without IPv6',
      host: 'nameserver fd00::1\nnameserver 192.168.1.1\n',
      expected: 'nameserver 192.168.1.1\n',
    },
    {
      name: 'IPv6 nameservers kept with IPv6',
      host: 'nameserver fd00::1\nnameserver 192.168.1.1\n',
      opts: { ipv6: true },
      expected: 'nameserver fd00::1\nnameserver 192.168.1.1\n',
    },
    {
      name: 'empty host file: fallback',
      host: '',
      expected: 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n',
    },
    {
      name: 'host network: the host file as it is (parsed)',
      host: HOST,
      opts: { hostNetwork: true },
      expected: 'search example.com corp.example\nnameserver 10.255.255.53\nnameserver 127.0.0.53\noptions edns0 trust-ad\n',
    },
    {
      name: 'nameservers override, host search and options kept',
      host: HOST,
      opts: { nameservers: ['10.90.0.1'] },
      expected: 'search example.com corp.example\nnameserver 10.90.0.1\noptions edns0 trust-ad\n',
    },
    {
      name: 'everything overridden',
      host: HOST,
      opts: { nameservers: ['1.1.1.1'], searches: ['svc.local'], options: ['ndots:5'] },
      expected: 'search svc.local\nnameserver 1.1.1.1\noptions ndots:5\n',
    },
    {
      name: 'searches ["."]: no search line at all',
      host: HOST,
      opts: { searches: ['.'] },
      expected: 'nameserver 10.255.255.53\noptions edns0 trust-ad\n',
    },
    {
      name: 'keepHostServers: given first, then the host\'s',
      host: HOST,
      opts: { nameservers: ['10.90.0.1'], searches: ['dns.peapod'], keepHostServers: true },
      expected: 'search dns.peapod example.com corp.example\nnameserver 10.90.0.1\nnameserver 10.255.255.53\noptions edns0 trust-ad\n',
    },
    {
      name: 'the kubelet\'s ClusterFirst: cluster domains first, the host\'s searches kept, its options not',
      host: HOST,
      opts: { nameservers: ['10.90.0.1'], searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'dns.podman'], options: ['ndots:5'], keepHostServers: true, hostOptions: false },
      expected: 'search shop.svc.cluster.local svc.cluster.local cluster.local dns.podman example.com corp.example\nnameserver 10.90.0.1\nnameserver 10.255.255.53\noptions ndots:5\n',
    },
    {
      name: 'last search and options lines win, comments ignored',
      host: 'search a\nsearch b c # old\nnameserver 9.9.9.9 # quad9\noptions x\noptions y\n',
      expected: 'search b c\nnameserver 9.9.9.9\noptions y\n',
    },
  ];
  it.each(cases)('$name', ({ host, opts, expected }) => {
    expect(resolvConf(host, opts)).toBe(expected);
  });

  it('parses resolv.conf', () => {
    expect(parseResolvConf('  nameserver 1.2.3.4 \nnameserver bogus\nsearch x\n')).toEqual({ nameservers: ['1.2.3.4'], searches: ['x'], options: [] });
  });

  const stubs: Array<{ name: string; host: string; expected: string | undefined }> = [
    { name: 'systemd-resolved', host: 'nameserver 127.0.0.53\noptions edns0\n', expected: '/run/systemd/resolve/resolv.conf' },
    { name: 'NetworkManager dnsmasq', host: 'nameserver 127.0.0.1\n', expected: '/run/NetworkManager/no-stub-resolv.conf' },
    { name: 'a real server', host: 'nameserver 10.255.255.53\n', expected: undefined },
    { name: 'stub among others', host: 'nameserver 127.0.0.53\nnameserver 1.1.1.1\n', expected: undefined },
  ];
  it.each(stubs)('localResolverSource: $name', ({ host, expected }) => {
    expect(localResolverSource(host)).toBe(expected);
  });
});
