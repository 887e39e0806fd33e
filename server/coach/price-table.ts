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
  speech: z
    .object({
      models: z.record(
        z.string(),
        z.union([
          z.strictObject({ perMillionCharacters: z.number().min(0) }),
          z.strictObject({
            inputPerMillion: z.number().min(0),
            outputPerMillion: z.number().min(0),
            charactersPerToken: z.number().positive(),
            audioTokensPerSecond: z.number().positive(),
          }),
        ]),
      ),
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

/**
 * A text-to-speech model's price: per million characters (tts-1, tts-1-hd), or per million
 * tokens of text in and audio out (gpt-4o-mini-tts), with how tokens are estimated from the
 * characters and the seconds of audio, since the speech API reports no usage.
 */
export type SpeechPrice =
  | { perMillionCharacters: number }
  | {
      inputPerMillion: number;
      outputPerMillion: number;
      charactersPerToken: number;
      audioTokensPerSecond: number;
    };

/** What one speech call cost and in what units (the pipeline's cost entry). */
export interface SpeechCost {
  units: number;
  unit: 'characters' | 'tokens';
  usd: number;
}

const DEFAULT_PRICE_FILE = new URL('./prices.json', import.meta.url);

/**
 * USD prices per million tokens, kept as data (`server/coach/prices.json`) so a price change is
 * a data change. A model that is not listed (a local Ollama or vLLM model) costs 0.
 */
export class PriceTable {
  readonly #prices: Map<string, ModelPrice>;
  readonly #imagePrices: ImagePrices;
  readonly #speechPrices: Record<string, SpeechPrice>;

  constructor(
    prices: Record<string, ModelPrice>,
    imagePrices: ImagePrices = {},
    speechPrices: Record<string, SpeechPrice> = {},
  ) {
    this.#prices = new Map(Object.entries(prices));
    this.#imagePrices = imagePrices;
    this.#speechPrices = speechPrices;
  }

  /** Reads and validates a price file; default the one beside this module. */
  static load(file: URL | string = DEFAULT_PRICE_FILE): PriceTable {
    const parsed = priceFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    return new PriceTable(parsed.models, parsed.images?.models, parsed.speech?.models);
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

  /**
   * Cost of one text-to-speech call: characters for a per-character model, else estimated
   * tokens (text in, audio out). A model without a price costs 0, counted in characters.
   */
  speechCostUsd(model: string, usage: { characters: number; durationSec: number }): SpeechCost {
    const round = (usd: number) => Math.round(usd * 1e9) / 1e9;
    const price = Object.hasOwn(this.#speechPrices, model) ? this.#speechPrices[model] : undefined;
    if (!price) return { units: usage.characters, unit: 'characters', usd: 0 };
    if ('perMillionCharacters' in price) {
      return {
        units: usage.characters,
        unit: 'characters',
        usd: round((usage.characters * price.perMillionCharacters) / 1_000_000),
      };
    }
    const input = Math.ceil(usage.characters / price.charactersPerToken);
    const output = Math.ceil(usage.durationSec * price.audioTokensPerSecond);
    return {
      units: input + output,
      unit: 'tokens',
      usd: round((input * price.inputPerMillion + output * price.outputPerMillion) / 1_000_000),
    };
  }
}
