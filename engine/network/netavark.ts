import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import { findProgram } from '../config.js';
import { debug } from '../log.js';
import { runProgram } from '../spawn.js';
import type { NetworkBackend, PodNetworkRequest, PodNetworkStatus } from './backend.js';

const LIBEXEC = ['/usr/lib/podman', '/usr/libexec/podman', '/usr/local/lib/podman', '/usr/local/libexec/podman'];

/** The rootful bridge backend: netavark (and aardvark-dns for names), driven with JSON on stdin. */
export class NetavarkBackend implements NetworkBackend {
  readonly name = 'netavark';
  private readonly netavark: string;
  private readonly aardvark?: string;

  constructor(private readonly configDir: string) {
    const nv = process.env.PEAPOD_NETAVARK ?? findProgram('netavark', LIBEXEC);
    if (!nv) throw new PeapodError('prerequisite', 'netavark not found (looked in PATH and /usr/lib/podman)', { hint: 'apt-get install netavark aardvark-dns' });
    this.netavark = nv;
    this.aardvark = process.env.PEAPOD_AARDVARK ?? findProgram('aardvark-dns', LIBEXEC);
  }

  private options(req: PodNetworkRequest, noDns = false) {
    const n = req.network;
    // netavark names its iptables chains and aardvark's files after the network's name: several
    // peapod roots each have a network "peapod", so the name netavark sees is unique per network.
    const name = netavarkName(n);
    return {
      container_id: req.podId,
      container_name: req.podName,
      networks: { [name]: { interface_name: 'eth0', static_ips: [req.ip], aliases: req.aliases } },
      network_info: {
        [name]: {
          name, id: n.id, driver: 'bridge', network_interface: n.networkInterface,
          subnets: [{ subnet: n.subnet, gateway: n.gateway }],
          ipv6_enabled: false, internal: n.internal, dns_enabled: n.dnsEnabled && !!this.aardvark && !noDns,
          ipam_options: { driver: 'host-local' },
        },
      },
      port_mappings: req.ports.map((p) => ({ host_ip: p.hostIP, container_port: p.containerPort, host_port: p.hostPort, range: 1, protocol: p.protocol })),
      dns_servers: null,
    };
  }

  private async run(cmd: 'setup' | 'teardown', req: PodNetworkRequest, noDns = false): Promise<string> {
    await fs.mkdir(this.configDir, { recursive: true });
    const args = ['--config', this.configDir, '--rootless', 'false'];
    if (this.aardvark) args.push('--aardvark-binary', this.aardvark);
    args.push(cmd, req.netnsPath);
    const input = JSON.stringify(this.options(req, noDns));
    debug(`running ${this.netavark} ${args.join(' ')} <<< ${input}`);
    const r = await runProgram(this.netavark, args, { input });
    if (r.exitCode !== 0) {
      let msg = (r.stdout || r.stderr).trim();
      try { msg = JSON.parse(msg).error ?? msg; } catch { /* not JSON */ }
      throw new PeapodError('runtime', `netavark ${cmd} of pod ${req.podName}: ${msg}`);
    }
    return r.stdout;
  }

  async setup(req: PodNetworkRequest): Promise<PodNetworkStatus> {
    const out = JSON.parse(await this.run('setup', req));
    const info = out[netavarkName(req.network)] ?? {};
    const [ifname, iface] = Object.entries<any>(info.interfaces ?? {})[0] ?? ['eth0', {}];
    const sub = iface.subnets?.[0] ?? {};
    const [ip, prefix] = String(sub.ipnet ?? `${req.ip}/${req.network.subnet.split('/')[1]}`).split('/');
    return {
      network: req.network.name,
      interface: ifname,
      ip,
      prefixLength: Number(prefix),
      gateway: sub.gateway ?? req.network.gateway,
      mac: iface.mac_address,
      dnsServers: info.dns_server_ips ?? [],
      dnsSearch: info.dns_search_domains ?? [],
    };
  }

  async teardown(req: PodNetworkRequest): Promise<void> {
    try {
      await this.run('teardown', req);
    } catch (err) {
      const msg = String((err as Error).message);
      if (/aardvark.*pid/i.test(msg) && !/multiple errors/i.test(msg)) {
        // aardvark-dns died behind netavark's back (killed, or ended with a systemd unit's cgroup):
        // netavark tore down the rest (it collects its errors and goes on) and removed the pod's
        // names, but could not tell aardvark. Its stale pid file goes (and any names of the pod
        // left); the next pod's setup starts a fresh aardvark-dns.
        debug(`netavark teardown: ${msg}: aardvark-dns is gone, the rest was torn down`);
        await this.forgetDeadAardvark(req);
        return;
      }
      // The namespace may be gone already (reboot, crash): nothing left to undo inside it.
      if (!/no such file|not exist|ENOENT/i.test(msg)) throw err;
      debug(`netavark teardown: ${msg}`);
    }
  }

