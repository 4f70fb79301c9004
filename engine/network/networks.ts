import { promises as fs, closeSync, constants as fsc, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { runProgram } from '../spawn.js';
import { PeapodError } from '../errors.js';
import { hostStateDir } from '../config.js';
import type { StateStore } from '../state/store.js';
import { namedRecord, readJson, writeJsonAtomic } from '../state/atomic.js';
import type { NetworkConfig, PortMapping } from './backend.js';
import { pastaNetwork } from './pasta.js';
import { checkObjectName, OBJECT_NAME } from '../names.js';
import { NODE_PORT_RANGE } from './service-rules.js';

export const DEFAULT_NETWORK = 'peapod';

export { ipToInt, intToIp, parseCidr, isIPv4, staticAddressProblem, overlaps } from './address.js';
import { ipToInt, intToIp, parseCidr, staticAddressProblem, overlaps } from './address.js';

/** Subnets this host uses already: routes and addresses, and Podman's networks. */
export async function usedSubnets(): Promise<string[]> {
  const used: string[] = ['10.88.0.0/16', '10.89.0.0/24']; // Podman's defaults here (HOST-NOTES)
  const r = await runProgram('ip', ['-4', '-j', 'route', 'show', 'table', 'all']);
  if (r.exitCode === 0) {
    for (const route of JSON.parse(r.stdout || '[]')) {
      const dst = String(route.dst ?? '');
      if (/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dst)) {
        const [ip, p] = dst.split('/');
        // A host route (/32) or a tiny one counts as the /30 around it; very wide ones are ignored.
        const prefix = Math.min(Number(p ?? 32), 30);
        if (prefix >= 8) {
          const size = 2 ** (32 - prefix);
          used.push(`${intToIp(Math.floor(ipToInt(ip) / size) * size)}/${prefix}`);
        }
      }
    }
  }
  for (const dir of ['/etc/containers/networks', '/run/containers/networks']) {
    try {
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
        const cfg = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
        for (const s of cfg.subnets ?? []) if (s.subnet && !String(s.subnet).includes(':')) used.push(s.subnet);
      }
    } catch { /* no podman networks */ }
  }
  return used;
}

// --- host-wide claims of bridges and subnets -----------------------------------------------------

/**
 * Several peapod roots (a user's, the tests') may share one host. Each bridge a root uses is
 * claimed in a host-wide directory (tmpfs: cleared by a reboot, when no bridge is up either), so
 * that two roots never pick the same bridge or subnet. A claim whose root no longer exists is stale.
 */
function claimsDir(): string {
  return path.join(hostStateDir(), 'bridges');
}

interface Claim { root: string; network: string; subnet: string }

/** A claim file's content; O_NOFOLLOW: a symlink in its place is no claim. */
function readClaimFile(file: string): string {
  const fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  try { return readFileSync(fd, 'utf8'); } finally { closeSync(fd); }
}

function readClaims(): Map<string, Claim> {
  const out = new Map<string, Claim>();
  let names: string[] = [];
  try { names = readdirSync(claimsDir()); } catch { return out; }
  for (const n of names) {
    try {
      const c = JSON.parse(readClaimFile(path.join(claimsDir(), n))) as Claim;
      if (existsSync(c.root)) out.set(n, c);
    } catch { /* being written, or broken: ignore */ }
  }
  return out;
}

/** Claims `bridge` for this root; false when a live claim of another root holds it. */
export async function claimBridge(bridge: string, claim: Claim): Promise<boolean> {
  await fs.mkdir(claimsDir(), { recursive: true, mode: 0o700 });
  const file = path.join(claimsDir(), bridge);
  const have = readClaims().get(bridge);
  if (have && (have.root !== claim.root || have.network !== claim.network)) return false;
  const write = (excl: boolean) => fs.writeFile(file, JSON.stringify(claim), { flag: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_NOFOLLOW | (excl ? fsc.O_EXCL : fsc.O_TRUNC), mode: 0o600 });
  try {
    await write(!have);
    return true;
  } catch (err: any) {
    if (err?.code !== 'EEXIST') throw err;
    // someone claimed it between our read and write, or a stale claim is in the way
    const now = readClaims().get(bridge);
    if (now) return now.root === claim.root && now.network === claim.network;
    await write(false);
    return true;
  }
}

