// Services of a manifest -> what the engine keeps (engine/network/services.ts). Pure: every rule of
// a Service that peapod implements is checked here with the YAML path of what is wrong, before
// anything is created; the engine re-checks what ends up in iptables rules.
import type { ServiceSpec, ServicePortSpec } from '../../engine/network/services.js';
import { DNS1035_LABEL, DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_VALUE, QUALIFIED_NAME } from '../../engine/names.js';
import { NODE_PORT_RANGE } from '../../engine/network/service-rules.js';
import type { PathSegment } from './diagnostics.js';

export interface PlannedService {
  spec: ServiceSpec;
  source: { file: string; name: string };
}

export interface ServiceProblem { path: PathSegment[]; message: string; severity: 'error' | 'warning' }

type Obj = Record<string, any>;

/** IANA_SVC_NAME, what a named targetPort must be: at most 15 characters, a letter among them. */
const SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const validPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;

/** One Service object -> its spec, and what is wrong with it (errors keep it from being played). */
export function planService(v: Obj, file: string): { service?: PlannedService; problems: ServiceProblem[] } {
  const problems: ServiceProblem[] = [];
  const err = (path: PathSegment[], message: string) => problems.push({ path, message, severity: 'error' });
  const warn = (path: PathSegment[], message: string) => problems.push({ path, message, severity: 'warning' });
  const name = String(v.metadata?.name ?? '');
  const namespace = v.metadata?.namespace ?? 'default';
  if (!DNS1035_LABEL.test(name) || name.length > 63) err(['metadata', 'name'], `service name "${name}" must be a lower-case RFC 1035 label (a-z, 0-9, "-", starting with a letter) of at most 63 characters`);
  if (typeof namespace !== 'string' || !DNS1123_LABEL.test(namespace) || namespace.length > 63) err(['metadata', 'namespace'], `namespace "${namespace}" must be a lower-case RFC 1123 label`);
  const spec: Obj = v.spec ?? {};
  const type = spec.type ?? 'ClusterIP';
  let externalName: string | undefined;
  if (type === 'ExternalName') {
    // the apiserver's rule: a lower-case RFC 1123 subdomain (a trailing dot allowed), at most 253 characters
    const x = spec.externalName;
    const bare = typeof x === 'string' ? x.replace(/\.$/, '') : '';
    if (typeof x !== 'string' || !x) err(['spec', 'externalName'], 'an ExternalName Service needs spec.externalName (a DNS name)');
    else if (bare.length > 253 || !DNS1123_SUBDOMAIN.test(bare) || bare.split('.').some((l) => l.length > 63)) {
      err(['spec', 'externalName'], `externalName ${JSON.stringify(x.length > 80 ? `${x.slice(0, 80)}...` : x)} must be a lower-case RFC 1123 DNS name (a-z, 0-9, "-" and ".", labels of at most 63 characters, 253 in all)`);
    } else if (IPV4.test(bare)) {
      err(['spec', 'externalName'], `externalName ${bare} is an IP address: an ExternalName Service names a host by DNS name (CoreDNS would treat it as a name made of digits)`);
    } else externalName = bare;
    if (spec.selector !== undefined) warn(['spec', 'selector'], 'an ExternalName Service selects no pods: its selector is ignored');
  } else if (!['ClusterIP', 'NodePort', 'LoadBalancer'].includes(type)) err(['spec', 'type'], `unknown Service type "${type}"`);
  else if (spec.externalName !== undefined) err(['spec', 'externalName'], `externalName is for type ExternalName only, not ${type}`);
  const headless = spec.clusterIP === 'None';
  let clusterIP: string | undefined;
  if (spec.clusterIP !== undefined && spec.clusterIP !== '' && !headless) {
    if (typeof spec.clusterIP !== 'string' || !IPV4.test(spec.clusterIP)) err(['spec', 'clusterIP'], `"${spec.clusterIP}" is not an IPv4 address (or None)`);
    else clusterIP = spec.clusterIP;
  }
  if (externalName !== undefined && spec.clusterIP !== undefined && spec.clusterIP !== '') err(['spec', 'clusterIP'], 'an ExternalName Service has no cluster IP');
  else if (headless && type !== 'ClusterIP') err(['spec', 'clusterIP'], `a headless Service (clusterIP: None) must be of type ClusterIP, not ${type}`);
  if (spec.clusterIPs !== undefined) {
    const ips = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    if (ips.length > 1) err(['spec', 'clusterIPs'], 'only one cluster IP (IPv4) per Service on one host');
    else if (ips.length === 1 && ips[0] !== (spec.clusterIP ?? ips[0])) err(['spec', 'clusterIPs'], 'clusterIPs[0] must equal clusterIP');
    else if (ips.length === 1 && spec.clusterIP === undefined) {
      if (ips[0] === 'None') { /* headless, said the other way */ } else if (IPV4.test(String(ips[0]))) clusterIP = ips[0];
      else err(['spec', 'clusterIPs', 0], `"${ips[0]}" is not an IPv4 address`);
    }
  }
  const selector: Record<string, string> = {};
  for (const [k, x] of Object.entries<any>(spec.selector ?? {})) {
    const ok = typeof k === 'string' && k.length <= 317 && k.split('/').length <= 2 && QUALIFIED_NAME.test(k.split('/').pop()!) && typeof x === 'string' && x.length <= 63 && LABEL_VALUE.test(x);
    if (!ok) err(['spec', 'selector', k], `invalid label selector ${JSON.stringify(k)}: ${JSON.stringify(x)}`);
    else selector[k] = x;
  }
  if (!Object.keys(selector).length && type !== 'ExternalName') warn(['spec'], `Service ${name} has no selector: its endpoints would be listed by hand (Endpoints objects), which peapod does not support: it gets its virtual IP and names, and connections to it are refused`);
  const ports: ServicePortSpec[] = [];
  const raw: Obj[] = Array.isArray(spec.ports) ? spec.ports : [];
  if (!raw.length && !headless && type !== 'ExternalName') err(['spec', 'ports'], 'a Service needs at least one port (a headless one may have none)');
  const seen = new Set<string>();
  const names = new Set<string>();
  const nodePorts = new Map<number, string>();
  raw.forEach((p, i) => {
    const at = ['spec', 'ports', i];
    const protocol = String(p.protocol ?? 'TCP');
    if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) { err([...at, 'protocol'], `protocol "${protocol}" must be TCP, UDP or SCTP`); return; }
    if (!validPort(p.port)) { err([...at, 'port'], `port ${JSON.stringify(p.port)} must be a number in 1-65535`); return; }
    if (p.name !== undefined && (typeof p.name !== 'string' || !DNS1123_LABEL.test(p.name) || p.name.length > 63)) { err([...at, 'name'], `port name ${JSON.stringify(p.name)} must be a lower-case RFC 1123 label`); return; }
    if (raw.length > 1 && !p.name) err([...at, 'name'], 'every port of a Service with several ports needs a name');
    if (p.name) {
      if (names.has(p.name)) err([...at, 'name'], `port name "${p.name}" is used twice`);
      names.add(p.name);
    }
    const k = `${protocol}/${p.port}`;
    if (seen.has(k)) err([...at, 'port'], `port ${k} is listed twice`);
    seen.add(k);
    let targetPort: number | string = p.port;
    if (p.targetPort !== undefined) {
      if (typeof p.targetPort === 'number') {
        if (!validPort(p.targetPort)) { err([...at, 'targetPort'], `targetPort ${p.targetPort} must be in 1-65535`); return; }
        targetPort = p.targetPort;
      } else if (typeof p.targetPort === 'string' && /^\d+$/.test(p.targetPort)) {
        if (!validPort(Number(p.targetPort))) { err([...at, 'targetPort'], `targetPort ${p.targetPort} must be in 1-65535`); return; }
        targetPort = Number(p.targetPort);
      } else if (typeof p.targetPort === 'string' && p.targetPort.length <= 15 && SVC_NAME.test(p.targetPort) && /[a-z]/.test(p.targetPort) && !p.targetPort.includes('--')) {
        targetPort = p.targetPort;
      } else {
        err([...at, 'targetPort'], `targetPort ${JSON.stringify(p.targetPort)} must be a port number or the name of a containerPort (IANA service name: at most 15 of a-z, 0-9, "-")`);
        return;
      }
    }
    if (p.nodePort !== undefined && p.nodePort !== 0) {
      if (type === 'ClusterIP' || type === 'ExternalName') { err([...at, 'nodePort'], `a nodePort may not be given when type is ${type}`); return; }
      if (!validPort(p.nodePort) || p.nodePort < NODE_PORT_RANGE.min || p.nodePort > NODE_PORT_RANGE.max) {
        err([...at, 'nodePort'], `nodePort ${JSON.stringify(p.nodePort)} is not in the node port range ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`);
        return;
      }
      if (nodePorts.has(p.nodePort) && nodePorts.get(p.nodePort) === protocol) { err([...at, 'nodePort'], `nodePort ${p.nodePort} is used twice`); return; }
      nodePorts.set(p.nodePort, protocol);
    }
    ports.push({ ...(p.name ? { name: p.name } : {}), protocol: protocol.toLowerCase() as ServicePortSpec['protocol'], port: p.port, targetPort, ...(p.nodePort ? { nodePort: p.nodePort } : {}) });
  });
  let affinitySeconds: number | undefined;
  if (spec.sessionAffinity === 'ClientIP') {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800;
    if (!Number.isInteger(t) || t < 1 || t > 86400) err(['spec', 'sessionAffinityConfig', 'clientIP', 'timeoutSeconds'], 'must be in 1-86400');
    else affinitySeconds = t;
  } else if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== 'None') {
    err(['spec', 'sessionAffinity'], `sessionAffinity "${spec.sessionAffinity}" must be None or ClientIP`);
  }
  let externalTrafficPolicy: 'Cluster' | 'Local' | undefined;
  if (spec.externalTrafficPolicy !== undefined) {
    if (type === 'ClusterIP' || type === 'ExternalName') err(['spec', 'externalTrafficPolicy'], 'may only be set when type is NodePort or LoadBalancer');
    else if (spec.externalTrafficPolicy === 'Local') externalTrafficPolicy = 'Local';
    else if (spec.externalTrafficPolicy !== 'Cluster') err(['spec', 'externalTrafficPolicy'], `externalTrafficPolicy "${spec.externalTrafficPolicy}" must be Cluster or Local`);
  }
  if (problems.some((p) => p.severity === 'error')) return { problems };
  const labels = v.metadata?.labels;
  return {
    problems,
    service: {
      spec: {
        name, namespace, type, selector: type === 'ExternalName' ? {} : selector, ports,
        ...(externalName ? { externalName } : {}),
        ...(headless ? { headless } : {}),
        ...(clusterIP ? { clusterIP } : {}),
        ...(affinitySeconds ? { affinitySeconds } : {}),
        ...(spec.publishNotReadyAddresses ? { publishNotReadyAddresses: true } : {}),
        ...(externalTrafficPolicy ? { externalTrafficPolicy } : {}),
        ...(labels ? { labels } : {}),
        kube: { file, object: v },
      },
      source: { file, name },
    },
  };
}
