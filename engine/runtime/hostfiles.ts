// Text of a container's /etc/hosts and /etc/resolv.conf, following Podman 4.3.1
// (containers/common v0.50.1 libnetwork/etchosts and libnetwork/resolvconf). Pure builders: the caller
// reads the host's files and writes the results.

export interface HostEntry {
  ip: string;
  names: string[];
}

export interface HostsOptions {
  /** The container's (pod's) hostname. */
  hostname: string;
  /** The pod's address on its network; without one the hostname maps to 127.0.0.1, as Podman does
   * for a container without a network address. */
  ip?: string;
  /** More names for the pod's address, after the hostname (Podman adds the container name). */
  names?: string[];
  /** --add-host / hostAliases entries: written first, so they win over everything below. */
  extra?: HostEntry[];
  /** A base hosts file (Podman copies the host's /etc/hosts; default: none). Comments are dropped. */
  base?: string;
  /** Address for host.containers.internal, when the caller knows one. */
  hostContainersInternal?: string;
}

function line(e: HostEntry): string {
  return `${e.ip}\t${e.names.join(' ')}\n`;
}

/** Parses hosts(5) text: "IP name..." per line, comments and lines without a name skipped. */
export function parseHosts(text: string): HostEntry[] {
  const out: HostEntry[] = [];
  for (const raw of text.split('\n')) {
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/).filter((f) => f !== '');
    if (fields.length >= 2) out.push({ ip: fields[0], names: fields.slice(1) });
  }
  return out;
}

/**
 * /etc/hosts as Podman writes it: the extra entries, the base file's entries, then
 * "127.0.0.1 localhost", "::1 localhost", host.containers.internal and the pod's own entry, each of
 * these last ones without the names the extra and base entries already map (those win). One
 * "IP<TAB>names" line per entry.
 */
export function hostsFile(opts: HostsOptions): string {
  const user: HostEntry[] = [...(opts.extra ?? []).filter((e) => e.names.length > 0), ...parseHosts(opts.base ?? '')];
  const seen = new Set(user.flatMap((e) => e.names));
  const own: HostEntry[] = [
    { ip: '127.0.0.1', names: ['localhost'] },
    { ip: '::1', names: ['localhost'] },
  ];
  if (opts.hostContainersInternal) own.push({ ip: opts.hostContainersInternal, names: ['host.containers.internal'] });
  const podNames = [...new Set([opts.hostname, ...(opts.names ?? [])].filter((n) => n !== ''))];
  if (podNames.length > 0) own.push({ ip: opts.ip ?? '127.0.0.1', names: podNames });

  let out = user.map(line).join('');
  for (const e of own) {
    const free = e.names.filter((n) => !seen.has(n));
    if (free.length > 0) out += line({ ip: e.ip, names: free });
  }
  return out;
}

export interface ResolvOptions {
  /** Replace the host's nameservers (unless keepHostServers). */
  nameservers?: string[];
  /** Replace the host's search domains; ["."] means none at all. */
  searches?: string[];
  /** Replace the host's options. */
  options?: string[];
  /** Append the host's (filtered) nameservers, searches and options after the given ones. */
  keepHostServers?: boolean;
  /** The network has IPv6: keep the host's IPv6 nameservers (and add Google's IPv6 fallbacks). */
  ipv6?: boolean;
  /** The container shares the host's network namespace: the host file is used unfiltered. */
  hostNetwork?: boolean;
  /** false: the host's options are left out even with keepHostServers (the kubelet's ClusterFirst) */
  hostOptions?: boolean;
}

const IPV4 = String.raw`(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)`;
const IPV6 = String.raw`(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?`;
const NAMESERVER = new RegExp(String.raw`^\s*nameserver\s+(${IPV4}|${IPV6})\s*$`);