export async function releaseBridge(bridge: string, root: string): Promise<void> {
  const have = readClaims().get(bridge);
  if (!have || have.root === root) await fs.rm(path.join(claimsDir(), bridge), { force: true });
}

/** Who else holds this bridge (undefined: nobody, or this root). */
export function bridgeHolder(bridge: string, root: string): Claim | undefined {
  const c = readClaims().get(bridge);
  return c && c.root !== root ? c : undefined;
}

// --- host-wide claims of Service VIPs ------------------------------------------------------------

/** One file per VIP (services.ts), as bridges: two roots never hand out the same address. */
function serviceClaimsDir(): string {
  return path.join(hostStateDir(), 'service-ips');
}

interface ServiceClaim { root: string; service: string }

function readServiceClaim(ip: string): ServiceClaim | undefined {
  try {
    const c = JSON.parse(readClaimFile(path.join(serviceClaimsDir(), ip))) as ServiceClaim;
    return existsSync(c.root) ? c : undefined;
  } catch { return undefined; }
}

/** Claims `ip` for a Service of this root; false when a live claim (another root's, or another Service's) holds it. */
export async function claimServiceIP(ip: string, claim: ServiceClaim): Promise<boolean> {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return false;
  await fs.mkdir(serviceClaimsDir(), { recursive: true, mode: 0o700 });
  const file = path.join(serviceClaimsDir(), ip);
  const write = (excl: boolean) => fs.writeFile(file, JSON.stringify(claim), { flag: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_NOFOLLOW | (excl ? fsc.O_EXCL : fsc.O_TRUNC), mode: 0o600 });
  try {
    await write(true);
    return true;
  } catch (err: any) {
    if (err?.code !== 'EEXIST') throw err;
    const have = readServiceClaim(ip);
    if (have) return have.root === claim.root && have.service === claim.service;
    // stale (its root is gone) or unreadable: a symlink planted there is removed, never followed
    await fs.rm(file, { force: true });
    try { await write(true); return true; } catch { return false; }
  }
}

export async function releaseServiceIP(ip: string, root: string): Promise<void> {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return;
  const have = readServiceClaim(ip);
  if (!have || have.root === root) await fs.rm(path.join(serviceClaimsDir(), ip), { force: true });
}

/** Releases every VIP claim of a root (reset: also those whose Service record was lost). */
export async function releaseServiceIPsOf(root: string): Promise<void> {
  let names: string[] = [];
  try { names = readdirSync(serviceClaimsDir()); } catch { return; }
  for (const ip of names) if (readServiceClaim(ip)?.root === root) await fs.rm(path.join(serviceClaimsDir(), ip), { force: true });
}

/** Who holds a VIP (undefined: nobody, or a stale claim). */
export function serviceIPHolder(ip: string): ServiceClaim | undefined {
  return readServiceClaim(ip);
}

/** Every live VIP claim (networks keep their subnets clear of them). */
export function claimedServiceIPs(): string[] {
  let names: string[] = [];
  try { names = readdirSync(serviceClaimsDir()); } catch { return []; }
  return names.filter((n) => readServiceClaim(n));
}

// --- host-wide claims of Service node ports ------------------------------------------------------

export { NODE_PORT_RANGE };

/** One file per port number, as VIPs: a nodePort is the host's, whatever root or protocol asks. */
function nodePortClaimsDir(): string {
  return path.join(hostStateDir(), 'node-ports');
}

const validNodePort = (port: number) => Number.isInteger(port) && port >= NODE_PORT_RANGE.min && port <= NODE_PORT_RANGE.max;

function readNodePortClaim(port: number): ServiceClaim | undefined {
  if (!validNodePort(port)) return undefined;
  try {
    const c = JSON.parse(readClaimFile(path.join(nodePortClaimsDir(), String(port)))) as ServiceClaim;
    return existsSync(c.root) ? c : undefined;
  } catch { return undefined; }
}

