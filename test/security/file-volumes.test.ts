// Scope 2 of issue 14: configMap/secret/downwardAPI files are written the kubelet's way and never
// through a link a container made. A running container replaces its own volume's files and plants
// symlinks (the user-visible names, the items directory, `..data`, the tmp names), then peapod
// rewrites the volume: the host's canary file and directory must stay as they were.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useSandbox, until } from '../helpers/e2e.js';
import { writePayload, type PayloadFile } from '../../engine/volume/atomic-writer.js';

let canary: string;
let canaryFile: string;
beforeEach(() => {
  canary = mkdtempSync(path.join(os.tmpdir(), 'peapod-canary-'));
  canaryFile = path.join(canary, 'file');
  writeFileSync(canaryFile, 'canary', { mode: 0o640 });
  writeFileSync(path.join(canary, 'nested'), 'canary-nested', { mode: 0o640 });
});
afterEach(() => rmSync(canary, { recursive: true, force: true }));

function canaryIntact(): void {
  expect(readFileSync(canaryFile, 'utf8')).toBe('canary');
  expect(statSync(canaryFile).mode & 0o7777).toBe(0o640);
  expect(readFileSync(path.join(canary, 'nested'), 'utf8')).toBe('canary-nested');
  expect(statSync(path.join(canary, 'nested')).mode & 0o7777).toBe(0o640);
  expect(readdirSync(canary).sort()).toEqual(['file', 'nested']);
}

describe('the writer (AtomicWriter) against planted links', () => {
  const payload = (v: string) => new Map<string, PayloadFile>([
    ['token', { data: Buffer.from(`token-${v}`), mode: 0o600 }],
    ['sub/nested', { data: Buffer.from(`nested-${v}`), mode: 0o644 }],
  ]);

  it('lays out ..data and visible links; an unchanged payload is not rewritten', () => {
    const vol = mkdtempSync(path.join(os.tmpdir(), 'peapod-vol-'));
    try {
      expect(writePayload('v', vol, payload('1'))).toBe(true);
      expect(readlinkSync(path.join(vol, 'token'))).toBe('..data/token');
      expect(readlinkSync(path.join(vol, 'sub'))).toBe('..data/sub');
      expect(readFileSync(path.join(vol, 'sub/nested'), 'utf8')).toBe('nested-1');
      expect(statSync(path.join(vol, 'token')).mode & 0o7777).toBe(0o600);
      const ts = readlinkSync(path.join(vol, '..data'));
      expect(writePayload('v', vol, payload('1'))).toBe(false);
      expect(readlinkSync(path.join(vol, '..data'))).toBe(ts);
    } finally {
      rmSync(vol, { recursive: true, force: true });
    }
  });

  it.each([
    { name: 'a visible name replaced by a link to a host file', plant: (vol: string) => { unlinkSync(path.join(vol, 'token')); symlinkSync(canaryFile, path.join(vol, 'token')); } },
    { name: '..data pointed at a host directory', plant: (vol: string) => { unlinkSync(path.join(vol, '..data')); symlinkSync(canary, path.join(vol, '..data')); } },
    { name: 'the items directory swapped for a link to a host directory', plant: (vol: string) => {
      const ts = path.join(vol, readlinkSync(path.join(vol, '..data')));
      rmSync(path.join(ts, 'sub'), { recursive: true });
      symlinkSync(canary, path.join(ts, 'sub'));
    } },
    { name: 'a link at the tmp name ..data_tmp', plant: (vol: string) => symlinkSync(canaryFile, path.join(vol, '..data_tmp')) },
    { name: 'a link at the old fixed tmp name', plant: (vol: string) => symlinkSync(canaryFile, path.join(vol, 'token.peapod-tmp')) },
    { name: 'the data directory itself replaced by a link', plant: (vol: string) => {
      const ts = path.join(vol, readlinkSync(path.join(vol, '..data')));
      renameSync(ts, `${ts}.moved`);
      symlinkSync(canary, ts);
    } },
    { name: 'a visible directory name replaced by a real directory of links', plant: (vol: string) => {
      unlinkSync(path.join(vol, 'sub'));
      mkdirSync(path.join(vol, 'sub'));
      symlinkSync(path.join(canary, 'nested'), path.join(vol, 'sub/nested'));
    } },
  ])('$name: the rewrite leaves the host untouched and the volume right', ({ plant }) => {
    const vol = mkdtempSync(path.join(os.tmpdir(), 'peapod-vol-'));
    try {
      writePayload('v', vol, payload('1'));
      plant(vol);
      expect(writePayload('v', vol, payload('2'))).toBe(true);
      canaryIntact();
      expect(readFileSync(path.join(vol, 'token'), 'utf8')).toBe('token-2');
      expect(readFileSync(path.join(vol, 'sub/nested'), 'utf8')).toBe('nested-2');
      expect(readdirSync(vol).sort()).toEqual(['..data', readlinkSync(path.join(vol, '..data')), 'sub', 'token'].sort());
    } finally {
      rmSync(vol, { recursive: true, force: true });
    }
  });

  it('refuses item paths that leave the volume or shadow its own names', () => {
    const vol = mkdtempSync(path.join(os.tmpdir(), 'peapod-vol-'));
    try {
      for (const bad of ['../x', '/abs', 'a/../../x', '..data/x', '..x']) {
        expect(() => writePayload('v', vol, new Map([[bad, { data: Buffer.from('x'), mode: 0o644 }]]))).toThrow(`volume "v": item path "${bad}"`);
      }
      expect(readdirSync(vol)).toEqual([]);
    } finally {
      rmSync(vol, { recursive: true, force: true });
    }
  });
});

