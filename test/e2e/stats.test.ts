// Issue 23: `stats` and `pod stats` show live figures that match the cgroup files. The test reads
// the cgroup files and /proc/<pid>/net/dev itself, before and after peapod's sample, and wants
// peapod's figure between the two (within the rounding of Podman's three significant digits).
// Adversarial: a record whose cgroup path was tampered with is refused, nothing outside is read.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { useSandbox, until } from '../helpers/e2e.js';

const e2e = useSandbox('peapod-stats', { images: ['bb'] });

/** Bytes of Podman's HumanSizeWithPrecision(n, 3) text (`41.9MB`, `796B`). */
function bytesOf(s: string): number {
  const m = /^([\d.]+)(B|kB|MB|GB|TB)$/.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  return Number(m[1]) * 1000 ** ['B', 'kB', 'MB', 'GB', 'TB'].indexOf(m[2]!);
}

/** Nanoseconds of Go's Duration text (`2.5ms`, `1m2.5s`). */
function nanosOf(s: string): number {
  let ns = 0;
  for (const m of s.matchAll(/([\d.]+)(h|ms|µs|us|ns|m|s)/g)) ns += Number(m[1]) * { h: 3.6e12, m: 6e10, s: 1e9, ms: 1e6, µs: 1e3, us: 1e3, ns: 1 }[m[2] as 'h']!;
  return ns;
}

/** Whether a 3-significant-digit figure can stand for a value between lo and hi. */
function within(shown: number, lo: number, hi: number): boolean {
  const slack = Math.max(shown * 0.006, 1);
  return shown >= lo - slack && shown <= hi + slack;
}

const cg = (ctl: string, rel: string, file: string) => readFileSync(path.join('/sys/fs/cgroup', ctl, rel, file), 'utf8').trim();
const v1 = existsSync('/sys/fs/cgroup/memory/cgroup.procs');

