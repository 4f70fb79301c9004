// Networks as the front ends ask for them (the CLI's `network` commands, the API's networks
// endpoints): Podman's network JSON, list/inspect/create/remove with the pods that use a network.
import type { NetworkConfig } from '../../engine/network/backend.js';
import { DEFAULT_NETWORK } from '../../engine/network/networks.js';
import { PeapodError } from '../../engine/errors.js';
import type { Engine } from '../../engine/engine.js';

export { DEFAULT_NETWORK };
export type { NetworkConfig };

/** Podman's network JSON (netavark format) for ls --format json and inspect. */
export function networkView(n: NetworkConfig) {
  return {
    name: n.name,
    id: n.id,
    driver: n.driver,
    network_interface: n.networkInterface,
    created: n.created,
    subnets: [{ subnet: n.subnet, gateway: n.gateway }],
    ipv6_enabled: false,
    internal: n.internal,
    dns_enabled: n.dnsEnabled,
    labels: n.labels ?? {},
    ipam_options: { driver: 'host-local' },
  };
}

/** Every network, the default one included (it always exists, as Podman's does). */
export async function listNetworks(engine: Engine): Promise<NetworkConfig[]> {
  await engine.networks.get(DEFAULT_NETWORK);
  return engine.networks.list();
}

/** Pods (by name) that use a network. */
export async function networkUsers(engine: Engine, name: string): Promise<string[]> {
  return (await engine.pods.list()).filter((p) => engine.pods.networkMode(p) === name).map((p) => p.name);
}

export interface CreateNetworkOptions { name?: string; subnet?: string; gateway?: string; disableDns?: boolean; internal?: boolean; driver?: string; labels?: Record<string, string> }

/** `network create`: a bridge network; without a name the first free peapodN. */
export async function createNetwork(engine: Engine, o: CreateNetworkOptions): Promise<NetworkConfig> {
  if (o.driver && o.driver !== 'bridge') throw new PeapodError('invalid', `unsupported driver ${o.driver}: only bridge networks are available`);
  let n = o.name;
  if (!n) {
    const have = new Set((await engine.networks.list()).map((x) => x.name));
    for (let i = 1; !n; i++) if (!have.has(`peapod${i}`)) n = `peapod${i}`;
  }
  return engine.networks.create({ name: n, subnet: o.subnet, gateway: o.gateway, dnsEnabled: !o.disableDns, internal: o.internal, labels: o.labels });
}

/** `network rm`: refused while pods use it, unless `force` (which removes those pods first). */
export async function removeNetwork(engine: Engine, ref: string, o: { force?: boolean; timeout?: number } = {}): Promise<NetworkConfig> {
  const n = await engine.networks.mustGet(ref);
  let users = await networkUsers(engine, n.name);
  if (users.length && o.force) {
    for (const u of users) await engine.pods.remove(u, { force: true, timeout: o.timeout ?? 0 });
    users = [];
  }
  return engine.networks.remove(n.name, users.map((u) => `pod ${u}`));
}
