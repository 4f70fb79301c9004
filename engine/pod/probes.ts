// One run of a Kubernetes probe handler (exec, httpGet, tcpSocket, grpc), as the kubelet runs it.
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import net from 'node:net';
import type { ContainerRecord, ProbeHandler } from '../types.js';

export interface ProbeOutcome {
  ok: boolean;
  /** why it failed, as `kubectl describe` words it */
  message?: string;
}

/** What a probe needs from the engine: exec inside the container, and the address to reach. */
export interface ProbeTarget {
  exec(args: string[], timeoutMs: number): Promise<number>;
  /** the pod's address (127.0.0.1 for a pod on the host network) */
  host: string;
}

export async function runProbe(rec: ContainerRecord, h: ProbeHandler, timeoutSeconds: number, target: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutMs = timeoutSeconds * 1000;
  if ('exec' in h) {
    const code = await target.exec(h.exec, timeoutMs);
    if (code === 0) return { ok: true };
    return { ok: false, message: code < 0 ? `command ${JSON.stringify(h.exec)} timed out after ${timeoutSeconds}s` : `command ${JSON.stringify(h.exec)} exited with ${code}` };
  }
  if ('grpc' in h) return grpcCheck(target.host, h.grpc.port, h.grpc.service ?? '', timeoutMs);
  const spec = 'httpGet' in h ? h.httpGet : h.tcpSocket;
  const port = resolvePort(rec, spec.port);
  if (port === undefined) return { ok: false, message: `port "${spec.port}" is not a named port of container ${rec.spec.kubeName ?? rec.name}` };
  const host = spec.host ?? target.host;
  if ('tcpSocket' in h) return tcpCheck(host, port, timeoutMs);
  return httpCheck(h.httpGet.scheme === 'HTTPS' ? 'https' : 'http', host, port, h.httpGet.path ?? '/', h.httpGet.headers ?? [], timeoutMs);
}

/** A named port is one of the container's ports. */
export function resolvePort(rec: ContainerRecord, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  return rec.spec.ports?.find((p) => p.name === port)?.containerPort;
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (o: ProbeOutcome) => { s.destroy(); resolve(o); };
    s.setTimeout(timeoutMs, () => done({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }));
    s.once('connect', () => done({ ok: true }));
    s.once('error', (e) => done({ ok: false, message: `dial tcp ${host}:${port}: ${e.message}` }));
  });
}

/** GET; 200-399 is success. HTTPS certificates are not verified (as the kubelet does not). */
function httpCheck(scheme: 'http' | 'https', host: string, port: number, pathName: string, headers: Array<{ name: string; value: string }>, timeoutMs: number): Promise<ProbeOutcome> {
  const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${pathName.startsWith('/') ? pathName : `/${pathName}`}`;
  const hdrs: Record<string, string> = { 'User-Agent': 'kube-probe/peapod', Accept: '*/*' };
  for (const x of headers) hdrs[x.name] = x.value;
  return new Promise((resolve) => {
    const lib = scheme === 'https' ? https : http;
    const req = lib.get(url, { headers: hdrs, timeout: timeoutMs, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
    });
    req.on('timeout', () => { req.destroy(); resolve({ ok: false, message: `Get "${url}": context deadline exceeded` }); });
    req.on('error', (e) => resolve({ ok: false, message: `Get "${url}": ${e.message}` }));
  });
}

/** grpc.health.v1.Health/Check over HTTP/2 without TLS; SERVING (1) is success. */
function grpcCheck(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const target = `${host}:${port}`;
    let settled = false;
    const client = http2.connect(`http://${host.includes(':') ? `[${host}]` : host}:${port}`);
    const finish = (o: ProbeOutcome) => { if (settled) return; settled = true; clearTimeout(timer); client.close(); client.destroy(); resolve(o); };
    const timer = setTimeout(() => finish({ ok: false, message: `timeout: health rpc did not complete within ${timeoutMs / 1000}s` }), timeoutMs);
    client.on('error', (e) => finish({ ok: false, message: `failed to connect service "${target}": ${e.message}` }));
    // HealthCheckRequest { string service = 1; } in a gRPC frame (uncompressed flag, 4-byte length).
    const svc = Buffer.from(service);
    const msg = svc.length ? Buffer.concat([Buffer.from([0x0a, svc.length]), svc]) : Buffer.alloc(0);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const req = client.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on('response', (h) => { if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']); });
    req.on('trailers', (t) => { if (t['grpc-status'] !== undefined) grpcStatus = String(t['grpc-status']); });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (e: Error & { code?: string }) => {
      // a refused connection cancels the pending stream; its cause says why
      const cause = (e.cause as Error | undefined)?.message;
      finish({ ok: false, message: e.code === 'ERR_HTTP2_STREAM_CANCEL' && cause ? `failed to connect service "${target}": ${cause}` : `health rpc failed: ${e.message}` });
    });
    req.on('end', () => {
      if (grpcStatus && grpcStatus !== '0') return finish({ ok: false, message: `health rpc failed with grpc-status ${grpcStatus}` });
      const body = Buffer.concat(chunks).subarray(5);
      // HealthCheckResponse { ServingStatus status = 1; } : tag 0x08, varint
      const status = body[0] === 0x08 ? body[1] : 0;
      finish(status === 1 ? { ok: true } : { ok: false, message: `service unhealthy (responded with "${['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][status] ?? status}")` });
    });
    req.end(frame);
  });
}
