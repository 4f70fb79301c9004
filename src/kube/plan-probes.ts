// startupProbe, livenessProbe and readinessProbe of a Kubernetes container, checked as the API
// server checks them and defaulted as it defaults them.
import type { ContainerSpec, Probe, ProbeHandler } from '../../engine/types.js';
import type { PlanProblem } from './plan-env.js';

type Obj = Record<string, any>;
type Path = Array<string | number>;

const KINDS = [['startupProbe', 'startup'], ['livenessProbe', 'liveness'], ['readinessProbe', 'readiness']] as const;
const HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'] as const;

/** The container's probes; `init` containers may have none (a sidecar may). */
export function planProbes(c: Obj, base: Path, init: 'init' | 'sidecar' | undefined): { probes?: ContainerSpec['probes']; problems: PlanProblem[] } {
  const problems: PlanProblem[] = [];
  const err = (path: Path, message: string) => problems.push({ path, message, severity: 'error' });
  const out: NonNullable<ContainerSpec['probes']> = {};
  for (const [field, kind] of KINDS) {
    const pr: Obj | undefined = c[field];
    if (!pr) continue;
    const p = [...base, field];
    if (init === 'init') { err(p, 'an init container cannot have probes (it runs to completion; a sidecar, with restartPolicy: Always, can)'); continue; }
    const given = HANDLERS.filter((h) => pr[h] !== undefined);
    if (given.length === 0) { err(p, `needs a handler: one of ${HANDLERS.join(', ')}`); continue; }
    if (given.length > 1) { err([...p, given[1]], `a probe has one handler: ${given.join(' and ')} are both set`); continue; }
    const handler = handlerOf(given[0], pr[given[0]], [...p, given[0]], err);
    if (!handler) continue;
    const num = (k: string, def: number, min: number): number => {
      const v = pr[k];
      if (v === undefined || v === 0) return def;                // the API server's defaulting
      if (v < min) err([...p, k], `must be greater than or equal to ${min} (got ${v})`);
      return v;
    };
    const probe: Probe = {
      handler,
      initialDelaySeconds: pr.initialDelaySeconds === undefined ? 0 : num('initialDelaySeconds', 0, 0),
      periodSeconds: num('periodSeconds', 10, 1),
      timeoutSeconds: num('timeoutSeconds', 1, 1),
      successThreshold: num('successThreshold', 1, 1),
      failureThreshold: num('failureThreshold', 3, 1),
    };
    if (kind !== 'readiness' && probe.successThreshold !== 1) err([...p, 'successThreshold'], `must be 1 for a ${kind} probe (got ${probe.successThreshold})`);
    if (pr.terminationGracePeriodSeconds !== undefined) {
      if (kind === 'readiness') err([...p, 'terminationGracePeriodSeconds'], 'must not be set for a readiness probe (it never kills the container)');
      else if (pr.terminationGracePeriodSeconds < 1) err([...p, 'terminationGracePeriodSeconds'], `must be greater than 0 (got ${pr.terminationGracePeriodSeconds})`);
      else probe.terminationGracePeriodSeconds = pr.terminationGracePeriodSeconds;
    }
    out[kind] = probe;
  }
  return { probes: Object.keys(out).length ? out : undefined, problems };
}

function handlerOf(kind: typeof HANDLERS[number], h: Obj, p: Path, err: (p: Path, m: string) => void): ProbeHandler | undefined {
  switch (kind) {
    case 'exec':
      if (!Array.isArray(h.command) || h.command.length === 0) { err([...p, 'command'], 'an exec probe needs a command'); return undefined; }
      return { exec: h.command.map(String) };
    case 'httpGet': {
      const scheme = h.scheme ?? 'HTTP';
      if (scheme !== 'HTTP' && scheme !== 'HTTPS') { err([...p, 'scheme'], `must be HTTP or HTTPS (got ${JSON.stringify(scheme)})`); return undefined; }
      const port = portOf(h.port, [...p, 'port'], err);
      if (port === undefined) return undefined;
      const headers = Array.isArray(h.httpHeaders) ? h.httpHeaders.map((x: Obj) => ({ name: String(x.name), value: String(x.value ?? '') })) : undefined;
      return { httpGet: clean({ path: h.path, port, host: h.host, scheme: h.scheme, headers }) };
    }
    case 'tcpSocket': {
      const port = portOf(h.port, [...p, 'port'], err);
      return port === undefined ? undefined : { tcpSocket: clean({ port, host: h.host }) };
    }
    case 'grpc':
      if (typeof h.port !== 'number') { err([...p, 'port'], 'a grpc probe needs a port number'); return undefined; }
      return { grpc: clean({ port: h.port as number, service: h.service as string | undefined }) };
  }
}

/** A port number, or a container port's name (resolved when the probe runs, as the kubelet does). */
function portOf(v: unknown, p: Path, err: (p: Path, m: string) => void): number | string | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  if (typeof v === 'string' && v) return v;
  err(p, 'needs a port: a number or the name of a container port');
  return undefined;
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}
