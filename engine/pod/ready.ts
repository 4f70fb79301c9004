// Readiness of a container, as the kubelet decides it (a leaf: the CLI's views use it without
// loading the engine).
import type { ContainerRecord } from '../types.js';

/** True when the container is ready: running, started, and its readiness probe (if any) says so. */
export function isReady(c: ContainerRecord): boolean {
  if (c.state.status !== 'running') return false;
  if (c.spec.probes?.readiness) return c.state.ready === true;
  if (c.spec.probes?.startup) return c.state.started === true;
  return true;
}
