// An open-loop edit schedule: edit k is due at start + k / rate whatever the system under test
// does, so a slow server cannot slow the load down and hide its own latency (coordinated
// omission). When the generator's own thread falls behind, it makes every due edit at once and
// the lag is recorded, so a saturated client side shows in the figures instead of in the server's.
import { setTimeout as sleep } from 'node:timers/promises';

export interface ScheduleOptions {
  /** Edits per second. */
  rate: number;
  /** performance.now() of the first edit. */
  start: number;
  /** Number of edits to make. */
  total: number;
  /** Makes edit k; `lateMs` is how far past its due time it runs. */
  edit: (k: number, lateMs: number) => void;
}

export async function runSchedule(options: ScheduleOptions): Promise<void> {
  const { rate, start, total, edit } = options;
  const intervalMs = 1000 / rate;
  let k = 0;
  const wait = start - performance.now();
  if (wait > 0) await sleep(wait);
  while (k < total) {
    const now = performance.now();
    while (k < total && start + k * intervalMs <= now) {
      edit(k, now - (start + k * intervalMs));
      k += 1;
    }
    if (k >= total) break;
    // Timers fire no earlier than asked, often ~1 ms later: the lag figure shows how much.
    await sleep(Math.max(0, start + k * intervalMs - performance.now()));
  }
}