describe('stats', () => {
  it('a container that allocates memory shows it; memory, CPU time, PIDs and net I/O match the cgroup and netns files', async () => {
    if (!v1) throw new Error('this test reads cgroup v1 files (memory, cpuacct, pids): the host here is v1/hybrid');
    // 40 MB written to the container's /dev/shm (tmpfs pages are charged to its memory cgroup), then it waits
    const file = e2e.manifest('mem', `apiVersion: v1
kind: Pod
metadata:
  name: mem
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: localhost/bb:latest
      command: ["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; touch /tmp/done; sleep 1000"]
      resources:
        limits:
          memory: 200Mi
`);
    await e2e.sb.ok(['play', 'kube', file]);
    const [ins] = await e2e.json(['inspect', 'mem-c']);
    const pod = await e2e.json(['pod', 'inspect', 'mem']);
    const rel = path.posix.join(e2e.sb.cgroupParent, pod.Id, ins.Id);
    await until(async () => (await e2e.sb.run(['exec', 'mem-c', 'test', '-e', '/tmp/done'])).exitCode, (c) => c === 0);

    const before = { mem: Number(cg('memory', rel, 'memory.usage_in_bytes')), cpu: Number(cg('cpuacct', rel, 'cpuacct.usage')) };
    const pid = cg('pids', rel, 'cgroup.procs').split('\n')[0]!;
    const net = (): { rx: number; tx: number } => {
      let rx = 0, tx = 0;
      for (const l of readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2)) {
        const [name, rest] = l.split(':');
        if (!rest || name!.trim() === 'lo') continue;
        const f = rest.trim().split(/\s+/);
        rx += Number(f[0]); tx += Number(f[8]);
      }
      return { rx, tx };
    };
    const netBefore = net();
    const [s] = await e2e.json(['stats', '--no-stream', '--format', 'json', 'mem-c']);
    const after = { mem: Number(cg('memory', rel, 'memory.usage_in_bytes')), cpu: Number(cg('cpuacct', rel, 'cpuacct.usage')) };
    const netAfter = net();

    expect(Object.keys(s)).toEqual(['id', 'name', 'cpu_time', 'cpu_percent', 'avg_cpu', 'mem_usage', 'mem_percent', 'net_io', 'block_io', 'pids']);
    expect(s.id).toBe(ins.Id.slice(0, 12));
    expect(s.name).toBe('mem-c');
    const [used, limit] = (s.mem_usage as string).split(' / ');
    // the 40 MB allocation shows, and the figure is the cgroup's
    expect(bytesOf(used!)).toBeGreaterThanOrEqual(40 * 1024 * 1024 * 0.99);
    expect(within(bytesOf(used!), Math.min(before.mem, after.mem), Math.max(before.mem, after.mem))).toBe(true);
    // the limit is the container's cgroup limit (200 MiB)
    expect(Number(cg('memory', rel, 'memory.limit_in_bytes'))).toBe(200 * 1024 * 1024);
    expect(limit).toBe('210MB');
    expect(Number((s.mem_percent as string).replace('%', ''))).toBeCloseTo((bytesOf(used!) / (200 * 1024 * 1024)) * 100, 0);
    const cpu = nanosOf(s.cpu_time);
    expect(cpu).toBeGreaterThan(0);
    expect(cpu).toBeGreaterThanOrEqual(before.cpu * 0.999);
    expect(cpu).toBeLessThanOrEqual(after.cpu * 1.001);
    expect(s.pids).toBe(cg('pids', rel, 'pids.current'));
    expect(s.pids).toBe('1'); // sleep (the shell execs its last command)
    const [rx, tx] = (s.net_io as string).split(' / ').map(bytesOf);
    expect(within(rx!, netBefore.rx, netAfter.rx)).toBe(true);
    expect(within(tx!, netBefore.tx, netAfter.tx)).toBe(true);
    expect(s.cpu_percent).toMatch(/^\d+\.\d\d%$/);

    // Podman's template fields
    const t = (await e2e.out(['stats', '--no-stream', '--format', '{{.ID}} {{.Name}} {{.PIDS}} {{.MemLimit}}', 'mem-c'])).trim();
    expect(t).toBe(`${ins.Id.slice(0, 12)} mem-c 1 ${200 * 1024 * 1024}`);
    // the default table
    const table = (await e2e.out(['stats', '--no-stream'])).split('\n');
    expect(table[0]).toMatch(/^ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET IO\s+BLOCK IO\s+PIDS\s+CPU TIME\s+AVG CPU %$/);
    expect(table.some((l) => l.includes('mem-c'))).toBe(true);

    // pod stats: every container of the pod, the infra one too, with Podman's PodStatsReport fields
    const ps = await e2e.json(['pod', 'stats', '--no-stream', '--format', 'json', 'mem']);
    expect(ps.map((r: any) => r.Name).sort()).toEqual([`${pod.Id.slice(0, 12)}-infra`, 'mem-c'].sort());
    const row = ps.find((r: any) => r.Name === 'mem-c');
    expect(Object.keys(row)).toEqual(['CPU', 'MemUsage', 'MemUsageBytes', 'Mem', 'NetIO', 'BlockIO', 'PIDS', 'Pod', 'CID', 'Name']);
    expect(row.Pod).toBe(pod.Id.slice(0, 12));
    expect(row.CID).toBe(ins.Id.slice(0, 12));
    expect(bytesOf(row.MemUsage.split(' / ')[0])).toBeGreaterThanOrEqual(40 * 1024 * 1024 * 0.99);
    expect(row.MemUsageBytes).toMatch(/MiB \/ 200MiB$/);
    expect(row.PIDS).toBe('1');

    // streaming prints a new sample every interval until interrupted
    const { execa } = await import('execa');
    const { BIN } = await import('../helpers/cli.js');
    const p = execa(BIN, ['--root', e2e.sb.root, '--runroot', e2e.sb.runroot, 'stats', '-i', '1', '--format', '{{.Name}} {{.PIDS}}', 'mem-c'], { reject: false, stdin: 'ignore', env: { PEAPOD_CGROUP_PARENT: e2e.sb.cgroupParent } });
    let text = '';
    p.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
    await until(async () => text, (x) => x.split('\n').filter((l) => l === 'mem-c 1').length >= 2);
    p.kill('SIGINT');
    expect((await p).exitCode).toBe(0);
    expect(text.split('\n').filter((l) => l === 'mem-c 1').length).toBeGreaterThanOrEqual(2);
  });

  it('-a shows stopped containers with zeros; an unknown container is an error naming it', async () => {
    await e2e.sb.ok(['create', '--name', 'idle', 'localhost/bb:latest', 'true']);
    const all = await e2e.json(['stats', '--no-stream', '-a', '--format', 'json']);
    const idle = all.find((r: any) => r.name === 'idle');
    expect(idle).toMatchObject({ mem_usage: '0B / 0B', pids: '0', cpu_percent: '0.00%' });
    expect((await e2e.json(['stats', '--no-stream', '--format', 'json'])).find((r: any) => r.name === 'idle')).toBeUndefined();
    const r = await e2e.sb.run(['stats', '--no-stream', 'nosuch']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/nosuch/);
    await e2e.sb.ok(['rm', 'idle']);
  });
});

describe('stats, adversarial', () => {
  it('a record whose cgroup path was tampered with is refused: peapod reads no other cgroup', async () => {
    await e2e.sb.ok(['run', '-d', '--name', 'victim', 'localhost/bb:latest', 'sleep', '1000']);
    const [ins] = await e2e.json(['inspect', 'victim']);
    const recFile = path.join(e2e.sb.root, 'containers', ins.Id, 'container.json');
    const original = readFileSync(recFile, 'utf8');
    try {
      for (const bad of ['/', '/../../..', `${e2e.sb.cgroupParent}/../..`, `${e2e.sb.cgroupParent}/${'0'.repeat(64)}`, 'relative/path']) {
        const rec = JSON.parse(original);
        rec.state.cgroupPath = bad;
        writeFileSync(recFile, JSON.stringify(rec));
        const r = await e2e.sb.run(['stats', '--no-stream', '--format', 'json', 'victim']);
        expect(r.exitCode).toBe(125);
        expect(String(r.stderr)).toContain('container victim: the cgroup path in its record');
        expect(String(r.stdout)).toBe('');
      }
    } finally {
      writeFileSync(recFile, original);
    }
    // with its record intact again, the figures are there
    const [s] = await e2e.json(['stats', '--no-stream', '--format', 'json', 'victim']);
    expect(s.pids).toBe('1');
    await e2e.sb.ok(['rm', '-f', '-t', '0', 'victim']);
  });
});
