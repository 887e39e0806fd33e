import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicProvider } from '../../server/coach/anthropic-provider.ts';
import {
  type CoachProvider,
  createCoachProvider,
  OFFLINE_NOTICE,
  OfflineProvider,
  PriceTable,
  ProviderError,
  resolveCoachConfig,
  streamWithFallback,
} from '../../server/coach/index.ts';
import { OpenAIProvider } from '../../server/coach/openai-provider.ts';
import { FakeLlmServer, type WireFormat } from './support/fake-llm-server.ts';

const fakes: FakeLlmServer[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

async function fake(format: WireFormat, options: Parameters<typeof FakeLlmServer.start>[1] = {}) {
  const server = await FakeLlmServer.start(format, options);
  fakes.push(server);
  return server;
}

function providerFor(format: WireFormat, server: FakeLlmServer, maxRetries = 1): CoachProvider {
  return format === 'openai'
    ? new OpenAIProvider({
        apiKey: 'sk-test',
        baseUrl: server.baseUrl,
        maxRetries,
        timeoutMs: 10_000,
      })
    : new AnthropicProvider({
        apiKey: 'sk-ant-test',
        baseUrl: server.baseUrl,
        maxRetries,
        timeoutMs: 10_000,
      });
}

const request = {
  system: 'You are a coach.',
  messages: [{ role: 'user' as const, content: 'Hi' }],
  maxOutputTokens: 256,
};

describe.each(['openai', 'anthropic'] as const)('%s provider through the real SDK', (format) => {
  it('streams every delta in order and reports usage; the price table turns it into USD', async () => {
    const tokens = Array.from({ length: 40 }, (_, i) => `t${i} `);
    const server = await fake(format, {
      reply: () => ({ tokens, usage: { inputTokens: 1200, outputTokens: 40 } }),
    });
    const provider = providerFor(format, server);
    const deltas: string[] = [];
    const result = await provider.stream({ ...request, model: provider.model }, (d) =>
      deltas.push(d),
    );
    expect(deltas).toEqual(tokens);
    expect(result.usage).toEqual({ inputTokens: 1200, outputTokens: 40 });
    expect(server.requests[0]?.body.stream).toBe(true);
    const prices = PriceTable.load();
    const expected =
      format === 'openai' ? (1200 * 2.5 + 40 * 10) / 1e6 : (1200 * 3 + 40 * 15) / 1e6;
    expect(prices.costUsd(result.model, result.usage)).toBeCloseTo(expected, 9);
  });

  it('sends the system prompt and the conversation in the wire format', async () => {
    const server = await fake(format);
    const provider = providerFor(format, server);
    await provider.stream({ ...request, model: provider.model }, () => {});
    const body = server.requests[0]!.body;
    if (format === 'openai') {
      expect(body.messages).toEqual([
        { role: 'system', content: 'You are a coach.' },
        { role: 'user', content: 'Hi' },
      ]);
    } else {
      expect(body.system).toBe('You are a coach.');
      expect(body.messages).toEqual([{ role: 'user', content: 'Hi' }]);
      expect(body.max_tokens).toBe(256);
    }
  });

  it('falls back to the cheaper model when the model answers 429 (after the SDK retries)', async () => {
    const server = await fake(format, {
      reply: (req) =>
        req.model === (format === 'openai' ? 'gpt-4o' : 'claude-sonnet-4-20250514')
          ? { tokens: [], status: 429 }
          : { tokens: ['cheap', ' answer'] },
    });
    const provider = providerFor(format, server, 1);
    const deltas: string[] = [];
    const fallbacks: string[] = [];
    const result = await streamWithFallback(
      provider,
      request,
      (d) => deltas.push(d),
      (from, to) => fallbacks.push(`${from}->${to}`),
    );
    expect(deltas.join('')).toBe('cheap answer');
    // One try plus one SDK retry on the model, then the fallback.
    expect(server.models).toEqual([provider.model, provider.model, provider.fallbackModel]);
    expect(fallbacks).toEqual([`${provider.model}->${provider.fallbackModel}`]);
    expect(result.model).toBe(provider.fallbackModel);
  });

  it('reports rate_limited when the fallback is rate limited too', async () => {
    const server = await fake(format, { reply: () => ({ tokens: [], status: 429 }) });
    const provider = providerFor(format, server, 0);
    const error = await streamWithFallback(provider, request, () => {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).kind).toBe('rate_limited');
    expect(server.models).toEqual([provider.model, provider.fallbackModel]);
  });

  it('fails with the deltas so far when the stream breaks mid-way', async () => {
    const server = await fake(format, {
      reply: () => ({ tokens: ['one ', 'two ', 'three ', 'four '], breakAfter: 2 }),
    });
    const provider = providerFor(format, server);
    const deltas: string[] = [];
    const error = await streamWithFallback(provider, request, (d) => deltas.push(d)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).kind).toBe('failed');
    expect(deltas).toEqual(['one ', 'two ']);
    // A mid-stream failure is not retried with the fallback: text already reached the room.
    expect(server.requests).toHaveLength(1);
  });
});

