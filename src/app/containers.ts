// Containers as the CLI's container commands use them: create (with the implicit pull), run in
// the foreground, exec, logs, inspect, and the cleanup conmon's exit command runs.
import { PeapodError } from '../../engine/errors.js';
import type { ContainerRecord, ContainerSpec, PodRecord } from '../../engine/types.js';
import type { PodNetworkState } from '../../engine/pod/pods.js';
import type { PullProgress } from '../../engine/image/registry/pull.js';
import { printLogs, type LogOptions } from '../../engine/runtime/logs.js';
import { canExec, isRunning } from '../../engine/pod/status.js';
import type { Opener } from './engine.js';

export interface CreateContainerOptions {
  /** the pod to add the container to */
  pod?: string;
  pull?: 'always' | 'missing' | 'never' | 'newer';
  /** --signature-policy: the containers-policy.json for the pull instead of the default one. */
  signaturePolicy?: string;
  /** argv that created it (generate systemd --new replays it) */
  createCommand?: string[];
  /** pull progress; quiet without it */
  progress?: (e: PullProgress) => void;
  interactive?: boolean;
}

/**
 * Podman's auto-update label `io.containers.autoupdate=registry` (or `image`) needs an image that a
 * registry can be asked about: the docker transport and a fully qualified name. Checked at create,
 * with Podman's messages.
 */
