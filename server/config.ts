import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { resolveFfmpegBinaries } from '../render-farm/ffmpeg-binaries.ts';
import {
  SPEECH_PROVIDERS,
  type SpeechProvider,
} from '../render-farm/speech/choose-speech-engine.ts';
import { type BillingSettings, readBillingSettings } from './billing/billing-settings.ts';
import { decodeKey } from './youtube/token-cipher.ts';

const optionalUrl = z.url().optional();
const optionalString = z.string().min(1).optional();
const optionalPath = z.string().min(1).optional();

/** A comma-separated list in one variable, e.g. `CORS_ORIGINS=https://a.example,https://b.example`. */
const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);

/**
 * Every environment variable Reelroom reads, with its default. This is the only place that
 * knows variable names; everything else receives a typed `Config`.
 */
const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  /**
   * Prefix of every Redis key, stream and channel this deployment uses, so several deployments
   * (or test runs) can share one Redis. Default `reelroom`.
   */
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits or _.:-')
    .default('reelroom'),
  STORAGE_DIR: optionalPath,
  /** `s3://bucket/prefix`: S3-compatible object storage instead of STORAGE_DIR. */
  STORAGE_URL: z
    .string()
    .regex(
      /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9_./-]*)?$/,
      'must be s3://bucket or s3://bucket/prefix',
    )
    .optional(),
  /** S3 API endpoint for MinIO, R2 and other S3-compatible services; absent: AWS. */
  S3_ENDPOINT: optionalUrl,
  /** The endpoint browsers reach, for presigned URLs; absent: S3_ENDPOINT. */
  S3_PUBLIC_ENDPOINT: optionalUrl,
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** `endpoint/bucket/key` addressing (MinIO). */
  S3_FORCE_PATH_STYLE: z.stringbool().default(false),
  /** A worker's own directory for render inputs, work files and outputs; default the OS tmp. */
  SCRATCH_DIR: optionalPath,
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Trust X-Forwarded-For for the client address (only behind a proxy you run). */
  TRUST_PROXY: z.stringbool().default(false),
  CORS_ORIGINS: commaList.optional(),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl,
  COACH_PROVIDER: z.enum(['openai', 'anthropic', 'offline']).optional(),
  /** The coach's model; default by provider (gpt-4o, claude-sonnet-4-20250514). */
  COACH_MODEL: optionalString,
  /** The cheaper model a reply falls back to on a rate limit (gpt-4o-mini, claude-3-5-haiku-20241022). */
  COACH_FALLBACK_MODEL: optionalString,
  COACH_MAX_OUTPUT_TOKENS: z.coerce.number().int().min(16).max(32_000).default(1024),
  /** Per provider request, handed to the SDK's `timeout`. */
  COACH_TIMEOUT_SECONDS: z.coerce.number().min(1).max(600).default(60),
  /** The SDK's own retries (connection errors, 429, 5xx) before the fallback model is asked. */
  COACH_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  COACH_DAILY_MESSAGE_LIMIT: z.coerce.number().int().min(1).max(100_000).default(50),
  /** Service-wide AI spend per UTC day that logs an alert. */
  COACH_SPEND_WARNING_USD: z.coerce.number().min(0).default(50),
  /** Service-wide AI spend per UTC day above which new coach replies are refused. */
  COACH_SPEND_CAP_USD: z.coerce.number().min(0).default(150),
  /**
   * The voice-over engine: `openai` (OpenAI TTS), `festival`, `flite`, `espeak`, or `offline`
   * (Festival, else flite, else espeak-ng from npm). Default `openai` with OPENAI_API_KEY.
   */
  TTS_PROVIDER: z.enum(SPEECH_PROVIDERS).optional(),
  /** The engine's voice (`alloy`, `cmu_us_slt_arctic_hts`, `slt`, `en-us`); default by engine. */
  TTS_VOICE: z
    .string()
    .regex(/^[A-Za-z0-9_.+-]{1,64}$/, 'must be 1-64 letters, digits or _.+-')
    .optional(),
  /** OpenAI's speech model: `tts-1` (default), `tts-1-hd` or `gpt-4o-mini-tts`. */
  TTS_MODEL: optionalString,
  /** Provider spend of one pipeline run above which its next step does not start. */
  VIDEO_SPEND_LIMIT_USD: z.coerce.number().min(0).default(3),
  /** A workspace's AI spend per UTC day (pipeline and coach) above which no step starts. */
  DAILY_SPEND_LIMIT_USD: z.coerce.number().min(0).default(150),
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: optionalString,
  STRIPE_API_BASE: optionalUrl,
  /**
   * A JSON file overriding billing numbers (prices, packages, plans, grants), e.g.
   * `{"prices": {"render": {"credits": 50}}}`. Absent: the SPEC's defaults.
   */
  BILLING_CONFIG: optionalPath,
  GOOGLE_CLIENT_ID: optionalString,
  GOOGLE_CLIENT_SECRET: optionalString,
  GOOGLE_API_BASE: optionalUrl,
  /** Several OAuth clients, each its own YouTube quota pool: `[{"clientId", "clientSecret"}]`. */
  GOOGLE_OAUTH_CLIENTS: z
    .string()
    .transform((value, ctx) => {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: 'must be a JSON list of {clientId, clientSecret}',
        });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .array(z.object({ clientId: z.string().min(1), clientSecret: z.string().min(1) }), {
          error: 'must be a JSON list of {clientId, clientSecret}',
        })
        .min(1),
    )
    .optional(),
  /** The address browsers use (OAuth redirect URIs, the web app); default `http://localhost:PORT`. */
  PUBLIC_URL: optionalUrl,
  /** 32 bytes (64 hex characters or base64) encrypting stored Google tokens; absent: derived from JWT_SECRET. */
  TOKEN_ENCRYPTION_KEY: optionalString.refine(
    (value) => {
      if (value === undefined) return true;
      try {
        decodeKey(value);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be 32 bytes, as 64 hex characters or base64' },
  ),
  /** The bearer token `GET /metrics` requires; absent: `/metrics` is open (keep it internal). */
  METRICS_TOKEN: optionalString,
  FFMPEG_PATH: optionalPath,
  FFPROBE_PATH: optionalPath,
  RENDER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /** Memory one render may need, in MiB (its estimate); a spec over it is refused with a 400. */
  RENDER_MEMORY_BUDGET_MIB: z.coerce.number().int().min(64).max(65_536).default(512),
  /**
   * Where a render worker keeps encoded scenes for re-renders. Absent: `DATA_DIR/cache/segments`
   * in embedded mode, no cache for `npm run start:worker`.
   */
  RENDER_SEGMENT_CACHE_DIR: optionalPath,
  /** Seconds a SIGTERM waits for in-flight requests before closing anyway. */
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(600).default(10),
  /**
   * Hours a render or pipeline step may stay unfinished before the reconciler fails and
   * refunds it (a job no worker can finish must not hold its credits forever).
   */
  JOB_DEADLINE_HOURS: z.coerce
    .number()
    .min(0.001)
    .max(24 * 30)
    .default(6),
  /** Seconds between two reconciler passes over unfinished jobs. */
  RECONCILE_INTERVAL_SECONDS: z.coerce.number().min(0.05).max(3600).default(30),
  /**
   * Seconds a standalone worker's render lease lasts without a heart-beat before another
   * worker takes the job over (a dead worker's renders resume after about this long).
   */
  RENDER_LEASE_SECONDS: z.coerce.number().min(0.5).max(3600).default(30),
  /**
   * Seconds an outbox entry stays with the dispatcher that claimed it before any other may
   * carry it out again (what a node that died mid-pass held comes back after this long).
   */
  OUTBOX_LEASE_SECONDS: z.coerce.number().min(0.5).max(3600).default(30),
  /**
   * Seconds a pipeline step stays with the API node running it without a heart-beat (one a
   * second) before another node takes it over: a publish whose node died resumes after this.
   */
  PIPELINE_LEASE_SECONDS: z.coerce.number().min(2).max(3600).default(30),
  /**
   * Socket.IO sockets, and Yjs connections, one user may hold open on one node. 20 covers a
   * person with many tabs and devices; a load test or a shared kiosk account needs more. Their
   * `project:join`s per minute follow: 1.5 times this, at least 30.
   */
  MAX_CONNECTIONS_PER_USER: z.coerce.number().int().min(1).max(100_000).default(20),
  /** Test only: crash points to arm (server/crash-points.ts); never set in production. */
  REELROOM_CRASH_POINTS: commaList.optional(),
});

