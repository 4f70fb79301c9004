// Issue 7 acceptance, generate kube: for every manifest in examples/ and test/fixtures/roundtrip/,
// play -> generate -> kube down -> play(generated) -> generate gives byte-identical YAML (a fixed
// point), the generated YAML passes strict validation, and the replayed pods behave the same.
// Pods built by hand (pod create + run --pod) and standalone containers generate YAML that plays back.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { sandbox, requireRoot, PROJECT, type Sandbox } from '../helpers/cli.js';
import { settledLeaks } from '../helpers/leaks.js';
import { busyboxRootfsTar } from '../helpers/busybox.js';
import { parseManifests, type ParsedDoc } from '../../src/kube/parse.js';
import { validateDocs } from '../../src/kube/validate.js';

let sb: Sandbox;

const json = async (args: string[]) => JSON.parse(String((await sb.ok(args)).stdout));

beforeAll(async () => {
  requireRoot();
  sb = sandbox('peapod-generate');
  const tar = await busyboxRootfsTar(sb.dir);
  // The images the manifests name: busybox as is (no ENTRYPOINT, no CMD), and one with both.
  await sb.ok(['image', 'import', tar, 'localhost/busybox:latest']);
  await sb.ok(['image', 'import', '--change', 'ENTRYPOINT ["/bin/sh", "-c"]', '--change', 'CMD ["sleep 1000"]', tar, 'localhost/bb-entry:latest']);
});

