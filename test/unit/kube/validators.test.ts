// The validators `npm run build` precompiles (ajv standalone code, scripts/gen-validators.ts) must
// report exactly what the schemas compiled at run time report: same errors, paths, params and
// parent schemas, so every diagnostic (file:line:col, "did you mean") stays the same.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import standaloneCode from 'ajv/dist/standalone/index.js';
import type { ValidateFunction } from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifests } from '../../../src/kube/parse.js';
import { SUPPORTED_KINDS, newAjv, schemasDir } from '../../../src/kube/validate.js';

const INVALID = fileURLToPath(new URL('../../fixtures/invalid/', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'peapod-validators-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every document of the invalid fixtures and the examples, by kind. */
function documents(): Map<string, Array<{ where: string; value: unknown }>> {
  const byKind = new Map<string, Array<{ where: string; value: unknown }>>();
  for (const dir of [INVALID, EXAMPLES]) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()) {
      for (const doc of parseManifests(readFileSync(path.join(dir, f), 'utf8'), f).docs) {
        const kind = (doc.value as { kind?: string } | null)?.kind;
        if (typeof kind !== 'string') continue;
        byKind.set(kind, [...(byKind.get(kind) ?? []), { where: `${f}#${doc.index}`, value: doc.value }]);
      }
    }
  }
  return byKind;
}

const docs = documents();
const kinds = SUPPORTED_KINDS.filter((k) => docs.has(k.kind));

describe('precompiled validators', () => {
  it('cover kinds that the fixtures use', () => {
    expect(kinds.map((k) => k.kind)).toEqual(expect.arrayContaining(['Pod', 'Deployment']));
  });

  it.each(kinds)('$kind: standalone code reports what the compiled schema reports', (info) => {
    const schema = JSON.parse(readFileSync(path.join(schemasDir(), info.schema), 'utf8')) as object;
    const runtime = newAjv().compile(schema);
    const ajv = newAjv(true);
    const file = path.join(tmp, info.schema.replace(/\.json$/, '.cjs'));
    writeFileSync(file, standaloneCode.default(ajv, ajv.compile(schema)));
    const standalone = createRequire(import.meta.url)(file) as ValidateFunction;
    let failing = 0;
    for (const d of docs.get(info.kind)!) {
      const ok = runtime(d.value);
      expect(standalone(d.value), d.where).toBe(ok);
      expect(standalone.errors ?? null, d.where).toEqual(runtime.errors ?? null);
      if (!ok) failing++;
    }
    if (info.kind === 'Pod') expect(failing).toBeGreaterThan(5);
  });
});
