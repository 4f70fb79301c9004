import type { Command } from 'commander';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { engineOpener, getEngine, globals } from './context.js';
import { VERSION } from './version.js';
import { PeapodError } from '../../engine/errors.js';
import { findProgram, cgroupLayout, chooseRuntime, defaultRunroot } from '../../engine/config.js';
import { renderTemplate } from './format.js';
import { freeSubIdStart, subIdRanges } from '../../engine/rootless/userns.js';
import { unprivilegedPortStart } from '../../engine/network/unprivileged.js';

interface Check { name: string; ok: boolean; detail: string; fix?: string; required: boolean }

function doctorChecks(runtimeFlag?: string): Check[] {
  const prog = (name: string, pkg: string, required = true, extra: string[] = []): Check => {
    const p = findProgram(name, extra);
    return { name, ok: !!p, detail: p ?? 'not found', fix: `apt-get install ${pkg}`, required };
  };
  const checks: Check[] = [];
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) checks.push({ name: 'root', ok: true, detail: 'uid 0', required: true });
  else checks.push(...rootlessChecks(uid));
  try {
    const rt = chooseRuntime(runtimeFlag);
    checks.push({ name: 'oci runtime', ok: true, detail: `${rt.name} at ${rt.path}: ${rt.reason}`, required: true });
  } catch (err) {
    checks.push({ name: 'oci runtime', ok: false, detail: (err as Error).message, fix: (err as PeapodError).hint ?? 'apt-get install runc', required: true });
  }
  checks.push(prog('conmon', 'conmon'));
  const fs = existsSync('/proc/filesystems') ? readFileSync('/proc/filesystems', 'utf8') : '';
  checks.push({ name: 'overlayfs', ok: /\toverlay\n/.test(fs), detail: /\toverlay\n/.test(fs) ? 'supported by the kernel' : 'not in /proc/filesystems', fix: 'modprobe overlay', required: true });
  checks.push({ name: 'cgroups', ok: existsSync('/sys/fs/cgroup'), detail: `layout ${cgroupLayout()}`, fix: 'mount cgroups at /sys/fs/cgroup', required: true });
  checks.push(prog('mount', 'mount'));
  checks.push(prog('mknod', 'coreutils'));
  checks.push(prog('setfattr', 'attr'));
  checks.push(prog('netavark', 'netavark', false, ['/usr/lib/podman', '/usr/libexec/podman']));
  checks.push(prog('aardvark-dns', 'aardvark-dns', false, ['/usr/lib/podman', '/usr/libexec/podman']));
  checks.push(prog('iptables', 'iptables', false));
  checks.push(prog('pasta', 'passt', uid !== 0)); // the rootless network
  checks.push(prog('gcc', 'gcc libc6-dev', false));
  return checks;
}

/** What a normal user needs (README, Rootless). doctor runs outside the user namespace to see it. */
function rootlessChecks(uid: number): Check[] {
  const user = os.userInfo().username;
  const out: Check[] = [{ name: 'rootless', ok: true, detail: `user ${user} (uid ${uid})`, required: true }];
  for (const kind of ['uid', 'gid'] as const) {
    const file = `/etc/sub${kind}`;
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const have = subIdRanges(text, user, uid);
    out.push({
      name: `sub${kind}`, ok: have.length > 0, required: true,
      detail: have.length ? have.map((r) => `${r.start}-${r.start + r.count - 1}`).join(', ') : `no range for ${user} in ${file}`,
      fix: `add the line "${user}:${freeSubIdStart(text)}:65536" to ${file} (as root)`,
    });
  }
  for (const p of ['newuidmap', 'newgidmap']) {
    const f = findProgram(p);
    const setuid = !!f && (statSync(f).mode & 0o4000) !== 0;
    out.push({ name: p, ok: setuid, detail: f ? (setuid ? f : `${f} is not setuid`) : 'not found', fix: 'apt-get install uidmap', required: true });
  }
  let tun = false;
  try { accessSync('/dev/net/tun', constants.R_OK | constants.W_OK); tun = true; } catch { /* no access */ }
  out.push({ name: '/dev/net/tun', ok: tun, detail: tun ? 'read-write' : 'no read-write access (pasta needs it)', fix: 'as root: chmod 0666 /dev/net/tun', required: true });
  out.push({ name: 'host ports', ok: true, detail: `rootless from ${unprivilegedPortStart()} (net.ipv4.ip_unprivileged_port_start)`, required: false });
  return out;
}

