// What a container's status allows, in one place: the engine's lifecycle and every view ask here
// rather than comparing status strings. A leaf (types only), so the CLI's views use it without
// loading the engine.
//
//   created --start--> running --exit/stop--> exited --start (restart policy, start)--> running
//   any (not removing) --rm--> removing --> gone
// ('stopped' is Podman's name for a container stopped by the user; peapod records such an exit as
// 'exited' with stopRequested, and reads 'stopped' as 'exited'.)
import type { ContainerRecord, ContainerStatus, PodStatus } from '../types.js';

type Has = Pick<ContainerRecord, 'state'>;

/** Its process runs (as last recorded: Containers.refresh brings a record up to date). */
export const isRunning = (c: Has): boolean => c.state.status === 'running';
/** It ran and ended (exited, or stopped). */
export const hasEnded = (c: Has): boolean => c.state.status === 'exited' || c.state.status === 'stopped';
/** Created and never started. */
export const neverStarted = (c: Has): boolean => c.state.status === 'created';

/** start runs it: it is not running and not being removed. */
export const canStart = (c: Has): boolean => c.state.status === 'created' || hasEnded(c);
/** start refuses it: it is being removed. */
export const isBeingRemoved = (c: Has): boolean => c.state.status === 'removing';
/** exec, kill and a lifecycle hook need its process. */
export const canExec = isRunning;
export const canKill = isRunning;
/** stop has something to do (else it only records that the user wants it stopped). */
export const canStop = isRunning;
/** rm takes it without --force (a running container is stopped first only with force). */
export const canRemove = (c: Has, force = false): boolean => force || !isRunning(c);
/** Its restart policy may start it again: it ended on its own (the caller checks policy and stopRequested). */
export const canRestart = (c: Has): boolean => c.state.status === 'exited';
/** Its record says running, so an exit may have to be noticed (exit file, dead conmon, reboot). */
export const mayHaveExited = isRunning;

/** True when the container is ready: running, started, and its readiness probe (if any) says so. */
export function isReady(c: Pick<ContainerRecord, 'state' | 'spec'>): boolean {
  if (!isRunning(c)) return false;
  if (c.spec.probes?.readiness) return c.state.ready === true;
  if (c.spec.probes?.startup) return c.state.started === true;
  return true;
}

/** Pod status from its containers' states, as Podman computes it (infra included). */
export function podStatus(states: ContainerStatus[]): PodStatus {
  if (!states.length) return 'Created';
  const n = (s: ContainerStatus) => states.filter((x) => x === s).length;
  const running = n('running');
  const ended = n('exited') + n('stopped');
  if (running === states.length) return 'Running';
  if (running > 0) return 'Degraded';
  if (n('stopped') === states.length) return 'Stopped';
  if (ended === states.length) return 'Exited';
  if (n('created') === states.length) return 'Created';
  if (ended > 0) return 'Exited';
  return 'Created';
}
