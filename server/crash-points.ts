/**
 * Deterministic crash points for the fault suite (`npm run test:faults`): a named place in a
 * transition where the process kills itself with SIGKILL, exactly as a power cut or the OOM
 * killer would, so a test can check what survives. Off unless the entry file arms names from
 * `REELROOM_CRASH_POINTS` (test only, never set in production); an unarmed point costs one
 * Set lookup.
 *
 * The names, in the order of each transition:
 * - `render.submit.after-commit`: row, charge and outbox entry committed, nothing enqueued.
 * - `outbox.after-handlers`: entries carried out (job enqueued), not yet removed.
 * - `render.worker.after-verdict`: a final state (and its refund) committed, the queue lease
 *   not yet settled.
 * - `render.worker.before-verdict`: FFmpeg done, nothing written.
 * - `reconciler.after-repair`: a repair committed, the pass not finished.
 */
const armed = new Set<string>();

/** Arms crash points by name (from the entry file's configuration). */
export function armCrashPoints(names: readonly string[]): void {
  for (const name of names) if (name) armed.add(name);
}

/** Kills the process here when `name` is armed. */
export function crashPoint(name: string): void {
  if (armed.size > 0 && armed.has(name)) process.kill(process.pid, 'SIGKILL');
}
