// Scope 4 of issue 14: every container, the infra container included, is confined as under Podman:
// containers-common's default seccomp filter unless the pod says Unconfined (or is privileged), the
// default capability set, masked and read-only /proc paths, no_new_privs when escalation is refused.
// Read from the kernel's own view of each process (/proc/<pid>/status), not from the spec.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { useSandbox } from '../helpers/e2e.js';

const e2e = useSandbox('peapod-sec-confine');

const SLEEP = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"];

function pod(name: string, extra: { podSec?: string; ctrSec?: string } = {}): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 1
${extra.podSec ? `  securityContext: ${extra.podSec}\n` : ''}  containers:
    - name: app
      image: localhost/busybox:latest
      command: ${JSON.stringify(SLEEP)}
${extra.ctrSec ? `      securityContext: ${extra.ctrSec}\n` : ''}`;
}

/** The kernel's status lines of a container's main process, as a map. */
async function status(ctr: string): Promise<Record<string, string>> {
  const pid = await e2e.out(['inspect', '-f', '{{.State.Pid}}', ctr]);
  expect(Number(pid)).toBeGreaterThan(0);
  const text = readFileSync(path.join('/proc', pid.trim(), 'status'), 'utf8');
  return Object.fromEntries(text.split('\n').filter(Boolean).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  }));
}

async function infraOf(podName: string): Promise<string> {
  const cs = await e2e.json(['ps', '-a', '--format', 'json']);
  const infra = cs.find((c: any) => c.IsInfra && c.PodName === podName);
  expect(infra, `infra container of ${podName}`).toBeTruthy();
  return infra.Id;
}

// Debian's containers.conf default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE
// SETFCAP SETGID SETPCAP SETUID SYS_CHROOT (bits 0 1 3 4 5 10 31 6 8 7 18)
const DEFAULT_CAPS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 31].reduce((m, b) => m | (1n << BigInt(b)), 0n);

describe('default confinement', () => {
  it('a container and its pod\'s infra container get the default seccomp filter, capabilities and no extra privileges', async () => {
    await e2e.sb.ok(['play', 'kube', e2e.manifest('plain', pod('plain'))]);
    for (const ctr of ['plain-app', await infraOf('plain')]) {
      const st = await status(ctr);
      expect(st.Seccomp, `${ctr}: Seccomp`).toBe('2');
      expect(Number(st.Seccomp_filters ?? '1')).toBeGreaterThanOrEqual(1);
      expect(BigInt('0x' + st.CapBnd), `${ctr}: bounding set`).toBe(DEFAULT_CAPS);
    }
    const app = await status('plain-app');
    expect(BigInt('0x' + app.CapEff)).toBe(DEFAULT_CAPS);
    // Podman's default: no_new_privs off, so an image's setuid files work as under Podman
    expect(app.NoNewPrivs).toBe('0');
  });

  it('masks /proc paths and makes /proc/sys and /proc/sysrq-trigger read-only', async () => {
    await e2e.sb.ok(['play', 'kube', e2e.manifest('masked', pod('masked'))]);
    // a masked file reads as empty (bind of /dev/null), a masked directory is an empty tmpfs (this
    // kernel has no /proc/kcore; /proc/keys and /proc/timer_list have content on the host)
    expect(readFileSync('/proc/timer_list', 'utf8').length).toBeGreaterThan(0);
    expect(await e2e.out(['exec', 'masked-app', 'sh', '-c', 'wc -c < /proc/timer_list'])).toBe('0');
    expect(await e2e.out(['exec', 'masked-app', 'sh', '-c', 'cat /proc/keys | wc -c'])).toBe('0');
    expect(await e2e.out(['exec', 'masked-app', 'sh', '-c', 'ls -A /sys/firmware | wc -l'])).toBe('0');
    const w = await e2e.sb.run(['exec', 'masked-app', 'sh', '-c', 'echo evil > /proc/sys/kernel/hostname']);
    expect(w.exitCode).not.toBe(0);
    expect(String(w.stderr)).toMatch(/Read-only file system/);
    const id = await e2e.out(['inspect', '-f', '{{.Id}}', 'masked-app']);
    const spec = JSON.parse(readFileSync(path.join(e2e.sb.runroot, 'containers', id.trim(), 'config.json'), 'utf8'));
    expect(spec.linux.readonlyPaths).toEqual(expect.arrayContaining(['/proc/sys', '/proc/sysrq-trigger']));
    expect(spec.linux.maskedPaths).toEqual(expect.arrayContaining(['/proc/kcore', '/proc/keys', '/sys/firmware']));
  });

  it('seccompProfile Unconfined (pod or container level) and privileged drop the filter; allowPrivilegeEscalation false sets no_new_privs', async () => {
    await e2e.sb.ok(['play', 'kube', e2e.manifest('unconf', pod('unconf', { podSec: '{seccompProfile: {type: Unconfined}}' }))]);
    expect((await status('unconf-app')).Seccomp).toBe('0');
    // the pod-level setting is for the pod's containers; its infra keeps the default filter
    expect((await status(await infraOf('unconf'))).Seccomp).toBe('2');

    await e2e.sb.ok(['play', 'kube', e2e.manifest('ctrunc', pod('ctrunc', { ctrSec: '{seccompProfile: {type: Unconfined}}' }))]);
    expect((await status('ctrunc-app')).Seccomp).toBe('0');

    await e2e.sb.ok(['play', 'kube', e2e.manifest('priv', pod('priv', { ctrSec: '{privileged: true}' }))]);
    const priv = await status('priv-app');
    expect(priv.Seccomp).toBe('0');
    expect(BigInt('0x' + priv.CapEff)).toBeGreaterThan(DEFAULT_CAPS);

    await e2e.sb.ok(['play', 'kube', e2e.manifest('nnp', pod('nnp', { ctrSec: '{allowPrivilegeEscalation: false}' }))]);
    const nnp = await status('nnp-app');
    expect(nnp.NoNewPrivs).toBe('1');
    expect(nnp.Seccomp).toBe('2');
  });

  it('a standalone container (peapod run) gets the filter too', async () => {
    await e2e.sb.ok(['run', '-d', '--name', 'solo', 'localhost/busybox:latest', ...SLEEP]);
    expect((await status('solo')).Seccomp).toBe('2');
    // Podman's spellings to lift it
    await e2e.sb.ok(['run', '-d', '--name', 'solo-unconf', '--security-opt', 'seccomp=unconfined', 'localhost/busybox:latest', ...SLEEP]);
    expect((await status('solo-unconf')).Seccomp).toBe('0');
    await e2e.sb.ok(['run', '-d', '--name', 'solo-nnp', '--security-opt', 'no-new-privileges', 'localhost/busybox:latest', ...SLEEP]);
    expect((await status('solo-nnp')).NoNewPrivs).toBe('1');
    const bad = await e2e.sb.run(['run', '-d', '--security-opt', 'apparmor=evil', 'localhost/busybox:latest', 'true']);
    expect(bad.exitCode).toBe(125);
    expect(String(bad.stderr)).toMatch(/--security-opt apparmor=evil: not supported/);
  });
});
