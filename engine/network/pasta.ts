// The rootless network backend: pasta (package passt) connects a pod's network namespace to the
// host's network without root. It copies the host's address and routes into the namespace
// (--config-net), carries outbound traffic through ordinary sockets of the user, and forwards each
// hostPort by listening on the host as the user. One pasta process per pod, started inside the
// user's namespace (so it may enter the pod's netns, a bind-mounted file as pasta requires), and
// killed at teardown.

import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';
import { findProgram } from '../config.js';
import { debug } from '../log.js';
import type { NetworkBackend, NetworkConfig, PodNetworkRequest, PodNetworkStatus, PortMapping } from './backend.js';
import { SYSCTL, unprivilegedPortStart } from './unprivileged.js';

export { unprivilegedPortStart };

/** Refuses host ports a rootless pod cannot publish, naming the sysctl that decides it. */
export function checkUnprivilegedPorts(ports: PortMapping[], start = unprivilegedPortStart()): void {
  const low = [...new Set(ports.filter((p) => p.hostPort < start).map((p) => p.hostPort))].sort((a, b) => a - b);
  if (!low.length) return;
  throw new PeapodError('prerequisite',
    `rootless pods cannot publish host port${low.length > 1 ? 's' : ''} ${low.join(', ')}: ports below ${start} (${SYSCTL}) need root; ` +
    `use a host port of ${start} or above, or lower the limit as root: sysctl -w ${SYSCTL}=${Math.min(...low)}`);
}

/** The network rootless pods are on: not a bridge, nothing stored (pasta copies the host's addresses). */
export function pastaNetwork(name: string): NetworkConfig {
  return {
    name, id: '0'.repeat(64), driver: 'pasta', networkInterface: '', subnet: '', gateway: '',
    dnsEnabled: false, internal: false, created: new Date(0).toISOString(),
  };
}

/** pasta's port list for one protocol: "[ADDR/]HOST:CTR,..." or "none". */
export function pastaPortSpec(ports: PortMapping[], protocol: 'tcp' | 'udp'): string[] {
  const mine = ports.filter((p) => p.protocol === protocol);
  if (!mine.length) return ['none'];
  return mine.map((p) => `${p.hostIP ? `${p.hostIP}/` : ''}${p.hostPort}:${p.containerPort}`);
}

export class PastaBackend implements NetworkBackend {
  readonly name = 'pasta';
  private readonly pasta: string;

  /** `stateDir(podId)`: where the pasta pid file and log of a pod live (its run dir). */
  constructor(private readonly stateDir: (podId: string) => string) {
    const p = process.env.PEAPOD_PASTA ?? findProgram('pasta');
    if (!p) throw new PeapodError('prerequisite', 'pasta not found: rootless pods need it for their network', { hint: 'apt-get install passt' });
    this.pasta = p;
  }

