import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mergeEnv, parseGroup, parsePasswd, resolveUser, type ResolvedUser } from '../../../engine/runtime/user.js';
import { holdInRoot } from '../../../engine/runtime/resolve.js';
import { PeapodError } from '../../../engine/errors.js';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
# a comment line
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken:x:notanumber:1::/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
nohome:x:1001:1001::
`;

const GROUP = `root:x:0:
daemon:x:1:
tty:x:5:
wheel:x:10:app,root
audio:x:29: app
video:x:44:daemon
nogroup:x:65534:
app:x:1000:
`;

let tmp: string;
let rootfs: string;      // normal image
let bare: string;        // no /etc at all
let linked: string;      // /etc/passwd -> /etc/real/passwd (absolute, inside), /etc/group -> ../../../../group (clamped)
let escaping: string;    // /etc/passwd -> the host's file through an absolute link: must read the rootfs's
let hostile: string;     // /etc/passwd is a directory

async function makeRoot(name: string): Promise<string> {
  const r = path.join(tmp, name);
  await mkdir(path.join(r, 'etc'), { recursive: true });
  return r;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'peapod-user-'));
  rootfs = await makeRoot('rootfs');
  await writeFile(path.join(rootfs, 'etc/passwd'), PASSWD);
  await writeFile(path.join(rootfs, 'etc/group'), GROUP);

  bare = path.join(tmp, 'bare');
  await mkdir(bare);

  linked = await makeRoot('linked');
  await mkdir(path.join(linked, 'etc/real'));
  await writeFile(path.join(linked, 'etc/real/passwd'), 'root:x:0:0::/r00t:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n');
  await writeFile(path.join(linked, 'group'), 'www:x:33:web\nstaff:x:50:web\n');
  await symlink('/etc/real/passwd', path.join(linked, 'etc/passwd'));
  await symlink('../../../../group', path.join(linked, 'etc/group'));

  escaping = await makeRoot('escaping');
  // A link to the host's own passwd file by absolute path: inside the rootfs it means <rootfs>/hostetc/passwd.
  await symlink(path.join(tmp, 'rootfs/etc/passwd'), path.join(escaping, 'etc/passwd'));
  await writeFile(path.join(escaping, 'etc/group'), GROUP);

  hostile = await makeRoot('hostile');
  await mkdir(path.join(hostile, 'etc/passwd'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('resolveUser', () => {
  const cases: Array<{ name: string; root: () => string; spec: string | undefined; extra?: string[]; expected: ResolvedUser }> = [
    { name: 'undefined: root from passwd with its groups', root: () => rootfs, spec: undefined, expected: { uid: 0, gid: 0, additionalGids: [10], home: '/root', name: 'root' } },
    { name: '"": the same', root: () => rootfs, spec: '', expected: { uid: 0, gid: 0, additionalGids: [10], home: '/root', name: 'root' } },
    { name: 'name: primary gid first, then groups listing the user', root: () => rootfs, spec: 'app', expected: { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/app', name: 'app' } },
    { name: 'uid of a passwd entry: the same as its name', root: () => rootfs, spec: '1000', expected: { uid: 1000, gid: 1000, additionalGids: [1000, 10, 29], home: '/home/app', name: 'app' } },
    { name: 'root by name', root: () => rootfs, spec: 'root', expected: { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root', name: 'root' } },
    { name: 'uid without passwd entry: gid 0', root: () => rootfs, spec: '4242', expected: { uid: 4242, gid: 0, additionalGids: [0], home: '/' } },
    { name: 'uid:gid without entries', root: () => rootfs, spec: '4242:4243', expected: { uid: 4242, gid: 4243, additionalGids: [4243], home: '/' } },
    { name: 'name:group: no membership groups', root: () => rootfs, spec: 'app:audio', expected: { uid: 1000, gid: 29, additionalGids: [29], home: '/home/app', name: 'app' } },
    { name: 'uid:groupname', root: () => rootfs, spec: '4242:video', expected: { uid: 4242, gid: 44, additionalGids: [44], home: '/' } },
    { name: 'root:wheel', root: () => rootfs, spec: 'root:wheel', expected: { uid: 0, gid: 10, additionalGids: [10], home: '/root', name: 'root' } },
    { name: ':group: root with that group', root: () => rootfs, spec: ':video', expected: { uid: 0, gid: 44, additionalGids: [44], home: '/root', name: 'root' } },
    { name: 'daemon: member of video', root: () => rootfs, spec: 'daemon', expected: { uid: 1, gid: 1, additionalGids: [1, 44], home: '/usr/sbin', name: 'daemon' } },
    { name: 'user with empty home field: "/"', root: () => rootfs, spec: 'nohome', expected: { uid: 1001, gid: 1001, additionalGids: [1001], home: '/', name: 'nohome' } },
    { name: 'extra groups after the primary, before the memberships', root: () => rootfs, spec: 'app', extra: ['video', '7', '29'], expected: { uid: 1000, gid: 1000, additionalGids: [1000, 44, 7, 29, 10], home: '/home/app', name: 'app' } },
    { name: 'extra groups with an explicit group', root: () => rootfs, spec: 'app:audio', extra: ['1'], expected: { uid: 1000, gid: 29, additionalGids: [29, 1], home: '/home/app', name: 'app' } },
    { name: 'extra groups for the default user', root: () => rootfs, spec: undefined, extra: ['audio'], expected: { uid: 0, gid: 0, additionalGids: [29, 10], home: '/root', name: 'root' } },
    { name: 'no /etc: default root', root: () => bare, spec: undefined, expected: { uid: 0, gid: 0, additionalGids: [], home: '/' } },
    { name: 'no /etc: uid:gid', root: () => bare, spec: '5:6', expected: { uid: 5, gid: 6, additionalGids: [6], home: '/' } },
    { name: 'symlinks resolved inside the rootfs', root: () => linked, spec: 'web', expected: { uid: 33, gid: 33, additionalGids: [33, 50], home: '/var/www', name: 'web' } },
    { name: 'an absolute link pointing at a host path stays inside the rootfs', root: () => escaping, spec: undefined, expected: { uid: 0, gid: 0, additionalGids: [], home: '/' } },
  ];
  it.each(cases)('$name', async ({ root, spec, extra, expected }) => {
    expect(await resolveUser(root(), spec, extra)).toEqual(expected);
  });

  const errors: Array<{ name: string; root: () => string; spec: string; extra?: string[]; message: string }> = [
    { name: 'unknown name', root: () => rootfs, spec: 'ghost', message: 'unable to find user ghost: no matching entries in passwd file' },
    { name: 'unknown name, no passwd file', root: () => bare, spec: 'app', message: 'unable to find user app: no matching entries in passwd file' },
    { name: 'a name through an escaping link is not the host\'s', root: () => escaping, spec: 'app', message: 'unable to find user app: no matching entries in passwd file' },
    { name: 'unknown group name', root: () => rootfs, spec: 'app:ghosts', message: 'unable to find group ghosts: no matching entries in group file' },
    { name: 'unknown extra group', root: () => rootfs, spec: 'app', extra: ['ghosts'], message: 'unable to find group ghosts: no matching entries in group file' },
    { name: 'uid out of range', root: () => rootfs, spec: '4294967296', message: 'uids and gids must be in range 0-2147483647' },
    { name: 'too many colons', root: () => rootfs, spec: 'a:b:c', message: 'invalid user "a:b:c"' },
    { name: 'passwd is a directory', root: () => hostile, spec: 'app', message: '/etc/passwd in the container is not a regular file' },
  ];
  it.each(errors)('fails: $name', async ({ root, spec, extra, message }) => {
    const p = resolveUser(root(), spec, extra);
    await expect(p).rejects.toBeInstanceOf(PeapodError);
    await expect(resolveUser(root(), spec, extra)).rejects.toThrow(message);
  });
});

describe('holdInRoot (chroot mode, as for an image)', () => {
  const held = (root: string, p: string) => {
    const h = holdInRoot(root, p, { mode: 'chroot' });
    h?.close();
    return h?.hostPath;
  };
  it('clamps .. and absolute links at the root', () => {
    expect(held(linked, '/etc/passwd')).toBe(path.join(linked, 'etc/real/passwd'));
    expect(held(linked, '/etc/group')).toBe(path.join(linked, 'group'));
    expect(held(linked, '/../../etc/real/../real/passwd')).toBe(path.join(linked, 'etc/real/passwd'));
    expect(held(linked, '/missing/../etc')).toBeUndefined(); // as the kernel: a missing directory has no ".."
  });

  it('stops a symlink loop', async () => {
    const r = await makeRoot('loop');
    await symlink('/etc/b', path.join(r, 'etc/a'));
    await symlink('/etc/a', path.join(r, 'etc/b'));
    expect(() => holdInRoot(r, '/etc/a', { mode: 'chroot' })).toThrow(/too many levels of symbolic links/);
  });
});

describe('passwd and group parsing', () => {
  it('skips comments and malformed lines', () => {
    expect(parsePasswd(PASSWD).map((u) => u.name)).toEqual(['root', 'daemon', 'nobody', 'app', 'nohome']);
    expect(parseGroup(GROUP).find((g) => g.name === 'audio')?.members).toEqual(['app']);
    expect(parseGroup('bad:x:y:\n#c\n\nok:x:3:a, b\n')).toEqual([{ name: 'ok', gid: 3, members: ['a', 'b'] }]);
  });
});

describe('mergeEnv', () => {
  const cases: Array<{ name: string; image?: string[]; user?: string[]; expected: string[] }> = [
    { name: 'nothing', expected: [] },
    { name: 'image only', image: ['PATH=/bin', 'A=1'], expected: ['PATH=/bin', 'A=1'] },
    { name: 'user wins, position of first appearance', image: ['PATH=/bin', 'A=1', 'B=2'], user: ['C=3', 'A=9'], expected: ['PATH=/bin', 'A=9', 'B=2', 'C=3'] },
    { name: 'later duplicate within one list wins', image: ['A=1', 'A=2'], expected: ['A=2'] },
    { name: 'values with = and empty values', image: ['A=x=y'], user: ['B='], expected: ['A=x=y', 'B='] },
  ];
  it.each(cases)('$name', ({ image, user, expected }) => {
    expect(mergeEnv(image, user)).toEqual(expected);
  });
});