  /** The pod's entries out of aardvark-dns's file of its network, and its pid file if that process is gone. */
  private async forgetDeadAardvark(req: PodNetworkRequest): Promise<void> {
    const dir = path.join(this.configDir, 'aardvark-dns');
    const pidFile = path.join(dir, 'aardvark.pid');
    const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
    let alive = false;
    try { if (pid > 1) { process.kill(pid, 0); alive = !/^State:\s+Z/m.test(await fs.readFile(`/proc/${pid}/status`, 'utf8')); } } catch { /* gone */ }
    if (!alive) await fs.rm(pidFile, { force: true });
    const file = path.join(dir, netavarkName(req.network));
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return;
    const [header, ...rest] = text.split('\n').filter(Boolean);
    const kept = rest.filter((l) => l.split(' ')[0] !== req.podId);
    if (!kept.length) await fs.rm(file, { force: true });
    else if (kept.length !== rest.length) await fs.writeFile(file, [header, ...kept].join('\n') + '\n');
  }
}

/**
 * netavark creates base chains on first use and never removes them. When no rule of any
 * container is left in them, peapod removes them again, so that a host where every pod is gone
 * has the iptables rules it had before. Chains that still hold rules (other pods, Podman's
 * containers) are left alone.
 */
export async function removeIdleNetavarkChains(): Promise<void> {
  const ipt = findProgram('iptables');
  if (!ipt) return;
  const save = await runProgram('iptables-save', []);
  if (save.exitCode !== 0) return;
  const lines = save.stdout.split('\n');
  const rulesIn = (chain: string) => lines.filter((l) => l.startsWith(`-A ${chain} `)).length;
  const exists = (chain: string) => lines.some((l) => l === `:${chain} - [0:0]` || l.startsWith(`:${chain} `));
  if (!exists('NETAVARK_FORWARD') && !exists('NETAVARK-HOSTPORT-DNAT')) return;
  // Any per-network chain, container rule or port forward still there: in use.
  if (lines.some((l) => /^:NETAVARK-[0-9A-F]{10,}/i.test(l) || /^:NETAVARK-DN-/.test(l))) return;
  if (rulesIn('NETAVARK_FORWARD') > 0 || rulesIn('NETAVARK-HOSTPORT-DNAT') > 0) return;
  // One iptables-restore for all of it (one process instead of ten); the commands one by one
  // where it is missing or refuses.
  const restore = findProgram('iptables-restore');
  if (restore) {
    const r = await runProgram(restore, ['--noflush'], { input: idleChainsRemoval(lines) });
    if (r.exitCode === 0) {
      debug('removed netavark\'s idle base chains');
      return;
    }
    debug(`iptables-restore: ${r.stderr.trim()}`);
  }
  const run = (table: string, ...args: string[]) => runProgram(ipt, ['-t', table, ...args]);
  await run('filter', '-D', 'FORWARD', '-m', 'comment', '--comment', 'netavark firewall plugin rules', '-j', 'NETAVARK_FORWARD');
  await run('filter', '-X', 'NETAVARK_FORWARD');
  await run('nat', '-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'NETAVARK-HOSTPORT-DNAT');
  await run('nat', '-D', 'OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'NETAVARK-HOSTPORT-DNAT');
  await run('nat', '-D', 'POSTROUTING', '-j', 'NETAVARK-HOSTPORT-MASQ');
  for (const c of ['NETAVARK-HOSTPORT-MASQ', 'NETAVARK-HOSTPORT-SETMARK', 'NETAVARK-HOSTPORT-DNAT']) {
    await run('nat', '-F', c);
    await run('nat', '-X', c);
  }
  debug('removed netavark\'s idle base chains');
}

const BASE_CHAINS: Record<string, string[]> = {
  filter: ['NETAVARK_FORWARD'],
  nat: ['NETAVARK-HOSTPORT-DNAT', 'NETAVARK-HOSTPORT-MASQ', 'NETAVARK-HOSTPORT-SETMARK'],
};

/**
 * iptables-restore input (for --noflush) that removes netavark's base chains present in an
 * iptables-save dump: the jumps to them from the built-in chains, then their rules, then them.
 */
export function idleChainsRemoval(saved: string[]): string {
  const out: string[] = [];
  let table = '';
  const present = new Set<string>();
  const jumps: string[] = [];
  const flush = () => {
    const chains = (BASE_CHAINS[table] ?? []).filter((c) => present.has(c));
    if (chains.length || jumps.length) {
      out.push(`*${table}`, ...jumps, ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT');
    }
    present.clear();
    jumps.length = 0;
  };
  for (const line of saved) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      continue;
    }
    if (line.startsWith('COMMIT')) {
      flush();
      continue;
    }
    const ours = BASE_CHAINS[table] ?? [];
    const chain = line.match(/^:(\S+) /)?.[1];
    if (chain && ours.includes(chain)) present.add(chain);
    const rule = line.match(/^-A (\S+) .*-j (\S+)$/);
    if (rule && !ours.includes(rule[1]) && ours.includes(rule[2])) jumps.push(`-D ${line.slice(3)}`);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** The name netavark knows a network by: its name and the start of its (random, per root) id. */
export function netavarkName(n: { name: string; id: string }): string {
  return `${n.name}-${n.id.slice(0, 12)}`;
}

export function netavarkConfigDir(runroot: string): string {
  return path.join(runroot, 'netavark');
}
