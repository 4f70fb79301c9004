import { Command, CommanderError, Option } from 'commander';
import { PeapodError } from '../../engine/errors.js';
import { isDebug, setLogLevel } from '../../engine/log.js';
import { registerContainerCommands } from './containers.js';
import { registerImageCommands } from './images.js';
import { registerSystemCommands } from './system.js';
import { registerPodCommands } from './pods.js';
import { registerKubeCommands } from './kube.js';
import { registerNetworkCommands } from './networks.js';
import { registerServiceCommands } from './services.js';
import { registerStorageCommands } from './storage.js';
import { VERSION } from './version.js';
import { normalizeArgv } from './argv.js';
import { needsUserNamespace, pauseDir, runInUserNamespace } from '../../engine/rootless/userns.js';

const program = new Command('peapod');
program
  .description('daemonless, Pod-first container engine that plays Kubernetes YAML')
  .version(`peapod version ${VERSION}`, '-v, --version', 'print the version')
  .option('--root <dir>', 'persistent storage root')
  .option('--runroot <dir>', 'volatile state root')
  .option('--runtime <path>', 'OCI runtime (runc or crun)')
  .option('--infra-image <image>', 'image of the infra container of new pods (default: the built-in pause image)')
  .addOption(new Option('--cgroup-manager <manager>', 'cgroup manager: cgroupfs (peapod manages cgroups itself; systemd is accepted and means the same)').choices(['cgroupfs', 'systemd']))
  .option('--noout', 'print nothing on stdout (errors still go to stderr)')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('warn'))
  .enablePositionalOptions()
  .showSuggestionAfterError(true)
  .exitOverride()
  .configureOutput({ outputError: () => undefined });

program.hook('preAction', (_this, action) => {
  const { logLevel: lvl, noout } = action.optsWithGlobals();
  if (lvl) setLogLevel(lvl);
  if (noout) process.stdout.write = (() => true) as typeof process.stdout.write;
});

registerContainerCommands(program);
registerImageCommands(program);
registerSystemCommands(program);
registerPodCommands(program);
registerKubeCommands(program);
(await import('./registry.js')).registerRegistryCommands(program);
(await import('./generate.js')).registerGenerateCommands(program);
registerNetworkCommands(program);
registerServiceCommands(program);
registerStorageCommands(program);
(await import('./compat.js')).registerCompatCommands(program);
(await import('./events.js')).registerEventCommands(program);
(await import('./stats.js')).registerStatsCommands(program);
(await import('./autoupdate.js')).registerAutoUpdateCommand(program);

/** The one place that decides what the user sees for an error, and the exit code. */
function fail(err: unknown): never {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(err.exitCode);
    const msg = err.message.replace(/^error: /, '')
      .replace(/^unknown option '([^']+)'/, 'unknown flag: $1')
      .replace(/^unknown command '([^']+)'/, 'unrecognized command `peapod $1`');
    process.stderr.write(`Error: ${msg}\n`);
    process.exit(125);
  }
  if (err instanceof PeapodError) {
    process.stderr.write(`Error: ${err.message}\n`);
    if (err.hint && isDebug()) process.stderr.write(`hint: ${err.hint}\n`);
    if (isDebug() && err.cause) process.stderr.write(`${String((err.cause as Error).stack ?? err.cause)}\n`);
    process.exit(err.exitCode);
  }
  const e = err as Error;
  process.stderr.write(`Error: ${e?.message ?? String(err)}\n`);
  if (isDebug()) process.stderr.write(`${e?.stack}\n`);
  process.exit(125);
}

// A stray asynchronous error still ends as one `Error:` line and exit 125, never a stack dump.
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

try {
  // A normal user's peapod runs inside its user namespace (README, Rootless): run this command there.
  // doctor stays outside: it checks what entering the namespace needs.
  if (needsUserNamespace() && !/^(-v|--version|-h|--help|help|doctor)?$/.test(process.argv.slice(2).join(' '))) {
    process.exit(await runInUserNamespace(pauseDir(process.getuid!()), process.argv));
  }
  // `--wait=ready` (kubectl's wording) is `--wait-ready`; a bare `--wait` keeps Podman's meaning.
  await program.parseAsync(normalizeArgv(process.argv));
} catch (err) {
  fail(err);
}