describe('anthropic error events inside the stream', () => {
  it('an overloaded_error after some text fails the reply, text so far kept', async () => {
    const server = await fake('anthropic', {
      reply: () => ({
        tokens: ['a ', 'b ', 'c '],
        errorEvent: { after: 2, type: 'overloaded_error' },
      }),
    });
    const provider = providerFor('anthropic', server);
    const deltas: string[] = [];
    const error = await streamWithFallback(provider, request, (d) => deltas.push(d)).catch(
      (e: unknown) => e,
    );
    expect((error as ProviderError).kind).toBe('failed');
    expect(deltas).toEqual(['a ', 'b ']);
  });

  it('a rate_limit_error event before any text falls back to the cheaper model', async () => {
    const server = await fake('anthropic', {
      reply: (req) =>
        req.model === 'claude-sonnet-4-20250514'
          ? { tokens: [], errorEvent: { after: 0, type: 'rate_limit_error' } }
          : { tokens: ['fallback'] },
    });
    const provider = providerFor('anthropic', server);
    const deltas: string[] = [];
    await streamWithFallback(provider, request, (d) => deltas.push(d));
    expect(deltas).toEqual(['fallback']);
    expect(server.models).toEqual(['claude-sonnet-4-20250514', 'claude-3-5-haiku-20241022']);
  });
});

describe('provider choice', () => {
  it('follows COACH_PROVIDER, else the keys present, else offline', async () => {
    const chosen = async (config: Parameters<typeof resolveCoachConfig>[0]) =>
      (await createCoachProvider(resolveCoachConfig(config))).name;
    expect(await chosen({})).toBe('offline');
    expect(await chosen({ anthropic: { apiKey: 'k', baseUrl: undefined } })).toBe('anthropic');
    expect(
      await chosen({
        openai: { apiKey: 'k', baseUrl: undefined },
        anthropic: { apiKey: 'k', baseUrl: undefined },
      }),
    ).toBe('openai');
    expect(
      await chosen({
        provider: 'anthropic',
        openai: { apiKey: 'k', baseUrl: undefined },
        anthropic: { apiKey: 'k', baseUrl: undefined },
      }),
    ).toBe('anthropic');
    // An OpenAI-compatible local server (Ollama, vLLM) needs no key.
    const local = await createCoachProvider(
      resolveCoachConfig({
        provider: 'openai',
        model: 'llama3.1',
        openai: { apiKey: undefined, baseUrl: 'http://127.0.0.1:11434/v1' },
      }),
    );
    expect([local.name, local.model]).toEqual(['openai', 'llama3.1']);
    await expect(
      createCoachProvider(resolveCoachConfig({ provider: 'anthropic' })),
    ).rejects.toThrow(/ANTHROPIC_API_KEY/);
  });

  it('a model missing from the price table costs nothing', () => {
    expect(PriceTable.load().costUsd('llama3.1', { inputTokens: 1000, outputTokens: 1000 })).toBe(
      0,
    );
  });

  it('the offline coach streams a reply marked offline that needs no key', async () => {
    const deltas: string[] = [];
    const result = await new OfflineProvider().stream({ ...request, model: 'offline' }, (d) =>
      deltas.push(d),
    );
    expect(deltas.join('').startsWith(OFFLINE_NOTICE)).toBe(true);
    expect(deltas.length).toBeGreaterThan(5);
    expect(result.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
  });
});