  async setup(req: PodNetworkRequest): Promise<PodNetworkStatus> {
    checkUnprivilegedPorts(req.ports);
    if (req.ports.some((p) => p.protocol === 'sctp')) throw new PeapodError('invalid', `pod ${req.podName}: rootless pods cannot publish sctp ports (pasta forwards tcp and udp)`);
    const dir = this.stateDir(req.podId);
    await fs.mkdir(dir, { recursive: true });
    const pidFile = path.join(dir, 'pasta.pid');
    const logFile = path.join(dir, 'pasta.log');
    const args = ['--config-net', '--quiet', '--ipv4-only'];
    for (const s of pastaPortSpec(req.ports, 'tcp')) args.push('-t', s);
    for (const s of pastaPortSpec(req.ports, 'udp')) args.push('-u', s);
    args.push('-T', 'none', '-U', 'none', '--netns', req.netnsPath, '-P', pidFile, '-l', logFile);
    debug(`running ${this.pasta} ${args.join(' ')}`);
    const r = await (await loadExeca())(this.pasta, args, { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) {
      const log = await fs.readFile(logFile, 'utf8').catch(() => '');
      const why = [r.stderr, log].join('\n').split('\n').filter((l) => l.trim() && !/^Failed to send .* to syslog/.test(l)).join('; ');
      const tun = /tun/i.test(why) ? ' (a normal user needs read-write access to /dev/net/tun)' : '';
      await this.teardown(req).catch(() => undefined);
      throw new PeapodError('runtime', `pasta setup of pod ${req.podName}: ${why || `exit code ${r.exitCode}`}${tun}`);
    }
    return this.status(req);
  }

  /** The address, prefix and gateway pasta copied into the namespace. */
  private async status(req: PodNetworkRequest): Promise<PodNetworkStatus> {
    const ns = `--net=${req.netnsPath}`;
    const addr = await (await loadExeca())('nsenter', [ns, 'ip', '-4', '-j', 'addr', 'show'], { reject: false });
    const route = await (await loadExeca())('nsenter', [ns, 'ip', '-4', '-j', 'route', 'show', 'default'], { reject: false });
    let iface = '';
    let ip = '';
    let prefixLength = 0;
    let mac: string | undefined;
    try {
      for (const link of JSON.parse(addr.stdout || '[]')) {
        if (link.ifname === 'lo') continue;
        const a = (link.addr_info ?? []).find((x: { family: string }) => x.family === 'inet');
        if (a) { iface = link.ifname; ip = a.local; prefixLength = a.prefixlen; mac = link.address; break; }
      }
    } catch { /* leave empty */ }
    let gateway = '';
    try { gateway = JSON.parse(route.stdout || '[]')[0]?.gateway ?? ''; } catch { /* none */ }
    return { network: req.network.name, interface: iface, ip, prefixLength, gateway, mac, dnsServers: [], dnsSearch: [] };
  }

  async teardown(req: PodNetworkRequest): Promise<void> {
    const pidFile = path.join(this.stateDir(req.podId), 'pasta.pid');
    const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (pid > 0 && isPasta(pid)) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      // pasta exits at once on TERM; wait for it so that its host ports are free when we return
      for (let i = 0; i < 200 && isPasta(pid); i++) await new Promise((r) => setTimeout(r, 10));
      if (isPasta(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    }
    await fs.rm(pidFile, { force: true });
    await fs.rm(path.join(this.stateDir(req.podId), 'pasta.log'), { force: true });
  }
}

function isPasta(pid: number): boolean {
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return (comm === 'pasta' || comm === 'passt' || comm.startsWith('pasta')) && state !== 'Z';
  } catch {
    return false;
  }
}

/**
 * An HTTP GET made from inside a network namespace (a rootless pod's address is pasta's copy of the
 * host's, so from the host side it would reach the host). Undefined when it answered 2xx/3xx, else why not.
 */
export async function httpGetInNetns(netnsPath: string, url: string, timeoutMs: number): Promise<string | undefined> {
  const script = 'fetch(process.argv[1],{signal:AbortSignal.timeout(Number(process.argv[2]))})'
    + '.then((r)=>{process.stdout.write(String(r.status))},(e)=>{process.stdout.write(`error ${e.message}`)})';
  const r = await (await loadExeca())('nsenter', [`--net=${netnsPath}`, '--', process.execPath, '-e', script, url, String(timeoutMs)], { reject: false, timeout: timeoutMs + 5000 });
  const out = r.stdout.trim();
  const status = Number(out);
  if (r.exitCode === 0 && status >= 200 && status < 400) return undefined;
  return `GET ${url}: ${Number.isInteger(status) && status > 0 ? `HTTP ${status}` : out.replace(/^error /, '') || r.stderr.trim() || `exit code ${r.exitCode}`}`;
}

/** execa, loaded only when rootless networking runs (it is not needed by every CLI start). */
async function loadExeca(): Promise<typeof import('execa')['execa']> {
  return (await import('execa')).execa;
}
