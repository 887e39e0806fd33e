import { describe, expect, it } from 'vitest';
import { DeltaBatcher } from '../../server/coach/delta-batcher.ts';

/** Resolves once `condition` holds, polling every few ms; fails after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('DeltaBatcher', () => {
  it('sends the first delta after a quiet spell at the end of the turn', async () => {
    const batches: string[] = [];
    const batcher = new DeltaBatcher((text) => batches.push(text), { intervalMs: 1000 });
    batcher.push('a');
    batcher.push('b');
    expect(batches).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual(['ab']);
  });

  it('keeps every token in order under a burst and sends at most one batch per interval', async () => {
    const batches: Array<{ text: string; at: number }> = [];
    const intervalMs = 20;
    const batcher = new DeltaBatcher(
      (text) => batches.push({ text, at: performance.now() }),
      // No size cap here: only the interval decides.
      { intervalMs, maxChars: 1_000_000 },
    );
    const tokens = Array.from({ length: 3000 }, (_, i) => `t${i} `);
    // A provider bursting: a few tokens per event-loop turn, as fast as the loop runs.
    for (let i = 0; i < tokens.length; i += 3) {
      for (const token of tokens.slice(i, i + 3)) batcher.push(token);
      await new Promise((resolve) => setImmediate(resolve));
    }
    batcher.flush();
    expect(batches.map((batch) => batch.text).join('')).toBe(tokens.join(''));
    for (let i = 1; i < batches.length - 1; i += 1) {
      // Timers run on the loop's millisecond clock, up to a millisecond early by this one.
      expect(batches[i]!.at - batches[i - 1]!.at).toBeGreaterThanOrEqual(intervalMs - 3);
    }
    expect(batches.length).toBeLessThan(1000);
  });

  it('sends a held delta once the interval has passed, without another push', async () => {
    const batches: string[] = [];
    const batcher = new DeltaBatcher((text) => batches.push(text), { intervalMs: 30 });
    batcher.push('first');
    await until(() => batches.length === 1);
    batcher.push('second');
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual(['first']);
    await until(() => batches.length === 2);
    expect(batches).toEqual(['first', 'second']);
  });

  it('sends at once when a batch reaches maxChars, and flush empties the buffer', () => {
    const batches: string[] = [];
    const batcher = new DeltaBatcher((text) => batches.push(text), { maxChars: 4 });
    batcher.push('ab');
    batcher.push('cd');
    expect(batches).toEqual(['abcd']);
    batcher.push('e');
    batcher.flush();
    batcher.flush();
    expect(batches).toEqual(['abcd', 'e']);
  });
});
