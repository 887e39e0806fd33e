import type { CoachConfig } from '../config.ts';
import type { CoachProvider } from './coach-provider.ts';
import { OfflineProvider } from './offline-provider.ts';

/** Defaults of every coach setting; a node's configuration overrides any of them. */
export const COACH_DEFAULTS: CoachConfig = {
  provider: undefined,
  openai: { apiKey: undefined, baseUrl: undefined },
  anthropic: { apiKey: undefined, baseUrl: undefined },
  model: undefined,
  fallbackModel: undefined,
  maxOutputTokens: 1024,
  timeoutMs: 60_000,
  maxRetries: 2,
  dailyMessageLimit: 50,
  spendWarningUsd: 50,
  spendCapUsd: 150,
};

/** The defaults under a partial configuration (tests and benches pass only what they change). */
export function resolveCoachConfig(partial: Partial<CoachConfig> = {}): CoachConfig {
  const defined = Object.fromEntries(
    Object.entries(partial).filter(([, value]) => value !== undefined),
  ) as Partial<CoachConfig>;
  return { ...COACH_DEFAULTS, ...defined };
}

/**
 * The provider the configuration asks for: COACH_PROVIDER when set, else the first provider
 * with a key (OpenAI, then Anthropic), else the offline coach. A provider named explicitly
 * without its key is a configuration error, except OpenAI with a base URL (local servers such
 * as Ollama or vLLM take no key). A provider's SDK is loaded only when it is the one chosen:
 * each is megabytes of heap a node without its key never needs.
 */
export async function createCoachProvider(config: CoachConfig): Promise<CoachProvider> {
  const provider =
    config.provider ??
    (config.openai.apiKey ? 'openai' : config.anthropic.apiKey ? 'anthropic' : 'offline');
  const sdk = { timeoutMs: config.timeoutMs, maxRetries: config.maxRetries };
  switch (provider) {
    case 'openai': {
      if (!config.openai.apiKey && !config.openai.baseUrl) {
        throw new Error('COACH_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)');
      }
      const { OpenAIProvider } = await import('./openai-provider.ts');
      return new OpenAIProvider({
        apiKey: config.openai.apiKey,
        baseUrl: config.openai.baseUrl,
        model: config.model,
        fallbackModel: config.fallbackModel,
        ...sdk,
      });
    }
    case 'anthropic': {
      if (!config.anthropic.apiKey) {
        throw new Error('COACH_PROVIDER=anthropic needs ANTHROPIC_API_KEY');
      }
      const { AnthropicProvider } = await import('./anthropic-provider.ts');
      return new AnthropicProvider({
        apiKey: config.anthropic.apiKey,
        baseUrl: config.anthropic.baseUrl,
        model: config.model,
        fallbackModel: config.fallbackModel,
        ...sdk,
      });
    }
    case 'offline':
      return new OfflineProvider();
  }
}
