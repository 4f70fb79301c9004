// Shared scaffolding of the e2e tests: a sandboxed peapod with a busybox image, hooks that remove
// every pod after each test and check that nothing leaked, and small helpers.
import { beforeAll, afterAll, afterEach, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { sandbox, requireRoot, type Sandbox } from './cli.js';
import { settledLeaks } from './leaks.js';
import { busyboxRootfsTar } from './busybox.js';

export interface E2E {
  /** the sandbox (set in beforeAll) */
  readonly sb: Sandbox;
  /** runs a command that must succeed and parses its stdout as JSON */
  json(args: string[]): Promise<any>;
  /** runs a command that must succeed; its stdout */
  out(args: string[]): Promise<string>;
  /** writes a manifest into the sandbox; its path */
  manifest(name: string, body: string): string;
}

/**
 * Registers the hooks of one e2e test file: a sandbox with the busybox image imported under each of
 * `images`; after each test every pod and container is removed and nothing may be left; after all, the sandbox
 * is reset and removed and nothing may be left.
 */
export function useSandbox(name: string, opts: { images?: string[] } = {}): E2E {
  let box: Sandbox | undefined;
  const e2e: E2E = {
    get sb() {
      if (!box) throw new Error('the sandbox is made in beforeAll');
      return box;
    },
    json: async (args) => JSON.parse(String((await e2e.sb.ok(args)).stdout)),
    out: async (args) => String((await e2e.sb.ok(args)).stdout),
    manifest: (n, body) => {
      const f = path.join(e2e.sb.dir, `${n}.yaml`);
      writeFileSync(f, body);
      return f;
    },
  };
  beforeAll(async () => {
    requireRoot();
    box = sandbox(name);
    const images = opts.images ?? ['busybox'];
    if (images.length) {
      const tar = await busyboxRootfsTar(box.dir);
      for (const img of images) await box.ok(['image', 'import', tar, img]);
    }
  });
  afterAll(async () => {
    if (!box) return;
    await box.destroy();
    expect(await settledLeaks(box.dir)).toEqual([]);
  });
  afterEach(async () => {
    if (!box) return;
    for (const p of await e2e.json(['pod', 'ps', '--format', 'json'])) await box.run(['pod', 'rm', '-f', '-t', '0', p.Id]);
    for (const c of await e2e.json(['ps', '-a', '--format', 'json'])) await box.run(['rm', '-f', '-t', '0', c.Id]);
    expect(await settledLeaks(box.dir)).toEqual([]);
  });
  return e2e;
}

/** Polls fn (every 100 ms, `tries` times) until ok holds; returns the last value. */
export async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, tries = 100): Promise<T> {
  let v = await fn();
  for (let i = 0; i < tries && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = await fn();
  }
  return v;
}
