import type { CoachContext } from './coach-context.ts';

/** Tokens one reply used, as the provider reported them. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export type ProviderName = 'openai' | 'anthropic' | 'offline';

export interface PromptMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** One completion: a system prompt, the conversation, and the model to ask. */
export interface CompletionRequest {
  system: string;
  messages: PromptMessage[];
  model: string;
  maxOutputTokens: number;
  /** Aborts the request (e.g. on shutdown). */
  signal?: AbortSignal;
  /** The structured context the prompt was built from (the offline coach answers from it). */
  context?: CoachContext;
}

export interface CompletionResult {
  model: string;
  usage: TokenUsage;
}

/**
 * A chat model that streams: `onDelta` is called with each piece of text in order; the promise
 * resolves with the usage once the provider said the reply is complete, or rejects with a
 * ProviderError (after any deltas already delivered).
 */
export interface CoachProvider {
  readonly name: ProviderName;
  /** The model asked first. */
  readonly model: string;
  /** The cheaper model asked when the first answers with a rate limit. */
  readonly fallbackModel: string | undefined;
  stream(request: CompletionRequest, onDelta: (text: string) => void): Promise<CompletionResult>;
}

export type ProviderErrorKind = 'rate_limited' | 'failed';

/**
 * A provider call that failed. `rate_limited` (HTTP 429 after the SDK's own retries, or a
 * rate-limit error event) lets the caller fall back to the cheaper model; anything else is
 * `failed`. Compared by `kind`, never by message.
 */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Streams with the provider's model and, when it answers with a rate limit before any text
 * arrived, once more with the fallback model. A rate limit after text was streamed cannot be
 * retried without repeating text to the room, so it surfaces as the error it is.
 */
export async function streamWithFallback(
  provider: CoachProvider,
  request: Omit<CompletionRequest, 'model'>,
  onDelta: (text: string) => void,
  onFallback?: (from: string, to: string, error: ProviderError) => void,
): Promise<CompletionResult> {
  let streamed = false;
  const forward = (text: string) => {
    streamed = true;
    onDelta(text);
  };
  try {
    return await provider.stream({ ...request, model: provider.model }, forward);
  } catch (error) {
    const fallback = provider.fallbackModel;
    if (
      !(error instanceof ProviderError) ||
      error.kind !== 'rate_limited' ||
      streamed ||
      !fallback ||
      fallback === provider.model
    ) {
      throw error;
    }
    onFallback?.(provider.model, fallback, error);
    return provider.stream({ ...request, model: fallback }, forward);
  }
}
