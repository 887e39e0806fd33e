import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { TokenUsage } from './coach-provider.ts';

const priceFileSchema = z.object({
  models: z.record(
    z.string(),
    z.strictObject({ inputPerMillion: z.number().min(0), outputPerMillion: z.number().min(0) }),
  ),
});

export type ModelPrice = { inputPerMillion: number; outputPerMillion: number };

const DEFAULT_PRICE_FILE = new URL('./prices.json', import.meta.url);

/**
 * USD prices per million tokens, kept as data (`server/coach/prices.json`) so a price change is
 * a data change. A model that is not listed (a local Ollama or vLLM model) costs 0.
 */
export class PriceTable {
  readonly #prices: Map<string, ModelPrice>;

  constructor(prices: Record<string, ModelPrice>) {
    this.#prices = new Map(Object.entries(prices));
  }

  /** Reads and validates a price file; default the one beside this module. */
  static load(file: URL | string = DEFAULT_PRICE_FILE): PriceTable {
    const parsed = priceFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    return new PriceTable(parsed.models);
  }

  has(model: string): boolean {
    return this.#prices.has(model);
  }

  /** Cost of one call in USD, rounded to a billionth of a dollar (float noise only). */
  costUsd(model: string, usage: TokenUsage): number {
    const price = this.#prices.get(model);
    if (!price) return 0;
    const cost =
      (usage.inputTokens * price.inputPerMillion + usage.outputTokens * price.outputPerMillion) /
      1_000_000;
    return Math.round(cost * 1e9) / 1e9;
  }
}
