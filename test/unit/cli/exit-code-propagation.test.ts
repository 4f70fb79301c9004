// Podman's --service-exit-code-propagation (a .kube file's ExitCodePropagation=) for play --wait:
// which exit code a wait that ended by itself gives (src/app/kube.ts propagatedExitCode).
import { describe, it, expect } from 'vitest';
import { propagatedExitCode, parseAnnotations } from '../../../src/app/kube.js';

describe('propagatedExitCode', () => {
  it.each([
    [{ ended: true, exitCodes: [0, 3] }, 'none', 0],
    [{ ended: true, exitCodes: [0, 3] }, 'any', 3],
    [{ ended: true, exitCodes: [0, 3] }, 'all', 0],
    [{ ended: true, exitCodes: [2, 3] }, 'all', 2],
    [{ ended: true, exitCodes: [0, 0] }, 'any', 0],
    [{ ended: false, exitCodes: [] }, 'any', 0],
  ] as const)('%j with %s -> %i', (r, how, code) => expect(propagatedExitCode({ ended: r.ended, exitCodes: [...r.exitCodes] }, how)).toBe(code));
});

describe('--annotation', () => {
  it('takes Kubernetes annotation keys, refuses others', async () => {
    expect(await parseAnnotations(['io.containers.autoupdate=registry', 'io.containers.autoupdate/web=local', 'a=b=c'])).toEqual({ 'io.containers.autoupdate': 'registry', 'io.containers.autoupdate/web': 'local', a: 'b=c' });
    for (const bad of ['noequals', '=v', 'Bad_Prefix/x=1', 'a/b/c=1', `${'x'.repeat(64)}=1`]) await expect(parseAnnotations([bad])).rejects.toThrow(/invalid --annotation/);
  });
});
