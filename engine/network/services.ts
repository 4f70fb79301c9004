// Services on one host, as kube-proxy (iptables mode) and CoreDNS make them on a cluster, without a
// process of their own: a Service is a record under <root>/services; its virtual IP is claimed
// host-wide; its rules (service-rules.ts) and names (aardvark-dns entries) are derived state that
// `sync` rebuilds from the records and the pods' readiness whenever either changes (play/apply,
// pod start/stop/rm, conmon's exit command, the pod monitor's readiness verdicts, down, reset).
import { promises as fs, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { PeapodError } from '../errors.js';
import { debug, warn } from '../log.js';
import { findProgram, hostStateDir } from '../config.js';
import { FileLock } from '../state/lock.js';
import { readJson, writeFileAtomic, writeJsonAtomic } from '../state/atomic.js';
import { runProgram } from '../spawn.js';
import type { StateStore } from '../state/store.js';
import type { ContainerRecord, PodRecord } from '../types.js';
import type { Pods } from '../pod/pods.js';
import { isRunning } from '../pod/status.js';
import { DNS1035_LABEL, DNS1123_LABEL } from '../names.js';
import { claimNodePort, claimServiceIP, intToIp, ipToInt, nodePortHolder, NODE_PORT_RANGE, parseCidr, portFree, releaseNodePort, releaseNodePortsOf, releaseServiceIP, releaseServiceIPsOf, serviceIPHolder, usedSubnets } from './networks.js';
import { netavarkConfigDir, netavarkName } from './netavark.js';
import { renderServiceRules, rootTag, type RuleService, type ServiceProtocol } from './service-rules.js';

/** The range VIPs come from (Kubernetes' default service CIDR is 10.96.0.0/12; peapod uses its first /16). */
export const SERVICE_RANGE = '10.96.0.0/16';
export const CLUSTER_DOMAIN = 'cluster.local';

export interface ServicePortSpec {
  name?: string;
  protocol: ServiceProtocol;
  port: number;
  /** a number, or the name of a containerPort of the selected pods */
  targetPort: number | string;
  nodePort?: number;
}

/** A Service as peapod keeps it (the Kubernetes fields it implements, checked by src/kube/services.ts). */
export interface ServiceSpec {
  name: string;
  namespace: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  /** ExternalName: the DNS name its names stand for (checked: an RFC 1123 subdomain) */
  externalName?: string;
  /** clusterIP: None */
  headless?: boolean;
  /** spec.clusterIP asked for (must be free and inside SERVICE_RANGE) */
  clusterIP?: string;
  selector: Record<string, string>;
  ports: ServicePortSpec[];
  /** sessionAffinity ClientIP: seconds (sessionAffinityConfig.clientIP.timeoutSeconds, default 10800) */
  affinitySeconds?: number;
  publishNotReadyAddresses?: boolean;
  /** NodePort/LoadBalancer: Local keeps the client's address (no masquerade of outside traffic) */
  externalTrafficPolicy?: 'Cluster' | 'Local';
  labels?: Record<string, string>;
  /** the kube apply set that owns it (apply changes and prunes only its own) */
  applySet?: string;
  /** where it came from (kube down, generate kube) */
  kube?: { file?: string; object?: unknown };
}

export interface ServiceRecord {
  id: string;
  spec: ServiceSpec;
  /** the VIP, or 'None' for a headless Service */
  clusterIP: string;
  /** NodePort/LoadBalancer: the host port of each service port (`protocol/port` -> nodePort), given or allocated */
  nodePorts?: Record<string, number>;
  /**
   * ExternalName: the IPv4 addresses the host's resolver gave for externalName when the Service was
   * made or updated (aardvark-dns has no CNAME records: its names answer with these A records)
   */
  external?: { addresses: string[]; resolved: string };
  created: string;
}

export interface Endpoint { pod: string; podId: string; ip: string; ready: boolean; ports: Record<string, number>; hostname?: string; subdomain?: string }

export interface ServiceView extends ServiceRecord { endpoints: Endpoint[] }

/** `vip A.B.C.D` or `node PORT` -> the addresses of its UDP endpoints */
type UdpTargets = Record<string, string[]>;

const key = (s: { name: string; namespace: string }) => `${s.namespace}/${s.name}`;
const shortHash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);
/** The id of our aardvark-dns entries: never a substring of a pod id (netavark deletes by substring). */
const DNS_ID = 'peapod-svc-';