/** Claims nodePort `port` for a Service; false when a live claim of another Service (of any root) holds it. */
export async function claimNodePort(port: number, claim: ServiceClaim): Promise<boolean> {
  if (!validNodePort(port)) return false;
  await fs.mkdir(nodePortClaimsDir(), { recursive: true, mode: 0o700 });
  const file = path.join(nodePortClaimsDir(), String(port));
  const write = () => fs.writeFile(file, JSON.stringify(claim), { flag: fsc.O_WRONLY | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_EXCL, mode: 0o600 });
  try {
    await write();
    return true;
  } catch (err: any) {
    if (err?.code !== 'EEXIST') throw err;
    const have = readNodePortClaim(port);
    if (have) return have.root === claim.root && have.service === claim.service;
    // stale or unreadable (a planted symlink): removed, never followed
    await fs.rm(file, { force: true });
    try { await write(); return true; } catch { return false; }
  }
}

export async function releaseNodePort(port: number, root: string): Promise<void> {
  if (!validNodePort(port)) return;
  const have = readNodePortClaim(port);
  if (!have || have.root === root) await fs.rm(path.join(nodePortClaimsDir(), String(port)), { force: true });
}

/** Releases every nodePort claim of a root (reset). */
export async function releaseNodePortsOf(root: string): Promise<void> {
  let names: string[] = [];
  try { names = readdirSync(nodePortClaimsDir()); } catch { return; }
  for (const n of names) if (readNodePortClaim(Number(n))?.root === root) await fs.rm(path.join(nodePortClaimsDir(), n), { force: true });
}

/** Who holds a nodePort (undefined: nobody, or a stale claim). */
export function nodePortHolder(port: number): ServiceClaim | undefined {
  return readNodePortClaim(port);
}

// --- port checks --------------------------------------------------------------------------------

/** True when nothing on the host holds hostIP:port for that protocol (bind test). */
export async function portFree(p: PortMapping): Promise<boolean> {
  const host = p.hostIP || '0.0.0.0';
  if (p.protocol === 'udp') {
    return new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(p.hostPort, host, () => s.close(() => resolve(true)));
    });
  }
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port: p.hostPort, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

// --- the store ----------------------------------------------------------------------------------

interface Allocations {
  /** ip -> pod id */
  ips: Record<string, string>;
}

/**
 * Bridge networks and their address management. netavark has no IPAM: peapod hands out
 * addresses itself, under the state lock, and frees those of pods that no longer exist, so that
 * a crash never leaks an address for good.
 */
export class Networks {
  /** `rootless`: the only network is pasta's default one; bridges need root. */
  constructor(private readonly store: StateStore, private readonly rootless = false) {}

  private dir(): string {
    return path.join(this.store.root, 'networks');
  }

  private file(name: string): string {
    return path.join(this.dir(), `${name}.json`);
  }

  private allocFile(name: string): string {
    return path.join(this.dir(), `${name}.ipam.json`);
  }

