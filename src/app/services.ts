// Services as the CLI's `service` commands show them: each with its VIP, ports and the endpoints
// it has now (the pods' readiness read at the time of the call).
import type { ServiceView } from '../../engine/network/services.js';
import { serviceNames } from '../../engine/network/services.js';
import type { Opener } from './engine.js';

/** What `service ls` and `service inspect` show of one Service (kubectl's words where it has them). */
export interface ServiceReport {
  Id: string;
  Name: string;
  Namespace: string;
  Type: string;
  ClusterIP: string;
  Ports: string;
  Selector: Record<string, string>;
  SessionAffinity: string;
  PublishNotReadyAddresses: boolean;
  /** NodePort and LoadBalancer only */
  ExternalTrafficPolicy?: string;
  Names: string[];
  /** ExternalName: the name, and the addresses its names answer with (looked up when it was made) */
  ExternalName?: string;
  ExternalAddresses?: string[];
  ExternalResolved?: string;
  Endpoints: Array<{ Pod: string; IP: string; Ready: boolean; Ports: Record<string, number> }>;
  Created: string;
  Source?: string;
}

export function serviceReport(v: ServiceView): ServiceReport {
  return {
    Id: v.id,
    Name: v.spec.name,
    Namespace: v.spec.namespace,
    Type: v.spec.type,
    ClusterIP: v.clusterIP,
    Ports: v.spec.ports.map((p) => {
      const node = v.nodePorts?.[`${p.protocol}/${p.port}`] ?? p.nodePort;
      return `${p.port}${node ? `:${node}` : ''}/${p.protocol.toUpperCase()}${String(p.targetPort) !== String(p.port) ? `->${p.targetPort}` : ''}`;
    }).join(',') || '<none>',
    Selector: v.spec.selector,
    SessionAffinity: v.spec.affinitySeconds ? 'ClientIP' : 'None',
    PublishNotReadyAddresses: !!v.spec.publishNotReadyAddresses,
    ...(v.spec.type !== 'ClusterIP' ? { ExternalTrafficPolicy: v.spec.externalTrafficPolicy ?? 'Cluster' } : {}),
    Names: serviceNames(v.spec),
    ...(v.spec.externalName ? { ExternalName: v.spec.externalName, ExternalAddresses: v.external?.addresses ?? [], ExternalResolved: v.external?.resolved } : {}),
    Endpoints: v.endpoints.map((e) => ({ Pod: e.pod, IP: e.ip, Ready: e.ready, Ports: e.ports })),
    Created: v.created,
    Source: v.spec.kube?.file,
  };
}

/** `service ls` */
export async function listServices(open: Opener): Promise<ServiceReport[]> {
  const engine = await open();
  return (await engine.services.views()).map(serviceReport);
}

/** `service inspect` (every name must exist) */
export async function inspectServices(open: Opener, refs: string[]): Promise<ServiceReport[]> {
  const engine = await open();
  const recs = [];
  for (const r of refs) recs.push(await engine.services.mustFind(r));
  return (await engine.services.views(recs)).map(serviceReport);
}