describe('a running container against its own secret and configMap volumes', () => {
  const e2e = useSandbox('peapod-sec-files');

  const secret = (v: string) => `apiVersion: v1
kind: Secret
metadata: {name: s1}
stringData: {token: SECRETVALUE-${v}, nested: NESTED-${v}}
`;

  it('the volumes are read-only in the container', async () => {
    await e2e.sb.ok(['play', 'kube', e2e.manifest('ro', `${secret('1')}---
apiVersion: v1
kind: ConfigMap
metadata: {name: c1}
data: {key: value}
---
apiVersion: v1
kind: Pod
metadata: {name: ro}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: s, secret: {secretName: s1}}, {name: c, configMap: {name: c1}}]
  containers:
    - name: app
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
      volumeMounts: [{name: s, mountPath: /s, readOnly: false}, {name: c, mountPath: /c}]
`)]);
    for (const cmd of ['echo x > /s/token', 'rm /c/key', 'rm /c/..data', 'touch /s/new']) {
      const r = await e2e.sb.run(['exec', 'ro-app', 'sh', '-c', cmd]);
      expect(r.exitCode, cmd).not.toBe(0);
      expect(String(r.stderr), cmd).toMatch(/Read-only file system/);
    }
    expect(await e2e.out(['exec', 'ro-app', 'cat', '/s/token', '/c/key'])).toBe('SECRETVALUE-1value');
  });

  it('a privileged container remounts its secret volume writable and plants links everywhere; the rewrite changes nothing on the host', async () => {
    // Run 1 plants; run 2 (after the secret changed) shows what it sees.
    const plants = [
      'mount -o remount,rw /s || mount -o remount,bind,rw /s',
      'ts=$(readlink /s/..data)',
      `rm -rf /s/$ts/sub && ln -s ${canary} /s/$ts/sub`,
      `rm /s/token && ln -s ${canaryFile} /s/token`,
      `ln -s ${canaryFile} /s/token.peapod-tmp`,
      `ln -s ${canaryFile} /s/..data_tmp`,
      `rm /s/..data && ln -s ${canary} /s/..data`,
      `ln -s ${canary} /s/junk`,
      'echo planted',
    ].join(' && ');
    await e2e.sb.ok(['play', 'kube', e2e.manifest('plant', `${secret('1')}---
apiVersion: v1
kind: Pod
metadata: {name: plant}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  volumes: [{name: s, secret: {secretName: s1, items: [{key: token, path: token}, {key: nested, path: sub/nested}]}}]
  containers:
    - name: app
      image: localhost/busybox:latest
      securityContext: {privileged: true}
      command: ["sh", "-c", "if grep -q SECRETVALUE-2 /s/token; then cat /s/token /s/sub/nested; exit 0; fi; ${plants}"]
      volumeMounts: [{name: s, mountPath: /s}]
`)]);
    await until(() => e2e.json(['inspect', 'plant-app']), (x) => x[0].State.Status === 'exited');
    expect(await e2e.out(['logs', 'plant-app'])).toBe('planted');
    canaryIntact();
    // the secret changes; the container's next start makes peapod rewrite the volume
    await e2e.sb.ok(['play', 'kube', '--replace', e2e.manifest('secret2', secret('2'))]);
    await e2e.sb.ok(['start', 'plant-app']);
    await until(() => e2e.json(['inspect', 'plant-app']), (x) => x[0].State.Status === 'exited');
    canaryIntact();
    expect((await e2e.out(['logs', 'plant-app'])).split('\n')).toEqual(['planted', 'SECRETVALUE-2NESTED-2']);
  });
});
