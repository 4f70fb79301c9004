// The namespaces of a --userns=keep-id pod (rootless): a user namespace of its own, kept as a
// bind-mounted file like the netns, and the pod's network namespace made inside it. Every
// container of the pod (infra and members) joins both by path. The network namespace must belong
// to the pod's user namespace: runc joins the user namespace first, and from there it could not
// enter a network namespace that belongs to the user's outer namespace.

import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, readlinkSync } from 'node:fs';
import { PeapodError } from '../errors.js';
import type { IdMapping } from './spec.js';

/** Where the user namespace file of a pod lives: beside its netns file. */
export function podUsernsPath(netnsPath: string): string {
  return `${netnsPath}-user`;
}

function exeOf(pid: number): string {
  try { return readlinkSync(`/proc/${pid}/exe`); } catch { return ''; }
}

/** Spawns a holder process and waits until it runs `sleep` (its namespaces are made by then). */
async function holder(cmd: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d) => { err += String(d); });
  let exited = false;
  child.on('exit', () => { exited = true; });
  for (let i = 0; i < 1000; i++) {
    if (exited) throw new PeapodError('runtime', `${cmd} ${args.join(' ')}: ${err.trim() || 'exited'}`);
    if (child.pid && exeOf(child.pid).endsWith('/sleep')) return child;
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  throw new PeapodError('runtime', `${cmd} ${args.join(' ')}: did not start`);
}

async function bindNs(source: string, target: string): Promise<void> {
  await fs.writeFile(target, '');
  const r = await (await loadExeca())('mount', ['--bind', source, target], { reject: false });
  if (r.exitCode !== 0) throw new PeapodError('runtime', `keeping namespace ${source} at ${target}: ${r.stderr.trim()}`);
}

const mapText = (m: IdMapping[]) => m.map((x) => `${x.containerID} ${x.hostID} ${x.size}`).join('\n') + '\n';

/** Makes the pod's user namespace (with these mappings) and its network namespace inside it, as files. */
export async function makeKeepIdNamespaces(usernsFile: string, netnsFile: string, uids: IdMapping[], gids: IdMapping[]): Promise<void> {
  const kids: ChildProcess[] = [];
  try {
    const u = await holder('unshare', ['--user', '--', 'sleep', 'infinity']);
    kids.push(u);
    // peapod is root of the user's namespace: it writes the child's maps itself (no newuidmap)
    await fs.writeFile(`/proc/${u.pid}/uid_map`, mapText(uids));
    await fs.writeFile(`/proc/${u.pid}/gid_map`, mapText(gids));
    await bindNs(`/proc/${u.pid}/ns/user`, usernsFile);
    const n = await holder('nsenter', [`--user=${usernsFile}`, '--', 'unshare', '--net', '--', 'sleep', 'infinity']);
    kids.push(n);
    await bindNs(`/proc/${n.pid}/ns/net`, netnsFile);
  } finally {
    for (const k of kids) k.kill('SIGKILL');
  }
}

/** execa, loaded only when rootless networking runs (it is not needed by every CLI start). */
async function loadExeca(): Promise<typeof import('execa')['execa']> {
  return (await import('execa')).execa;
}
