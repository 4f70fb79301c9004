// The pod monitor: one process per pod whose containers have probes (`peapod pod monitor ID`,
// started detached by the pod layer). conmon supervises each container's process; probes need a
// clock, so they get this one process per pod. It runs startup, liveness and readiness probes on
// their schedules, records readiness in the container records, and ends a container whose
// liveness or startup probe gave up (the exit command then applies the restart policy, as after a
// crash). It exits by itself once its pod is stopped or removed, or no probed container can run
// again; `pod stop`/`rm` end it first (SIGTERM).
import { debug } from '../log.js';
import type { StateStore } from '../state/store.js';
import type { ContainerRecord, PodRecord, Probe } from '../types.js';
import { hasEnded, isRunning } from './status.js';
import type { Containers } from './containers.js';
import { runProbe } from './probes.js';

type Kind = 'startup' | 'liveness' | 'readiness';
const KINDS: Kind[] = ['startup', 'liveness', 'readiness'];
const LABEL: Record<Kind, string> = { startup: 'Startup', liveness: 'Liveness', readiness: 'Readiness' };

/** Probe bookkeeping for one run of a container (a restart is a new run). */
interface Run {
  startedAt: string;
  started: boolean;
  ready?: boolean;
  next: Partial<Record<Kind, number>>;
  ok: Record<Kind, number>;
  fail: Record<Kind, number>;
  busy: Set<Kind>;
  killing: boolean;
}

export async function monitorPod(store: StateStore, containers: Containers, podId: string, opts: { signal: AbortSignal; tickMs?: number; onReadiness?: () => Promise<void> }): Promise<void> {
  const runs = new Map<string, Run>();
  const tick = opts.tickMs ?? 250;
  const pending = new Set<Promise<unknown>>();
  // A probe's failure to run is a failed probe, never the monitor's end.
  const track = (p: Promise<unknown>) => {
    const q = p.catch((e) => debug(`monitor: ${e}`));
    pending.add(q);
    void q.finally(() => pending.delete(q));
  };
  while (!opts.signal.aborted) {
    try {
      const pod = await store.getPod(podId);
      if (!pod) break;
      const members = await Promise.all((await store.listContainers()).filter((c) => c.spec.pod === podId).map((c) => containers.refresh(c).catch(() => c)));
      const infra = members.find((c) => c.id === pod.infraId);
      if (!infra || !isRunning(infra)) break;
      const probed = members.filter((c) => c.spec.probes);
      const done = (c: ContainerRecord) => hasEnded(c) && containers.restartDelay(c) === undefined;
      if (probed.every(done)) break;
      const now = Date.now();
      for (const c of probed) {
        if (!isRunning(c) || !c.state.startedAt) { runs.delete(c.id); continue; }
        let run = runs.get(c.id);
        if (!run || run.startedAt !== c.state.startedAt) {
          const t0 = Date.parse(c.state.startedAt);
          run = { startedAt: c.state.startedAt, started: !c.spec.probes!.startup, next: {}, ok: { startup: 0, liveness: 0, readiness: 0 }, fail: { startup: 0, liveness: 0, readiness: 0 }, busy: new Set(), killing: false };
          for (const k of KINDS) { const p = c.spec.probes![k]; if (p) run.next[k] = t0 + p.initialDelaySeconds * 1000; }
          runs.set(c.id, run);
        }
        if (run.killing) continue;
        for (const k of KINDS) {
          const probe = c.spec.probes![k];
          if (!probe || run.busy.has(k) || (run.next[k] ?? Infinity) > now) continue;
          if (k === 'startup' ? run.started : !run.started) continue;
          run.busy.add(k);
          track(probeOnce(store, containers, pod, c, run, k, probe, opts.onReadiness).finally(() => {
            run!.busy.delete(k);
            run!.next[k] = Date.now() + probe.periodSeconds * 1000;
          }));
        }
      }
    } catch (e) {
      // a state file read at the wrong moment: look again at the next tick
      debug(`monitor: ${e}`);
    }
    await sleep(tick, opts.signal);
  }
  // Probes in flight finish (a kill in progress completes) before the monitor exits.
  await Promise.allSettled([...pending]);
}

async function probeOnce(store: StateStore, containers: Containers, pod: PodRecord, c: ContainerRecord, run: Run, kind: Kind, probe: Probe, onReadiness?: () => Promise<void>): Promise<void> {
  const host = pod.spec.hostNetwork ? '127.0.0.1' : c.state.podIP;
  const out = host === undefined && !('exec' in probe.handler)
    ? { ok: false, message: 'the pod has no network address to probe' }
    : await runProbe(c, probe.handler, probe.timeoutSeconds, { host: host ?? '127.0.0.1', exec: (args, ms) => containers.launcher.execQuiet(c.id, args, ms) })
      .catch((e: Error) => ({ ok: false, message: `the probe could not run: ${e.message}` }));
  if (run.killing) return;
  debug(`${kind} probe of ${c.name}: ${out.ok ? 'ok' : out.message}`);
  if (out.ok) { run.ok[kind] += 1; run.fail[kind] = 0; } else { run.fail[kind] += 1; run.ok[kind] = 0; }
  const save = (fn: (s: ContainerRecord['state']) => void) => store.updateContainer(c.id, (r) => { if (r.state.startedAt === run.startedAt) fn(r.state); }).catch((e) => debug(`monitor: ${e}`));
  const failed = `${LABEL[kind]} probe failed: ${out.message}`;
  if (kind === 'readiness') {
    if (out.ok && run.ok[kind] >= probe.successThreshold && run.ready !== true) {
      run.ready = true;
      await save((s) => { s.ready = true; s.probeMessage = undefined; });
      // a Service's endpoints follow the verdict at once (the monitor knows first)
      await onReadiness?.();
    } else if (!out.ok && run.fail[kind] >= probe.failureThreshold && run.ready !== false) {
      run.ready = false;
      await save((s) => { s.ready = false; s.probeMessage = failed; });
      await onReadiness?.();
    }
    return;
  }
  if (kind === 'startup' && out.ok) {
    run.started = true;
    await save((s) => { s.started = true; s.probeMessage = undefined; });
    return;
  }
  if (out.ok) return;
  if (run.fail[kind] < probe.failureThreshold) {
    await save((s) => { s.probeMessage = failed; });
    return;
  }
  // The kubelet's verdict: the container is killed and its restart policy decides what follows.
  run.killing = true;
  const grace = probe.terminationGracePeriodSeconds ?? c.spec.stopTimeout ?? 30;
  debug(`${failed}: ending ${c.name} (grace ${grace} s)`);
  await containers.probeKill(c.id, run.startedAt, failed, grace)
    .catch((e) => debug(`monitor: ending ${c.name}: ${e}`));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => { signal.removeEventListener('abort', done); resolve(); }, ms);
    const done = () => { clearTimeout(t); resolve(); };
    signal.addEventListener('abort', done, { once: true });
  });
}
