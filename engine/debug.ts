// A test hook for crash tests: PEAPOD_DEBUG_PAUSE_AT=<step> makes the command stop itself
// (SIGSTOP) when it reaches that named step, so that a test can kill -9 it exactly there and check
// that the next `kube down`/`system reset` leaves nothing behind. Costs one env lookup otherwise.

const at = process.env.PEAPOD_DEBUG_PAUSE_AT;

/** Stops this process (SIGSTOP) at `step` when PEAPOD_DEBUG_PAUSE_AT names it; says so on stderr first. */
export function pausePoint(step: string): void {
  if (at === undefined || at !== step) return;
  process.stderr.write(`peapod: paused at ${step} (PEAPOD_DEBUG_PAUSE_AT)\n`);
  process.kill(process.pid, 'SIGSTOP');
}
