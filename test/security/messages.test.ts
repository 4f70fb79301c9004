// Scope 6 of issue 14: no message ever prints a Secret's value. Each manifest puts a distinctive
// value where validation or planning complains about it; the diagnostics name the Secret and the
// key, never the content.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { sandbox, requireRoot, type Sandbox } from '../helpers/cli.js';

let sb: Sandbox;
beforeAll(() => {
  requireRoot();
  sb = sandbox('peapod-sec-msg');
});
afterAll(async () => sb?.destroy());

const CASES: Record<string, { yaml: string; says: RegExp }> = {
  'data that is not base64': {
    yaml: 'apiVersion: v1\nkind: Secret\nmetadata: {name: s1}\ndata: {token: "S3CR3T-not-base64!!"}\n',
    says: /data\.token: expected base64-encoded data, got string \(a Secret's value, not shown\)/,
  },
  'data that is a number': {
    yaml: 'apiVersion: v1\nkind: Secret\nmetadata: {name: s2}\ndata: {token: 73317331733173}\n',
    says: /data\.token: expected string, got integer \(a Secret's value, not shown\)/,
  },
  'stringData that is a list': {
    yaml: 'apiVersion: v1\nkind: Secret\nmetadata: {name: s3}\nstringData: {token: ["S3CR3T-in-a-list"]}\n',
    says: /stringData\.token: expected string, got array/,
  },
  'a bad key beside a good value': {
    yaml: 'apiVersion: v1\nkind: Secret\nmetadata: {name: s4}\nstringData: {"bad key": "S3CR3T-beside", ok: "S3CR3T-ok"}\n',
    says: /stringData\["bad key"\]: invalid key "bad key"/,
  },
  'an env reference to a missing key': {
    yaml: `apiVersion: v1
kind: Secret
metadata: {name: s5}
stringData: {token: "S3CR3T-referenced"}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: c
      image: localhost/busybox:latest
      env: [{name: T, valueFrom: {secretKeyRef: {name: s5, key: missing}}}]
`,
    says: /secret "s5" has no key "missing"/,
  },
};

describe('a Secret\'s value in messages', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`is not printed: ${name}`, async () => {
      const file = path.join(sb.dir, `${name.replace(/\W+/g, '-')}.yaml`);
      writeFileSync(file, c.yaml);
      for (const args of [['play', 'kube', '--dry-run', file], ['play', 'kube', file], ['kube', 'apply', file]]) {
        const r = await sb.run(args);
        const all = `${String(r.stdout)}\n${String(r.stderr)}`;
        expect(r.exitCode, `${args.join(' ')}: ${all}`).not.toBe(0);
        expect(all, args.join(' ')).toMatch(c.says);
        for (const secret of ['S3CR3T', '73317331733173', 'UzNDUjNU']) expect(all, args.join(' ')).not.toContain(secret);
      }
      expect(JSON.parse(String((await sb.ok(['pod', 'ps', '--format', 'json'])).stdout))).toEqual([]);
    });
  }
});
