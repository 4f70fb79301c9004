// Issue 18 scope 5, after a reboot: records that still say "running" while the host restarted
// under them (every conmon and container killed, the run root wiped) are shown as exited with the
// reason HostRestarted by ps, pod ps and inspect (never running, never an error), and pod start,
// start and play --replace bring such pods and containers back cleanly.
import { describe, it, expect } from 'vitest';
import { execa } from 'execa';
import { useSandbox, until } from '../helpers/e2e.js';
import { simulateReboot } from '../helpers/reboot.js';

const e2e = useSandbox('peapod-reboot');

const POD = (name: string, hostNetwork = false) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  hostNetwork: ${hostNetwork}
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: localhost/busybox:latest
      command: ["sleep", "1000"]
      readinessProbe:
        exec: { command: ["true"] }
        periodSeconds: 1
    - name: side
      image: localhost/busybox:latest
      command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"]
`;

/** A command that must succeed and say nothing on stderr; its stdout as JSON. */
async function clean(args: string[]) {
  const r = await e2e.sb.run(args);
  expect({ args, code: r.exitCode, stderr: String(r.stderr) }).toEqual({ args, code: 0, stderr: '' });
  return JSON.parse(String(r.stdout));
}

async function netavarkRules(): Promise<string[]> {
  const r = await execa('iptables', ['-t', 'nat', '-S'], { reject: false });
  return String(r.stdout).split('\n').filter((l) => /netavark/i.test(l));
}

describe('after a (simulated) reboot', () => {
  it('ps -a, pod ps and inspect say exited (HostRestarted); pod start, start and play --replace bring them back', async () => {
    const rulesBefore = await netavarkRules();
    const web = e2e.manifest('web', POD('web'));
    const host = e2e.manifest('hostpod', POD('hostpod', true));
    await e2e.sb.ok(['play', 'kube', '--wait-ready', web]);
    await e2e.sb.ok(['play', 'kube', '--wait-ready', host]);
    await e2e.sb.ok(['run', '-d', '--name', 'solo', '--stop-timeout', '1', 'localhost/busybox:latest', 'sleep', '1000']);
    const before = await clean(['ps', '-a', '--format', 'json']);
    expect(before.map((c: any) => c.State)).toEqual(before.map(() => 'running'));
    expect(before).toHaveLength(7);

    await simulateReboot(e2e.sb);

    const ps = await clean(['ps', '-a', '--format', 'json']);
    expect(ps.map((c: any) => ({ name: c.Names[0], state: c.State, reason: c.Reason, code: c.ExitCode, ready: c.Ready })).sort((a: any, b: any) => a.name.localeCompare(b.name)))
      .toEqual(before.map((c: any) => ({ name: c.Names[0], state: 'exited', reason: 'HostRestarted', code: 255, ready: false })).sort((a: any, b: any) => a.name.localeCompare(b.name)));
    for (const c of ps) expect(c.Status).toMatch(/^Exited \(255\) .* ago \(host restarted\)$/);
    const table = String((await e2e.sb.ok(['ps', '-a'])).stdout);
    expect(table).not.toMatch(/\bUp\b/);
    expect(table).toContain('(host restarted)');

    const pods = await clean(['pod', 'ps', '--format', 'json']);
    expect(pods.map((p: any) => ({ name: p.Name, status: p.Status, reason: p.Reason, ready: p.Ready })).sort((a: any, b: any) => a.name.localeCompare(b.name)))
      .toEqual([{ name: 'hostpod', status: 'Exited', reason: 'HostRestarted', ready: '0/2' }, { name: 'web', status: 'Exited', reason: 'HostRestarted', ready: '0/2' }]);
    const [main] = await clean(['inspect', 'web-main']);
    expect(main.State).toMatchObject({ Status: 'exited', Running: false, Ready: false, Reason: 'HostRestarted', ExitCode: 255, Pid: 0, ConmonPid: 0 });
    expect(main.State.LastTermination).toMatchObject({ Reason: 'HostRestarted', ExitCode: 255 });
    expect((await clean(['pod', 'inspect', 'web'])).State).toBe('Exited');
    // asked again: the same (the records were brought up to date once, nothing is redone)
    expect((await clean(['ps', '-a', '--format', 'json'])).map((c: any) => c.Reason)).toEqual(ps.map(() => 'HostRestarted'));

    // back: pod start, start, play --replace
    const started = await e2e.sb.run(['pod', 'start', 'web']);
    expect({ code: started.exitCode, stderr: String(started.stderr) }).toEqual({ code: 0, stderr: '' });
    await e2e.sb.ok(['start', 'solo']);
    await e2e.sb.ok(['play', 'kube', '--replace', '--wait-ready', host]);
    await until(async () => (await e2e.json(['pod', 'ps', '--format', 'json'])).find((x: any) => x.Name === 'web')?.Ready, (r) => r === '2/2');
    const after = await clean(['ps', '-a', '--format', 'json']);
    expect(after.map((c: any) => c.State)).toEqual(after.map(() => 'running'));
    expect(after).toHaveLength(7);
    const podsAfter = await clean(['pod', 'ps', '--format', 'json']);
    expect(podsAfter.map((p: any) => ({ name: p.Name, status: p.Status, ready: p.Ready, reason: p.Reason })).sort((a: any, b: any) => a.name.localeCompare(b.name)))
      .toEqual([{ name: 'hostpod', status: 'Running', ready: '2/2', reason: '' }, { name: 'web', status: 'Running', ready: '2/2', reason: '' }]);
    // the bridge pod is reachable on its network again: it has an address
    const [infra] = await clean(['inspect', (await clean(['pod', 'inspect', 'web'])).InfraContainerID]);
    expect(infra.NetworkSettings.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    // and they go away cleanly; nothing of the old boot is left in iptables
    await e2e.sb.ok(['pod', 'rm', '-f', '-t', '0', 'web']);
    await e2e.sb.ok(['pod', 'rm', '-f', '-t', '0', 'hostpod']);
    await e2e.sb.ok(['rm', '-f', '-t', '0', 'solo']);
    expect(await netavarkRules()).toEqual(rulesBefore);
  }, 180_000);

  it('a stop, rm or pod rm of a pod the host restarted under works without a start first', async () => {
    await e2e.sb.ok(['play', 'kube', e2e.manifest('gone', POD('gone'))]);
    await e2e.sb.ok(['run', '-d', '--name', 'gone2', 'localhost/busybox:latest', 'sleep', '1000']);
    await simulateReboot(e2e.sb);
    for (const args of [['pod', 'stop', '-t', '0', 'gone'], ['stop', '-t', '0', 'gone2'], ['pod', 'rm', 'gone'], ['rm', 'gone2']]) {
      const r = await e2e.sb.run(args);
      expect({ args, code: r.exitCode, stderr: String(r.stderr) }).toEqual({ args, code: 0, stderr: '' });
    }
    expect(await e2e.json(['ps', '-a', '--format', 'json'])).toEqual([]);
  }, 120_000);
});
