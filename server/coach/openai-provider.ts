import OpenAI from 'openai';
import {
  type CoachProvider,
  type CompletionRequest,
  type CompletionResult,
  ProviderError,
} from './coach-provider.ts';

export interface OpenAIProviderOptions {
  /** Absent with a `baseUrl`: local OpenAI-compatible servers (Ollama, vLLM) need no key. */
  apiKey?: string | undefined;
  /** Default OpenAI's own; any OpenAI-compatible server works. */
  baseUrl?: string | undefined;
  /** Default `gpt-4o`. */
  model?: string | undefined;
  /** Default `gpt-4o-mini`: asked when the model answers with a rate limit. */
  fallbackModel?: string | undefined;
  /** Per request, in ms (the SDK's `timeout`). Default 60 000. */
  timeoutMs?: number;
  /** The SDK's own retries of connection errors, 408, 409, 429 and 5xx. Default 2. */
  maxRetries?: number;
}

/** The coach on OpenAI's chat completions API (streamed, usage in the last chunk). */
export class OpenAIProvider implements CoachProvider {
  readonly name = 'openai' as const;
  readonly model: string;
  readonly fallbackModel: string | undefined;
  readonly #client: OpenAI;

  constructor(options: OpenAIProviderOptions) {
    if (!options.apiKey && !options.baseUrl) {
      throw new Error('OpenAIProvider: apiKey is required unless baseUrl names a local server');
    }
    this.model = options.model ?? 'gpt-4o';
    this.fallbackModel = options.fallbackModel ?? 'gpt-4o-mini';
    this.#client = new OpenAI({
      apiKey: options.apiKey ?? 'not-needed',
      ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
      timeout: options.timeoutMs ?? 60_000,
      maxRetries: options.maxRetries ?? 2,
    });
  }

  async stream(
    request: CompletionRequest,
    onDelta: (text: string) => void,
  ): Promise<CompletionResult> {
    let usage: CompletionResult['usage'] | undefined;
    let finished = false;
    let model = request.model;
    try {
      const stream = await this.#client.chat.completions.create(
        {
          model: request.model,
          stream: true,
          stream_options: { include_usage: true },
          max_completion_tokens: request.maxOutputTokens,
          messages: [{ role: 'system', content: request.system }, ...request.messages],
        },
        request.signal ? { signal: request.signal } : {},
      );
      for await (const chunk of stream) {
        if (chunk.model) model = chunk.model;
        for (const choice of chunk.choices) {
          const text = choice.delta?.content;
          if (text) onDelta(text);
          if (choice.finish_reason) finished = true;
        }
        if (chunk.usage) {
          usage = {
            inputTokens: chunk.usage.prompt_tokens,
            outputTokens: chunk.usage.completion_tokens,
          };
        }
      }
    } catch (error) {
      throw toProviderError(error);
    }
    // A connection that closes cleanly before `finish_reason` is a cut reply, not a short one.
    if (!finished)
      throw new ProviderError('failed', 'the stream ended before the reply was complete');
    return { model, usage: usage ?? { inputTokens: 0, outputTokens: 0 } };
  }
}

function toProviderError(error: unknown): ProviderError {
  if (error instanceof OpenAI.RateLimitError) {
    return new ProviderError('rate_limited', 'OpenAI rate limit', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError('failed', `OpenAI: ${message}`, { cause: error });
}
