// `auto-update`, as Podman 4.3's (pkg/autoupdate): the running containers whose label or pod
// annotation `io.containers.autoupdate` (or `io.containers.autoupdate/<container>`) names a policy
// are grouped by the systemd unit they were made under (label PEAPOD_SYSTEMD_UNIT, recorded at
// creation); per unit, each container's image is checked (registry: the digest the registry serves
// now for this platform against the image the container runs; local: the image its name points to
// now against the one it runs), the new images pulled, and the unit restarted once through systemd
// (`systemctl restart` waits for the job: units are Type=notify, so a pod that never gets ready is
// a failed restart). On failure the old image gets its name back and the unit restarts again
// (rollback). A Pod played by hand (no unit) is restarted by peapod itself: played again from the
// object it came from and waited for until ready. One unit failing never stops the others: its
// error is collected and reported.
import { execa } from 'execa';
import { PeapodError } from '../../engine/errors.js';
import { isRunning } from '../../engine/pod/status.js';
import { SYSTEMD_MANAGER_LABEL, SYSTEMD_UNIT_LABEL } from '../../engine/names.js';
import { normalizeImageName, parseReference } from '../../engine/image/reference.js';
import type { ContainerRecord, ImageRecord, PodRecord } from '../../engine/types.js';
import type { Engine } from '../../engine/engine.js';
import { checkUnitName } from '../systemd/names.js';
import type { Opener } from './engine.js';
import { SET_LABEL } from '../kube/applyset.js';

export const AUTO_UPDATE_LABEL = 'io.containers.autoupdate';

export type Policy = 'registry' | 'local';
/** Podman's policy names: `image` is the old word for `registry`; disabled (or empty) means none. */
const POLICIES: Record<string, Policy | undefined> = { disabled: undefined, image: 'registry', local: 'local', registry: 'registry' };

/** One line of the report, Podman's fields (JSON and --format use these names). */
export interface AutoUpdateReport {
  Unit: string;
  /** `<id12> (<name>)`, as Podman's CONTAINER column */
  Container: string;
  ContainerName: string;
  ContainerID: string;
  Image: string;
  Policy: Policy;
  /** true, false, failed, pending (dry run) or rolled back */
  Updated: 'true' | 'false' | 'failed' | 'pending' | 'rolled back';
}

export interface AutoUpdateOptions {
  /** only report what would be updated (`pending`); nothing is pulled or restarted */
  dryRun?: boolean;
  /** on a failed restart, give the old image its name back and restart again (default true) */
  rollback?: boolean;
  /** the only auth file read for the registry checks and pulls */
  authFile?: string;
  /** a line on stderr per pull, as Podman's "Trying to pull ..." */
  onPull?: (image: string) => void;
}

export interface AutoUpdateResult {
  reports: AutoUpdateReport[];
  /** one message per failure (each names its container or unit); exit 125 when any */
  errors: string[];
}

/** The policy of a container: its label, else its pod's annotation for it, else the pod's. */
export function policyOf(c: ContainerRecord, pod?: PodRecord): Policy | undefined {
  const ann = pod?.spec.annotations ?? {};
  const kubeName = c.spec.kubeName;
  const value = c.spec.labels?.[AUTO_UPDATE_LABEL]
    ?? (kubeName !== undefined ? ann[`${AUTO_UPDATE_LABEL}/${kubeName}`] : undefined)
    ?? ann[AUTO_UPDATE_LABEL];
  if (value === undefined || value === '') return undefined;
  if (!Object.hasOwn(POLICIES, value)) {
    throw new PeapodError('invalid', `auto-updating container "${c.name}": invalid auto-update policy ${JSON.stringify(value.slice(0, 100))}: valid policies are ["disabled" "image" "local" "registry"]`);
  }
  return POLICIES[value];
}

interface Task {
  ctr: ContainerRecord;
  policy: Policy;
  /** the name the container was made from (fully qualified), which an update moves */
  rawImage: string;
  /** the image the container runs */
  image: ImageRecord;
  report: AutoUpdateReport;
  /** an update is available */
  newer?: boolean;
}

