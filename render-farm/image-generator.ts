import type OpenAI from 'openai';

/** What one generated image costs is priced from this: the price table's `images` keys. */
export interface ImageUsage {
  provider: 'openai';
  model: string;
  /** `<width>x<height>` as the provider bills it, e.g. `1536x1024`. */
  size: string;
  /** The provider's quality tier, e.g. `medium` (gpt-image-1) or `standard` (dall-e-3). */
  quality: string;
  images: number;
}

export interface GeneratedImage {
  /** The encoded image (PNG). */
  bytes: Uint8Array;
  usage: ImageUsage;
  /** The prompt as the model rewrote it, where it says (dall-e-3 does). */
  revisedPrompt?: string;
}

export interface ImageGenerationRequest {
  prompt: string;
  /** Aborting cancels the HTTP request. */
  signal?: AbortSignal;
}

/** Makes one image from a prompt; the thumbnail step uses it as a background. */
export interface ImageGenerator {
  generate(request: ImageGenerationRequest): Promise<GeneratedImage>;
}

/** Why a generation failed: a rate limit (retry later), a refused prompt (do not), or else. */
export type ImageGenerationErrorKind = 'rate_limited' | 'refused' | 'failed';

export class ImageGenerationError extends Error {
  override readonly name = 'ImageGenerationError';
  constructor(
    readonly kind: ImageGenerationErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type OpenAIImageModel = 'gpt-image-1' | 'dall-e-3';
export type GptImageQuality = 'low' | 'medium' | 'high';
export type DallE3Quality = 'standard' | 'hd';

export type OpenAIImageGeneratorOptions =
  | {
      /** An SDK client built by the caller (key, base URL, timeouts, retries). */
      client: OpenAI;
      /** Default `gpt-image-1`. */
      model?: 'gpt-image-1';
      /** Default `medium`: $0.063 an image at 1536x1024, where `high` is four times that. */
      quality?: GptImageQuality;
    }
  | { client: OpenAI; model: 'dall-e-3' /** Default `standard`. */; quality?: DallE3Quality };

/**
 * The widest landscape size each model makes, the nearest to 16:9; the thumbnail maker crops
 * it to 1280×720.
 */
export const OPENAI_IMAGE_SIZES = {
  'gpt-image-1': '1536x1024',
  'dall-e-3': '1792x1024',
} as const satisfies Record<OpenAIImageModel, string>;

const QUALITIES: Record<OpenAIImageModel, readonly string[]> = {
  'gpt-image-1': ['low', 'medium', 'high'],
  'dall-e-3': ['standard', 'hd'],
};

/**
 * An {@link ImageGenerator} on OpenAI's images API (`images.generate`, one image, returned
 * base64-encoded). The caller passes the client, so no key or URL is read here.
 */
export class OpenAIImageGenerator implements ImageGenerator {
  readonly model: OpenAIImageModel;
  readonly size: string;
  readonly quality: string;
  readonly #client: OpenAI;

  constructor(options: OpenAIImageGeneratorOptions) {
    this.#client = options.client;
    this.model = options.model ?? 'gpt-image-1';
    if (!(this.model in QUALITIES)) {
      throw new RangeError(`model must be gpt-image-1 or dall-e-3 (is ${String(this.model)})`);
    }
    this.quality = options.quality ?? (this.model === 'dall-e-3' ? 'standard' : 'medium');
    if (!QUALITIES[this.model].includes(this.quality)) {
      throw new RangeError(
        `quality of ${this.model} must be one of ${QUALITIES[this.model].join(', ')}`,
      );
    }
    this.size = OPENAI_IMAGE_SIZES[this.model];
  }

  async generate(request: ImageGenerationRequest): Promise<GeneratedImage> {
    let response: OpenAI.ImagesResponse;
    try {
      response = await this.#client.images.generate(
        {
          model: this.model,
          prompt: request.prompt,
          n: 1,
          size: this.size as OpenAI.ImageGenerateParamsNonStreaming['size'],
          quality: this.quality as OpenAI.ImageGenerateParamsNonStreaming['quality'],
          // GPT image models always answer in base64 and refuse `response_format`.
          ...(this.model === 'dall-e-3'
            ? { response_format: 'b64_json' as const }
            : { output_format: 'png' as const }),
        },
        request.signal ? { signal: request.signal } : {},
      );
    } catch (error) {
      throw toImageGenerationError(error, this.#client.constructor as typeof OpenAI);
    }
    const image = response.data?.[0];
    if (!image?.b64_json) {
      throw new ImageGenerationError('failed', 'OpenAI answered without an image (b64_json)');
    }
    return {
      bytes: Buffer.from(image.b64_json, 'base64'),
      usage: {
        provider: 'openai',
        model: this.model,
        size: this.size,
        quality: this.quality,
        images: 1,
      },
      ...(image.revised_prompt ? { revisedPrompt: image.revised_prompt } : {}),
    };
  }
}

/**
 * A prompt for a thumbnail background from a video's title: the picture only, since the
 * thumbnail maker draws the title itself (models spell text badly).
 */
export function thumbnailImagePrompt(title: string, description = ''): string {
  const clip = (text: string, max: number) => text.replace(/\s+/g, ' ').trim().slice(0, max);
  return [
    `A striking background image for a YouTube video thumbnail, landscape, for a video titled "${clip(title, 300)}".`,
    description ? `About the video: ${clip(description, 1000)}.` : '',
    'Bold colours, one clear subject, simple composition, space in the middle for a title.',
    'No text, no letters, no logos, no watermarks.',
  ]
    .filter(Boolean)
    .join(' ');
}

/**
 * The error classes come from the client's own class: this module imports the SDK's types only,
 * so a node without an OpenAI key never loads it.
 */
function toImageGenerationError(error: unknown, OpenAI: typeof import('openai').default): Error {
  // The caller's abort stays what it is.
  if (error instanceof OpenAI.APIUserAbortError) return error;
  if (error instanceof OpenAI.RateLimitError) {
    return new ImageGenerationError('rate_limited', 'OpenAI images rate limit', { cause: error });
  }
  // A prompt the safety system blocks is a 400 and will be refused again.
  if (error instanceof OpenAI.BadRequestError) {
    return new ImageGenerationError('refused', `OpenAI refused the image: ${error.message}`, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ImageGenerationError('failed', `OpenAI images: ${message}`, { cause: error });
}