/** Podman's fallback when no usable nameserver is left (containers/common resolvconf). */
export const FALLBACK_NAMESERVERS_V4 = ['8.8.8.8', '8.8.4.4'];
export const FALLBACK_NAMESERVERS_V6 = ['2001:4860:4860::8888', '2001:4860:4860::8844'];

interface Resolv { nameservers: string[]; searches: string[]; options: string[] }

function stripComment(l: string): string {
  const i = l.indexOf('#');
  return i < 0 ? l : l.slice(0, i);
}

/** Nameservers (in order), and the last search and options lines, as the resolver reads them. */
export function parseResolvConf(text: string): Resolv {
  const r: Resolv = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const l = stripComment(raw);
    const ns = NAMESERVER.exec(l);
    if (ns) { r.nameservers.push(ns[1]); continue; }
    const f = l.trim().split(/\s+/);
    if (f[0] === 'search') r.searches = f.slice(1);
    else if (f[0] === 'options') r.options = f.slice(1);
  }
  return r;
}

function isLocalhost(ip: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip) || ip === '::1';
}

/**
 * When the host's only nameserver is a local stub resolver, the file that lists the real servers
 * (Podman reads it instead): systemd-resolved's 127.0.0.53, NetworkManager's 127.0.0.1.
 */
export function localResolverSource(hostResolvConf: string): string | undefined {
  const ns = parseResolvConf(hostResolvConf).nameservers;
  if (ns.length !== 1) return undefined;
  if (ns[0] === '127.0.0.53') return '/run/systemd/resolve/resolv.conf';
  if (ns[0] === '127.0.0.1') return '/run/NetworkManager/no-stub-resolv.conf';
  return undefined;
}

/**
 * /etc/resolv.conf for a container, like Podman: from the host's file, in a container network
 * namespace the 127.0.0.0/8 and ::1 nameservers are dropped (unreachable from there), and IPv6 ones
 * too unless ipv6; when none remain, 8.8.8.8 and 8.8.4.4 are used (plus Google's IPv6 ones with ipv6).
 * Given nameservers/searches/options replace the host's (keepHostServers: come first, host's after).
 * Output: "search ..." line, "nameserver X" lines, "options ..." line; nothing else.
 */
export function resolvConf(hostResolvConf: string, opts: ResolvOptions = {}): string {
  const given = { nameservers: opts.nameservers ?? [], searches: opts.searches ?? [], options: opts.options ?? [] };
  const noDots = (s: string[]) => (s.includes('.') ? [] : s);

  let host: Resolv;
  if (given.nameservers.length > 0 && given.searches.length > 0 && given.options.length > 0 && !opts.keepHostServers) {
    host = { nameservers: [], searches: [], options: [] };
  } else {
    host = parseResolvConf(hostResolvConf);
    if (!opts.hostNetwork) {
      host.nameservers = host.nameservers.filter((ip) => !isLocalhost(ip) && (opts.ipv6 || !ip.includes(':')));
      if (host.nameservers.length === 0) host.nameservers = [...FALLBACK_NAMESERVERS_V4, ...(opts.ipv6 ? FALLBACK_NAMESERVERS_V6 : [])];
    }
  }

  const pick = (mine: string[], theirs: string[]) => (mine.length === 0 || opts.keepHostServers ? [...mine, ...theirs] : mine);
  const nameservers = [...new Set(pick(given.nameservers, host.nameservers))];
  const searchesGiven = noDots(given.searches);
  const searches = given.searches.length === 0 || (opts.keepHostServers && searchesGiven.length > 0) ? [...searchesGiven, ...host.searches] : searchesGiven;
  const options = pick(given.options, opts.hostOptions === false ? [] : host.options);

  let out = '';
  if (searches.length > 0 && searches.join(' ').trim() !== '.') out += `search ${searches.join(' ')}\n`;
  for (const ns of nameservers) out += `nameserver ${ns}\n`;
  if (options.length > 0) out += `options ${options.join(' ')}\n`;
  return out;
}
