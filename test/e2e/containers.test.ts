// Issue 2 acceptance: containers through conmon and runc, driven by the built CLI.
import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { useSandbox } from '../helpers/e2e.js';
import { settledLeaks } from '../helpers/leaks.js';

const e2e = useSandbox('peapod-test', { images: ['bb'] });
const IMG = 'localhost/bb:latest';

const ppidOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

describe('peapod run', () => {
  it('prints the output and passes the exit code through', async () => {
    const r = await e2e.sb.run(['run', '--rm', IMG, 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
    expect(r.stdout).toBe('hi');
    expect(r.stderr).toContain('oops');
    expect(r.exitCode).toBe(3);
    const ps = JSON.parse(String((await e2e.sb.ok(['ps', '-a', '--format', 'json'])).stdout));
    expect(ps).toEqual([]); // --rm removed it
  });

  it('applies env, workdir, user and entrypoint', async () => {
    const r = await e2e.sb.ok(['run', '--rm', '-e', 'FOO=bar', '-w', '/tmp', '-u', 'app', IMG, 'sh', '-c', 'echo $FOO $(pwd) $(id -u):$(id -g) $HOME $PATH']);
    expect(String(r.stdout)).toBe('bar /tmp 1000:1000 /home/app /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const e = await e2e.sb.ok(['run', '--rm', '--entrypoint', 'echo', IMG, 'from', 'entrypoint']);
    expect(String(e.stdout)).toBe('from entrypoint');
  });

  it('runs detached under conmon with no peapod process left, and logs, exec, stop, rm work', async () => {
    const r = await e2e.sb.ok(['run', '-d', '--name', 'web', IMG, 'httpd', '-f', '-p', '8080']);
    const id = String(r.stdout).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = JSON.parse(String((await e2e.sb.ok(['ps', '--format', 'json'])).stdout));
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ Id: id, Names: ['web'], State: 'running', Image: IMG });
    const pid = ps[0].Pid as number;
    expect(comm(ppidOf(pid))).toBe('conmon');
    expect(existsSync(path.join('/sys/fs/cgroup/memory', e2e.sb.cgroupParent, id))).toBe(true);
    // no peapod CLI process stays behind
    const peapods = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(e2e.sb.root) && !readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('/usr/bin/conmon'); } catch { return false; }
    });
    expect(peapods).toEqual([]);

    const inspectPid = await e2e.sb.ok(['inspect', '--format', '{{.State.Pid}}', 'web']);
    expect(Number(inspectPid.stdout)).toBe(pid);

    const ex = await e2e.sb.run(['exec', 'web', 'cat', '/etc/hostname']);
    expect(ex.exitCode).toBe(0);
    expect(String(ex.stdout).trim()).toBe(id.slice(0, 12));
    const ex3 = await e2e.sb.run(['exec', 'web', 'sh', '-c', 'echo to-log-not; exit 7']);
    expect(ex3.exitCode).toBe(7);

    await e2e.sb.ok(['exec', 'web', 'sh', '-c', 'echo hello-log > /proc/1/fd/1']);
    const logs = await e2e.sb.ok(['logs', 'web']);
    expect(String(logs.stdout)).toContain('hello-log');

    await e2e.sb.ok(['stop', '-t', '1', 'web']);
    const after = JSON.parse(String((await e2e.sb.ok(['inspect', 'web'])).stdout))[0];
    expect(after.State.Status).toBe('exited');
    expect(after.State.Running).toBe(false);
    expect(existsSync(`/proc/${pid}`)).toBe(false);

    await e2e.sb.ok(['rm', 'web']);
    expect(await settledLeaks(e2e.sb.dir)).toEqual([]);
    // the cgroup existed while it ran, and is gone now
    const cg = path.join('/sys/fs/cgroup/memory', e2e.sb.cgroupParent, id);
    expect(existsSync(cg)).toBe(false);
  });

  it('shows a container that exited on its own, with its exit code', async () => {
    const id = String((await e2e.sb.ok(['run', '-d', IMG, 'sh', '-c', 'sleep 0.3; exit 42'])).stdout).trim();
    // no peapod command runs while it exits; conmon's exit command records it
    await new Promise((r) => setTimeout(r, 1500));
    const [c] = JSON.parse(String((await e2e.sb.ok(['ps', '-a', '--format', 'json'])).stdout));
    expect(c).toMatchObject({ Id: id, State: 'exited', ExitCode: 42 });
    expect(await settledLeaks(e2e.sb.dir)).toEqual([]);
  });

  it('two runs at the same moment both succeed and are both listed', async () => {
    const [a, b] = await Promise.all([
      e2e.sb.run(['run', '-d', '--name', 'twin-a', IMG, 'sleep', '100']),
      e2e.sb.run(['run', '-d', '--name', 'twin-b', IMG, 'sleep', '100']),
    ]);
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    const names = JSON.parse(String((await e2e.sb.ok(['ps', '--format', 'json'])).stdout)).map((c: any) => c.Names[0]).sort();
    expect(names).toEqual(['twin-a', 'twin-b']);
  });

  it('refuses a second container with the same name', async () => {
    await e2e.sb.ok(['create', '--name', 'dup', IMG, 'true']);
    const r = await e2e.sb.run(['create', '--name', 'dup', IMG, 'true']);
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(/^Error: .*"dup" is already in use/);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
  });

  it.each([
    { name: 'unknown image', args: ['run', '--rm', 'localhost/nope:latest', 'true'], code: 125, msg: /^Error: .*nope.*image not known/ },
    { name: 'unknown container', args: ['stop', 'no-such-ctr'], code: 125, msg: /^Error: no container with name or ID "no-such-ctr" found/ },
    { name: 'bad flag', args: ['run', '--no-such-flag', IMG], code: 125, msg: /^Error: unknown flag: --no-such-flag/ },
    { name: 'command not found', args: ['run', '--rm', IMG, '/no/such/cmd'], code: 127, msg: /^Error: .*(not found|no such file)/ },
    { name: 'command not executable', args: ['run', '--rm', IMG, '/etc/passwd'], code: 126, msg: /^Error: .*permission denied/i },
  ])('$name: one error line and exit $code', async ({ args, code, msg }) => {
    const r = await e2e.sb.run(args);
    expect(r.exitCode).toBe(code);
    expect(String(r.stderr)).toMatch(msg);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
  });

  it('refuses to remove a running container without --force', async () => {
    await e2e.sb.ok(['run', '-d', '--name', 'busy', IMG, 'sleep', '100']);
    const id = (await e2e.out(['inspect', '--format', '{{.Id}}', 'busy'])).trim();
    const r = await e2e.sb.run(['rm', 'busy']);
    // Podman's message and exit code (2: container state improper)
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr).trim()).toBe(`Error: cannot remove container ${id} as it is running - running or paused containers cannot be removed without force: container state improper`);
    await e2e.sb.ok(['rm', '-f', '-t', '0', 'busy']);
  });

  it('exec passes exit codes 126 and 127 through', async () => {
    await e2e.sb.ok(['run', '-d', '--name', 'ex', IMG, 'sleep', '100']);
    expect((await e2e.sb.run(['exec', 'ex', '/no/such'])).exitCode).toBe(127);
    expect((await e2e.sb.run(['exec', 'ex', '/etc/passwd'])).exitCode).toBe(126);
  });

  it('wait returns the exit code, logs --tail and --timestamps work', async () => {
    await e2e.sb.ok(['run', '-d', '--name', 'w', IMG, 'sh', '-c', 'echo one; echo two; echo three; exit 5']);
    const w = await e2e.sb.ok(['wait', 'w']);
    expect(String(w.stdout).trim()).toBe('5');
    expect(String((await e2e.sb.ok(['logs', '--tail', '2', 'w'])).stdout)).toBe('two\nthree');
    expect(String((await e2e.sb.ok(['logs', '-t', 'w'])).stdout).split('\n')[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+ one$/);
  });
});
