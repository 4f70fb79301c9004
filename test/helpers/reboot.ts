// A simulated reboot of one sandbox: what a real one does to peapod's world, without rebooting.
// Every process of the sandbox (conmons, containers, pod monitors, exit commands) is killed with
// SIGKILL, every mount under its run root goes, and the run root (tmpfs on a real host) is wiped.
// The records under --root stay, still saying "running". What a reboot clears of the host's
// network (the pods' iptables rules, veths and bridge) is cleared first with netavark's teardown,
// while the namespaces still exist, as the host would have it after booting.
import { readFileSync, readdirSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { Sandbox } from './cli.js';
import { NetavarkBackend, netavarkConfigDir, removeIdleNetavarkChains } from '../../engine/network/netavark.js';
import type { PodNetworkState } from '../../engine/pod/pods.js';

/** Pids in a cgroup directory and every cgroup below it. */
function cgroupPids(dir: string): number[] {
  const out: number[] = [];
  let entries;
  try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return out; }
  try { out.push(...readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)); } catch { /* gone */ }
  for (const e of entries) if (e.isDirectory()) out.push(...cgroupPids(path.join(dir, e.name)));
  return out;
}

/** Processes whose command line names the sandbox's directory, and every process in its cgroups. */
export function sandboxPids(sb: Sandbox): number[] {
  const pids = new Set<number>();
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').some((a) => a.includes(sb.dir))) pids.add(Number(p));
    } catch { /* gone */ }
  }
  const base = '/sys/fs/cgroup';
  const roots = existsSync(path.join(base, 'cgroup.controllers')) ? [base] : readdirSync(base).map((h) => path.join(base, h));
  for (const r of roots) for (const pid of cgroupPids(path.join(r, sb.cgroupParent.replace(/^\//, '')))) pids.add(pid);
  pids.delete(process.pid);
  return [...pids];
}

const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch { return false; }
};

/** `nsPid`: a process whose mount namespace holds the sandbox's mounts (a systemd manager's). */
export async function simulateReboot(sb: Sandbox, nsPid?: number): Promise<void> {
  const podsRun = path.join(sb.runroot, 'pods');
  for (const id of existsSync(podsRun) ? readdirSync(podsRun) : []) {
    const file = path.join(podsRun, id, 'network.json');
    if (!existsSync(file)) continue;
    const net = JSON.parse(readFileSync(file, 'utf8')) as PodNetworkState;
    // the namespace files are mounted in nsPid's mount namespace: netavark runs there
    const wrapper = path.join(sb.dir, 'netavark-in-ns');
    if (nsPid) writeFileSync(wrapper, `#!/bin/sh\nexec nsenter -m -t ${nsPid} /usr/lib/podman/netavark "$@"\n`, { mode: 0o755 });
    const saved = process.env.PEAPOD_NETAVARK;
    if (nsPid) process.env.PEAPOD_NETAVARK = wrapper;
    try {
      await new NetavarkBackend(netavarkConfigDir(sb.runroot)).teardown(net.request);
    } finally {
      if (saved === undefined) delete process.env.PEAPOD_NETAVARK; else process.env.PEAPOD_NETAVARK = saved;
    }
  }
  await removeIdleNetavarkChains();
  // kill until nothing is left (an exit command may start while the first round dies)
  for (let round = 0; round < 50; round++) {
    const pids = sandboxPids(sb).filter(alive);
    if (!pids.length) break;
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await new Promise((r) => setTimeout(r, 100));
  }
  const mounts = readFileSync(`/proc/${nsPid ?? 'self'}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(sb.runroot + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execa(nsPid ? 'nsenter' : 'umount', nsPid ? ['-m', '-t', String(nsPid), 'umount', '-l', m] : ['-l', m], { reject: false });
  rmSync(sb.runroot, { recursive: true, force: true });
}
