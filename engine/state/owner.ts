// A store belongs either to root or to one rootless user, never both: the first command that finds
// the store directory marks it (<root>/owner.json), and any command of the other kind refuses it.
// The default roots differ anyway (/var/lib/peapod, $XDG_DATA_HOME/peapod); the mark catches --root.

import { existsSync, readFileSync, writeFileSync, renameSync, mkdirSync, statSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { PeapodError } from '../errors.js';

export interface StoreOwner { rootless: boolean; uid: number }

export function describeOwner(o: StoreOwner): string {
  return o.rootless ? `rootless user uid ${o.uid}` : 'root';
}

/** Refuses a store marked for another owner; marks an unmarked existing store as this one's. */
export function checkStoreOwner(root: string, rootlessUid: number | undefined): void {
  const me: StoreOwner = rootlessUid === undefined ? { rootless: false, uid: 0 } : { rootless: true, uid: rootlessUid };
  const file = path.join(root, 'owner.json');
  let have: StoreOwner | undefined;
  try {
    have = JSON.parse(readFileSync(file, 'utf8'));
  } catch { /* unmarked (or unreadable: permissions will say so) */ }
  if (have) {
    if (have.rootless !== me.rootless || have.uid !== me.uid) {
      throw new PeapodError('state', `the store ${root} belongs to ${describeOwner(have)}, not to ${describeOwner(me)}: rootful and rootless stores never mix; use another --root`);
    }
    return;
  }
  if (!existsSync(root)) return;
  try {
    const tmp = `${file}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify(me));
    renameSync(tmp, file);
  } catch { /* read-only or foreign store: the commands themselves report that */ }
}

/**
 * --root and --runroot are 0700 whoever makes them first: they hold secrets (bundles' env, secret
 * volumes), image files with setuid bits and the containers' root filesystems. One of ours found
 * open to others is closed again.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o077) !== 0 && st.uid === (process.getuid?.() ?? 0)) chmodSync(dir, 0o700);
}
