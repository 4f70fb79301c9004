// Addresses and subnets (pure: no I/O), shared by the engine's address management and the
// planner's checks of static addresses.
import { PeapodError } from '../errors.js';

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new PeapodError('invalid', `invalid IPv4 address "${ip}"`);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; prefix: number; size: number } {
  const [ip, pfx] = cidr.split('/');
  const prefix = Number(pfx);
  if (!Number.isInteger(prefix) || prefix < 8 || prefix > 30) throw new PeapodError('invalid', `invalid subnet "${cidr}": use an IPv4 CIDR with a prefix between /8 and /30`);
  const size = 2 ** (32 - prefix);
  const base = ipToInt(ip);
  if (base % size !== 0) throw new PeapodError('invalid', `invalid subnet "${cidr}": the address has bits set outside the prefix`);
  return { base, prefix, size };
}

/** A dotted-quad IPv4 address (no leading zeros, no shorthand): what a static address may be written as. */
export function isIPv4(ip: string): boolean {
  return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(ip);
}

/**
 * Why `ip` cannot be a pod's address on `network` (undefined: it can): not an address, outside
 * the subnet, the subnet's own or broadcast address, or the gateway.
 */
export function staticAddressProblem(network: { name: string; subnet: string; gateway: string }, ip: string): string | undefined {
  if (!isIPv4(ip)) return `"${ip}" is not an IPv4 address`;
  const { base, size } = parseCidr(network.subnet);
  const n = ipToInt(ip);
  if (n < base || n >= base + size) return `${ip} is outside the subnet ${network.subnet} of network ${network.name}`;
  if (n === base) return `${ip} is the subnet address of network ${network.name} (${network.subnet})`;
  if (n === base + size - 1) return `${ip} is the broadcast address of network ${network.name} (${network.subnet})`;
  if (ip === network.gateway) return `${ip} is the gateway of network ${network.name}`;
  return undefined;
}

export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.base < y.base + y.size && y.base < x.base + x.size;
}

