// The machine the numbers come from, and host state the bench must leave as it found it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { firstLine, run, which } from './exec.js';

export interface Machine {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  distro: string;
  cgroups: string;
  node: string;
  runc: string;
  crun: string;
  conmon: string;
  netavark: string;
  podman: string;
  peapod: string;
}

const LIBEXEC = ['/usr/lib/podman', '/usr/libexec/podman'];

function versionOf(line: string): string {
  return line.match(/(\d+\.\d+(?:\.\d+)?)/)?.[1] ?? (line || 'absent');
}

export async function describeMachine(peapodVersionLine: string): Promise<Machine> {
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const distro = osRelease.match(/^PRETTY_NAME="?([^"\n]*)"?/m)?.[1] ?? os.type();
  const cgroups = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2'
    : existsSync('/sys/fs/cgroup/unified') ? 'v1 (hybrid)' : 'v1';
  const tool = async (name: string, args = ['--version']) => {
    const p = which(name, LIBEXEC);
    return p ? versionOf(await firstLine([p, ...args])) : 'absent';
  };
  return {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: (os.cpus()[0]?.model ?? 'unknown').trim(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    distro,
    cgroups,
    node: process.version,
    runc: await tool('runc'),
    crun: await tool('crun'),
    conmon: await tool('conmon'),
    netavark: await tool('netavark'),
    podman: await tool('podman'),
    peapod: versionOf(peapodVersionLine),
  };
}

export function machineLine(m: Machine): string {
  return `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB RAM, Linux ${m.kernel} (${m.distro}), cgroups ${m.cgroups}; `
    + `Node ${m.node}; runc ${m.runc}, conmon ${m.conmon}, netavark ${m.netavark}, podman ${m.podman}, peapod ${m.peapod}`;
}

// --- iptables ------------------------------------------------------------------------------------

const BASE_CHAINS = ['NETAVARK_FORWARD', 'NETAVARK-HOSTPORT-DNAT', 'NETAVARK-HOSTPORT-MASQ', 'NETAVARK-HOSTPORT-SETMARK'];

export async function iptablesChains(): Promise<{ chains: Set<string>; lines: string[] } | undefined> {
  if (!which('iptables-save')) return undefined;
  const r = await run(['iptables-save'], { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  const lines = r.stdout.split('\n');
  return { chains: new Set(lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0])), lines };
}

/**
 * netavark leaves its base chains behind when the last container of any network is gone. Remove
 * those that were not there before the bench ran, and only when no network or container rule of
 * anyone is left in them (so another user's containers are never touched).
 */
export async function removeIdleNetavarkChains(before: Set<string> | undefined): Promise<string[]> {
  const now = await iptablesChains();
  const ipt = which('iptables');
  if (!now || !ipt || !before) return [];
  const ours = BASE_CHAINS.filter((c) => now.chains.has(c) && !before.has(c));
  if (!ours.length) return [];
  if ([...now.chains].some((c) => /^NETAVARK-(DN-)?[0-9A-F]{10,}$/i.test(c))) return [];
  const rulesIn = (c: string) => now.lines.filter((l) => l.startsWith(`-A ${c} `)).length;
  if (rulesIn('NETAVARK_FORWARD') > 0 || rulesIn('NETAVARK-HOSTPORT-DNAT') > 0) return [];
  const ipt_ = (table: string, ...args: string[]) => run([ipt, '-t', table, ...args], { timeoutMs: 10_000 });
  if (ours.includes('NETAVARK_FORWARD')) {
    await ipt_('filter', '-D', 'FORWARD', '-m', 'comment', '--comment', 'netavark firewall plugin rules', '-j', 'NETAVARK_FORWARD');
    await ipt_('filter', '-X', 'NETAVARK_FORWARD');
  }
  if (ours.includes('NETAVARK-HOSTPORT-DNAT')) {
    await ipt_('nat', '-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'NETAVARK-HOSTPORT-DNAT');
    await ipt_('nat', '-D', 'OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'NETAVARK-HOSTPORT-DNAT');
  }
  if (ours.includes('NETAVARK-HOSTPORT-MASQ')) await ipt_('nat', '-D', 'POSTROUTING', '-j', 'NETAVARK-HOSTPORT-MASQ');
  for (const c of ['NETAVARK-HOSTPORT-MASQ', 'NETAVARK-HOSTPORT-SETMARK', 'NETAVARK-HOSTPORT-DNAT']) {
    if (!ours.includes(c)) continue;
    await ipt_('nat', '-F', c);
    await ipt_('nat', '-X', c);
  }
  return ours;
}

/** netavark's iptables chains of a bridge network: NETAVARK-<first 13 hex of sha512(name)> and its -DN- twin. */
export function netavarkChainsOf(network: string): string[] {
  const h = createHash('sha512').update(network).digest('hex').slice(0, 13).toUpperCase();
  return [`NETAVARK-${h}`, `NETAVARK-DN-${h}`];
}

/**
 * Removes what is left in the nat table of a network that no longer has any container (rules that
 * jump to its chains, then the chains). Only for networks the bench made under a unique name.
 */
export async function removeNetworkChains(network: string): Promise<string[]> {
  const now = await iptablesChains();
  const ipt = which('iptables');
  if (!now || !ipt) return [];
  const chains = netavarkChainsOf(network).filter((c) => now.chains.has(c));
  if (!chains.length) return [];
  let table = '';
  for (const l of now.lines) {
    if (l.startsWith('*')) table = l.slice(1);
    const m = l.match(/^-A (\S+) (.*)$/);
    if (m && table && chains.some((c) => m[2].endsWith(`-j ${c}`)) && !chains.includes(m[1])) {
      await run([ipt, '-t', table, '-D', m[1], ...splitRule(m[2])], { timeoutMs: 10_000 });
    }
  }
  for (const c of chains) {
    await run([ipt, '-t', 'nat', '-F', c], { timeoutMs: 10_000 });
    await run([ipt, '-t', 'nat', '-X', c], { timeoutMs: 10_000 });
  }
  return chains;
}

/** iptables-save rule text to argv (double-quoted words, as in comments, stay one word). */
export function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}
