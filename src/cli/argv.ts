// Podman spellings that map onto one peapod command before commander parses: `container X` is the
// top-level X (Podman has every container command under `container` too), `--wait=ready` is
// `--wait-ready`, Podman's log level "warning" is "warn", and Go's `--flag=true|false` of a boolean
// flag is `--flag` or `--no-flag`. Pure, so unit-tested.

/** Global flags that take a value (their value is not the command). */
const GLOBAL_WITH_VALUE = new Set(['--root', '--runroot', '--runtime', '--infra-image', '--log-level', '--cgroup-manager', '--tmpdir', '--network-config-dir', '--events-backend', '--storage-driver', '--storage-opt']);

/** Container commands that exist at the top level and under `container` alike. */
const CONTAINER_ALIASES = new Set([
  'attach', 'commit', 'cp', 'create', 'exec', 'inspect', 'kill', 'logs', 'ps', 'restart',
  'rm', 'run', 'start', 'stats', 'stop', 'top', 'wait', 'port', 'pause', 'unpause', 'rename', 'init',
]);

/** Podman's boolean flags that scripts write as `--flag=false` (commander knows `--no-flag`). */
const BOOL_FLAGS = new Set(['new', 'infra', 'service-container', 'replace', 'rm', 'tty', 'interactive', 'detach', 'header', 'template', 'noout']);

function boolFlag(a: string): string {
  const m = /^--([a-z-]+)=(true|false)$/.exec(a);
  if (!m || !BOOL_FLAGS.has(m[1])) return a;
  return m[2] === 'true' ? `--${m[1]}` : `--no-${m[1]}`;
}

export function normalizeArgv(argv: string[]): string[] {
  const out = argv.map((a) => (a === '--wait=ready' ? '--wait-ready' : a === '--log-level=warning' ? '--log-level=warn' : boolFlag(a)));
  // out[0] is node, out[1] the script: the command is the first word after the global flags
  let i = 2;
  while (i < out.length && out[i].startsWith('-')) {
    if (GLOBAL_WITH_VALUE.has(out[i])) {
      if (out[i] === '--log-level' && out[i + 1] === 'warning') out[i + 1] = 'warn';
      i += 2;
    } else i++;
  }
  if (out[i] === 'container' && CONTAINER_ALIASES.has(out[i + 1])) out.splice(i, 1);
  return out;
}