interface UnitGroup {
  unit: string;
  manager: 'system' | 'user';
  tasks: Task[];
  /** a pod played by hand (no unit): peapod replays it from the object it was played from */
  pod?: PodRecord;
}

/** How long a replayed pod may take to be ready (PEAPOD_AUTO_UPDATE_TIMEOUT seconds, default 300). */
function readyTimeout(): number {
  const n = Number(process.env.PEAPOD_AUTO_UPDATE_TIMEOUT);
  return Number.isFinite(n) && n > 0 ? n : 300;
}

/**
 * A pod played by hand, restarted as its unit would: played again from the object it came from,
 * replacing it, and waited for until every container is ready (a pod that does not get ready in
 * time is a failed restart).
 */
async function replayPod(open: Opener, pod: PodRecord): Promise<void> {
  const { playKube } = await import('./kube.js');
  const { toYaml } = await import('../kube/generate.js');
  const k = pod.spec.kube!;
  await playKube(open, [{ name: k.file ?? `pod ${pod.name}`, text: toYaml([k.object]) }], {
    start: true, replace: true, validate: 'warn', waitReady: true, timeoutSeconds: readyTimeout(),
    onDiagnostics: () => undefined, onWarning: () => undefined,
  });
}

/** systemctl for the manager that runs the unit; `--` so that the name is never an option. */
async function restartUnit(g: UnitGroup): Promise<void> {
  const r = await execa('systemctl', [...(g.manager === 'user' ? ['--user'] : []), 'restart', '--', g.unit], { reject: false, stdin: 'ignore', env: { SYSTEMD_LOG_COLOR: '0' } });
  if (r.exitCode !== 0) {
    const why = String(r.stderr || r.stdout).trim() || `systemctl exited with ${r.exitCode}`;
    throw new Error(why);
  }
}

function manager(c: ContainerRecord, rootless: boolean): 'system' | 'user' {
  const m = c.spec.labels?.[SYSTEMD_MANAGER_LABEL];
  if (m === 'user' || m === 'system') return m;
  return rootless ? 'user' : 'system';
}

