import { describe, it, expect } from 'vitest';
import { renderServiceRules, chainsOf, spreadProbability, type RuleService } from '../../../engine/network/service-rules.js';
import { serviceEnv, serviceNames, type ServiceRecord } from '../../../engine/network/services.js';
import { planService } from '../../../src/kube/services.js';

const TAG = '0123abcd';
const web: RuleService = {
  key: 'default/web', vip: '10.96.0.1',
  ports: [{ name: 'http', protocol: 'tcp', port: 80, endpoints: [{ ip: '10.90.0.2', port: 8080 }, { ip: '10.90.0.3', port: 8080 }, { ip: '10.90.0.4', port: 8080 }] }],
};

describe('service rules (kube-proxy iptables mode)', () => {
  it('a Service with 3 endpoints: jumps, random spread, DNAT, masquerade, in one transaction', () => {
    const out = renderServiceRules(TAG, [web], '*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
    const c = chainsOf(TAG);
    const svc = c.svc('default/web', 'http/tcp/80');
    expect(out.startsWith('*nat\n')).toBe(true);
    expect(out).toContain(`:${c.services} - [0:0]`);
    expect(out).toContain(`-A PREROUTING -m comment --comment "peapod services ${TAG}" -j ${c.services}`);
    expect(out).toContain(`-A OUTPUT -m comment --comment "peapod services ${TAG}" -j ${c.services}`);
    expect(out).toContain(`-A POSTROUTING -m comment --comment "peapod services ${TAG}" -j ${c.post}`);
    expect(out).toContain(`-A ${c.services} -d 10.96.0.1/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j ${svc}`);
    const spread = out.split('\n').filter((l) => l.startsWith(`-A ${svc} `));
    expect(spread[0]).toContain('--probability 0.3333333333');
    expect(spread[1]).toContain('--probability 0.5000000000');
    expect(spread[2]).not.toContain('statistic');
    expect(out).toContain('-j DNAT --to-destination 10.90.0.4:8080');
    expect(out).toContain('--ctorigdst 10.96.0.1/32 -j MASQUERADE');
    expect(out).not.toContain('*filter');
    expect(spreadProbability(0, 3)).toBe('0.3333333333');
  });

  it('jumps already there are not added twice; stale chains of this root go; other roots are untouched', () => {
    const c = chainsOf(TAG);
    const saved = ['*nat', `:${c.services} - [0:0]`, `:PPD${TAG}-SVC-OLD - [0:0]`, ':PPDffffffff-SVC-X - [0:0]',
      `-A PREROUTING -m comment --comment "peapod services ${TAG}" -j ${c.services}`, 'COMMIT'].join('\n');
    const out = renderServiceRules(TAG, [web], saved);
    expect(out).not.toContain('-A PREROUTING');
    expect(out).toContain(`-X PPD${TAG}-SVC-OLD`);
    expect(out).not.toContain('PPDffffffff');
  });

  it('no Service left: every chain and jump of the root is removed; nothing of ours: nothing to do', () => {
    const c = chainsOf(TAG);
    const saved = ['*nat', `:${c.services} - [0:0]`, `:${c.post} - [0:0]`,
      `-A PREROUTING -m comment --comment "peapod services ${TAG}" -j ${c.services}`,
      `-A POSTROUTING -m comment --comment "peapod services ${TAG}" -j ${c.post}`, 'COMMIT'].join('\n');
    expect(renderServiceRules(TAG, [], saved)).toBe([
      '*nat', `-D PREROUTING -m comment --comment "peapod services ${TAG}" -j ${c.services}`,
      `-D POSTROUTING -m comment --comment "peapod services ${TAG}" -j ${c.post}`,
      `-F ${c.services}`, `-F ${c.post}`, `-X ${c.services}`, `-X ${c.post}`, 'COMMIT', ''].join('\n'));
    expect(renderServiceRules(TAG, [], '*nat\nCOMMIT\n')).toBe('');
  });

  it('sessionAffinity ClientIP uses the recent module; a port without endpoints is rejected in filter', () => {
    const out = renderServiceRules(TAG, [{ ...web, affinitySeconds: 10800 }, { key: 'default/empty', vip: '10.96.0.2', ports: [{ protocol: 'udp', port: 53, endpoints: [] }] }], '');
    expect(out).toMatch(/-m recent --rcheck --seconds 10800 --reap --name PPD0123abcd-SEP-\w+ --mask 255.255.255.255 --rsource -j PPD0123abcd-SEP-/);
    expect(out).toMatch(/-m recent --set --name PPD0123abcd-SEP-\w+ --mask 255.255.255.255 --rsource -m tcp -j DNAT/);
    expect(out).toContain('*filter');
    expect(out).toContain('-A PEAPOD-FW-0123abcd -d 10.96.0.2/32 -p udp -m udp --dport 53 -m comment --comment "default/empty has no endpoints" -j REJECT');
  });

  it('node ports jump from the services chain for local destinations to the same port chain, masquerade, and guard 127/8', () => {
    const c = chainsOf(TAG);
    const np: RuleService = { ...web, ports: [{ ...web.ports[0], nodePort: 30080 }] };
    const out = renderServiceRules(TAG, [np, { key: 'default/none', vip: '10.96.0.2', ports: [{ protocol: 'udp', port: 53, nodePort: 30053, endpoints: [] }] }], '');
    const svc = c.svc('default/web', 'http/tcp/80');
    const lines = out.split('\n');
    expect(lines).toContain(`-A ${c.services} -m comment --comment "peapod node ports" -m addrtype --dst-type LOCAL -j ${c.nodeports}`);
    // the node ports jump comes after every VIP rule of the services chain
    const inServices = lines.filter((l) => l.startsWith(`-A ${c.services} `));
    expect(inServices[inServices.length - 1]).toContain(`-j ${c.nodeports}`);
    expect(lines).toContain(`-A ${c.nodeports} -p tcp -m comment --comment "default/web:http node port" -m tcp --dport 30080 -j ${svc}`);
    expect(lines).toContain(`-A ${c.post} -p tcp -m comment --comment "default/web:http node port masquerade" -m conntrack --ctstate DNAT --ctproto tcp --ctorigdstport 30080 -j MASQUERADE`);
    expect(lines).toContain(`-A ${c.filter} -p udp -m addrtype --dst-type LOCAL -m udp --dport 30053 -m comment --comment "default/none node port has no endpoints" -j REJECT --reject-with icmp-port-unreachable`);
    expect(out).toContain('! -s 127.0.0.0/8 -d 127.0.0.0/8');
    expect(out).toContain(`-I INPUT 1 -m comment --comment "peapod services ${TAG}" -j ${c.filter}`);
    // Local: the host's own and the pods' clients are masqueraded, outside clients keep their address
    const local = renderServiceRules(TAG, [{ ...np, externalLocal: true }], '', { podSubnets: ['10.90.3.0/24', '1.2.3.0/24 -j ACCEPT'] });
    const masq = local.split('\n').filter((l) => l.includes('node port masquerade'));
    expect(masq).toEqual([
      `-A ${c.post} -m addrtype --src-type LOCAL -p tcp -m comment --comment "default/web:http node port masquerade" -m conntrack --ctstate DNAT --ctproto tcp --ctorigdstport 30080 -j MASQUERADE`,
      `-A ${c.post} -s 10.90.3.0/24 -p tcp -m comment --comment "default/web:http node port masquerade" -m conntrack --ctstate DNAT --ctproto tcp --ctorigdstport 30080 -j MASQUERADE`,
    ]);
    expect(() => renderServiceRules(TAG, [{ ...web, ports: [{ ...web.ports[0], nodePort: 70000 }] }], '')).toThrow(/refusing node port/);
  });

  it.each([
    { key: 'default/web -j ACCEPT' },
    { key: 'default/web"' },
    { vip: '10.96.0.1 -j DROP' },
  ])('refuses what could become an iptables argument: %o', (bad) => {
    expect(() => renderServiceRules(TAG, [{ ...web, ...bad }], '')).toThrow(/refusing/);
  });
});

describe('service names and variables', () => {
  it('names as CoreDNS has them', () => {
    expect(serviceNames({ name: 'web', namespace: 'shop' })).toEqual(['web', 'web.shop', 'web.shop.svc', 'web.shop.svc.cluster.local']);
  });
  it('the kubelet\'s variables', () => {
    const rec = (name: string, clusterIP: string, ports: any[]): ServiceRecord => ({ id: name, clusterIP, created: '', spec: { name, namespace: 'default', type: 'ClusterIP', selector: {}, ports } });
    expect(serviceEnv([
      rec('redis-leader', '10.96.0.9', [{ name: 'redis', protocol: 'tcp', port: 6379, targetPort: 6379 }, { name: 'metrics', protocol: 'udp', port: 9121, targetPort: 9121 }]),
      rec('headless', 'None', [{ protocol: 'tcp', port: 80, targetPort: 80 }]),
    ])).toEqual([
      'REDIS_LEADER_SERVICE_HOST=10.96.0.9', 'REDIS_LEADER_SERVICE_PORT=6379', 'REDIS_LEADER_SERVICE_PORT_REDIS=6379', 'REDIS_LEADER_SERVICE_PORT_METRICS=9121',
      'REDIS_LEADER_PORT=tcp://10.96.0.9:6379',
      'REDIS_LEADER_PORT_6379_TCP=tcp://10.96.0.9:6379', 'REDIS_LEADER_PORT_6379_TCP_PROTO=tcp', 'REDIS_LEADER_PORT_6379_TCP_PORT=6379', 'REDIS_LEADER_PORT_6379_TCP_ADDR=10.96.0.9',
      'REDIS_LEADER_PORT_9121_UDP=udp://10.96.0.9:9121', 'REDIS_LEADER_PORT_9121_UDP_PROTO=udp', 'REDIS_LEADER_PORT_9121_UDP_PORT=9121', 'REDIS_LEADER_PORT_9121_UDP_ADDR=10.96.0.9',
    ]);
  });
});

describe('planService', () => {
  const svc = (spec: any, metadata: any = { name: 'web' }) => planService({ apiVersion: 'v1', kind: 'Service', metadata, spec }, 'f.yaml');
  it('defaults: ClusterIP, TCP, targetPort = port, namespace default', () => {
    const r = svc({ selector: { app: 'web' }, ports: [{ port: 80 }] });
    expect(r.problems).toEqual([]);
    expect(r.service!.spec).toMatchObject({ name: 'web', namespace: 'default', type: 'ClusterIP', selector: { app: 'web' }, ports: [{ protocol: 'tcp', port: 80, targetPort: 80 }] });
  });
  it.each([
    { name: 'bad name', meta: { name: 'Web_1' }, spec: { selector: { a: 'b' }, ports: [{ port: 80 }] }, path: ['metadata', 'name'] },
    { name: 'injected targetPort', spec: { selector: { a: 'b' }, ports: [{ port: 80, targetPort: 'http -j X' }] }, path: ['spec', 'ports', 0, 'targetPort'] },
    { name: 'selector value', spec: { selector: { a: 'b c' }, ports: [{ port: 80 }] }, path: ['spec', 'selector', 'a'] },
    { name: 'clusterIP not an address', spec: { clusterIP: '10.96.0.1 -j DROP', selector: { a: 'b' }, ports: [{ port: 80 }] }, path: ['spec', 'clusterIP'] },
    { name: 'ExternalName without a name', spec: { type: 'ExternalName' }, path: ['spec', 'externalName'] },
    { name: 'ExternalName with ;', spec: { type: 'ExternalName', externalName: 'a;b' }, path: ['spec', 'externalName'] },
    { name: 'ExternalName starting with -', spec: { type: 'ExternalName', externalName: '-x' }, path: ['spec', 'externalName'] },
    { name: 'ExternalName of 300 characters', spec: { type: 'ExternalName', externalName: `${'a'.repeat(60)}.`.repeat(5) }, path: ['spec', 'externalName'] },
    { name: 'ExternalName with a 64-character label', spec: { type: 'ExternalName', externalName: `${'a'.repeat(64)}.example` }, path: ['spec', 'externalName'] },
    { name: 'ExternalName with a newline', spec: { type: 'ExternalName', externalName: 'a.example\n10.0.0.1 x' }, path: ['spec', 'externalName'] },
    { name: 'ExternalName upper case', spec: { type: 'ExternalName', externalName: 'DB.Example' }, path: ['spec', 'externalName'] },
    { name: 'externalName on a ClusterIP Service', spec: { externalName: 'x.example', selector: { a: 'b' }, ports: [{ port: 80 }] }, path: ['spec', 'externalName'] },
    { name: 'nodePort below the range', spec: { type: 'NodePort', selector: { a: 'b' }, ports: [{ port: 80, nodePort: 29999 }] }, path: ['spec', 'ports', 0, 'nodePort'] },
    { name: 'nodePort above the range', spec: { type: 'NodePort', selector: { a: 'b' }, ports: [{ port: 80, nodePort: 32768 }] }, path: ['spec', 'ports', 0, 'nodePort'] },
    { name: 'nodePort on ClusterIP', spec: { selector: { a: 'b' }, ports: [{ port: 80, nodePort: 30080 }] }, path: ['spec', 'ports', 0, 'nodePort'] },
    { name: 'nodePort twice', spec: { type: 'NodePort', selector: { a: 'b' }, ports: [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 81, nodePort: 30080 }] }, path: ['spec', 'ports', 1, 'nodePort'] },
    { name: 'externalTrafficPolicy unknown', spec: { type: 'NodePort', externalTrafficPolicy: 'Nearest', selector: { a: 'b' }, ports: [{ port: 80 }] }, path: ['spec', 'externalTrafficPolicy'] },
    { name: 'unnamed ports', spec: { selector: { a: 'b' }, ports: [{ port: 80 }, { port: 81 }] }, path: ['spec', 'ports', 0, 'name'] },
    { name: 'duplicate port', spec: { selector: { a: 'b' }, ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }, path: ['spec', 'ports', 1, 'port'] },
  ])('$name is an error at its path', ({ meta, spec, path }) => {
    const r = svc(spec, meta);
    expect(r.service).toBeUndefined();
    expect(r.problems.filter((p) => p.severity === 'error').map((p) => p.path)).toContainEqual(path);
  });
  it('ExternalName: the name kept without its trailing dot, no cluster IP, no ports needed; Local policy kept', () => {
    const r = svc({ type: 'ExternalName', externalName: 'db.example.' });
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.service!.spec).toMatchObject({ type: 'ExternalName', externalName: 'db.example', selector: {}, ports: [] });
    expect(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { a: 'b' }, ports: [{ port: 80 }] }).service!.spec.externalTrafficPolicy).toBe('Local');
  });
  it('headless, affinity, publishNotReadyAddresses', () => {
    const r = svc({ clusterIP: 'None', selector: { a: 'b' }, sessionAffinity: 'ClientIP', publishNotReadyAddresses: true });
    expect(r.service!.spec).toMatchObject({ headless: true, affinitySeconds: 10800, publishNotReadyAddresses: true, ports: [] });
  });
});
