// Registry commands: pull (and `image pull`), login, logout. Thin: parse flags, one engine call,
// render progress (bars on a TTY, nothing otherwise), print the result as Podman does.
import { Command, Option } from 'commander';
import { createInterface } from 'node:readline';
import { getEngine } from './context.js';
import { humanSize } from './format.js';
import { durationMs } from './flags.js';
import { PeapodError } from '../../engine/errors.js';
import type { PullOptions, PullPolicy, PullProgress } from '../../engine/image/registry/pull.js';

const parseBool = (flag: string) => (v: string | undefined): boolean => {
  if (v === undefined || v === 'true') return true;
  if (v === 'false') return false;
  throw new PeapodError('invalid', `--${flag}: "${v}" is not a boolean (true or false)`);
};

/** "os/arch[/variant]" -> platform. */
function parsePlatform(v: string): { os: string; architecture: string; variant?: string } {
  const parts = v.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new PeapodError('invalid', `--platform "${v}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  }
  return { os: parts[0]!, architecture: parts[1]!, variant: parts[2] };
}

/** "USER:PASS" -> credentials (Podman's --creds). */
function parseCreds(v: string): { username: string; password: string } {
  const colon = v.indexOf(':');
  if (colon <= 0) throw new PeapodError('invalid', '--creds: expected USERNAME:PASSWORD');
  return { username: v.slice(0, colon), password: v.slice(colon + 1) };
}


/**
 * Progress bars on stderr: one line per layer, redrawn in place at most every 100 ms. Only used
 * when stderr is a TTY.
 */
export class ProgressRenderer {
  private readonly layers = new Map<string, { current: number; total: number; status: string }>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly out = process.stderr;

  handle = (e: PullProgress): void => {
    switch (e.type) {
      case 'trying':
        this.line(`Trying to pull ${e.source}...`);
        break;
      case 'manifest':
        this.line(`Getting image source signatures (${e.layers} layer${e.layers === 1 ? '' : 's'}, manifest ${e.digest.slice(7, 19)})`);
        break;
      case 'layer':
        this.layers.set(e.digest, { current: e.current, total: e.total, status: e.status });
        if (e.status !== 'downloading') this.redraw();
        else this.schedule();
        break;
      case 'retry':
        this.line(`Retrying in ${(e.delayMs / 1000).toFixed(1)} s (attempt ${e.attempt}): ${e.error}`);
        break;
      case 'stored':
        this.finish();
        this.line('Writing manifest to image destination');
        break;
    }
  };

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.redraw(); }, 100);
  }

  /** A permanent line above the bars. */
  private line(text: string): void {
    this.clearBars();
    this.out.write(`${text}\n`);
    this.drawBars();
  }

  private clearBars(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private drawBars(): void {
    const width = Math.max(10, Math.min(30, (this.out.columns ?? 80) - 60));
    for (const [digest, l] of this.layers) {
      const frac = l.total > 0 ? Math.min(1, l.current / l.total) : 1;
      const filled = Math.round(frac * width);
      const bar = `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? (frac >= 1 ? '=' : '>') : ''}${' '.repeat(width - filled)}]`;
      const what = l.status === 'present' ? 'skipped: already exists'
        : l.status === 'done' ? 'done'
          : l.status === 'unpacking' ? 'unpacking'
            : `${humanSize(l.current)} / ${humanSize(l.total)}`;
      this.out.write(`Copying blob ${digest.slice(7, 19)} ${l.status === 'downloading' ? bar : ''} ${what}`.replace(/ {2,}/g, ' ') + '\n');
    }
    this.drawn = this.layers.size;
  }

  private redraw(): void {
    this.clearBars();
    this.drawBars();
  }

  /** Draw the bars a last time and leave them as they are (idempotent). */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.layers.size) this.redraw();
    this.layers.clear();
    this.drawn = 0;
  }
}

interface PullFlags {
  quiet?: boolean;
  tlsVerify?: boolean;
  authfile?: string;
  certDir?: string;
  creds?: string;
  platform?: string;
  os?: string;
  arch?: string;
  variant?: string;
  policy?: PullPolicy;
  retry?: string;
  retryDelay?: string;
  signaturePolicy?: string;
}

async function pull(ref: string, o: PullFlags, cmd: Command): Promise<void> {
  const engine = await getEngine(cmd);
  let platform = o.platform ? parsePlatform(o.platform) : undefined;
  if (o.os || o.arch || o.variant) {
    if (platform) throw new PeapodError('invalid', '--platform cannot be combined with --os, --arch or --variant');
    const { hostPlatform } = await import('../../engine/image/util.js');
    const host = hostPlatform();
    platform = { os: o.os ?? host.os, architecture: o.arch ?? host.architecture, variant: o.variant };
  }
  const retries = o.retry === undefined ? undefined : Number(o.retry);
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) throw new PeapodError('invalid', `--retry "${o.retry}": expected a number of attempts`);
  const renderer = !o.quiet && process.stderr.isTTY ? new ProgressRenderer() : undefined;
  const opts: PullOptions = {
    policy: o.policy ?? 'always',
    tlsVerify: o.tlsVerify,
    authFile: o.authfile,
    certDir: o.certDir,
    auth: o.creds ? parseCreds(o.creds) : undefined,
    platform,
    quiet: o.quiet,
    progress: renderer?.handle,
    interactive: true,
    retries,
    retryDelayMs: o.retryDelay === undefined ? undefined : durationMs('retry-delay', o.retryDelay),
    signaturePolicy: o.signaturePolicy,
  };
  try {
    const img = await engine.images.pull(ref, opts);
    renderer?.finish();
    process.stdout.write(`${img.id}\n`);
  } finally {
    renderer?.finish();
  }
}

function addPull(c: Command): Command {
  return c
    .argument('<image>', 'image reference, e.g. docker.io/library/nginx:1.25 or a short name')
    .option('-q, --quiet', 'no progress output, only the image ID')
    .option('--tls-verify [bool]', 'require HTTPS and verify certificates (--tls-verify=false allows plain HTTP)', parseBool('tls-verify'))
    .option('--authfile <file>', 'auth file to read credentials from')
    .option('--cert-dir <dir>', 'directory with certificates (*.crt, *.cert, *.key) for the registry')
    .option('--creds <user:password>', 'credentials for the registry')
    .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image')
    .option('--os <os>', 'operating system to pull (instead of this host\'s)')
    .option('--arch <arch>', 'architecture to pull (instead of this host\'s)')
    .option('--variant <variant>', 'architecture variant to pull')
    .addOption(new Option('--policy <policy>', 'pull policy').choices(['always', 'missing', 'never', 'newer']).default('always'))
    .option('--retry <n>', 'attempts after a transient failure (default 3)')
    .option('--retry-delay <duration>', 'delay before the first retry, doubled each time (default 1s)')
    .option('--signature-policy <file>', 'containers-policy.json to use instead of the default one')
    .action(async (ref: string, o: PullFlags, cmd: Command) => pull(ref, o, cmd));
}

/** Read a line from the terminal; with `hidden`, what is typed is not echoed. */
function ask(question: string, hidden = false): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    if (hidden) {
      // Echo nothing of what is typed after the question.
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (s.includes(question)) process.stderr.write(question);
        else if (s.includes('\n') || s.includes('\r')) process.stderr.write('\n');
      };
    }
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  tlsVerify?: boolean;
  authfile?: string;
  certDir?: string;
}

async function loginCmd(registry: string, o: LoginFlags): Promise<void> {
  if (o.password !== undefined && o.passwordStdin) throw new PeapodError('invalid', 'can\'t specify both --password-stdin and --password');
  const tty = !!process.stdin.isTTY;
  let username = o.username;
  let password = o.password;
  if (o.passwordStdin) {
    if (!username) throw new PeapodError('invalid', 'must provide --username with --password-stdin');
    password = await readStdin();
  }
  if (!username) {
    if (!tty) throw new PeapodError('invalid', `logging into "${registry}": a username is needed (-u) when there is no terminal`);
    username = (await ask('Username: ')).trim();
  }
  if (password === undefined) {
    if (!tty) throw new PeapodError('invalid', `logging into "${registry}": a password is needed (-p or --password-stdin) when there is no terminal`);
    password = await ask('Password: ', true);
  }
  const { login } = await import('../../engine/image/registry/login.js');
  await login(registry, { username, password, authFile: o.authfile, tlsVerify: o.tlsVerify, certDir: o.certDir });
  process.stdout.write('Login Succeeded!\n');
}

async function logoutCmd(registry: string | undefined, o: { all?: boolean; authfile?: string }): Promise<void> {
  if (!registry && !o.all) throw new PeapodError('invalid', 'a registry is needed (or --all)');
  if (registry && o.all) throw new PeapodError('invalid', '--all takes no registry');
  const { logout } = await import('../../engine/image/registry/login.js');
  const r = await logout(registry, { all: o.all, authFile: o.authfile });
  process.stdout.write(o.all ? 'Removed login credentials for all registries\n' : `Removed login credentials for ${r.registry}\n`);
}

interface PushFlags {
  quiet?: boolean;
  tlsVerify?: boolean;
  authfile?: string;
  certDir?: string;
  creds?: string;
  format?: 'oci' | 'v2s2';
  digestfile?: string;
  signBy?: string;
  signKeyFile?: string;
  signBySigstorePrivateKey?: string;
}

async function push(ref: string, dest: string | undefined, o: PushFlags, cmd: Command): Promise<void> {
  const { pushImage } = await import('../app/images.js');
  const say = !o.quiet && process.stderr.isTTY ? (l: string) => process.stderr.write(`${l}\n`) : undefined;
  say?.('Getting image source signatures');
  await pushImage(() => getEngine(cmd), ref, dest, {
    tlsVerify: o.tlsVerify,
    authFile: o.authfile,
    certDir: o.certDir,
    auth: o.creds ? parseCreds(o.creds) : undefined,
    format: o.format,
    digestFile: o.digestfile,
    signBy: o.signBy,
    signKeyFile: o.signKeyFile,
    signBySigstoreKey: o.signBySigstorePrivateKey,
    progress: say && ((e) => {
      if (e.type === 'blob') say(`Copying blob ${e.digest.slice(7, 19)} ${e.status === 'uploaded' ? 'done' : e.status === 'mounted' ? 'skipped: mounted from another repository' : 'skipped: already exists'}`);
      else if (e.type === 'config') say(`Copying config ${e.digest.slice(7, 19)} done`);
      else if (e.type === 'manifest') say('Writing manifest to image destination');
      else say('Storing signatures');
    }),
  });
}

export function registerRegistryCommands(program: Command): void {
  const addPush = (c: Command) => c
    .argument('<image>', 'local image')
    .argument('[destination]', 'docker://HOST/REPO[:TAG] or HOST/REPO[:TAG] (default: the image\'s name)')
    .option('-q, --quiet', 'no progress output')
    .option('--tls-verify [bool]', 'require HTTPS and verify certificates (--tls-verify=false allows plain HTTP)', parseBool('tls-verify'))
    .option('--authfile <file>', 'auth file to read credentials from')
    .option('--cert-dir <dir>', 'directory with certificates (*.crt, *.cert, *.key) for the registry')
    .option('--creds <user:password>', 'credentials for the registry')
    .addOption(new Option('-f, --format <format>', 'manifest type').choices(['oci', 'v2s2']))
    .option('--digestfile <file>', 'write the digest of the pushed manifest to this file')
    .option('--sign-by <fingerprint>', 'sign the image with this GPG key (simple signing, into the lookaside staging)')
    .option('--sign-key-file <file>', 'the exported (armored, unprotected, mode 0600) secret key that --sign-by names')
    .option('--sign-by-sigstore-private-key <file>', 'sign the image with this sigstore private key (PEM), attached in the registry')
    .action(async (ref: string, dest: string | undefined, o: PushFlags, cmd: Command) => push(ref, dest, o, cmd));
  addPush(program.command('push').description('push an image to a registry'));

  addPull(program.command('pull').description('pull an image from a registry'));
  const image = program.commands.find((c) => c.name() === 'image') ?? program.command('image').description('manage images');
  addPull(image.command('pull').description('pull an image from a registry'));
  addPush(image.command('push').description('push an image to a registry'));
  image.command('sign').description('sign images that are in a registry (GPG simple signing, into the lookaside staging)')
    .argument('<images...>', 'docker://HOST/REPO:TAG (or HOST/REPO:TAG)')
    .requiredOption('--sign-by <fingerprint>', 'the GPG key to sign with')
    .option('--sign-key-file <file>', 'the exported (armored, unprotected, mode 0600) secret key that --sign-by names')
    .option('-d, --directory <dir>', 'write the signatures under this directory instead of the lookaside staging')
    .option('--authfile <file>', 'auth file to read credentials from')
    .option('--cert-dir <dir>', 'directory with certificates for the registry')
    .option('--tls-verify [bool]', 'require HTTPS and verify certificates', parseBool('tls-verify'))
    .action(async (refs: string[], o: { signBy: string; signKeyFile?: string; directory?: string; authfile?: string; certDir?: string; tlsVerify?: boolean }) => {
      const { signImages } = await import('../app/images.js');
      await signImages(refs, { signBy: o.signBy, signKeyFile: o.signKeyFile, directory: o.directory, authFile: o.authfile, certDir: o.certDir, tlsVerify: o.tlsVerify });
    });

  program.command('login').description('log in to a registry')
    .argument('<registry>', 'registry host[:port], or host/namespace')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--tls-verify [bool]', 'require HTTPS and verify certificates', parseBool('tls-verify'))
    .option('--authfile <file>', 'auth file to write')
    .option('--cert-dir <dir>', 'directory with certificates for the registry')
    .action(async (registry: string, o: LoginFlags) => loginCmd(registry, o));

  program.command('logout').description('log out of a registry')
    .argument('[registry]', 'registry host[:port], or host/namespace')
    .option('-a, --all', 'remove the credentials of every registry')
    .option('--authfile <file>', 'auth file to change')
    .action(async (registry: string | undefined, o: { all?: boolean; authfile?: string }) => logoutCmd(registry, o));
}