/** The names a Service has in every pod: `web`, `web.ns`, `web.ns.svc`, `web.ns.svc.cluster.local`. */
export function serviceNames(s: { name: string; namespace: string }): string[] {
  return [s.name, `${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}.svc.${CLUSTER_DOMAIN}`];
}

/** The pod's namespace (its Kubernetes object's, default "default"). */
export function namespaceOf(pod: PodRecord): string {
  const ns = (pod.spec.kube?.object as { metadata?: { namespace?: string } } | undefined)?.metadata?.namespace;
  return typeof ns === 'string' && DNS1123_LABEL.test(ns) ? ns : 'default';
}

/**
 * The variables the kubelet gives a container for the Services of its namespace that exist when it
 * starts (pkg/kubelet/envvars): NAME_SERVICE_HOST, NAME_SERVICE_PORT(_PORTNAME), NAME_PORT,
 * NAME_PORT_<port>_<PROTO>(_PROTO|_PORT|_ADDR). Headless Services have none.
 */
export function serviceEnv(records: readonly ServiceRecord[]): string[] {
  const out: string[] = [];
  const envName = (s: string) => s.toUpperCase().replace(/-/g, '_');
  for (const r of [...records].sort((a, b) => a.spec.name.localeCompare(b.spec.name))) {
    if (r.clusterIP === 'None' || !r.spec.ports.length) continue;
    const prefix = envName(r.spec.name);
    out.push(`${prefix}_SERVICE_HOST=${r.clusterIP}`, `${prefix}_SERVICE_PORT=${r.spec.ports[0].port}`);
    for (const p of r.spec.ports) if (p.name) out.push(`${prefix}_SERVICE_PORT_${envName(p.name)}=${p.port}`);
    r.spec.ports.forEach((p, i) => {
      const proto = p.protocol.toLowerCase();
      const url = `${proto}://${r.clusterIP}:${p.port}`;
      if (i === 0) out.push(`${prefix}_PORT=${url}`);
      const pp = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
      out.push(`${pp}=${url}`, `${pp}_PROTO=${proto}`, `${pp}_PORT=${p.port}`, `${pp}_ADDR=${r.clusterIP}`);
    });
  }
  return out;
}

/** The Ready state of a pod as a Service sees it: running infra, every app container ready. */
function podReady(pods: Pods, pod: PodRecord, members: ContainerRecord[]): boolean {
  const infra = members.find((c) => c.id === pod.infraId);
  if (!infra || !isRunning(infra)) return false;
  const r = pods.readiness(members);
  return r.total > 0 && r.ready === r.total;
}

/** Every service port's target on one pod: a number, or the containerPort of that name. */
function targetPorts(spec: ServiceSpec, members: ContainerRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of spec.ports) {
    const k = `${p.protocol}/${p.port}`;
    if (typeof p.targetPort === 'number') { out[k] = p.targetPort; continue; }
    const found = members.flatMap((c) => c.spec.ports ?? []).find((x) => x.name === p.targetPort && (x.protocol ?? 'TCP').toLowerCase() === p.protocol);
    if (found) out[k] = found.containerPort;
  }
  return out;
}

export class Services {
  private readonly tag: string;
  private hostLock?: FileLock;

  constructor(private readonly cfg: { root: string; runroot: string; rootlessUid?: number }, private readonly store: StateStore, private readonly pods: () => Pods) {
    this.tag = rootTag(cfg.root);
  }

  private dir(): string {
    return path.join(this.store.root, 'services');
  }

  private file(s: { name: string; namespace: string }): string {
    return path.join(this.dir(), `${s.name}.${s.namespace}.json`);
  }

  /** The host-wide network lock (netavark's calls hold it too: the chains and aardvark files are the host's). */
  private lock(): FileLock {
    this.hostLock ??= this.cfg.rootlessUid !== undefined ? new FileLock(path.join(this.cfg.runroot, 'network.lock')) : new FileLock(path.join(hostStateDir(), 'network.lock'));
    return this.hostLock;
  }

