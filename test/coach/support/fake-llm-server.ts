import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the fake answers one request with. */
export interface FakeReply {
  /** Text pieces streamed in order, one SSE event each. */
  tokens: string[];
  /** Answer with this HTTP error status instead of a stream (429: a rate limit). */
  status?: number;
  /** Cut the connection after this many tokens (a provider failing mid-stream). */
  breakAfter?: number;
  /**
   * Anthropic only: after this many tokens, send an `error` event of this type (e.g.
   * `overloaded_error`, `rate_limit_error`) and end the stream, as the API does mid-stream.
   */
  errorEvent?: { after: number; type: string };
  /** Milliseconds between tokens. Default 0: as fast as it can. */
  delayMs?: number;
  usage?: { inputTokens: number; outputTokens: number };
}

export interface RecordedRequest {
  path: string;
  model: string;
  body: Record<string, unknown>;
  headers: IncomingMessage['headers'];
}

export type WireFormat = 'openai' | 'anthropic';

export interface FakeLlmServerOptions {
  /** Chooses the reply for each request; default: the `defaultTokens` for every request. */
  reply?: (request: RecordedRequest, index: number) => FakeReply;
  /** Called right after each token was written to the socket (benchmarks time it). */
  onTokenWritten?: (index: number, text: string) => void;
}

/**
 * A local stand-in for OpenAI's `POST /v1/chat/completions` or Anthropic's `POST /v1/messages`
 * with `stream: true`, speaking their server-sent-event formats and error bodies, so the real
 * SDKs can be pointed at it with `baseURL`.
 */
export class FakeLlmServer {
  readonly requests: RecordedRequest[] = [];
  readonly #server: Server;
  readonly #options: FakeLlmServerOptions;
  #url = '';

  private constructor(
    readonly format: WireFormat,
    options: FakeLlmServerOptions,
  ) {
    this.#options = options;
    this.#server = createServer((request, response) => {
      void this.#handle(request, response).catch((error: unknown) => {
        response.destroy(error as Error);
      });
    });
  }

  static async start(format: WireFormat, options: FakeLlmServerOptions = {}) {
    const fake = new FakeLlmServer(format, options);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    const { port } = fake.#server.address() as AddressInfo;
    fake.#url = `http://127.0.0.1:${port}`;
    return fake;
  }

  /** The SDK's base URL: OpenAI's includes `/v1`, Anthropic's does not. */
  get baseUrl(): string {
    return this.format === 'openai' ? `${this.#url}/v1` : this.#url;
  }

  /** Models asked, in order. */
  get models(): string[] {
    return this.requests.map((request) => request.model);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const expected = this.format === 'openai' ? '/v1/chat/completions' : '/v1/messages';
    if (request.method !== 'POST' || request.url?.split('?')[0] !== expected) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    const recorded: RecordedRequest = {
      path: expected,
      model: String(body.model),
      body,
      headers: request.headers,
    };
    this.requests.push(recorded);
    const reply = this.#options.reply?.(recorded, this.requests.length - 1) ?? {
      tokens: ['Hello', ' from', ' the', ' fake', ' model.'],
    };
    if (reply.status) {
      this.#sendError(response, reply.status);
      return;
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const usage = reply.usage ?? { inputTokens: 42, outputTokens: reply.tokens.length };
    if (this.format === 'openai') await this.#streamOpenAI(response, recorded, reply, usage);
    else await this.#streamAnthropic(response, recorded, reply, usage);
  }

  #sendError(response: ServerResponse, status: number): void {
    const rateLimited = status === 429;
    const body =
      this.format === 'openai'
        ? {
            error: {
              message: rateLimited ? 'Rate limit reached for requests' : 'Server error',
              type: rateLimited ? 'requests' : 'server_error',
              param: null,
              code: rateLimited ? 'rate_limit_exceeded' : null,
            },
          }
        : {
            type: 'error',
            error: {
              type: rateLimited ? 'rate_limit_error' : 'api_error',
              message: rateLimited ? 'Number of requests has exceeded your rate limit' : 'Internal',
            },
          };
    // A short retry-after keeps the SDKs' own retries quick in tests.
    response
      .writeHead(status, { 'content-type': 'application/json', 'retry-after-ms': '5' })
      .end(JSON.stringify(body));
  }

  /** Writes the tokens; resolves false when the stream was cut on purpose. */
  async #writeTokens(
    response: ServerResponse,
    reply: FakeReply,
    event: (text: string) => string,
  ): Promise<boolean> {
    for (const [index, text] of reply.tokens.entries()) {
      if (reply.breakAfter !== undefined && index >= reply.breakAfter) {
        // Let what was written reach the client, then drop the connection without a clean end.
        await new Promise((resolve) => setTimeout(resolve, 50));
        response.socket?.destroy();
        return false;
      }
      const flushed = response.write(event(text));
      this.#options.onTokenWritten?.(index, text);
      if (!flushed) await new Promise((resolve) => response.once('drain', resolve));
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    }
    return true;
  }

  async #streamOpenAI(
    response: ServerResponse,
    request: RecordedRequest,
    reply: FakeReply,
    usage: { inputTokens: number; outputTokens: number },
  ): Promise<void> {
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: request.model, system_fingerprint: 'fp_fake', choices, ...extra })}\n\n`;
    const includeUsage =
      (request.body.stream_options as { include_usage?: boolean } | undefined)?.include_usage ===
      true;
    response.write(
      chunk([
        {
          index: 0,
          delta: { role: 'assistant', content: '' },
          logprobs: null,
          finish_reason: null,
        },
      ]),
    );
    const complete = await this.#writeTokens(response, reply, (text) =>
      chunk([{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }]),
    );
    if (!complete) return;
    response.write(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]));
    if (includeUsage) {
      response.write(
        chunk([], {
          usage: {
            prompt_tokens: usage.inputTokens,
            completion_tokens: usage.outputTokens,
            total_tokens: usage.inputTokens + usage.outputTokens,
          },
        }),
      );
    }
    response.end('data: [DONE]\n\n');
  }

  async #streamAnthropic(
    response: ServerResponse,
    request: RecordedRequest,
    reply: FakeReply,
    usage: { inputTokens: number; outputTokens: number },
  ): Promise<void> {
    const event = (type: string, data: Record<string, unknown>) =>
      `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    response.write(
      event('message_start', {
        message: {
          id: `msg_${randomUUID().replaceAll('-', '')}`,
          type: 'message',
          role: 'assistant',
          content: [],
          model: request.model,
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: usage.inputTokens, output_tokens: 1 },
        },
      }),
    );
    response.write(
      event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    );
    response.write(event('ping', {}));
    const errorEvent = reply.errorEvent;
    const tokens = errorEvent
      ? { ...reply, tokens: reply.tokens.slice(0, errorEvent.after) }
      : reply;
    const complete = await this.#writeTokens(response, tokens, (text) =>
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }),
    );
    if (complete && errorEvent) {
      response.end(event('error', { error: { type: errorEvent.type, message: errorEvent.type } }));
      return;
    }
    if (!complete) return;
    response.write(event('content_block_stop', { index: 0 }));
    response.write(
      event('message_delta', {
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: usage.outputTokens },
      }),
    );
    response.end(event('message_stop', {}));
  }
}
