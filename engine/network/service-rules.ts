// The kernel side of Services, as kube-proxy's iptables mode writes it, rendered as input for
// `iptables-restore --noflush` (one transaction: the rules of a root change all at once or not at
// all). Pure: an iptables-save dump and the desired Services in, the restore text out.
//
// Every chain carries the root's tag, so several peapod roots on one host never touch each
// other's rules:
//   nat    PEAPOD-SVCS-<tag>      jumped from PREROUTING and OUTPUT: VIP:port -> the port's chain
//          PPD<tag>-SVC-<h>       one per Service port: sessionAffinity (recent), then a random
//                                 spread (statistic) over the endpoint chains
//          PPD<tag>-SEP-<h>       one per endpoint: DNAT to podIP:targetPort
//          PPD<tag>-NODEPORTS     jumped last from PEAPOD-SVCS for a local destination (kube-proxy's
//                                 KUBE-NODEPORTS): nodePort -> the same port chain as the VIP
//          PEAPOD-POST-<tag>      jumped from POSTROUTING: masquerade what was DNATed to an endpoint,
//                                 so replies come back through the host (pod to pod on one bridge,
//                                 a pod reaching itself through its Service, 127.0.0.1:nodePort);
//                                 externalTrafficPolicy Local: a nodePort's clients from outside the
//                                 host keep their address
//   filter PEAPOD-FW-<tag>        jumped from INPUT, OUTPUT and FORWARD: a Service port without
//                                 endpoints is refused at once (REJECT), as kube-proxy does, instead
//                                 of the packet going to the VIP through the default route; with
//                                 node ports (route_localnet on the bridges) packets for 127/8 that
//                                 were not DNATed by us are dropped (kube-proxy's CVE-2020-8558 rule)
// Names, comments and addresses come from validated records only; render re-checks them anyway so
// that nothing a manifest says can become an iptables argument.
import { createHash } from 'node:crypto';

/** The range nodePorts come from (the kube-apiserver's default --service-node-port-range). */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

export type ServiceProtocol = 'tcp' | 'udp' | 'sctp';

/** One Service as the rules see it: its VIP and, per port, the endpoints (podIP:targetPort). */
export interface RuleService {
  /** namespace/name */
  key: string;
  vip: string;
  /** sessionAffinity ClientIP: seconds a client sticks to its endpoint */
  affinitySeconds?: number;
  /** externalTrafficPolicy Local: node port traffic from outside the host is not masqueraded */
  externalLocal?: boolean;
  ports: Array<{ name?: string; protocol: ServiceProtocol; port: number; nodePort?: number; endpoints: Array<{ ip: string; port: number }> }>;
}

/** Facts of the host the rules need: the pod subnets of the root (Local node ports masquerade pod clients). */
export interface RuleContext { podSubnets?: string[] }
const CIDR = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/([89]|[12]\d|3[0-2])$/;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const COMMENT_SAFE = /^[a-z0-9][a-z0-9./:-]*$/;
const TAG = /^[0-9a-f]{8}$/;

const hash = (s: string, n = 10) => createHash('sha256').update(s).digest('hex').slice(0, n).toUpperCase();

/** The tag of a root's chains: the start of a hash of its path. */
export function rootTag(root: string): string {
  return createHash('sha256').update(root).digest('hex').slice(0, 8);
}

export function chainsOf(tag: string) {
  if (!TAG.test(tag)) throw new Error(`invalid root tag ${tag}`);
  return {
    services: `PEAPOD-SVCS-${tag}`,
    post: `PEAPOD-POST-${tag}`,
    filter: `PEAPOD-FW-${tag}`,
    nodeports: `PPD${tag}-NODEPORTS`,
    svc: (key: string, port: string) => `PPD${tag}-SVC-${hash(`${key}\0${port}`)}`,
    sep: (key: string, port: string, ep: string) => `PPD${tag}-SEP-${hash(`${key}\0${port}\0${ep}`)}`,
    /** every chain of this root in a dump */
    isOurs: (chain: string) => chain === `PEAPOD-SVCS-${tag}` || chain === `PEAPOD-POST-${tag}` || chain === `PEAPOD-FW-${tag}` || chain.startsWith(`PPD${tag}-`),
  };
}

