import { describe, it, expect } from 'vitest';
import { seccompFor } from '../../../engine/runtime/seccomp.js';

// Which filter a securityContext gets (the profile conversion itself is covered with the spec).
describe('seccompFor', () => {
  const root = '/nonexistent-root';
  it('gives containers-common\'s default profile when nothing is asked, and for RuntimeDefault', () => {
    for (const sec of [{}, { seccomp: { type: 'RuntimeDefault' as const } }]) {
      const f = seccompFor(sec, root) as any;
      expect(f.defaultAction).toBe('SCMP_ACT_ERRNO');
      expect(f.architectures).toContain('SCMP_ARCH_X86_64');
      expect(f.syscalls.some((s: any) => s.names.includes('read') && s.action === 'SCMP_ACT_ALLOW')).toBe(true);
    }
  });
  it('gives no filter for Unconfined or a privileged container, whatever the profile says', () => {
    expect(seccompFor({ seccomp: { type: 'Unconfined' } }, root)).toBeUndefined();
    expect(seccompFor({ privileged: true }, root)).toBeUndefined();
    expect(seccompFor({ privileged: true, seccomp: { type: 'RuntimeDefault' } }, root)).toBeUndefined();
  });
  it('follows the capabilities: CAP_SYS_ADMIN allows what the default refuses without it', () => {
    const refused = (f: any) => new Set(f.syscalls.filter((s: any) => s.action === 'SCMP_ACT_ERRNO').flatMap((s: any) => s.names));
    expect(refused(seccompFor({}, root)).has('setns')).toBe(true);
    expect(refused(seccompFor({ capAdd: ['SYS_ADMIN'] }, root)).has('setns')).toBe(false);
  });
  it('refuses a Localhost profile outside <root>/seccomp and names a missing one', () => {
    expect(() => seccompFor({ seccomp: { type: 'Localhost', localhostProfile: '../x.json' } }, root)).toThrow(/relative path without/);
    expect(() => seccompFor({ seccomp: { type: 'Localhost', localhostProfile: '/etc/x.json' } }, root)).toThrow(/relative path without/);
    expect(() => seccompFor({ seccomp: { type: 'Localhost', localhostProfile: 'p.json' } }, root)).toThrow(/nonexistent-root\/seccomp\/p.json not found/);
  });
});
