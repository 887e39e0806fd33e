/** How often each crash point is hit. */
export const REPETITIONS = 3;

/**
 * Runs `repetition` `times` times in a row and prints how many held, e.g.
 * `[faults] render.submit.after-commit: 3 repetitions, 3 held`; then fails with the first
 * failure, if any. Every repetition runs even after one failed, so the count is the real one.
 */
export async function repeat(
  name: string,
  repetition: (index: number) => Promise<void>,
  times = REPETITIONS,
): Promise<void> {
  const failures: unknown[] = [];
  for (let index = 0; index < times; index += 1) {
    try {
      await repetition(index);
    } catch (error) {
      failures.push(error);
    }
  }
  const held = times - failures.length;
  process.stdout.write(`[faults] ${name}: ${times} repetitions, ${held} held\n`);
  if (failures.length > 0) throw failures[0];
}