  async list(): Promise<ServiceRecord[]> {
    let names: string[] = [];
    try { names = readdirSync(this.dir()).filter((f) => f.endsWith('.json')); } catch { return []; }
    const all = await Promise.all(names.map((n) => readJson<ServiceRecord>(path.join(this.dir(), n))));
    return all.filter((r): r is ServiceRecord => !!r).sort((a, b) => key(a.spec).localeCompare(key(b.spec)));
  }

  /** A Service by name (any namespace when unique), `ns/name` or id prefix. */
  async find(ref: string): Promise<ServiceRecord | undefined> {
    const all = await this.list();
    const hits = all.filter((r) => r.spec.name === ref || key(r.spec) === ref || r.id === ref || (ref.length >= 3 && r.id.startsWith(ref)));
    if (hits.length > 1) throw new PeapodError('invalid', `service ${ref} is ambiguous: ${hits.map((h) => key(h.spec)).join(', ')}: name it as NAMESPACE/NAME`);
    return hits[0];
  }

  async mustFind(ref: string): Promise<ServiceRecord> {
    const r = await this.find(ref);
    if (!r) throw new PeapodError('not-found', `no service with name or ID ${ref} found: no such service`);
    return r;
  }

  /**
   * Creates (or, with replace, updates keeping its VIP when it still fits) a Service: its VIP is
   * claimed host-wide. Does not sync: the caller does once for a whole play.
   */
  async create(spec: ServiceSpec, opts: { replace?: boolean } = {}): Promise<ServiceRecord> {
    if (this.cfg.rootlessUid !== undefined) {
      throw new PeapodError('prerequisite', `service ${spec.name}: rootless peapod has no shared bridge (pasta gives each pod its own network), so a Service cannot have a virtual IP: reach the pods by their published ports`);
    }
    if (!DNS1035_LABEL.test(spec.name) || spec.name.length > 63) throw new PeapodError('invalid', `service name "${spec.name}": must be a lower-case RFC 1035 label of at most 63 characters`);
    if (!DNS1123_LABEL.test(spec.namespace) || spec.namespace.length > 63) throw new PeapodError('invalid', `namespace "${spec.namespace}": must be a lower-case RFC 1123 label`);
    return this.store.lock.with(async () => {
      const have = await readJson<ServiceRecord>(this.file(spec));
      if (have && !opts.replace) throw new PeapodError('exists', `service "${key(spec)}" already exists: use --replace to update it, or kube down first`);
      const id = have?.id ?? createHash('sha256').update(`${this.store.root}\0${key(spec)}\0${Date.now()}\0${Math.random()}`).digest('hex');
      let clusterIP = 'None';
      const external = spec.type === 'ExternalName' ? await resolveExternalName(spec) : undefined;
      if (!spec.headless && spec.type !== 'ExternalName') {
        const keep = have && have.clusterIP !== 'None' && (!spec.clusterIP || spec.clusterIP === have.clusterIP) ? have.clusterIP : undefined;
        clusterIP = keep ?? (await this.allocateIP(spec));
      }
      const releaseIP = async () => { if (clusterIP !== 'None' && clusterIP !== have?.clusterIP) await releaseServiceIP(clusterIP, this.store.root); };
      let nodePorts: Record<string, number> | undefined;
      const fresh: number[] = [];
      try {
        if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') nodePorts = await this.allocateNodePorts(spec, have, fresh);
      } catch (err) {
        await releaseIP();
        throw err;
      }
      const rec: ServiceRecord = { id, spec, clusterIP, ...(nodePorts ? { nodePorts } : {}), ...(external ? { external } : {}), created: have?.created ?? new Date().toISOString() };
      await fs.mkdir(this.dir(), { recursive: true, mode: 0o700 });
      try {
        await writeJsonAtomic(this.file(spec), rec);
      } catch (err) {
        await releaseIP();
        for (const n of fresh) await releaseNodePort(n, this.store.root);
        throw err;
      }
      if (have && have.clusterIP !== 'None' && have.clusterIP !== clusterIP) await releaseServiceIP(have.clusterIP, this.store.root);
      const kept = new Set(Object.values(nodePorts ?? {}));
      for (const n of Object.values(have?.nodePorts ?? {})) if (!kept.has(n)) await releaseNodePort(n, this.store.root);
      return rec;
    });
  }

