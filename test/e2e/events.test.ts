// Issue 23: `events`, the engine's journal of lifecycle events. Acceptance: `events --format json`
// in another process shows a pod's lifecycle while it is played and taken down. Then filters, time
// bounds, templates, rotation, and the adversarial cases: hostile labels and names (JSON, templates
// and the human form stay intact), another root's journal, another host user, a planted link.
import { describe, it, expect } from 'vitest';
import { existsSync, lstatSync, readFileSync, symlinkSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, sandbox } from '../helpers/cli.js';
import { useSandbox, until } from '../helpers/e2e.js';

const e2e = useSandbox('peapod-events', { images: ['bb'] });

interface Ev { ID?: string; Name?: string; Image?: string; Status: string; Type: string; Time: string; PodID?: string; ContainerExitCode?: number; Attributes: Record<string, string> | null }

/** `events --format json` of the sandbox as a separate process, following until stopped. */
function follow(extra: string[] = [], env: Record<string, string> = {}) {
  const p = execa(BIN, ['--root', e2e.sb.root, '--runroot', e2e.sb.runroot, 'events', '--format', 'json', ...extra], { reject: false, env, stdin: 'ignore' });
  let text = '';
  p.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
  return {
    events: (): Ev[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev),
    async stop() {
      p.kill('SIGINT');
      const r = await p;
      return r.exitCode;
    },
  };
}

