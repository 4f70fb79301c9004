// Issue 20 acceptance, the clients beyond api.test.ts: testcontainers for Node (its reaper off)
// against `peapod system service`, with its own --root/--runroot. Traffic only over the socket.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import { useSandbox, until } from '../helpers/e2e.js';
import { startService, type Service } from '../helpers/api.js';

const e2e = useSandbox('peapod-api-clients', { images: ['localhost/busybox:latest'] });

let svc: Service;
const tmpdir = process.env.TMPDIR;

beforeAll(async () => {
  svc = await startService(e2e, path.join(e2e.sb.dir, 'peapod.sock'), '0');
});

afterAll(async () => {
  if (tmpdir === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = tmpdir;
  if (svc) { svc.proc.kill('SIGTERM'); await svc.proc; }
});

describe('testcontainers for Node (DOCKER_HOST, reaper disabled)', () => {
  it('starts a GenericContainer from a local image, waits for its log line, reads its logs, execs, stops it', async () => {
    // testcontainers reads its configuration from the environment when it first connects
    process.env.DOCKER_HOST = svc.url;
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    process.env.DOCKER_CONFIG = path.join(e2e.sb.dir, 'docker-config');
    // its lock files (the reaper's, even when the reaper is off) go to the sandbox, not /tmp
    process.env.TMPDIR = e2e.sb.dir;
    const { GenericContainer, Wait } = await import('testcontainers');
    const c = await new GenericContainer('localhost/busybox:latest')
      .withCommand(['sh', '-c', 'echo hello-from-testcontainers; echo to-err >&2; sleep 1000'])
      .withWaitStrategy(Wait.forLogMessage('hello-from-testcontainers'))
      .start();
    try {
      // the same container through peapod's own CLI
      const ps = await e2e.json(['ps', '--format', 'json']);
      expect(ps.map((x: any) => [x.Id, x.State])).toEqual([[c.getId(), 'running']]);
      const out: string[] = [];
      const stream = await c.logs();
      stream.on('data', (d: Buffer | string) => out.push(String(d)));
      await until(async () => out.join(''), (s) => s.includes('to-err'));
      stream.destroy();
      expect(out.join('')).toContain('hello-from-testcontainers\n');
      expect(out.join('')).toContain('to-err\n');
      const ex = await c.exec(['sh', '-c', 'echo in-exec; exit 3']);
      expect([ex.output.trim(), ex.exitCode]).toEqual(['in-exec', 3]);
    } finally {
      await c.stop({ timeout: 0 });
    }
    // stop removes it (testcontainers' default)
    expect(await e2e.json(['ps', '-a', '--format', 'json'])).toEqual([]);
  });
});