export function checkAutoUpdate(spec: Pick<ContainerSpec, 'labels' | 'image'>): void {
  const policy = spec.labels?.['io.containers.autoupdate'];
  if (policy !== 'registry' && policy !== 'image') return;
  const transport = /^(docker-archive|oci-archive|oci|dir|containers-storage|docker-daemon|docker):/.exec(spec.image)?.[1];
  if (transport && transport !== 'docker') throw new PeapodError('invalid', `auto updates require the docker image transport but image is of transport "${transport}"`);
  const ref = spec.image.replace(/^docker:\/\//, '');
  const first = ref.split('/')[0];
  if (!ref.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost')) {
    throw new PeapodError('invalid', `short name: auto updates require fully-qualified image reference: "${ref}"`);
  }
}

/** `create`/`run`: pulls the image unless it is here (Podman's implicit pull), then creates. */
export async function createContainer(open: Opener, spec: ContainerSpec, o: CreateContainerOptions): Promise<ContainerRecord> {
  checkAutoUpdate(spec);
  const engine = await open();
  // `localhost/...` names local images (imported, loaded): never fetched from a registry, as in play kube.
  const local = /^localhost\//.test(spec.image) && (o.pull ?? 'missing') === 'missing';
  if (!local) await engine.images.pull(spec.image, { policy: o.pull ?? 'missing', signaturePolicy: o.signaturePolicy, interactive: !!o.interactive, progress: o.progress, quiet: !o.progress });
  const opts = { createCommand: o.createCommand };
  if (o.pod?.startsWith('new:')) {
    // Podman's --pod new:NAME: a new pod of that name, which takes the container's --hostname
    const { createPod } = await import('./pods.js');
    const pod = await createPod(open, { name: o.pod.slice(4), hostname: spec.hostname });
    return engine.pods.addContainer(pod.id, { ...spec, hostname: undefined }, opts);
  }
  if (o.pod) {
    const pod = await engine.pods.get(o.pod);
    if (spec.hostname && engine.pods.sharedNamespaces(pod).includes('uts')) {
      throw new PeapodError('invalid', 'invalid config provided: cannot set hostname when joining the pod UTS namespace: invalid configuration');
    }
    return engine.pods.addContainer(o.pod, spec, opts);
  }
  return engine.containers.create(spec, opts);
}

/** `start`: a pod member comes up with its pod (the infra first when needed). */
export async function startContainer(open: Opener, ref: string): Promise<ContainerRecord> {
  return (await open()).pods.startContainer(ref);
}

/**
 * `run` in the foreground: starts the container, copies its output to `write` until it exits and
 * returns its exit code; with autoRemove the container is removed after. `forwardSignals` gets a
 * function that signals the container (Podman's --sig-proxy) before it starts.
 */
export async function runAttached(open: Opener, id: string, o: { autoRemove: boolean; write?: LogOptions['write']; forwardSignals: (send: (signal: string) => void) => void }): Promise<number> {
  const engine = await open();
  if (o.autoRemove) await engine.containers.setWaiter(id, process.pid);
  o.forwardSignals((sig) => { engine.containers.kill(id, sig).catch(() => undefined); });
  try {
    await engine.pods.startContainer(id);
  } catch (err) {
    if (o.autoRemove) await engine.containers.remove(id, { force: true }).catch(() => undefined);
    throw err;
  }
  await printLogs(engine.containers.paths(id).logPath, {
    follow: true, write: o.write,
    isRunning: async () => !(await engine.containers.waitExitFile(id, 0)),
  });
  const code = await engine.containers.wait(id);
  if (o.autoRemove) await engine.containers.remove(id, { force: true });
  return code;
}

export interface ExecOptions {
  args: string[]; env?: string[]; cwd?: string; user?: string;
  /** streams instead of the caller's stdio (the API's exec sessions) */
  io?: import('../../engine/runtime/launcher.js').ExecIO;
}

/** `exec`: runs a command in a running container, attached; its exit code. A user name is looked up in the container's /etc/passwd. */
export async function execIn(open: Opener, ref: string, o: ExecOptions): Promise<number> {
  const engine = await open();
  const rec = await engine.containers.get(ref);
  if (!canExec(rec)) throw new PeapodError('state', `can only create exec sessions on running containers: container state improper`);
  let user: string | undefined;
  if (o.user) {
    const { resolveUser } = await import('../../engine/runtime/user.js');
    const u = await resolveUser(engine.containers.paths(rec.id).merged, o.user);
    user = `${u.uid}:${u.gid}`;
  }
  return engine.containers.exec(rec.id, { args: o.args, env: o.env, cwd: o.cwd, user, io: o.io });
}

export interface LogsOptions { follow?: boolean; tail?: number; timestamps?: boolean; write?: LogOptions['write'] }

/** `logs`: a container's output (following it while it runs). */
export async function logsOf(open: Opener, ref: string, o: LogsOptions): Promise<void> {
  const engine = await open();
  const rec = await engine.containers.get(ref);
  await printLogs(engine.containers.paths(rec.id).logPath, {
    follow: o.follow, tail: o.tail, timestamps: o.timestamps, write: o.write,
    isRunning: async () => isRunning(await engine.containers.get(rec.id)),
  });
}

/** What `inspect` shows of a container: the record, refreshed, and its pod's network facts. */
export interface ContainerInspect {
  rec: ContainerRecord;
  staticDir: string;
  pod?: { name: string; hostname: string; net?: PodNetworkState; publish?: PodRecord['spec']['publish']; mode: string };
  /** the image's USER (Podman's Config.User when the container sets none) */
  imageUser?: string;
}

/** undefined when no container has that name or ID. */
export async function inspectContainer(open: Opener, ref: string): Promise<ContainerInspect | undefined> {
  const engine = await open();
  const c = await engine.containers.find(ref);
  if (!c) return undefined;
  const pod = c.spec.pod ? await engine.pods.find(c.spec.pod) : undefined;
  const podInfo = pod && { name: pod.name, hostname: engine.pods.hostnameOf(pod), net: await engine.pods.networkState(pod), publish: pod.spec.publish, mode: engine.pods.networkMode(pod) };
  const img = await engine.images.get(c.imageId).catch(() => undefined);
  return { rec: await engine.containers.refresh(c), staticDir: engine.containers.staticDir(c.id), pod: podInfo, imageUser: img?.config.config?.User };
}

/**
 * Run by conmon's exit command: records the exit and releases everything, then the restart
 * policy (waits its back-off and starts the container again) and, for a Job's pod, the next pod.
 */
export async function cleanupContainer(open: Opener, id: string): Promise<void> {
  const engine = await open();
  const rec = await engine.containers.find(id);
  if (!rec) return;
  await engine.containers.cleanup(id);
  // A pod member that ended is no endpoint of a Service any more (until its restart).
  if (rec.spec.pod) await engine.services.sync().catch(() => undefined);
  if (rec.spec.pod) await engine.pods.applyExitPolicy(rec.spec.pod);
  if (rec.spec.pod) await engine.pods.releaseService(rec.spec.pod);
  await engine.pods.superviseRestart(id);
  if (rec.spec.pod) await engine.pods.startNextOfJob(rec.spec.pod);
}