const podYaml = (name: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: localhost/bb:latest
      command: ["sleep", "1000"]
`;

describe('events', () => {
  it('another process following `events --format json` sees a pod played and taken down, in order, with Podman\'s fields', async () => {
    const f = follow();
    const file = e2e.manifest('life', podYaml('life'));
    await e2e.sb.ok(['play', 'kube', file]);
    const pod = await e2e.json(['pod', 'inspect', 'life']);
    await e2e.sb.ok(['kube', 'down', file]);
    const seen = await until(async () => f.events(), (evs) => evs.some((e) => e.Type === 'pod' && e.Status === 'remove' && e.Name === 'life'));
    expect(await f.stop()).toBe(0);
    const mine = seen.filter((e) => e.ID === pod.Id || e.PodID === pod.Id);
    const podSteps = mine.filter((e) => e.Type === 'pod').map((e) => e.Status);
    expect(podSteps).toEqual(['create', 'start', 'stop', 'remove']);
    const ctr = mine.filter((e) => e.Type === 'container' && e.Name === 'life-c');
    expect(ctr.map((e) => e.Status)).toEqual(['create', 'init', 'start', 'died', 'cleanup', 'stop', 'remove']);
    for (const e of ctr) {
      expect(e.ID).toMatch(/^[0-9a-f]{64}$/);
      expect(e.Image).toBe('localhost/bb:latest');
      expect(e.PodID).toBe(pod.Id);
      expect(e.Time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    }
    // sleep ignores SIGTERM: killed after the 1 s grace
    expect(ctr.find((e) => e.Status === 'died')!.ContainerExitCode).toBe(137);
    // the infra container's life is recorded too
    expect(mine.filter((e) => e.Type === 'container' && e.Name === `${pod.Id.slice(0, 12)}-infra`).map((e) => e.Status)).toContain('died');
    // Podman's key order (Go's struct order) in every line
    expect(Object.keys(ctr[3]!)).toEqual(['ContainerExitCode', 'ID', 'Image', 'Name', 'Status', 'Time', 'Type', 'PodID', 'Attributes']);
    const times = mine.map((e) => e.Time);
    expect([...times].sort()).toEqual(times);
  });

  it('--stream=false prints the history; --filter (type, event, pod, container, label, image), --since/--until and templates select and shape it', async () => {
    await e2e.sb.ok(['create', '--name', 'lab1', '--label', 'team=blue', 'localhost/bb:latest', 'true']);
    await e2e.sb.ok(['create', '--name', 'lab2', '--label', 'team=red', 'localhost/bb:latest', 'true']);
    const lines = (await e2e.out(['events', '--stream=false', '--filter', 'event=create', '--filter', 'label=team=blue', '--format', '{{.Type}} {{.Status}} {{.Name}} {{.Image}}'])).trim().split('\n');
    expect(lines).toEqual(['container create lab1 localhost/bb:latest']);
    // two values of one key are alternatives
    const both = (await e2e.out(['events', '--stream=false', '--filter', 'container=lab1', '--filter', 'container=lab2', '--format', '{{.Name}}'])).trim().split('\n');
    expect(both).toEqual(['lab1', 'lab2']);
    // the human form, as Podman prints it
    const human = (await e2e.out(['events', '--stream=false', '--filter', 'container=lab1'])).trim();
    expect(human).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+ container create [0-9a-f]{64} \(image=localhost\/bb:latest, name=lab1, .*team=blue\)$/);
    // --since after everything: nothing; --until before everything: nothing; a duration back from now: all of it
    expect((await e2e.out(['events', '--stream=false', '--since', '2099-01-01T00:00:00Z'])).trim()).toBe('');
    expect((await e2e.out(['events', '--stream=false', '--until', '2000-01-01'])).trim()).toBe('');
    expect((await e2e.out(['events', '--stream=false', '--since', '1h', '--filter', 'container=lab2', '--format', '{{.Status}}'])).trim()).toBe('create');
    // image events: import (by the sandbox), tag, untag
    await e2e.sb.ok(['tag', 'localhost/bb:latest', 'localhost/bb:two']);
    await e2e.sb.ok(['rmi', 'localhost/bb:two']);
    const img = (await e2e.out(['events', '--stream=false', '--filter', 'type=image', '--format', '{{.Status}} {{.Name}}'])).trim().split('\n');
    expect(img).toEqual(expect.arrayContaining(['import localhost/bb:latest', 'tag localhost/bb:two', 'untag localhost/bb:two']));
    // bad input: a clear error, exit 125
    for (const bad of [['--filter', 'colour=blue'], ['--filter', 'type=spaceship'], ['--since', 'yesterday-ish']]) {
      const r = await e2e.sb.run(['events', '--stream=false', ...bad]);
      expect(r.exitCode).toBe(125);
      expect(String(r.stderr)).toMatch(/^Error: .*(invalid filter|unknown event type|not a time)/);
    }
    await e2e.sb.ok(['rm', 'lab1', 'lab2']);
    // --until in the near future ends a following reader by itself
    const r = await e2e.sb.run(['events', '--until', '2s', '--format', '{{.Status}}']);
    expect(r.exitCode).toBe(0);
  });

  it('the journal is 0600 in a 0700 directory, rotates past its size, and a follower reads across the rotation', async () => {
    const dir = path.join(e2e.sb.runroot, 'events');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'events.log')).mode & 0o777).toBe(0o600);
    const env = { PEAPOD_EVENTS_MAX_SIZE: '1024' };
    const f = follow(['--filter', 'type=image', '--filter', 'event=tag']);
    const n = 12;
    for (let i = 0; i < n; i++) await e2e.sb.ok(['tag', 'localhost/bb:latest', `localhost/rot:${i}`], { env });
    const seen = await until(async () => f.events(), (evs) => evs.some((e) => e.Name === `localhost/rot:${n - 1}`));
    await f.stop();
    // every tag exactly once, in order, though the file was renamed under the reader
    expect(seen.filter((e) => e.Name?.startsWith('localhost/rot:')).map((e) => e.Name)).toEqual(Array.from({ length: n }, (_, i) => `localhost/rot:${i}`));
    expect(existsSync(path.join(dir, 'events.log.1'))).toBe(true);
    for (const file of ['events.log', 'events.log.1']) {
      const st = statSync(path.join(dir, file));
      expect(st.size).toBeLessThan(1024 + 64 * 1024);
      expect(st.mode & 0o777).toBe(0o600);
    }
    await e2e.sb.ok(['rmi', ...Array.from({ length: n }, (_, i) => `localhost/rot:${i}`)]);
  });
});

describe('events, adversarial', () => {
  it('hostile label values and image labels break neither JSON, templates nor the human form', async () => {
    const evil = 'x"},{"Status":"forged"} {{.ID}} \u001b[31mred\u001b[0m\nline2';
    const imgLabel = '{{json .}}\ttab';
    await e2e.sb.ok(['tag', 'localhost/bb:latest', 'localhost/evilimg:1']);
    // an image whose own (untrusted) labels carry template syntax and control characters
    const tar = path.join(e2e.sb.dir, 'evil.tar');
    await execa('tar', ['-cf', tar, '-C', '/', 'bin/busybox']);
    await e2e.sb.ok(['import', '--change', `LABEL img.evil=${JSON.stringify(imgLabel)}`, tar, 'localhost/evilimg:2']);
    await e2e.sb.ok(['create', '--name', 'evil', '--label', `k=${evil}`, '--label', `{{.Name}}=v`, 'localhost/evilimg:2', 'true']);
    const json = (await e2e.out(['events', '--stream=false', '--filter', 'container=evil', '--format', 'json'])).trim().split('\n');
    expect(json).toHaveLength(1);
    const ev = JSON.parse(json[0]!) as Ev;
    const stored = (await e2e.json(['image', 'inspect', 'localhost/evilimg:2']))[0].Config.Labels['img.evil'] as string;
    expect(stored).toContain('{{json .}}');
    expect(ev.Status).toBe('create');
    expect(ev.Attributes).toMatchObject({ k: evil, '{{.Name}}': 'v', 'img.evil': stored });
    // templates: values are data, never template text; control characters shown escaped
    const t = await e2e.out(['events', '--stream=false', '--filter', 'container=evil', '--format', '{{.Status}}|{{index .Attributes "k"}}|{{index .Attributes "img.evil"}}']);
    expect(t.trim().split('\n')).toHaveLength(1);
    expect(t).not.toMatch(/\u001b/);
    expect(t).toContain('create|x"},{"Status":"forged"} {{.ID}} \\x1b[31mred\\x1b[0m\\x0aline2|{{json .}}');
    expect(t).not.toContain(ev.ID!);
    const human = await e2e.out(['events', '--stream=false', '--filter', 'container=evil']);
    expect(human.trim().split('\n')).toHaveLength(1);
    expect(human).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    await e2e.sb.ok(['rm', 'evil']);
    await e2e.sb.ok(['rmi', 'localhost/evilimg:1', 'localhost/evilimg:2']);
  });

  it('one root never reads another\'s events: separate journals, a planted link is not followed, other users read nothing', async () => {
    const other = sandbox('peapod-events-other');
    try {
      await e2e.sb.ok(['create', '--name', 'secretname', 'localhost/bb:latest', 'true']);
      // the other root has its own journal: none of this root's events
      expect(String((await other.ok(['events', '--stream=false', '--format', 'json'])).stdout)).not.toContain('secretname');
      // a link planted where the other root's journal lives, pointing at this root's, is neither read nor written through
      const odir = path.join(other.runroot, 'events');
      mkdirSync(odir, { recursive: true, mode: 0o700 });
      rmSync(path.join(odir, 'events.log'), { force: true });
      symlinkSync(path.join(e2e.sb.runroot, 'events', 'events.log'), path.join(odir, 'events.log'));
      const before = readFileSync(path.join(e2e.sb.runroot, 'events', 'events.log'), 'utf8');
      const r = await other.ok(['events', '--stream=false', '--format', 'json']);
      expect(String(r.stdout)).not.toContain('secretname');
      // the other root records an import: refused through the link, never appended to this root's journal
      const tar = path.join(other.dir, 'bb.tar');
      await execa('tar', ['-cf', tar, '-C', '/', 'bin/busybox']);
      await other.ok(['import', tar, 'localhost/other:1']);
      expect(readFileSync(path.join(e2e.sb.runroot, 'events', 'events.log'), 'utf8')).toBe(before);
      expect(lstatSync(path.join(odir, 'events.log')).isSymbolicLink()).toBe(true);
      // uid 65534 can read neither the journal nor list its directory
      const file = path.join(e2e.sb.runroot, 'events', 'events.log');
      const cat = await execa('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'cat', file], { reject: false });
      expect(cat.exitCode).not.toBe(0);
      expect(String(cat.stdout)).not.toContain('secretname');
      await e2e.sb.ok(['rm', 'secretname']);
    } finally {
      await other.destroy();
    }
  });
});
