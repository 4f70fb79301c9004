// The networks of a Kubernetes pod: peapod's static-address annotation and play kube's --ip (pure).
import type { PodSpec } from '../../engine/types.js';
import { isIPv4 } from '../../engine/network/address.js';
import type { PlanProblem } from './plan-env.js';

/** A pod's static address(es) on its network: `10.90.3.7` (one per address family). */
export const IP_ANNOTATION = 'peapod.io/ip';

/**
 * Parses the value of `peapod.io/ip` (or one `--ip`): a comma-separated list of addresses, at
 * most one IPv4. Whether the address fits the network is the engine's check (the network's
 * subnet is not known here).
 */
export function parseStaticIPs(value: unknown): { ips: string[]; problem?: string } {
  if (typeof value !== 'string') return { ips: [], problem: 'must be a string' };
  const ips = value.split(',').map((x) => x.trim()).filter(Boolean);
  if (!ips.length) return { ips, problem: 'is empty: give an IPv4 address such as 10.90.0.7' };
  const bad = ips.find((ip) => !isIPv4(ip));
  // the value is the manifest's: shown shortened, never as a wall of text
  if (bad) return { ips, problem: `"${bad.length > 64 ? `${bad.slice(0, 64)}...` : bad}" is not an IPv4 address` };
  if (ips.length > 1) return { ips, problem: 'gives more than one IPv4 address: a pod has one address on its network' };
  return { ips };
}

/** The static address of a planned pod from its annotation; problems point at the annotation. */
export function planStaticIPs(pod: PodSpec, metaPath: Array<string | number>, problems: PlanProblem[]): void {
  const value = pod.annotations?.[IP_ANNOTATION];
  if (value === undefined) return;
  const r = parseStaticIPs(value);
  if (r.problem) {
    problems.push({ path: [...metaPath, 'annotations', IP_ANNOTATION], message: `static IP ${r.problem}`, severity: 'error' });
    return;
  }
  if (pod.hostNetwork) {
    problems.push({ path: [...metaPath, 'annotations', IP_ANNOTATION], message: 'a hostNetwork pod has the host\'s addresses: it cannot have a static IP', severity: 'error' });
    return;
  }
  pod.ips = r.ips;
}