  /** The VIP: spec.clusterIP when free (an error otherwise), else the lowest free address of SERVICE_RANGE. */
  private async allocateIP(spec: ServiceSpec): Promise<string> {
    const range = parseCidr(SERVICE_RANGE);
    const used = [...(await usedSubnets()), ...(await this.pods().networks.list()).filter((n) => n.driver === 'bridge').map((n) => n.subnet)];
    const inUse = (ip: string) => used.find((u) => ipInCidr(ip, u));
    const owner = { root: this.store.root, service: key(spec) };
    if (spec.clusterIP) {
      const ip = spec.clusterIP;
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) || !ipInCidr(ip, SERVICE_RANGE) || ipToInt(ip) === range.base || ipToInt(ip) === range.base + range.size - 1) {
        throw new PeapodError('invalid', `service ${key(spec)}: spec.clusterIP ${ip} is not inside peapod's service range ${SERVICE_RANGE}`);
      }
      const clash = inUse(ip);
      if (clash) throw new PeapodError('invalid', `service ${key(spec)}: spec.clusterIP ${ip} lies in ${clash}, which this host or a network uses`);
      if (!(await claimServiceIP(ip, owner))) {
        const h = serviceIPHolder(ip);
        throw new PeapodError('exists', `service ${key(spec)}: spec.clusterIP ${ip} is already allocated${h ? ` (to service ${h.service}${h.root === this.store.root ? '' : ` of peapod root ${h.root}`})` : ''}`);
      }
      return ip;
    }
    for (let n = range.base + 1; n < range.base + range.size - 1; n++) {
      const ip = intToIp(n);
      if ((n & 255) === 0 || (n & 255) === 255 || inUse(ip)) continue;
      if (await claimServiceIP(ip, owner)) return ip;
    }
    throw new PeapodError('runtime', `no free address left in the service range ${SERVICE_RANGE}`);
  }

  /**
   * The nodePort of every port of a NodePort/LoadBalancer Service: the one the YAML gives (inside
   * NODE_PORT_RANGE and free, an error otherwise), else the one it had (an update), else a free one
   * from the range, as the apiserver allocates them. Claimed host-wide (every root, every
   * protocol); free also means no process listens on it and no netavark rule (a hostPort of any
   * peapod root or of Podman) forwards it. `fresh` collects the ports claimed by this call.
   */
  private async allocateNodePorts(spec: ServiceSpec, have: ServiceRecord | undefined, fresh: number[]): Promise<Record<string, number>> {
    const owner = { root: this.store.root, service: key(spec) };
    const out: Record<string, number> = {};
    const mine = new Set(Object.values(have?.nodePorts ?? {}));
    let forwarded: Set<number> | undefined;
    const inUse = async (port: number, protocol: ServiceProtocol): Promise<string | undefined> => {
      if (mine.has(port)) return undefined;
      forwarded ??= await netavarkForwardedPorts();
      if (forwarded.has(port)) return 'a container\'s published port (a netavark rule)';
      const ourPods = await this.publishedByPods(port);
      if (ourPods) return `a host port of pod ${ourPods}`;
      if (protocol !== 'sctp' && !(await portFree({ hostIP: '', hostPort: port, containerPort: port, protocol }))) return 'a program listening on this host';
      return undefined;
    };
    const claim = async (port: number): Promise<boolean> => {
      if (!(await claimNodePort(port, owner))) return false;
      if (!mine.has(port) && !fresh.includes(port)) fresh.push(port);
      return true;
    };
    const undo = async () => { for (const n of fresh) await releaseNodePort(n, this.store.root); fresh.length = 0; };
    try {
      const given = new Set(spec.ports.flatMap((p) => (p.nodePort ? [p.nodePort] : [])));
      for (const p of spec.ports) {
        const k = `${p.protocol}/${p.port}`;
        if (p.nodePort) {
          const n = p.nodePort;
          if (!Number.isInteger(n) || n < NODE_PORT_RANGE.min || n > NODE_PORT_RANGE.max) {
            throw new PeapodError('invalid', `service ${key(spec)}: nodePort ${n} is not in the node port range ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`);
          }
          if (!(await claim(n))) {
            const h = nodePortHolder(n);
            throw new PeapodError('exists', `service ${key(spec)}: nodePort ${n} is already allocated${h ? ` (to service ${h.service}${h.root === this.store.root ? '' : ` of peapod root ${h.root}`})` : ''}`);
          }
          const why = await inUse(n, p.protocol);
          if (why) throw new PeapodError('exists', `service ${key(spec)}: nodePort ${n}/${p.protocol} is already in use on this host (${why})`);
          out[k] = n;
          continue;
        }
        const before = have?.nodePorts?.[k];
        if (before && !given.has(before) && !Object.values(out).includes(before) && (await claim(before))) { out[k] = before; continue; }
        const span = NODE_PORT_RANGE.max - NODE_PORT_RANGE.min + 1;
        const start = Math.floor(Math.random() * span);
        let found: number | undefined;
        for (let i = 0; i < span && found === undefined; i++) {
          const n = NODE_PORT_RANGE.min + ((start + i) % span);
          if (given.has(n) || Object.values(out).includes(n) || mine.has(n) || nodePortHolder(n)) continue;
          if (!(await claim(n))) continue;
          if (await inUse(n, p.protocol)) {
            await releaseNodePort(n, this.store.root);
            fresh.splice(fresh.indexOf(n), 1);
            continue;
          }
          found = n;
        }
        if (found === undefined) throw new PeapodError('runtime', `service ${key(spec)}: no free port left in the node port range ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`);
        out[k] = found;
      }
    } catch (err) {
      await undo();
      throw err;
    }
    return out;
  }

  /** The pod of this root that publishes `port` as a host port, if one does. */
  private async publishedByPods(port: number): Promise<string | undefined> {
    const pods = this.pods();
    for (const p of await this.store.listPods()) {
      if ((p.spec.publish ?? []).some((q) => q.hostPort === port)) return p.name;
      if ((await pods.networkState(p))?.request.ports.some((q) => q.hostPort === port)) return p.name;
    }
    return undefined;
  }

  /** Removes a Service's record and claims (the caller syncs). */
  async remove(ref: string): Promise<ServiceRecord> {
    const r = await this.mustFind(ref);
    await this.store.lock.with(async () => {
      await fs.rm(this.file(r.spec), { force: true });
      if (r.clusterIP !== 'None') await releaseServiceIP(r.clusterIP, this.store.root);
      for (const n of Object.values(r.nodePorts ?? {})) await releaseNodePort(n, this.store.root);
    });
    return r;
  }

  /** Every Service with its endpoints as they are now. */
  async views(records?: ServiceRecord[]): Promise<ServiceView[]> {
    const recs = records ?? (await this.list());
    if (!recs.length) return [];
    const pods = this.pods();
    const [allPods, allContainers] = await Promise.all([this.store.listPods(), pods.containers.list()]);
    const facts = await Promise.all(allPods.filter((p) => !p.spec.hostNetwork).map(async (p) => {
      const members = pods.membersOf(p, allContainers);
      const terminating = existsSync(pods.terminatingFile(p.id));
      return { pod: p, ns: namespaceOf(p), ip: (await pods.networkState(p))?.status.ip, ready: !terminating && podReady(pods, p, members), members };
    }));
    return recs.map((r) => {
      const sel = Object.entries(r.spec.selector);
      const endpoints: Endpoint[] = [];
      if (sel.length) {
        for (const f of facts) {
          if (f.ns !== r.spec.namespace || !f.ip || !sel.every(([k, v]) => f.pod.spec.labels?.[k] === v)) continue;
          if (!f.ready && !r.spec.publishNotReadyAddresses) continue;
          endpoints.push({
            pod: f.pod.name, podId: f.pod.id, ip: f.ip, ready: f.ready, ports: targetPorts(r.spec, f.members),
            ...(f.pod.spec.subdomain ? { hostname: f.pod.spec.hostname ?? f.pod.name, subdomain: f.pod.spec.subdomain } : {}),
          });
        }
      }
      endpoints.sort((a, b) => ipToInt(a.ip) - ipToInt(b.ip));
      return { ...r, endpoints };
    });
  }

  /** The kubelet's service variables for a container of a pod in `namespace` starting now. */
  async envFor(namespace: string): Promise<string[]> {
    return serviceEnv((await this.list()).filter((r) => r.spec.namespace === namespace));
  }

  private markFile(): string {
    return path.join(this.cfg.runroot, 'services.applied');
  }

  /**
   * Makes the kernel's rules and aardvark-dns's names what the records and the pods' readiness say
   * (one iptables-restore transaction; the DNS files rewritten and aardvark told). Cheap when this
   * root has no Service and never had one since boot. `force`: run even then (reset).
   */
  async sync(opts: { force?: boolean } = {}): Promise<void> {
    if (this.cfg.rootlessUid !== undefined) return;
    const records = await this.list();
    if (!records.length && !opts.force) {
      try { await fs.access(this.markFile()); } catch { return; }
    }
    const views = await this.views(records);
    await this.lock().with(async () => {
      const udp = await this.applyRules(views);
      await this.applyDns(views);
      if (views.length) await writeFileAtomic(this.markFile(), JSON.stringify({ udp }));
      else await fs.rm(this.markFile(), { force: true });
    });
  }

  /** The UDP destinations of the last sync and their endpoints' addresses (the mark file's content). */
  private lastUdp(): UdpTargets {
    try {
      const udp = (JSON.parse(readFileSync(this.markFile(), 'utf8')) as { udp?: UdpTargets }).udp ?? {};
      return typeof udp === 'object' && udp ? udp : {};
    } catch { return {}; }
  }

  /**
   * UDP has no connection to end: a conntrack entry keeps sending a client's datagrams to the
   * endpoint it was DNATed to, even after that endpoint left. As kube-proxy does, the entries of
   * an endpoint that left a Service's VIP or node port are deleted, and those of a VIP or node port
   * that just got its first endpoint (made before the rules could translate them). Needs
   * conntrack(8) (Debian's conntrack package); without it stale flows last until their timeout.
   */
  private async flushStaleUdp(before: UdpTargets, now: UdpTargets): Promise<void> {
    const ct = findProgram('conntrack');
    if (!ct) return;
    const run = async (args: string[]) => {
      const r = await runProgram(ct, ['-D', '-p', 'udp', ...args]).catch(() => undefined);
      debug(`conntrack -D -p udp ${args.join(' ')}: ${r?.stderr.trim() ?? 'failed'}`);
    };
    for (const [target, ips] of Object.entries(now)) {
      const old = before[target] ?? [];
      const [kind, value] = target.split(' ');
      if (!(kind === 'vip' ? IPV4.test(value) : /^\d{1,5}$/.test(value))) continue;
      const match = kind === 'vip' ? ['--orig-dst', value] : ['--orig-port-dst', value];
      if (!old.length && ips.length) await run(match);
      for (const ip of old.filter((x) => !ips.includes(x) && IPV4.test(x))) await run([...match, '--reply-src', ip]);
    }
    for (const [target, ips] of Object.entries(before)) {
      if (now[target]) continue;
      const [kind, value] = target.split(' ');
      if (!(kind === 'vip' ? IPV4.test(value) : /^\d{1,5}$/.test(value))) continue;
      const match = kind === 'vip' ? ['--orig-dst', value] : ['--orig-port-dst', value];
      for (const ip of (Array.isArray(ips) ? ips : []).filter((x) => IPV4.test(x))) await run([...match, '--reply-src', ip]);
    }
  }

  private async applyRules(views: ServiceView[]): Promise<UdpTargets> {
    const rules: RuleService[] = views.filter((v) => v.clusterIP !== 'None').map((v) => ({
      key: key(v.spec),
      vip: v.clusterIP,
      affinitySeconds: v.spec.affinitySeconds,
      ...(v.spec.externalTrafficPolicy === 'Local' ? { externalLocal: true } : {}),
      ports: v.spec.ports.map((p) => ({
        name: p.name, protocol: p.protocol, port: p.port,
        ...(v.nodePorts?.[`${p.protocol}/${p.port}`] ? { nodePort: v.nodePorts[`${p.protocol}/${p.port}`] } : {}),
        endpoints: v.endpoints.flatMap((e) => (e.ports[`${p.protocol}/${p.port}`] ? [{ ip: e.ip, port: e.ports[`${p.protocol}/${p.port}`] }] : [])),
      })),
    }));
    const save = await runProgram(findProgram('iptables-save') ?? 'iptables-save', []);
    if (save.exitCode !== 0) throw new PeapodError('runtime', `iptables-save: ${save.stderr.trim()}`);
    const podSubnets = rules.some((s) => s.externalLocal) ? (await this.pods().networks.list()).filter((n) => n.driver === 'bridge').map((n) => n.subnet) : [];
    const input = renderServiceRules(this.tag, rules, save.stdout, { podSubnets });
    const udp: UdpTargets = {};
    for (const s of rules) {
      for (const p of s.ports.filter((x) => x.protocol === 'udp')) {
        const ips = [...new Set(p.endpoints.map((e) => e.ip))].sort();
        udp[`vip ${s.vip}`] = [...new Set([...(udp[`vip ${s.vip}`] ?? []), ...ips])].sort();
        if (p.nodePort) udp[`node ${p.nodePort}`] = ips;
      }
    }
    if (!input) return udp;
    debug(`iptables-restore --noflush <<< ${input}`);
    const r = await runProgram(findProgram('iptables-restore') ?? 'iptables-restore', ['--noflush', '--wait'], { input });
    if (r.exitCode !== 0) throw new PeapodError('runtime', `iptables-restore of the service rules: ${r.stderr.trim()}`);
    if (rules.some((s) => s.ports.some((p) => p.nodePort))) await this.routeLocalnet();
    await this.flushStaleUdp(this.lastUdp(), udp);
    return udp;
  }

  /**
   * A nodePort reached as 127.0.0.1:PORT is DNATed to a pod: the kernel routes a packet with a
   * loopback source out of a bridge only with route_localnet on it (kube-proxy sets it for all
   * interfaces; here only this root's bridges). The filter chain drops what a pod might send to
   * 127/8 through it (kube-proxy's guard for CVE-2020-8558).
   */
  private async routeLocalnet(): Promise<void> {
    for (const n of await this.pods().networks.list()) {
      if (n.driver !== 'bridge' || !/^[a-zA-Z0-9_.-]{1,15}$/.test(n.networkInterface)) continue;
      const f = `/proc/sys/net/ipv4/conf/${n.networkInterface}/route_localnet`;
      try {
        if (readFileSync(f, 'utf8').trim() !== '1') await fs.writeFile(f, '1');
      } catch { /* no such bridge now: set when a pod brings it up (its start syncs) */ }
    }
  }

  /**
   * aardvark-dns entries: in every network file of this root's netavark config (the networks that
   * have pods now), our lines are replaced; a file left with no pod of its own is removed, and
   * aardvark is told (SIGHUP) to reload (it exits when no file is left, as after netavark's teardown).
   */
  private async applyDns(views: ServiceView[]): Promise<void> {
    const dir = path.join(netavarkConfigDir(this.cfg.runroot), 'aardvark-dns');
    let files: string[] = [];
    try { files = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile() && !e.name.includes('.pid') && !e.name.startsWith('.')).map((e) => e.name); } catch { return; }
    const entries: string[] = [];
    for (const v of views) {
      const names = serviceNames(v.spec).join(',');
      if (v.external) {
        const ips = v.external.addresses.filter((a) => IPV4.test(a));
        if (ips.length) entries.push(`${DNS_ID}${shortHash(key(v.spec))} ${ips.join(',')}  ${names}`);
      } else if (v.clusterIP !== 'None') entries.push(`${DNS_ID}${shortHash(key(v.spec))} ${v.clusterIP}  ${names}`);
      else {
        for (const e of v.endpoints) {
          entries.push(`${DNS_ID}${shortHash(`${key(v.spec)}\0${e.ip}`)} ${e.ip}  ${names}`);
          // a pod with hostname and subdomain = this headless Service: HOSTNAME.SUBDOMAIN.NS.svc.cluster.local
          if (e.subdomain === v.spec.name && e.hostname && DNS1123_LABEL.test(e.hostname)) {
            const own = serviceNames(v.spec).map((n) => `${e.hostname}.${n}`).join(',');
            entries.push(`${DNS_ID}${shortHash(`${key(v.spec)}\0${e.ip}\0host`)} ${e.ip}  ${own}`);
          }
        }
      }
    }
    const networks = new Set((await this.pods().networks.list()).map((n) => netavarkName(n)));
    let changed = false;
    for (const f of files) {
      if (!networks.has(f)) continue;
      const file = path.join(dir, f);
      let text = '';
      try { text = readFileSync(file, 'utf8'); } catch { continue; }
      const lines = text.split('\n').filter(Boolean);
      if (!lines.length) continue;
      const [header, ...rest] = lines;
      const theirs = rest.filter((l) => !l.startsWith(DNS_ID));
      const next = theirs.length ? [header, ...theirs, ...entries].join('\n') + '\n' : '';
      if (next === text) continue;
      changed = true;
      if (next) await writeFileAtomic(file, next);
      else await fs.rm(file, { force: true });
    }
    if (!changed) return;
    try {
      const pid = Number(readFileSync(path.join(dir, 'aardvark.pid'), 'utf8').trim());
      if (pid > 1) process.kill(pid, 'SIGHUP');
    } catch { /* not running: netavark starts it with the next pod */ }
  }

  /** Removes every Service of this root and what the kernel and DNS had for them (reset). */
  async removeAll(): Promise<void> {
    for (const r of await this.list()) await this.remove(r.id).catch(() => undefined);
    await releaseServiceIPsOf(this.store.root);
    await releaseNodePortsOf(this.store.root);
    // the rules are found by this root's tag, the names by their prefix: none of it needs a record
    await this.sync({ force: true });
  }
}

