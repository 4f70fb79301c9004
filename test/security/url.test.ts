// Scope 6 of issue 14: `play kube URL` is bounded in size (10 MiB) and time (30 s, PEAPOD_URL_TIMEOUT):
// servers on 127.0.0.1 that send too much, stream forever or stall get a clear error and nothing
// is played; a normal manifest still plays (dry run: what is fetched is all this is about).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sandbox, requireRoot, type Sandbox } from '../helpers/cli.js';

const POD = `apiVersion: v1
kind: Pod
metadata: {name: fetched}
spec:
  containers: [{name: app, image: localhost/busybox:latest, command: [sleep, '1']}]
`;

let sb: Sandbox;
let server: http.Server;
let base = '';
const open = new Set<http.ServerResponse>();

beforeAll(async () => {
  requireRoot();
  sb = sandbox('peapod-sec-url');
  server = http.createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const filler = `# ${'x'.repeat(1022)}\n`; // 1 KiB of YAML comment
    if (req.url === '/ok.yaml') return void res.end(POD);
    if (req.url === '/big.yaml') {
      // 11 MiB announced and sent
      const body = POD + filler.repeat(11 * 1024);
      res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
      return void res.end(body);
    }
    if (req.url === '/endless.yaml') {
      // no length, never ends: 64 KiB at a time for as long as the client reads
      res.writeHead(200);
      res.write(POD);
      const chunk = filler.repeat(64);
      const more = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      return void more();
    }
    if (req.url === '/stall.yaml') {
      res.writeHead(200);
      return void res.write(POD); // and nothing more, never the end
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise((r) => server?.close(r));
  await sb?.destroy();
});

describe('play kube URL', () => {
  it('plays a manifest of normal size', async () => {
    const r = await sb.ok(['play', 'kube', '--dry-run', `${base}/ok.yaml`]);
    expect(String(r.stdout)).toMatch(/Pod fetched/);
  });

  it('refuses more than 10 MiB, announced or streamed without end, and plays nothing', async () => {
    for (const p of ['big.yaml', 'endless.yaml']) {
      const r = await sb.run(['play', 'kube', `${base}/${p}`], { timeout: 60_000 });
      expect(r.exitCode, p).toBe(125);
      expect(String(r.stderr), p).toMatch(new RegExp(`fetching ${base}/${p}: the manifest is larger than 10 MiB`));
    }
    expect(JSON.parse(String((await sb.ok(['pod', 'ps', '--format', 'json'])).stdout))).toEqual([]);
  });

  it('gives up on a server that stalls, after PEAPOD_URL_TIMEOUT seconds (30 by default)', async () => {
    const r = await sb.run(['play', 'kube', `${base}/stall.yaml`], { env: { PEAPOD_URL_TIMEOUT: '1' }, timeout: 20_000 });
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/no complete answer within 1 s \(PEAPOD_URL_TIMEOUT sets the limit\)/);
    const bad = await sb.run(['play', 'kube', `${base}/ok.yaml`], { env: { PEAPOD_URL_TIMEOUT: 'soon' } });
    expect(String(bad.stderr)).toMatch(/PEAPOD_URL_TIMEOUT=soon: not a positive number of seconds/);
  });
});