export type Environment = z.input<typeof environmentSchema>;

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string;
  dataDir: string;
  storageDir: string;
  /** STORAGE_URL (`s3://bucket/prefix`); absent: the local STORAGE_DIR. */
  storageUrl: string | undefined;
  /** S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE (used with an s3:// STORAGE_URL). */
  s3: {
    endpoint: string | undefined;
    publicEndpoint: string | undefined;
    region: string;
    forcePathStyle: boolean;
  };
  /** SCRATCH_DIR of render workers; absent: the OS temporary directory. */
  scratchDir: string | undefined;
  /** Absent: embedded PGlite under `dataDir/pglite`. */
  databaseUrl: string | undefined;
  /** Absent: in-process queue and adapters. */
  redisUrl: string | undefined;
  /** Prefix of every Redis name (REDIS_KEY_PREFIX). */
  redisKeyPrefix: string;
  jwtSecret: string;
  logLevel: string;
  trustProxy: boolean;
  corsOrigins: string[] | undefined;
  openai: { apiKey: string | undefined; baseUrl: string | undefined };
  anthropic: { apiKey: string | undefined; baseUrl: string | undefined };
  coachProvider: 'openai' | 'anthropic' | 'offline' | undefined;
  /** The coach: provider, models, SDK options and limits. */
  coach: CoachConfig;
  stripe: {
    secretKey: string | undefined;
    webhookSecret: string | undefined;
    apiBase: string | undefined;
  };
  /** Prices, packages, plans and grants (BILLING_CONFIG over the defaults). */
  billing: BillingSettings;
  /** VIDEO_SPEND_LIMIT_USD, DAILY_SPEND_LIMIT_USD, TTS_* and the OpenAI key (TTS, images). */
  pipeline: {
    videoSpendLimitUsd: number;
    dailySpendLimitUsd: number;
    speechProvider: SpeechProvider;
    speechVoice: string | undefined;
    speechModel: string | undefined;
    openai: { apiKey: string | undefined; baseUrl: string | undefined };
  };
  google: {
    clientId: string | undefined;
    clientSecret: string | undefined;
    apiBase: string | undefined;
    /** GOOGLE_OAUTH_CLIENTS, else GOOGLE_CLIENT_ID/SECRET as the one pool; empty: publishing off. */
    clients: Array<{ clientId: string; clientSecret: string }>;
  };
  /** PUBLIC_URL without a trailing slash. */
  publicUrl: string;
  /** TOKEN_ENCRYPTION_KEY; absent: derived from the JWT secret. */
  tokenEncryptionKey: string | undefined;
  /** METRICS_TOKEN: the bearer token of `/metrics`; absent: open. */
  metricsToken: string | undefined;
  ffmpegPath: string | undefined;
  ffprobePath: string | undefined;
  renderConcurrency: number;
  /** RENDER_SEGMENT_CACHE_DIR. */
  segmentCacheDir: string | undefined;
  /** RENDER_MEMORY_BUDGET_MIB in bytes. */
  renderMemoryBudgetBytes: number;
  shutdownGraceMs: number;
  /** JOB_DEADLINE_HOURS in ms. */
  jobDeadlineMs: number;
  /** RECONCILE_INTERVAL_SECONDS in ms. */
  reconcileIntervalMs: number;
  /** RENDER_LEASE_SECONDS in ms (standalone workers). */
  renderLeaseMs: number;
  /** OUTBOX_LEASE_SECONDS in ms. */
  outboxLeaseMs: number;
  /** PIPELINE_LEASE_SECONDS in ms. */
  pipelineLeaseMs: number;
  /** MAX_CONNECTIONS_PER_USER, for both kinds of realtime connection. */
  realtime: {
    documents: { maxConnectionsPerUser: number };
    socketIo: {
      maxSocketsPerUser: number;
      joinRateLimit: { points: number; durationSeconds: number };
    };
  };
  /** REELROOM_CRASH_POINTS (tests only). */
  crashPoints: string[];
}

