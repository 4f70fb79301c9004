// A real systemd manager for tests (see ../shared/HOST-NOTES.md): PID 1 here is not systemd, so
// a user instance of systemd runs as root in a private mount namespace where /run/systemd/system
// exists (a tmpfs on /run/systemd: nothing of the host changes). Its runtime directory, home and
// config are the test's own: it reads no unit of anyone else. Units go in `unitDir`; peapod
// commands that mount must run in its namespace (`inNs`), where the units' processes live.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa, type Result } from 'execa';

export interface Manager {
  pid: number;
  runtimeDir: string;
  /** $XDG_RUNTIME_DIR/systemd/user: the manager's runtime unit directory */
  unitDir: string;
  /** /run/systemd/user-generators inside its namespace (a tmpfs of its own) */
  generatorDir: string;
  env: Record<string, string>;
  /** systemctl --user against this manager; never throws */
  systemctl(args: string[], opts?: { timeout?: number }): Promise<Result>;
  /** a program run in the manager's mount namespace; never throws */
  inNs(file: string, args: string[], opts?: { env?: Record<string, string>; timeout?: number; input?: string }): Promise<Result>;
  /** stops every unit and the manager, and waits until it is gone */
  stop(): Promise<void>;
}

const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch { return false; }
};

export async function startManager(dir: string): Promise<Manager> {
  const runtimeDir = path.join(dir, 'xdg-run');
  const home = path.join(dir, 'home');
  for (const d of [runtimeDir, home]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const env = { XDG_RUNTIME_DIR: runtimeDir, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_DATA_HOME: path.join(home, '.local/share'), PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  const child = spawn('unshare', ['-m', '--propagation', 'slave', 'sh', '-c',
    'mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system /run/systemd/user-generators && exec /lib/systemd/systemd --user'], {
    env, detached: true, stdio: 'ignore',
  });
  child.unref();
  const pid = child.pid!;
  const m: Manager = {
    pid, runtimeDir, env,
    unitDir: path.join(runtimeDir, 'systemd', 'user'),
    generatorDir: '/run/systemd/user-generators',
    systemctl: (args, opts = {}) => execa('systemctl', ['--user', ...args], { env: { ...env, SYSTEMD_LOG_COLOR: '0' }, reject: false, timeout: opts.timeout ?? 120_000 }) as unknown as Promise<Result>,
    inNs: (file, args, opts = {}) => execa('nsenter', ['-m', '-t', String(pid), file, ...args], { env: { ...env, ...opts.env }, reject: false, timeout: opts.timeout ?? 120_000, input: opts.input, stdin: opts.input === undefined ? 'ignore' : undefined }) as unknown as Promise<Result>,
    async stop() {
      if (!alive(pid)) return;
      await m.systemctl(['exit'], { timeout: 120_000 });
      for (let i = 0; i < 600 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (alive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    },
  };
  for (let i = 0; i < 200; i++) {
    const r = await m.systemctl(['is-system-running'], { timeout: 5000 });
    if (/^(running|degraded|offline|starting)/.test(String(r.stdout))) {
      mkdirSync(m.unitDir, { recursive: true });
      return m;
    }
    if (!alive(pid)) throw new Error('the systemd user manager ended at start');
    await new Promise((r) => setTimeout(r, 100));
  }
  await m.stop();
  throw new Error('the systemd user manager did not answer');
}