/** Host ports netavark forwards now (every peapod root's and Podman's hostPorts), from iptables-save. */
async function netavarkForwardedPorts(): Promise<Set<number>> {
  const out = new Set<number>();
  const save = await runProgram(findProgram('iptables-save') ?? 'iptables-save', ['-t', 'nat']);
  for (const line of save.stdout.split('\n')) {
    const m = /^-A NETAVARK\S* .*--dport (\d+)(?::(\d+))? /.exec(line);
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    for (let n = a; n <= b && n - a < 65536; n++) out.add(n);
  }
  return out;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * The A records an ExternalName Service answers with: the externalName looked up now through the
 * host's resolver (at most 5 s). A name that resolves to nothing gives a Service whose names do
 * not resolve either, as a CNAME to it would not; an address literal is refused, as CoreDNS would
 * not serve it.
 */
async function resolveExternalName(spec: ServiceSpec): Promise<{ addresses: string[]; resolved: string }> {
  const name = spec.externalName ?? '';
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name) || name.length > 253) {
    throw new PeapodError('invalid', `service ${key(spec)}: externalName ${JSON.stringify(name.slice(0, 80))} is not a DNS name`);
  }
  if (IPV4.test(name)) throw new PeapodError('invalid', `service ${key(spec)}: externalName ${name} is an IP address: an ExternalName Service names a host by DNS name (use a Service without selector for an address)`);
  const { lookup } = await import('node:dns/promises');
  let addresses: string[] = [];
  try {
    const all = await Promise.race([
      lookup(name, { all: true, family: 4 }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out after 5 s')), 5000).unref()),
    ]);
    addresses = [...new Set(all.map((a) => a.address).filter((a) => IPV4.test(a)))].sort();
  } catch (err) {
    debug(`service ${key(spec)}: externalName ${name}: ${(err as Error).message}`);
  }
  if (!addresses.length) warn(`service ${key(spec)}: externalName ${name} resolves to no IPv4 address on this host now: the Service's names do not resolve`);
  return { addresses, resolved: new Date().toISOString() };
}

function ipInCidr(ip: string, cidr: string): boolean {
  const { base, size } = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= base && n < base + size;
}