function check(s: RuleService): void {
  if (!COMMENT_SAFE.test(s.key)) throw new Error(`refusing service key ${JSON.stringify(s.key)} in iptables rules`);
  if (!IPV4.test(s.vip)) throw new Error(`refusing address ${JSON.stringify(s.vip)} in iptables rules`);
  if (s.affinitySeconds !== undefined && !(Number.isInteger(s.affinitySeconds) && s.affinitySeconds > 0 && s.affinitySeconds <= 86400)) throw new Error(`refusing affinity timeout ${s.affinitySeconds}`);
  for (const p of s.ports) {
    if (!['tcp', 'udp', 'sctp'].includes(p.protocol)) throw new Error(`refusing protocol ${JSON.stringify(p.protocol)}`);
    if (!(Number.isInteger(p.port) && p.port > 0 && p.port < 65536)) throw new Error(`refusing port ${p.port}`);
    if (p.nodePort !== undefined && !(Number.isInteger(p.nodePort) && p.nodePort > 0 && p.nodePort < 65536)) throw new Error(`refusing node port ${p.nodePort}`);
    if (p.name !== undefined && !COMMENT_SAFE.test(p.name)) throw new Error(`refusing port name ${JSON.stringify(p.name)}`);
    for (const e of p.endpoints) {
      if (!IPV4.test(e.ip) || !(Number.isInteger(e.port) && e.port > 0 && e.port < 65536)) throw new Error(`refusing endpoint ${JSON.stringify(e)}`);
    }
  }
}

/** A dump's tables: table -> chains declared and rules (`-A ...` lines). */
function parseSave(saved: string): Map<string, { chains: Set<string>; rules: string[] }> {
  const out = new Map<string, { chains: Set<string>; rules: string[] }>();
  let cur: { chains: Set<string>; rules: string[] } | undefined;
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) {
      cur = { chains: new Set(), rules: [] };
      out.set(line.slice(1).trim(), cur);
    } else if (cur && line.startsWith(':')) {
      cur.chains.add(line.slice(1).split(' ')[0]);
    } else if (cur && line.startsWith('-A ')) {
      cur.rules.push(line);
    }
  }
  return out;
}

const JUMP_COMMENT = (tag: string) => `peapod services ${tag}`;

/**
 * The iptables-restore --noflush input that makes a root's Service rules what `services` says,
 * given the current `iptables-save` dump (nat and filter tables). Empty services: every chain and
 * jump of the root is removed. Returns '' when there is nothing of ours to write or remove.
 */
