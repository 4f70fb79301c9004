// Podman spellings that map onto one peapod command before commander parses: `container X` is the
// top-level X (Podman has every container command under `container` too), `--wait=ready` is
// `--wait-ready`, and Podman's log level "warning" is "warn". Pure, so unit-tested.

/** Global flags that take a value (their value is not the command). */
const GLOBAL_WITH_VALUE = new Set(['--root', '--runroot', '--runtime', '--infra-image', '--log-level', '--cgroup-manager', '--tmpdir', '--network-config-dir', '--events-backend', '--storage-driver', '--storage-opt']);

/** Container commands that exist at the top level and under `container` alike. */
const CONTAINER_ALIASES = new Set([
  'attach', 'commit', 'cp', 'create', 'exec', 'inspect', 'kill', 'logs', 'ps', 'restart',
  'rm', 'run', 'start', 'stats', 'stop', 'top', 'wait', 'port', 'pause', 'unpause', 'rename', 'init',
]);

export function normalizeArgv(argv: string[]): string[] {
  const out = argv.map((a) => (a === '--wait=ready' ? '--wait-ready' : a === '--log-level=warning' ? '--log-level=warn' : a));
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
