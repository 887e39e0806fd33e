import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';

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
  /**
   * The WAV `POST /v1/audio/speech` answers with (e.g. one synthesised by a real engine);
   * default: {@link speechLikeWav}, as long as the input takes to say. Errors come from `reply`.
   */
  speech?: (request: RecordedRequest) => Buffer | Promise<Buffer>;
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
  /** Generated PNGs by size, made once each (OpenAI's images API). */
  readonly #images = new Map<string, Promise<Buffer>>();
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
    if (
      this.format === 'openai' &&
      request.method === 'POST' &&
      request.url?.split('?')[0] === IMAGES_PATH
    ) {
      await this.#generateImage(request, response, Buffer.concat(chunks));
      return;
    }
    if (
      this.format === 'openai' &&
      request.method === 'POST' &&
      request.url?.split('?')[0] === SPEECH_PATH
    ) {
      await this.#speak(request, response, Buffer.concat(chunks));
      return;
    }
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

  /**
   * `POST /v1/images/generations`: a real PNG (an FFmpeg test pattern) of the asked size, as
   * `b64_json`. Recorded like the other requests; a reply with a `status` answers that error.
   */
  async #generateImage(
    request: IncomingMessage,
    response: ServerResponse,
    raw: Buffer,
  ): Promise<void> {
    const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    const model = String(body.model);
    const recorded: RecordedRequest = { path: IMAGES_PATH, model, body, headers: request.headers };
    this.requests.push(recorded);
    const reply = this.#options.reply?.(recorded, this.requests.length - 1);
    if (reply?.status) {
      this.#sendError(response, reply.status);
      return;
    }
    const size =
      typeof body.size === 'string' && /^\d{2,4}x\d{2,4}$/.test(body.size)
        ? body.size
        : '1024x1024';
    let png = this.#images.get(size);
    if (!png) {
      png = testPattern(size);
      this.#images.set(size, png);
    }
    const b64 = (await png).toString('base64');
    const gptImage = model.startsWith('gpt-image');
    response.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        created: Math.floor(Date.now() / 1000),
        data: [{ b64_json: b64, ...(gptImage ? {} : { revised_prompt: String(body.prompt) }) }],
        ...(gptImage
          ? {
              output_format: 'png',
              quality: body.quality ?? 'medium',
              size,
              usage: {
                input_tokens: 50,
                output_tokens: 1056,
                total_tokens: 1106,
                input_tokens_details: { image_tokens: 0, text_tokens: 50 },
              },
            }
          : {}),
      }),
    );
  }

  /**
   * `POST /v1/audio/speech`: a WAV (24 kHz mono 16-bit, as OpenAI's `wav` format), recorded
   * like the other requests; a reply with a `status` answers that error.
   */
  async #speak(request: IncomingMessage, response: ServerResponse, raw: Buffer): Promise<void> {
    const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    const recorded: RecordedRequest = {
      path: SPEECH_PATH,
      model: String(body.model),
      body,
      headers: request.headers,
    };
    this.requests.push(recorded);
    const reply = this.#options.reply?.(recorded, this.requests.length - 1);
    if (reply?.status) {
      this.#sendError(response, reply.status);
      return;
    }
    const wav =
      (await this.#options.speech?.(recorded)) ??
      speechLikeWav(Math.min(10, Math.max(0.5, String(body.input ?? '').length * 0.06)));
    response.writeHead(200, { 'content-type': 'audio/wav' }).end(wav);
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

const IMAGES_PATH = '/v1/images/generations';
const SPEECH_PATH = '/v1/audio/speech';

/**
 * A WAV that measures like speech without an engine: voiced syllables (a 120-180 Hz buzz with
 * falling harmonics under a 4 Hz envelope) with short gaps between words, 24 kHz mono 16-bit.
 */
export function speechLikeWav(seconds: number, sampleRate = 24_000): Buffer {
  const samples = Math.round(seconds * sampleRate);
  const wav = Buffer.alloc(44 + samples * 2);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(36 + samples * 2, 4);
  wav.write('WAVEfmt ', 8, 'latin1');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'latin1');
  wav.writeUInt32LE(samples * 2, 40);
  let phase = 0;
  for (let i = 0; i < samples; i++) {
    const t = i / sampleRate;
    const syllable = (t * 4) % 1;
    const inWordGap = Math.floor(t * 4) % 3 === 2 && syllable > 0.6;
    const envelope = inWordGap ? 0 : Math.sin(Math.PI * syllable) ** 2;
    phase += (2 * Math.PI * (150 + 30 * Math.sin(2 * Math.PI * 0.7 * t))) / sampleRate;
    let value = 0;
    for (let harmonic = 1; harmonic <= 8; harmonic++) {
      value += Math.sin(harmonic * phase) / harmonic;
    }
    // The harmonics sum to at most about 1.9: 0.2 keeps peaks near -8 dBFS.
    wav.writeInt16LE(Math.round(envelope * value * 0.2 * 32767), 44 + i * 2);
  }
  return wav;
}
const FFMPEG_BIN = (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string })
  .path;

/** One PNG frame of FFmpeg's `testsrc2` pattern, `<width>x<height>`. */
async function testPattern(size: string): Promise<Buffer> {
  const { stdout } = await promisify(execFile)(
    FFMPEG_BIN,
    [
      ...[
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=${size}:rate=1`,
      ],
      ...['-frames:v', '1', '-c:v', 'png', '-f', 'image2pipe', 'pipe:1'],
    ],
    { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}