export function renderServiceRules(tag: string, services: readonly RuleService[], saved: string, ctx: RuleContext = {}): string {
  const c = chainsOf(tag);
  services.forEach(check);
  const podSubnets = (ctx.podSubnets ?? []).filter((x) => CIDR.test(x));
  const dump = parseSave(saved);
  const nat = dump.get('nat') ?? { chains: new Set<string>(), rules: [] };
  const filter = dump.get('filter') ?? { chains: new Set<string>(), rules: [] };
  const comment = JUMP_COMMENT(tag);
  const jumpRule = (chain: string, target: string) => `-A ${chain} -m comment --comment "${comment}" -j ${target}`;
  const hasRule = (t: { rules: string[] }, rule: string) => t.rules.includes(rule);
  const ourJumps = (t: { rules: string[] }) => t.rules.filter((r) => {
    const m = /^-A (\S+) .*-j (\S+)$/.exec(r);
    return m && !c.isOurs(m[1]) && c.isOurs(m[2]);
  });

  const natOut: string[] = [];
  const filterOut: string[] = [];
  if (!services.length) {
    const natChains = [...nat.chains].filter(c.isOurs);
    const filterChains = [...filter.chains].filter(c.isOurs);
    if (natChains.length) natOut.push(...ourJumps(nat).map((r) => `-D ${r.slice(3)}`), ...natChains.map((x) => `-F ${x}`), ...natChains.map((x) => `-X ${x}`));
    if (filterChains.length) filterOut.push(...ourJumps(filter).map((r) => `-D ${r.slice(3)}`), ...filterChains.map((x) => `-F ${x}`), ...filterChains.map((x) => `-X ${x}`));
  } else {
    const want = new Set<string>([c.services, c.post]);
    const rules: string[] = [];
    const post: string[] = [];
    const reject: string[] = [];
    const nodeRules: string[] = [];
    let nodePorts = false;
    for (const s of services) {
      post.push(`-A ${c.post} -m comment --comment "${s.key} masquerade" -m conntrack --ctstate DNAT --ctorigdst ${s.vip}/32 -j MASQUERADE`);
      for (const p of s.ports) {
        const portKey = `${p.name ?? ''}/${p.protocol}/${p.port}`;
        const label = `${s.key}${p.name ? `:${p.name}` : ''}`;
        const match = `-p ${p.protocol} -m ${p.protocol} --dport ${p.port}`;
        if (p.nodePort) nodePorts = true;
        if (!p.endpoints.length) {
          reject.push(`-A ${c.filter} -d ${s.vip}/32 ${match} -m comment --comment "${label} has no endpoints" -j REJECT --reject-with icmp-port-unreachable`);
          if (p.nodePort) reject.push(`-A ${c.filter} -p ${p.protocol} -m addrtype --dst-type LOCAL -m ${p.protocol} --dport ${p.nodePort} -m comment --comment "${label} node port has no endpoints" -j REJECT --reject-with icmp-port-unreachable`);
          continue;
        }
        const svc = c.svc(s.key, portKey);
        want.add(svc);
        rules.push(`-A ${c.services} -d ${s.vip}/32 -p ${p.protocol} -m comment --comment "${label} cluster IP" -m ${p.protocol} --dport ${p.port} -j ${svc}`);
        if (p.nodePort) {
          nodeRules.push(`-A ${c.nodeports} -p ${p.protocol} -m comment --comment "${label} node port" -m ${p.protocol} --dport ${p.nodePort} -j ${svc}`);
          const masq = `-p ${p.protocol} -m comment --comment "${label} node port masquerade" -m conntrack --ctstate DNAT --ctproto ${p.protocol} --ctorigdstport ${p.nodePort} -j MASQUERADE`;
          if (!s.externalLocal) post.push(`-A ${c.post} ${masq}`);
          else {
            // Local: the host's own clients (127.0.0.1, its addresses) and the pods' still need it
            post.push(`-A ${c.post} -m addrtype --src-type LOCAL ${masq}`);
            for (const net of podSubnets) post.push(`-A ${c.post} -s ${net} ${masq}`);
          }
        }
        const seps = p.endpoints.map((e) => ({ e, chain: c.sep(s.key, portKey, `${e.ip}:${e.port}`) }));
        if (s.affinitySeconds) {
          for (const { chain } of seps) {
            rules.push(`-A ${svc} -m comment --comment "${label} -> affinity" -m recent --rcheck --seconds ${s.affinitySeconds} --reap --name ${chain} --mask 255.255.255.255 --rsource -j ${chain}`);
          }
        }
        seps.forEach(({ e, chain }, i) => {
          const n = seps.length - i;
          const spread = n > 1 ? ` -m statistic --mode random --probability ${(1 / n).toFixed(10)}` : '';
          rules.push(`-A ${svc} -m comment --comment "${label} -> ${e.ip}:${e.port}"${spread} -j ${chain}`);
        });
        for (const { e, chain } of seps) {
          want.add(chain);
          const recent = s.affinitySeconds ? ` -m recent --set --name ${chain} --mask 255.255.255.255 --rsource` : '';
          rules.push(`-A ${chain} -p ${p.protocol} -m comment --comment "${label}"${recent} -m ${p.protocol} -j DNAT --to-destination ${e.ip}:${e.port}`);
        }
      }
    }
    if (nodeRules.length) {
      want.add(c.nodeports);
      rules.push(`-A ${c.services} -m comment --comment "peapod node ports" -m addrtype --dst-type LOCAL -j ${c.nodeports}`, ...nodeRules);
    }
    // declaring a chain (":C - [0:0]") with --noflush creates it or empties it
    natOut.push(...[...want].map((x) => `:${x} - [0:0]`));
    for (const [builtin, target] of [['PREROUTING', c.services], ['OUTPUT', c.services], ['POSTROUTING', c.post]]) {
      if (!hasRule(nat, jumpRule(builtin, target))) natOut.push(jumpRule(builtin, target));
    }
    natOut.push(...rules, ...post);
    const stale = [...nat.chains].filter((x) => c.isOurs(x) && !want.has(x));
    natOut.push(...stale.map((x) => `-F ${x}`), ...stale.map((x) => `-X ${x}`));
    if (nodePorts) {
      reject.push(`-A ${c.filter} ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`);
    }
    if (reject.length) {
      filterOut.push(`:${c.filter} - [0:0]`);
      for (const builtin of ['INPUT', 'OUTPUT', 'FORWARD']) {
        const rule = jumpRule(builtin, c.filter);
        if (!hasRule(filter, rule)) filterOut.push(`-I ${builtin} 1 ${rule.slice(3 + builtin.length + 1)}`);
      }
      filterOut.push(...reject);
    } else if (filter.chains.has(c.filter)) {
      filterOut.push(...ourJumps(filter).map((r) => `-D ${r.slice(3)}`), `-F ${c.filter}`, `-X ${c.filter}`);
    }
  }
  const out: string[] = [];
  if (natOut.length) out.push('*nat', ...natOut, 'COMMIT');
  if (filterOut.length) out.push('*filter', ...filterOut, 'COMMIT');
  return out.length ? `${out.join('\n')}\n` : '';
}

/** kube-proxy's probability for the i-th of n endpoints (exported for tests). */
export const spreadProbability = (i: number, n: number): string => (1 / (n - i)).toFixed(10);
