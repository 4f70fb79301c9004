// The image both engines run: a rootfs tar of Debian's static busybox (package busybox-static),
// imported into each engine as localhost/busybox:latest. No registry, no network.
import { chmodSync, existsSync, mkdirSync, symlinkSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { must, run } from './exec.js';

export const BUSYBOX = '/bin/busybox';

export async function busyboxRootfsTar(dir: string): Promise<string> {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} not found: apt-get install busybox-static`);
  const rootfs = path.join(dir, 'rootfs');
  for (const [d, mode] of [['bin', 0o755], ['etc', 0o755], ['tmp', 0o1777], ['proc', 0o755], ['sys', 0o755], ['dev', 0o755], ['root', 0o700]] as const) {
    mkdirSync(path.join(rootfs, d), { recursive: true });
    chmodSync(path.join(rootfs, d), mode);
  }
  copyFileSync(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
  chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  const list = await run([BUSYBOX, '--list']);
  for (const applet of list.stdout.split('\n').map((s) => s.trim())) {
    if (!applet || applet === 'busybox' || applet.includes('/')) continue;
    symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  }
  writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n', { mode: 0o644 });
  writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\nnobody:x:65534:\n', { mode: 0o644 });
  const tar = path.join(dir, 'busybox.tar');
  await must(['tar', '--numeric-owner', '--owner=0', '--group=0', '--sort=name', '--mtime=@1704067200', '-C', rootfs, '-cf', tar, '.']);
  rmSync(rootfs, { recursive: true, force: true });
  return tar;
}
