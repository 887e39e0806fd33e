import Anthropic from '@anthropic-ai/sdk';
import {
  type CoachProvider,
  type CompletionRequest,
  type CompletionResult,
  ProviderError,
} from './coach-provider.ts';

export interface AnthropicProviderOptions {
  apiKey: string;
  /** Default Anthropic's own API. */
  baseUrl?: string | undefined;
  /** Default `claude-sonnet-4-20250514`. */
  model?: string | undefined;
  /** Default `claude-3-5-haiku-20241022`: asked when the model answers with a rate limit. */
  fallbackModel?: string | undefined;
  /** Per request, in ms (the SDK's `timeout`). Default 60 000. */
  timeoutMs?: number;
  /** The SDK's own retries of connection errors, 408, 409, 429 and 5xx. Default 2. */
  maxRetries?: number;
}

/** The coach on Anthropic's Messages API (streamed server-sent events). */
export class AnthropicProvider implements CoachProvider {
  readonly name = 'anthropic' as const;
  readonly model: string;
  readonly fallbackModel: string | undefined;
  readonly #client: Anthropic;

  constructor(options: AnthropicProviderOptions) {
    if (!options.apiKey) throw new Error('AnthropicProvider: apiKey is required');
    this.model = options.model ?? 'claude-sonnet-4-20250514';
    this.fallbackModel = options.fallbackModel ?? 'claude-3-5-haiku-20241022';
    this.#client = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
      timeout: options.timeoutMs ?? 60_000,
      maxRetries: options.maxRetries ?? 2,
    });
  }

  async stream(
    request: CompletionRequest,
    onDelta: (text: string) => void,
  ): Promise<CompletionResult> {
    let inputTokens = 0;
    let outputTokens = 0;
    let stopped = false;
    let model = request.model;
    try {
      const stream = await this.#client.messages.create(
        {
          model: request.model,
          max_tokens: request.maxOutputTokens,
          system: request.system,
          messages: request.messages,
          stream: true,
        },
        request.signal ? { signal: request.signal } : {},
      );
      for await (const event of stream) {
        switch (event.type) {
          case 'message_start':
            model = event.message.model || model;
            inputTokens = event.message.usage.input_tokens;
            outputTokens = event.message.usage.output_tokens;
            break;
          case 'content_block_delta':
            if (event.delta.type === 'text_delta' && event.delta.text) onDelta(event.delta.text);
            break;
          case 'message_delta':
            // Cumulative counts: the last message_delta has the totals.
            outputTokens = event.usage.output_tokens;
            if (event.usage.input_tokens != null) inputTokens = event.usage.input_tokens;
            break;
          case 'message_stop':
            stopped = true;
            break;
          default:
            break;
        }
      }
    } catch (error) {
      throw toProviderError(error);
    }
    if (!stopped) throw new ProviderError('failed', 'the stream ended before message_stop');
    return { model, usage: { inputTokens, outputTokens } };
  }
}

function toProviderError(error: unknown): ProviderError {
  // A 429 response, or an `error` event of type rate_limit_error inside the stream.
  const type = (error as { type?: unknown } | null)?.type;
  if (error instanceof Anthropic.RateLimitError || type === 'rate_limit_error') {
    return new ProviderError('rate_limited', 'Anthropic rate limit', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError('failed', `Anthropic: ${message}`, { cause: error });
}