/** The coach's settings (COACH_* and the provider keys); see `server/coach/coach-settings.ts`. */
export interface CoachConfig {
  /** Absent: the first provider with a key (OpenAI, then Anthropic), else offline. */
  provider: 'openai' | 'anthropic' | 'offline' | undefined;
  openai: { apiKey: string | undefined; baseUrl: string | undefined };
  anthropic: { apiKey: string | undefined; baseUrl: string | undefined };
  model: string | undefined;
  fallbackModel: string | undefined;
  maxOutputTokens: number;
  timeoutMs: number;
  maxRetries: number;
  dailyMessageLimit: number;
  spendWarningUsd: number;
  spendCapUsd: number;
}

/** Thrown for an invalid environment; its message is the one line start-up prints. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses the environment into a `Config`. An invalid value throws a `ConfigError` whose message
 * names the variable, e.g. `Invalid configuration: PORT: Too big: expected number to be <=65535`.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset" so that `FOO= npm start` behaves like not setting FOO.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = environmentSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = issue?.path.join('.') ?? 'environment';
    throw new ConfigError(`Invalid configuration: ${variable}: ${issue?.message ?? 'invalid'}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  if (!e.JWT_SECRET && e.DATABASE_URL) {
    // Several API nodes must agree on the secret; a per-node random one would log users out
    // whenever a request lands on another node.
    throw new ConfigError(
      'Invalid configuration: JWT_SECRET: required when DATABASE_URL is set (nodes must share it)',
    );
  }
  if (e.TTS_PROVIDER === 'openai' && !e.OPENAI_API_KEY && !e.OPENAI_BASE_URL) {
    throw new ConfigError(
      'Invalid configuration: TTS_PROVIDER: openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)',
    );
  }
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    dataDir,
    storageDir: path.resolve(e.STORAGE_DIR ?? path.join(dataDir, 'storage')),
    storageUrl: e.STORAGE_URL,
    s3: {
      endpoint: e.S3_ENDPOINT,
      publicEndpoint: e.S3_PUBLIC_ENDPOINT,
      region: e.S3_REGION,
      forcePathStyle: e.S3_FORCE_PATH_STYLE,
    },
    scratchDir: e.SCRATCH_DIR ? path.resolve(e.SCRATCH_DIR) : undefined,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    jwtSecret: e.JWT_SECRET ?? embeddedJwtSecret(dataDir),
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL },
    anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL },
    coachProvider: e.COACH_PROVIDER,
    coach: {
      provider: e.COACH_PROVIDER,
      openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL },
      anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL },
      model: e.COACH_MODEL,
      fallbackModel: e.COACH_FALLBACK_MODEL,
      maxOutputTokens: e.COACH_MAX_OUTPUT_TOKENS,
      timeoutMs: e.COACH_TIMEOUT_SECONDS * 1000,
      maxRetries: e.COACH_MAX_RETRIES,
      dailyMessageLimit: e.COACH_DAILY_MESSAGE_LIMIT,
      spendWarningUsd: e.COACH_SPEND_WARNING_USD,
      spendCapUsd: e.COACH_SPEND_CAP_USD,
    },
    stripe: {
      secretKey: e.STRIPE_SECRET_KEY,
      webhookSecret: e.STRIPE_WEBHOOK_SECRET,
      apiBase: e.STRIPE_API_BASE,
    },
    billing: billingSettingsOf(e.BILLING_CONFIG),
    pipeline: {
      videoSpendLimitUsd: e.VIDEO_SPEND_LIMIT_USD,
      dailySpendLimitUsd: e.DAILY_SPEND_LIMIT_USD,
      speechProvider: e.TTS_PROVIDER ?? (e.OPENAI_API_KEY ? 'openai' : 'offline'),
      speechVoice: e.TTS_VOICE,
      speechModel: e.TTS_MODEL,
      openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL },
    },
    google: {
      clientId: e.GOOGLE_CLIENT_ID,
      clientSecret: e.GOOGLE_CLIENT_SECRET,
      apiBase: e.GOOGLE_API_BASE,
      clients:
        e.GOOGLE_OAUTH_CLIENTS ??
        (e.GOOGLE_CLIENT_ID && e.GOOGLE_CLIENT_SECRET
          ? [{ clientId: e.GOOGLE_CLIENT_ID, clientSecret: e.GOOGLE_CLIENT_SECRET }]
          : []),
    },
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    tokenEncryptionKey: e.TOKEN_ENCRYPTION_KEY,
    metricsToken: e.METRICS_TOKEN,
    // FFMPEG_PATH, else the PATH, else the npm-shipped build: resolved here, where the
    // environment is read.
    ...resolveFfmpegBinaries({
      ...(e.FFMPEG_PATH ? { ffmpegPath: e.FFMPEG_PATH } : {}),
      ...(e.FFPROBE_PATH ? { ffprobePath: e.FFPROBE_PATH } : {}),
      searchPath: env.PATH ?? '',
    }),
    renderConcurrency: e.RENDER_CONCURRENCY,
    renderMemoryBudgetBytes: e.RENDER_MEMORY_BUDGET_MIB * 1024 * 1024,
    segmentCacheDir: e.RENDER_SEGMENT_CACHE_DIR
      ? path.resolve(e.RENDER_SEGMENT_CACHE_DIR)
      : undefined,
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    jobDeadlineMs: e.JOB_DEADLINE_HOURS * 3600_000,
    reconcileIntervalMs: e.RECONCILE_INTERVAL_SECONDS * 1000,
    renderLeaseMs: e.RENDER_LEASE_SECONDS * 1000,
    outboxLeaseMs: e.OUTBOX_LEASE_SECONDS * 1000,
    pipelineLeaseMs: e.PIPELINE_LEASE_SECONDS * 1000,
    realtime: {
      documents: { maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER },
      socketIo: {
        maxSocketsPerUser: e.MAX_CONNECTIONS_PER_USER,
        // Each socket joins its project on connecting and on every reconnect: a user allowed
        // more sockets may (re)join them all within the minute; 30 at the default of 20.
        joinRateLimit: {
          points: Math.max(30, Math.ceil(1.5 * e.MAX_CONNECTIONS_PER_USER)),
          durationSeconds: 60,
        },
      },
    },
    crashPoints: e.REELROOM_CRASH_POINTS ?? [],
  };
}

/** The billing numbers; a bad BILLING_CONFIG stops start-up with one line naming it. */
function billingSettingsOf(file: string | undefined): BillingSettings {
  try {
    return readBillingSettings(file);
  } catch (error) {
    throw new ConfigError(`Invalid configuration: BILLING_CONFIG: ${(error as Error).message}`);
  }
}

/**
 * Embedded mode keeps a random secret under DATA_DIR so tokens survive a restart without any
 * configuration. Created once with mode 0600.
 */
function embeddedJwtSecret(dataDir: string): string {
  const file = path.join(dataDir, 'jwt-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const secret = randomBytes(48).toString('base64url');
    // 'wx' fails if another process created it meanwhile; then read theirs.
    try {
      writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
      return secret;
    } catch {
      return readFileSync(file, 'utf8').trim();
    }
  }
}