/** The tasks of the running containers that have a policy, grouped by unit; errors for the others. */
async function assemble(engine: Engine, errors: string[]): Promise<UnitGroup[]> {
  const pods = new Map((await engine.pods.list()).map((p) => [p.id, p]));
  const groups = new Map<string, UnitGroup>();
  const ctrs = (await engine.containers.list()).filter((c) => isRunning(c) && !c.spec.isInfra);
  for (const c of ctrs.sort((a, b) => a.name.localeCompare(b.name))) {
    try {
      const policy = policyOf(c, c.spec.pod ? pods.get(c.spec.pod) : undefined);
      if (!policy) continue;
      const unit = c.spec.labels?.[SYSTEMD_UNIT_LABEL];
      const pod = c.spec.pod ? pods.get(c.spec.pod) : undefined;
      // a bare pod played by hand (not by kube apply, which owns its pods): peapod replays it itself
      const byHand = unit === undefined && pod?.spec.kube?.kind === 'Pod' && pod.spec.kube.object !== undefined && pod.spec.labels?.[SET_LABEL] === undefined ? pod : undefined;
      if (unit === undefined && !byHand) {
        throw new PeapodError('invalid', `auto-updating container "${c.name}": no ${SYSTEMD_UNIT_LABEL} label found: it runs neither under a systemd unit (generate one with \`peapod generate systemd --new\`) nor in a Pod played by hand`);
      }
      if (unit !== undefined) checkUnitName(unit, `auto-updating container "${c.name}": label ${SYSTEMD_UNIT_LABEL}`);
      const rawImage = c.spec.image;
      if (policy === 'registry' && !parseReference(rawImage).domain) {
        throw new PeapodError('invalid', `auto-updating container "${c.name}": short name: auto updates require fully-qualified image reference: ${JSON.stringify(rawImage)}`);
      }
      const image = await engine.images.get(c.imageId);
      if (!image) throw new PeapodError('not-found', `auto-updating container "${c.name}": its image ${c.imageId.slice(0, 12)} is no longer in the store`);
      const m = manager(c, engine.cfg.rootlessUid !== undefined);
      const key = byHand ? `pod\0${byHand.id}` : `${m}\0${unit}`;
      let g = groups.get(key);
      if (!g) groups.set(key, g = { unit: unit ?? '', manager: m, tasks: [], pod: byHand });
      g.tasks.push({
        ctr: c, policy, rawImage, image,
        report: { Unit: unit ?? '', Container: `${c.id.slice(0, 12)} (${c.name})`, ContainerName: c.name, ContainerID: c.id, Image: normalizeImageName(rawImage), Policy: policy, Updated: 'failed' },
      });
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return [...groups.values()].sort((a, b) => a.unit.localeCompare(b.unit) || a.manager.localeCompare(b.manager));
}

/** Whether a newer image is there: in the registry (this platform's digest) or under the name locally. */
async function newerAvailable(engine: Engine, t: Task, opts: AutoUpdateOptions): Promise<boolean> {
  if (t.policy === 'local') {
    const now = await engine.images.get(t.rawImage);
    return now !== undefined && now.id !== t.image.id;
  }
  const remote = await engine.images.remoteDigest(t.rawImage, { authFile: opts.authFile });
  return !(t.image.digests ?? [t.image.digest]).includes(remote);
}

async function updateUnit(open: Opener, engine: Engine, g: UnitGroup, opts: AutoUpdateOptions, errors: string[]): Promise<void> {
  const what = g.pod ? `pod ${g.pod.name}` : `unit ${g.unit}`;
  const restart = () => (g.pod ? replayPod(open, g.pod) : restartUnit(g));
  const fail = (msg: string) => { errors.push(msg); for (const t of g.tasks) t.report.Updated = 'failed'; };
  try {
    for (const t of g.tasks) t.newer = await newerAvailable(engine, t, opts);
  } catch (err) {
    return fail(`checking the images of ${what}: ${(err as Error).message}`);
  }
  const todo = g.tasks.filter((t) => t.newer);
  for (const t of g.tasks) t.report.Updated = t.newer ? (opts.dryRun ? 'pending' : 'failed') : 'false';
  if (opts.dryRun || !todo.length) return;
  try {
    for (const name of new Set(todo.filter((t) => t.policy === 'registry').map((t) => t.rawImage))) {
      opts.onPull?.(name);
      await engine.images.pull(name, { policy: 'always', authFile: opts.authFile, quiet: true, interactive: false });
    }
  } catch (err) {
    return fail(`pulling the images of ${what}: ${(err as Error).message}`);
  }
  let updateErr: Error;
  try {
    await restart();
    for (const t of todo) t.report.Updated = 'true';
    return;
  } catch (err) {
    updateErr = err as Error;
  }
  if (opts.rollback === false) {
    errors.push(`restarting ${what} during update: ${updateErr.message}`);
    return;
  }
  try {
    for (const t of todo) await engine.images.tag(t.image.id, t.rawImage);
  } catch (err) {
    errors.push(`rolling back the images of ${what} after update failure: ${(err as Error).message}`);
    return;
  }
  try {
    await restart();
  } catch (err) {
    errors.push(`restarting ${what} after rollback: ${(err as Error).message} (the update had failed: ${updateErr.message})`);
    return;
  }
  for (const t of todo) t.report.Updated = 'rolled back';
}

/** `auto-update`: every unit in turn; the reports of all, and the errors met on the way. */
export async function autoUpdate(open: Opener, opts: AutoUpdateOptions = {}): Promise<AutoUpdateResult> {
  const engine = await open();
  const errors: string[] = [];
  const groups = await assemble(engine, errors);
  for (const g of groups) await updateUnit(open, engine, g, opts, errors);
  return { reports: groups.flatMap((g) => g.tasks.map((t) => t.report)), errors };
}