  async list(): Promise<NetworkConfig[]> {
    if (this.rootless) return [pastaNetwork(DEFAULT_NETWORK)];
    let names: string[] = [];
    try {
      names = (await fs.readdir(this.dir())).filter((f) => f.endsWith('.json') && !f.endsWith('.ipam.json')).map((f) => f.slice(0, -5));
    } catch (err: any) {
      if (err?.code !== 'ENOENT') throw err;
    }
    const all = await Promise.all(names.map((n) => readJson<NetworkConfig>(this.file(n), namedRecord)));
    return all.filter((n): n is NetworkConfig => !!n).sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<NetworkConfig | undefined> {
    if (this.rootless) return name === DEFAULT_NETWORK ? pastaNetwork(DEFAULT_NETWORK) : undefined;
    if (!OBJECT_NAME.test(name)) return undefined;
    const n = await readJson<NetworkConfig>(this.file(name), namedRecord);
    if (n) return n;
    if (name === DEFAULT_NETWORK) return this.create({ name: DEFAULT_NETWORK, dnsEnabled: true });
    const byId = (await this.list()).filter((x) => x.id.startsWith(name));
    return byId.length === 1 ? byId[0] : undefined;
  }

  async mustGet(name: string): Promise<NetworkConfig> {
    const n = await this.get(name);
    if (!n) throw new PeapodError('not-found', `unable to find network with name or ID ${name}: network not found`);
    return n;
  }

  /** Creates a bridge network; the subnet (if not given) is the first free 10.90.N.0/24. */
  async create(opts: { name: string; subnet?: string; gateway?: string; dnsEnabled?: boolean; internal?: boolean; labels?: Record<string, string> }): Promise<NetworkConfig> {
    if (this.rootless) {
      if (opts.name === DEFAULT_NETWORK) return pastaNetwork(DEFAULT_NETWORK);
      throw new PeapodError('prerequisite', `network ${opts.name}: rootless peapod has no bridge networks (they need root); rootless pods use pasta on the default network "${DEFAULT_NETWORK}"`);
    }
    checkObjectName('network', opts.name);
    if (['host', 'none', 'bridge', 'private', 'slirp4netns', 'pasta'].includes(opts.name)) throw new PeapodError('invalid', `"${opts.name}" is a reserved network name`);
    return this.store.lock.with(async () => {
      const existing = await readJson<NetworkConfig>(this.file(opts.name), namedRecord);
      if (existing) {
        if (opts.name === DEFAULT_NETWORK) return existing;
        throw new PeapodError('exists', `network name ${opts.name} already used: network already exists`);
      }
      const ours = await this.list();
      const claims = readClaims();
      const others = [...claims.entries()].filter(([, c]) => c.root !== this.store.root);
      const used = [...(await usedSubnets()), ...ours.map((n) => n.subnet), ...others.map(([, c]) => c.subnet),
        ...claimedServiceIPs().map((ip) => `${intToIp(Math.floor(ipToInt(ip) / 4) * 4)}/30`)];
      let subnet = opts.subnet;
      if (subnet) {
        parseCidr(subnet);
        const clash = used.find((u) => overlaps(u, subnet!));
        if (clash) throw new PeapodError('invalid', `subnet ${subnet} overlaps ${clash}, which this host or another network uses`);
      } else {
        for (let i = 0; i < 256 && !subnet; i++) {
          const cand = `10.90.${i}.0/24`;
          if (!used.some((u) => overlaps(u, cand))) subnet = cand;
        }
        if (!subnet) throw new PeapodError('invalid', 'no free subnet in 10.90.0.0/16: pass --subnet');
      }
      const { base, size } = parseCidr(subnet);
      const gateway = opts.gateway ?? intToIp(base + 1);
      const g = ipToInt(gateway);
      if (g <= base || g >= base + size - 1) throw new PeapodError('invalid', `gateway ${gateway} is not inside ${subnet}`);
      const ifaces = new Set(ours.map((n) => n.networkInterface));
      let idx = 0;
      // a bridge of that name may exist already, or be claimed by another peapod root: take the next one
      for (;;) {
        const b = `peapod${idx}`;
        if (!ifaces.has(b) && !existsSync(`/sys/class/net/${b}`) && (await claimBridge(b, { root: this.store.root, network: opts.name, subnet }))) break;
        idx++;
      }
      const cfg: NetworkConfig = {
        name: opts.name,
        id: randomBytes(32).toString('hex'),
        driver: 'bridge',
        networkInterface: `peapod${idx}`,
        subnet,
        gateway,
        dnsEnabled: opts.dnsEnabled ?? true,
        internal: !!opts.internal,
        created: new Date().toISOString(),
        labels: opts.labels,
      };
      await writeJsonAtomic(this.file(cfg.name), cfg);
      return cfg;
    });
  }

  async remove(name: string, inUseBy: string[]): Promise<NetworkConfig> {
    const n = await this.mustGet(name);
    if (inUseBy.length) throw new PeapodError('state', `network ${n.name} is being used by ${inUseBy.join(', ')}: remove them first`);
    await this.store.lock.with(async () => {
      await fs.rm(this.file(n.name), { force: true });
      await fs.rm(this.allocFile(n.name), { force: true });
      await releaseBridge(n.networkInterface, this.store.root);
    });
    return n;
  }

  /**
   * Refuses static addresses that cannot be had on `network`: malformed, outside the subnet, the
   * gateway, or held by another live pod (`except`: pods that give theirs up, e.g. being replaced).
   */
  async checkStatic(network: NetworkConfig, ips: string[], except: string[] = []): Promise<string[]> {
    const problems = ips.map((ip) => staticAddressProblem(network, ip)).filter((p): p is string => !!p);
    if (problems.length) return problems;
    const held = await this.allocations(network.name);
    const pods = await this.store.listPods();
    for (const ip of ips) {
      const owner = pods.find((p) => !except.includes(p.id) && (p.id === held[ip] || ((p.spec.network || DEFAULT_NETWORK) === network.name && !p.spec.hostNetwork && p.spec.ips?.includes(ip))));
      if (owner) problems.push(`IP address ${ip} is already in use by pod ${owner.name} on network ${network.name}`);
    }
    return problems;
  }

  /**
   * The pod's address on the network: the one it has, its static one (`wanted`), or the lowest
   * free one that no pod asks for statically. Addresses held by pods that no longer exist are
   * freed first (crash recovery).
   */
  async allocate(network: NetworkConfig, podId: string, wanted?: string): Promise<string> {
    if (wanted) {
      const bad = staticAddressProblem(network, wanted);
      if (bad) throw new PeapodError('invalid', `static IP of pod: ${bad}`);
    }
    return this.store.lock.with(async () => {
      const a = (await readJson<Allocations>(this.allocFile(network.name))) ?? { ips: {} };
      const pods = await this.store.listPods();
      const live = new Set(pods.map((p) => p.id));
      for (const [ip, owner] of Object.entries(a.ips)) if (!live.has(owner) && owner !== podId) delete a.ips[ip];
      const mine = Object.entries(a.ips).find(([, owner]) => owner === podId);
      if (mine && (!wanted || mine[0] === wanted)) return mine[0];
      if (mine) delete a.ips[mine[0]];
      if (wanted) {
        const owner = a.ips[wanted];
        if (owner && owner !== podId) {
          const name = pods.find((p) => p.id === owner)?.name ?? owner;
          throw new PeapodError('exists', `IP address ${wanted} is already in use by pod ${name} on network ${network.name}`);
        }
        a.ips[wanted] = podId;
        await writeJsonAtomic(this.allocFile(network.name), a);
        return wanted;
      }
      // addresses other pods of this root ask for statically are kept free for them
      const reserved = new Set(pods.filter((p) => p.id !== podId && (p.spec.network || DEFAULT_NETWORK) === network.name).flatMap((p) => p.spec.ips ?? []));
      const { base, size } = parseCidr(network.subnet);
      const gw = ipToInt(network.gateway);
      for (let n = base + 1; n < base + size - 1; n++) {
        const ip = intToIp(n);
        if (n === gw || a.ips[ip] || reserved.has(ip)) continue;
        a.ips[ip] = podId;
        await writeJsonAtomic(this.allocFile(network.name), a);
        return ip;
      }
      throw new PeapodError('runtime', `network ${network.name} (${network.subnet}) has no free address left`);
    });
  }

  async release(networkName: string, podId: string): Promise<void> {
    await this.store.lock.with(async () => {
      const a = await readJson<Allocations>(this.allocFile(networkName));
      if (!a) return;
      let changed = false;
      for (const [ip, owner] of Object.entries(a.ips)) if (owner === podId) { delete a.ips[ip]; changed = true; }
      if (changed) await writeJsonAtomic(this.allocFile(networkName), a);
    });
  }

  async allocations(networkName: string): Promise<Record<string, string>> {
    return (await readJson<Allocations>(this.allocFile(networkName)))?.ips ?? {};
  }
}
