// Shared scaffolding of the API socket tests: a real `peapod system service` on a unix socket in a
// test's sandbox (its own --root/--runroot), and one raw HTTP request over that socket.
import { execa, type ResultPromise } from 'execa';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { BIN } from './cli.js';
import type { E2E } from './e2e.js';
import { until } from './e2e.js';

export interface Service { proc: ResultPromise; sock: string; url: string }

/** Starts `peapod system service` on SOCK; resolves once it answers. `--root=` keeps its argv out of the leak check's process match. */
export async function startService(e2e: E2E, sock: string, time: string, env: Record<string, string> = {}): Promise<Service> {
  const proc = execa(BIN, [`--root=${e2e.sb.root}`, `--runroot=${e2e.sb.runroot}`, 'system', 'service', '--time', time, `unix://${sock}`], {
    reject: false, env: { PEAPOD_CGROUP_PARENT: e2e.sb.cgroupParent, ...env }, stdin: 'ignore',
  });
  await until(async () => existsSync(sock) || proc.exitCode !== null, (v) => v, 100);
  if (!existsSync(sock)) throw new Error(`the service did not start: ${String((await proc).stderr)}`);
  return { proc, sock, url: `unix://${sock}` };
}

export interface Answer { status: number; headers: http.IncomingHttpHeaders; text: string; json: any }

/** One HTTP request over the unix socket; the body parsed when it is JSON. */
export function call(sock: string, method: string, p: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, headers: { Host: 'd', ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: any;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