export function registerSystemCommands(program: Command): void {
  program.command('info').description('show host and engine information')
    .option('-f, --format <format>', 'json, or a Go template')
    .action(async (o: { format?: string }, cmd: Command) => {
      const info = { ...(await getEngine(cmd)).info(), version: { Version: VERSION, NodeVersion: process.version } };
      if (o.format !== undefined && o.format !== 'json') process.stdout.write(renderTemplate(o.format, info) + '\n');
      else if (o.format === 'json') process.stdout.write(JSON.stringify(info, null, 4) + '\n');
      else process.stdout.write(toYamlish(info));
    });

  program.command('version').description('show the version')
    .option('-f, --format <format>', 'json, or a Go template such as {{.Client.Version}}')
    .action((o: { format?: string }) => {
      const arch = process.arch === 'x64' ? 'amd64' : process.arch;
      // Podman's version report: a local engine is its own server, so .Server is .Client.
      const client = { APIVersion: VERSION, Version: VERSION, NodeVersion: process.version, GitCommit: '', BuiltTime: 'Thu Jan  1 00:00:00 1970', Built: 0, OsArch: `linux/${arch}`, Os: 'linux' };
      if (o.format === 'json') process.stdout.write(JSON.stringify({ Client: client }) + '\n');
      else if (o.format) process.stdout.write(renderTemplate(o.format, { Client: client, Server: client }) + '\n');
      else process.stdout.write(`Version:      ${VERSION}\nNode Version: ${process.version}\nOS/Arch:      linux/${arch}\n`);
    });

  const system = program.command('system').description('manage peapod');
  system.command('reset').description('remove all containers, pods, images and state of this root')
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (o: { force?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      if (!o.force) {
        if (!process.stdin.isTTY) throw new PeapodError('invalid', 'system reset removes everything: pass --force to confirm (no terminal to ask)');
        process.stdout.write(`WARNING! This will remove all containers, pods and images under ${engine.cfg.root} and ${engine.cfg.runroot}.\nAre you sure you want to continue? [y/N] `);
        const answer = await new Promise<string>((r) => process.stdin.once('data', (d) => r(String(d).trim())));
        process.stdin.pause();
        if (!/^y(es)?$/i.test(answer)) return;
      }
      await engine.systemReset();
    });

  system.command('service').description('serve the libpod and Docker APIs on a socket until idle (podman system service)')
    .option('-t, --time <seconds>', 'seconds without a request before the service exits (0: never)', '5')
    .argument('[uri]', 'unix:///path/to.sock (default: unix://<run dir>/peapod.sock) or tcp://host:port (no authentication)')
    .action(async (uri: string | undefined, o: { time: string }, cmd: Command) => {
      if (!/^\d+$/.test(o.time)) throw new PeapodError('invalid', `--time: "${o.time}" is not a number of seconds`);
      // the server's code loads only for this command (the bundle evaluates it at this import)
      const { serve } = await import('../api/server.js');
      await serve({
        uri: uri ?? `unix://${defaultRunroot()}/peapod.sock`,
        idleSeconds: Number(o.time),
        openEngine: engineOpener(cmd),
        onWarning: (w) => process.stderr.write(`warning: ${w}\n`),
      });
    });

  const doctor = async (_o: unknown, cmd: Command) => {
    const checks = doctorChecks(globals(cmd).runtime);
    for (const c of checks) {
      const mark = c.ok ? 'ok' : c.required ? 'MISSING' : 'missing (optional)';
      process.stdout.write(`${c.name.padEnd(14)} ${mark.padEnd(20)} ${c.detail}${c.ok || !c.fix ? '' : `\n${''.padEnd(35)} fix: ${c.fix}`}\n`);
    }
    const bad = checks.filter((c) => !c.ok && c.required);
    if (bad.length) throw new PeapodError('prerequisite', `${bad.length} required prerequisite${bad.length > 1 ? 's are' : ' is'} missing: ${bad.map((b) => b.name).join(', ')}`);
  };
  program.command('doctor').description('check every prerequisite and say how to fix what is missing').action(doctor);
}

function toYamlish(v: unknown, indent = ''): string {
  let out = '';
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x && typeof x === 'object' && !Array.isArray(x)) out += `${indent}${k}:\n${toYamlish(x, indent + '  ')}`;
    else out += `${indent}${k}: ${Array.isArray(x) ? JSON.stringify(x) : String(x)}\n`;
  }
  return out;
}
