// The container user from a USER / --user / runAsUser spec and the image's own /etc/passwd and
// /etc/group, as Podman resolves it (libpod generateSpec + runc's libcontainer/user GetExecUser).
// The rootfs is untrusted: symlinks inside it are resolved as if it were "/" and never lead out.
import { invalid, PeapodError } from '../errors.js';
import { PathRefused, readFileInRoot } from './resolve.js';
import type { ContainerSpec } from '../types.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** The process's supplementary groups, in Podman's order: the primary gid (when a user was given),
   * the extra groups, then the groups of /etc/group that list the user (only when no group was given). */
  additionalGids: number[];
  /** Home directory from passwd; "/" when the user has no entry (what runc gives HOME then). */
  home: string;
  /** The passwd name, when the user has an entry. */
  name?: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const MAX_ID = 2 ** 31 - 1; // runc's limit (32-bit compatibility)

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > MAX_ID) throw invalid(`uids and gids must be in range 0-${MAX_ID}: ${s}`);
  return n;
}

/** Contents of a regular file at `p` inside `root`, or undefined when there is none. */
async function readInRoot(root: string, p: string): Promise<string | undefined> {
  try {
    return readFileInRoot(root, p)?.toString('utf8');
  } catch (err) {
    if (err instanceof PathRefused) throw invalid(`${p} in the container: ${err.reason}`);
    if (err instanceof PeapodError) throw err;
    throw new PeapodError('internal', `reading ${p} of the container: ${(err as Error).message}`, { cause: err });
  }
}

function lines(text: string | undefined): string[][] {
  if (text === undefined) return [];
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

/** passwd(5) lines; malformed ones (non-numeric ids) are skipped. */
export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    if (f.length < 4 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' });
  }
  return out;
}

/** group(5) lines; malformed ones (non-numeric gid) are skipped. */
export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    if (f.length < 3 || !/^\d+$/.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return out;
}

/** A group name or number: the first entry with that name or gid, else the number itself. */
function lookupGroup(groups: GroupEntry[], g: string): number {
  const gid = parseId(g);
  const entry = groups.find((e) => (gid !== undefined ? e.gid === gid : e.name === g));
  if (entry) return entry.gid;
  if (gid !== undefined) return gid;
  throw invalid(`unable to find group ${g}: no matching entries in group file`);
}

/**
 * Resolves "", "name", "uid", "name:group", "uid:gid", "uid:groupname" (and ":group") against the
 * rootfs's /etc/passwd and /etc/group:
 * - "" is uid 0 (its passwd entry when there is one);
 * - a uid without a passwd entry is fine: gid 0, home "/";
 * - an unknown name is an error: `unable to find user NAME: no matching entries in passwd file`;
 * - an unknown group name likewise (`unable to find group G: no matching entries in group file`);
 * - extraGroups (names or gids, like --group-add / supplementalGroups) are added after the primary gid.
 */
export async function resolveUser(rootfs: string, spec: string | undefined, extraGroups: string[] = []): Promise<ResolvedUser> {
  const s = spec ?? '';
  const parts = s.split(':');
  if (parts.length > 2) throw invalid(`invalid user "${s}": expected USER[:GROUP]`);
  const [userArg, groupArg = ''] = parts;
  const hasGroup = parts.length === 2;
  if (hasGroup && groupArg === '' && userArg === '') throw invalid(`invalid user "${s}": expected USER[:GROUP]`);

  const [passwdText, groupText] = await Promise.all([readInRoot(rootfs, '/etc/passwd'), readInRoot(rootfs, '/etc/group')]);
  const users = parsePasswd(passwdText);
  const groups = parseGroup(groupText);

  const uidArg = parseId(userArg);
  const match = users.find((u) => (userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg));
  let uid: number;
  let gid: number;
  let home: string;
  if (match) {
    ({ uid, gid } = match);
    home = match.home || '/';
  } else if (userArg === '' || uidArg !== undefined) {
    uid = uidArg ?? 0;
    gid = 0;
    home = '/';
  } else {
    throw invalid(`unable to find user ${userArg}: no matching entries in passwd file`);
  }

  if (groupArg !== '') gid = lookupGroup(groups, groupArg);

  const additional: number[] = [];
  if (s !== '') additional.push(gid);
  for (const g of extraGroups) additional.push(lookupGroup(groups, g));
  if (!hasGroup && match) {
    for (const g of groups) if (g.members.includes(match.name)) additional.push(g.gid);
  }

  const out: ResolvedUser = { uid, gid, additionalGids: [...new Set(additional)], home };
  if (match) out.name = match.name;
  return out;
}

/** Merges K=V lists: a later value for a key wins, keys keep the position of their first appearance. */
export function mergeEnv(imageEnv: string[] = [], userEnv: string[] = []): string[] {
  const values = new Map<string, string>();
  for (const e of [...imageEnv, ...userEnv]) {
    const i = e.indexOf('=');
    const key = i < 0 ? e : e.slice(0, i);
    values.set(key, e);
  }
  return [...values.values()];
}

/**
 * The user a container runs as, Kubernetes' rules over the image's: runAsUser/runAsGroup beat the
 * image's USER (a uid without runAsGroup takes its passwd group); supplementalGroups and fsGroup
 * are added; runAsNonRoot refuses root.
 */
export async function resolveContainerUser(rootfs: string, spec: Pick<ContainerSpec, 'security' | 'user' | 'kubeName' | 'name'>, imageUser: string | undefined): Promise<ResolvedUser> {
  const sec = spec.security ?? {};
  const userSpec = sec.runAsUser !== undefined ? `${sec.runAsUser}${sec.runAsGroup !== undefined ? `:${sec.runAsGroup}` : ''}` : spec.user ?? imageUser;
  const user = await resolveUser(rootfs, userSpec);
  if (sec.runAsUser === undefined && sec.runAsGroup !== undefined) user.gid = sec.runAsGroup;
  for (const g of [...(sec.supplementalGroups ?? []), ...(sec.fsGroup !== undefined ? [sec.fsGroup] : [])]) {
    if (!user.additionalGids.includes(g)) user.additionalGids.push(g);
  }
  if (sec.runAsNonRoot && user.uid === 0) {
    throw new PeapodError('invalid', `container ${spec.kubeName ?? spec.name} has runAsNonRoot and image will run as root: set runAsUser, or a USER in the image`);
  }
  return user;
}
