import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { TokenUsage } from './coach-provider.ts';

const priceFileSchema = z.object({
  models: z.record(
    z.string(),
    z.strictObject({ inputPerMillion: z.number().min(0), outputPerMillion: z.number().min(0) }),
  ),
  images: z
    .object({
      models: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.number().min(0)))),
    })
    .optional(),
});

export type ModelPrice = { inputPerMillion: number; outputPerMillion: number };

/** USD per generated image: `[model][quality][size]`, e.g. `['gpt-image-1'].medium['1536x1024']`. */
export type ImagePrices = Record<string, Record<string, Record<string, number>>>;

/** What an image generation used (an image generator's `usage`). */
export interface ImageGenerationUsage {
  model: string;
  quality: string;
  size: string;
  images: number;
}

const DEFAULT_PRICE_FILE = new URL('./prices.json', import.meta.url);

/**
 * USD prices per million tokens, kept as data (`server/coach/prices.json`) so a price change is
 * a data change. A model that is not listed (a local Ollama or vLLM model) costs 0.
 */
export class PriceTable {
  readonly #prices: Map<string, ModelPrice>;
  readonly #imagePrices: ImagePrices;

  constructor(prices: Record<string, ModelPrice>, imagePrices: ImagePrices = {}) {
    this.#prices = new Map(Object.entries(prices));
    this.#imagePrices = imagePrices;
  }

  /** Reads and validates a price file; default the one beside this module. */
  static load(file: URL | string = DEFAULT_PRICE_FILE): PriceTable {
    const parsed = priceFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    return new PriceTable(parsed.models, parsed.images?.models);
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

  /** Whether generated images of this model, quality and size have a price. */
  hasImagePrice(model: string, quality: string, size: string): boolean {
    return Object.hasOwn(this.#imagePrices[model]?.[quality] ?? {}, size);
  }

  /** Cost of generated images in USD; 0 for a model, quality or size without a price. */
  imageCostUsd(usage: ImageGenerationUsage): number {
    const price = this.#imagePrices[usage.model]?.[usage.quality]?.[usage.size] ?? 0;
    return Math.round(price * usage.images * 1e9) / 1e9;
  }
}
