// The probe handlers against real servers on 127.0.0.1 (HTTP, TCP, gRPC health over HTTP/2).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { runProbe } from '../../../engine/pod/probes.js';
import type { ContainerRecord } from '../../../engine/types.js';

const rec = (ports: ContainerRecord['spec']['ports'] = []) => ({ name: 'c', spec: { name: 'c', image: 'i', ports } }) as unknown as ContainerRecord;
const target = { host: '127.0.0.1', exec: async (args: string[]) => (args[0] === 'ok' ? 0 : args[0] === 'slow' ? -1 : 2) };

let web: http.Server;
let webPort = 0;
let grpc: http2.Http2Server;
let grpcPort = 0;
let seenHeader = '';

beforeAll(async () => {
  web = http.createServer((req, res) => {
    seenHeader = String(req.headers['x-probe'] ?? '');
    if (req.url === '/slow') return; // never answers
    res.statusCode = req.url === '/ok' ? 200 : req.url === '/redirect' ? 302 : 503;
    res.end();
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  webPort = (web.address() as AddressInfo).port;
  grpc = http2.createServer();
  grpc.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks).subarray(5);
      const service = body.length ? body.subarray(2, 2 + body[1]).toString() : '';
      const status = headers[':path'] !== '/grpc.health.v1.Health/Check' ? 0 : service === '' || service === 'up' ? 1 : 2;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, status]));
    });
  });
  await new Promise<void>((r) => grpc.listen(0, '127.0.0.1', r));
  grpcPort = (grpc.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((r) => web.close(r));
  await new Promise((r) => grpc.close(r));
});

describe('probe handlers', () => {
  it('exec: exit 0 passes, others fail, a timeout says so', async () => {
    expect(await runProbe(rec(), { exec: ['ok'] }, 1, target)).toEqual({ ok: true });
    expect(await runProbe(rec(), { exec: ['bad'] }, 1, target)).toEqual({ ok: false, message: 'command ["bad"] exited with 2' });
    expect(await runProbe(rec(), { exec: ['slow'] }, 1, target)).toEqual({ ok: false, message: 'command ["slow"] timed out after 1s' });
  });

  it('httpGet: 200-399 pass, others fail; named ports and headers; a timeout fails', async () => {
    expect(await runProbe(rec(), { httpGet: { port: webPort, path: '/ok', headers: [{ name: 'X-Probe', value: 'yes' }] } }, 1, target)).toEqual({ ok: true });
    expect(seenHeader).toBe('yes');
    expect(await runProbe(rec(), { httpGet: { port: webPort, path: '/redirect' } }, 1, target)).toEqual({ ok: true });
    expect(await runProbe(rec([{ containerPort: webPort, name: 'http' }]), { httpGet: { port: 'http', path: '/bad' } }, 1, target))
      .toEqual({ ok: false, message: 'HTTP probe failed with statuscode: 503' });
    expect(await runProbe(rec(), { httpGet: { port: 'http' } }, 1, target)).toEqual({ ok: false, message: 'port "http" is not a named port of container c' });
    const slow = await runProbe(rec(), { httpGet: { port: webPort, path: '/slow' } }, 1, target);
    expect(slow).toEqual({ ok: false, message: `Get "http://127.0.0.1:${webPort}/slow": context deadline exceeded` });
  });

  it('tcpSocket: a connection passes, a refusal fails', async () => {
    expect(await runProbe(rec(), { tcpSocket: { port: webPort } }, 1, target)).toEqual({ ok: true });
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await runProbe(rec(), { tcpSocket: { port } }, 1, target);
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(new RegExp(`^dial tcp 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
  });

  it('grpc: SERVING passes, NOT_SERVING fails, no server fails', async () => {
    expect(await runProbe(rec(), { grpc: { port: grpcPort } }, 1, target)).toEqual({ ok: true });
    expect(await runProbe(rec(), { grpc: { port: grpcPort, service: 'up' } }, 1, target)).toEqual({ ok: true });
    expect(await runProbe(rec(), { grpc: { port: grpcPort, service: 'down' } }, 1, target)).toEqual({ ok: false, message: 'service unhealthy (responded with "NOT_SERVING")' });
    const r = await runProbe(rec(), { grpc: { port: 1 } }, 1, target);
    expect(r).toEqual({ ok: false, message: expect.stringMatching(/^failed to connect service "127\.0\.0\.1:1": connect ECONNREFUSED/) });
  });
});