afterAll(async () => {
  if (!sb) return;
  await sb.destroy();
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

afterEach(async () => {
  for (const p of await json(['pod', 'ps', '--format', 'json'])) await sb.run(['pod', 'rm', '-f', '-t', '0', p.Id]);
  for (const c of await json(['ps', '-a', '--format', 'json'])) await sb.run(['rm', '-f', '-t', '0', c.Id]);
  expect(await settledLeaks(sb.dir)).toEqual([]);
});

/** Strict validation, as play kube applies it: every diagnostic (errors and warnings). */
function validation(text: string) {
  const parsed = parseManifests(text, 'generated.yaml');
  return [...parsed.errors, ...validateDocs(parsed.docs, { mode: 'strict' })];
}

const TYPE_OF: Record<string, string> = { Pod: 'pod', Deployment: 'deployment', DaemonSet: 'daemonset', Job: 'job' };

/**
 * generate kube for what a manifest defines: its Pods, and its controllers with --type; Secrets
 * with their values (--include-secrets), since kube down removes the Secrets a file defines.
 */
async function generateFor(docs: ParsedDoc[]): Promise<string> {
  const out: string[] = [];
  for (const [kind, type] of Object.entries(TYPE_OF)) {
    const names = docs.filter((d) => d.kind === kind).map((d) => d.name!);
    if (!names.length) continue;
    const r = await sb.ok(['generate', 'kube', '--include-secrets', '--type', type, ...names]);
    expect(String(r.stderr)).toBe(''); // nothing had to be left out or renamed
    out.push(`${String(r.stdout)}\n`);
  }
  return out.join('---\n');
}

/** The names of the pods a manifest makes. */
function podNames(docs: ParsedDoc[]): string[] {
  return docs.flatMap((d) => {
    const spec = (d.value as any).spec ?? {};
    switch (d.kind) {
      case 'Pod': return [d.name!];
      case 'DaemonSet': return [`${d.name}-pod`];
      case 'Deployment': case 'Job': return Array.from({ length: (d.kind === 'Job' ? spec.completions : spec.replicas) ?? 1 }, (_, i) => `${d.name}-pod-${i}`);
      default: return [];
    }
  });
}

/** Waits until the pods' containers that end by themselves (Jobs, init containers) have ended. */
async function settle(docs: ParsedDoc[], names: string[]): Promise<void> {
  const finite = new Set(podNames(docs.filter((d) => d.kind === 'Job')));
  for (let i = 0; i < 100; i++) {
    let busy = false;
    for (const name of names) {
      const p = await json(['pod', 'inspect', name]);
      for (const c of p.Containers) {
        const [x] = await json(['inspect', c.Id]);
        if (x.IsInfra) continue;
        const ends = finite.has(name) || x.State.Status === 'created';
        if (ends && (x.State.Running || x.State.Status === 'created')) busy = true;
      }
    }
    if (!busy) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * What the pods do: process args, env, working directory, host name, labels, shared namespaces;
 * for containers that run, also the host name and working directory seen inside.
 */
async function behaviour(docs: ParsedDoc[], names: string[]) {
  await settle(docs, names);
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const p = await json(['pod', 'inspect', name]);
    const members: Record<string, unknown> = {};
    for (const c of p.Containers) {
      const [i] = await json(['inspect', c.Id]);
      if (i.IsInfra) continue;
      const m: Record<string, unknown> = { path: i.Path, args: i.Args, env: i.Config.Env, workingDir: i.Config.WorkingDir, running: i.State.Running, exitCode: i.State.ExitCode, mounts: i.Mounts.map((x: any) => x.Destination) };
      if (i.State.Running) {
        const inside = String((await sb.ok(['exec', c.Id, 'sh', '-c', 'hostname; pwd'])).stdout).split('\n');
        Object.assign(m, { hostname: inside[0], pwd: inside[1] });
      }
      members[i.Name] = m;
    }
    out[name] = { hostname: p.Hostname, labels: p.Labels, shared: p.SharedNamespaces, members };
  }
  return out;
}

const CORPUS = [path.join(PROJECT, 'examples'), path.join(PROJECT, 'test', 'fixtures', 'roundtrip')]
  .flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(d, f)));

describe('round trip: generate kube is a fixed point of play kube', () => {
  it('covers the examples and the corpus', () => {
    expect(CORPUS.map((f) => path.relative(PROJECT, f))).toEqual(expect.arrayContaining(['examples/demo-pod.yaml', 'test/fixtures/roundtrip/deployment.yaml']));
    expect(CORPUS.length).toBeGreaterThanOrEqual(7);
  });

  for (const file of CORPUS) {
    it(path.relative(PROJECT, file), async () => {
      const docs = parseManifests(readFileSync(file, 'utf8'), file).docs;
      const names = podNames(docs);
      await sb.ok(['play', 'kube', file]);
      const first = await generateFor(docs);
      expect(validation(first)).toEqual([]);
      const before = await behaviour(docs, names);
      await sb.ok(['kube', 'down', file]);
      expect(await json(['pod', 'ps', '--format', 'json'])).toEqual([]);

      const generated = path.join(sb.dir, `${path.basename(file, '.yaml')}.generated.yaml`);
      writeFileSync(generated, first);
      const replay = await sb.ok(['play', 'kube', generated]);
      expect(String(replay.stderr)).toBe(''); // nothing unsupported, nothing ignored
      const second = await generateFor(docs);
      expect(second).toBe(first);
      expect(await behaviour(docs, names)).toEqual(before);
      await sb.ok(['kube', 'down', generated]);
    }, 120_000);
  }
});

describe('generate kube of pods and containers made by hand', () => {
  it('pod create + run --pod: names without the pod prefix, made valid; the YAML plays back and is a fixed point', async () => {
    await sb.ok(['pod', 'create', '--name', 'hand', '--label', 'team=x', '--hostname', 'hand-host']);
    await sb.ok(['run', '-d', '--pod', 'hand', '--name', 'hand-web', '-e', 'A=1', '-w', '/tmp', '--stop-timeout', '1', 'localhost/busybox:latest', 'sleep', '1000']);
    await sb.ok(['run', '-d', '--pod', 'hand', '--name', 'Other_Ctr', '--stop-timeout', '1', '--entrypoint', 'sleep', 'localhost/bb-entry:latest', '999']);
    const r = await sb.ok(['generate', 'kube', 'hand']);
    const text = `${String(r.stdout)}\n`;
    expect(String(r.stderr)).toContain('container Other_Ctr: written as "other-ctr"');
    expect(validation(text)).toEqual([]);
    const before = await behaviour([], ['hand']);
    await sb.ok(['pod', 'rm', '-f', '-t', '0', 'hand']);

    const file = path.join(sb.dir, 'hand.yaml');
    writeFileSync(file, text);
    await sb.ok(['play', 'kube', file]);
    const after = await behaviour([], ['hand']) as any;
    expect(Object.keys(after.hand.members).sort()).toEqual(['hand-other-ctr', 'hand-web']);
    expect(after.hand.members['hand-web']).toEqual((before as any).hand.members['hand-web']);
    expect(after.hand.members['hand-other-ctr']).toMatchObject({ path: 'sleep', args: ['999'], running: true, hostname: 'hand-host' });
    expect(after.hand.labels).toEqual({ team: 'x' });
    expect(`${String((await sb.ok(['generate', 'kube', 'hand'])).stdout)}\n`).toBe(text);
    await sb.ok(['kube', 'down', file]);
  }, 120_000);

  it('a standalone container gives a pod <ctr>-pod that plays back; kube generate is the same command; -f refuses to overwrite', async () => {
    await sb.ok(['run', '-d', '--name', 'solo', '-e', 'X=1', '--stop-timeout', '1', 'localhost/busybox:latest', 'sleep', '1000']);
    const text = `${String((await sb.ok(['generate', 'kube', 'solo'])).stdout)}\n`;
    expect(`${String((await sb.ok(['kube', 'generate', 'solo'])).stdout)}\n`).toBe(text);
    expect(text).toContain('name: solo-pod');
    expect(validation(text)).toEqual([]);
    const file = path.join(sb.dir, 'solo.yaml');
    await sb.ok(['generate', 'kube', '-f', file, 'solo']);
    expect(readFileSync(file, 'utf8')).toBe(text);
    const again = await sb.run(['generate', 'kube', '-f', file, 'solo']);
    expect(again.exitCode).toBe(125);
    expect(String(again.stderr)).toBe(`Error: cannot write ${file}: the file exists`);
    await sb.ok(['rm', '-f', '-t', '0', 'solo']);
    await sb.ok(['play', 'kube', file]);
    const [i] = await json(['inspect', 'solo-pod-solo']);
    expect([i.Path, ...i.Args]).toEqual(['sleep', '1000']);
    expect(i.Config.Env).toEqual(['X=1']);
    expect(i.State.Running).toBe(true);
    await sb.ok(['kube', 'down', file]);
  }, 120_000);

  it('--type deployment|daemonset|job and -s give YAML that validates; a Deployment plays back with its replicas', async () => {
    const file = path.join(PROJECT, 'test', 'fixtures', 'roundtrip', 'command-only.yaml');
    await sb.ok(['play', 'kube', file]);
    for (const type of ['deployment', 'daemonset', 'job']) {
      const text = String((await sb.ok(['generate', 'kube', '-s', '--type', type, 'rt-command'])).stdout);
      expect(validation(text)).toEqual([]);
    }
    const deployment = String((await sb.ok(['generate', 'kube', '--type', 'deployment', '--replicas', '2', 'rt-command'])).stdout);
    await sb.ok(['kube', 'down', file]);
    const dfile = path.join(sb.dir, 'deploy.yaml');
    writeFileSync(dfile, deployment);
    await sb.ok(['play', 'kube', dfile]);
    const pods = (await json(['pod', 'ps', '--format', 'json'])).map((p: any) => p.Name).sort();
    expect(pods).toEqual(['rt-command-pod-0', 'rt-command-pod-1']);
    // by the Deployment's name, or by one of its pods: the same Deployment, replicas counted
    expect(String((await sb.ok(['generate', 'kube', '--type', 'deployment', 'rt-command'])).stdout)).toBe(deployment);
    expect(String((await sb.ok(['generate', 'kube', '--type', 'deployment', 'rt-command-pod-1'])).stdout)).toBe(deployment);
    await sb.ok(['kube', 'down', dfile]);
  }, 120_000);

  it('no secret value in generate output by default; --include-secrets writes them', async () => {
    const file = path.join(PROJECT, 'examples', 'secret.yaml');
    await sb.ok(['play', 'kube', file]);
    const values = ['s3cr3t', 'czNjcjN0', 'admin', Buffer.from('admin').toString('base64')];
    const plain = await sb.ok(['generate', 'kube', 'secret-demo']);
    for (const v of values) expect(String(plain.stdout)).not.toContain(v);
    expect(String(plain.stdout)).toContain('secretKeyRef');
    expect(String(plain.stderr)).toContain('secret db-credentials: its values are not written (use --include-secrets)');
    const unit = await sb.ok(['generate', 'systemd', '--new', '--name', 'secret-demo']);
    const copy = readFileSync(path.join(sb.root, 'systemd', 'pod-secret-demo.yaml'), 'utf8');
    for (const v of values) {
      expect(String(unit.stdout)).not.toContain(v);
      expect(copy).not.toContain(v);
    }
    const withFlag = String((await sb.ok(['generate', 'kube', '--include-secrets', 'secret-demo'])).stdout);
    expect(withFlag).toContain('czNjcjN0');
    expect(withFlag).toContain(Buffer.from('admin').toString('base64'));
    expect(validation(withFlag)).toEqual([]);
    await sb.ok(['kube', 'down', file]);
  }, 120_000);

  it('unknown references and misplaced flags are errors', async () => {
    const r = await sb.run(['generate', 'kube', 'nosuch']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toBe('Error: no pod, container, Deployment, DaemonSet or Job with name or ID "nosuch" found');
    const bad = await sb.run(['generate', 'kube', '--replicas', '2', 'nosuch']);
    expect(String(bad.stderr)).toBe('Error: --replicas needs --type deployment');
    expect(existsSync(path.join(sb.dir, 'nosuch'))).toBe(false);
  });
});
