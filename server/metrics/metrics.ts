import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DatabaseThreadMemory } from '../db/index.ts';

/** Read at scrape time: a node's Socket.IO hub and Yjs documents (`services.realtime`). */
export interface RealtimeCounters {
  hub: { readonly socketCount: number; readonly roomCount: number };
  documents: { readonly loadedDocumentCount: number; readonly loadedDocumentBytes: number };
}

/** Job counts of a queue, read at scrape time (every `JobQueue` of the render farm has them). */
export interface QueueStats {
  stats(): Promise<{ waiting: number; active: number; delayed: number; dead: number }>;
}

/** What an AI call cost: tokens in and out, and dollars by the price table. */
export interface AiUsage {
  provider: string;
  model: string;
  /** `coach` for chat replies, `pipeline` for the video pipeline's steps. */
  purpose: AiPurpose;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export type AiPurpose = 'coach' | 'pipeline';

export interface MetricsOptions {
  /** Prefix of every metric name. Default `reelroom_`. */
  prefix?: string;
  /**
   * Node's process metrics (CPU, memory, event loop lag, GC, handles) in this registry.
   * Default true; tests that start many nodes in one process may turn them off.
   */
  processMetrics?: boolean;
  /** Where a collector that failed during a scrape is reported. Default `console`. */
  logger?: { warn(context: object, message: string): void };
}

const DEFAULTS = { prefix: 'reelroom_', processMetrics: true };

/** Seconds; a REST request is ms, a slow one a second or more. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds; one insert, a batch of keystrokes. */
const APPEND_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];
/** Seconds; a render is seconds to tens of minutes. */
const RENDER_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];
/** Seconds; a pipeline step is an AI call, a voice-over, a render. */
const STEP_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

const QUEUE_GAUGES = {
  waiting: 'queue_depth',
  active: 'queue_pending',
  delayed: 'queue_delayed',
  dead: 'queue_dead_letters',
} as const;
type QueueState = keyof typeof QUEUE_GAUGES;

/**
 * One node's Prometheus metrics, in a registry of its own (never prom-client's global one, so
 * several nodes can run in one process). The instruments are public and typed; the gauges of
 * realtime and queues are read when scraped from what {@link watchRealtime} and
 * {@link watchQueue} registered. `GET /metrics` serves {@link scrape}.
 */
export class Metrics {
  readonly registry = new Registry();

  /** REST requests by method, route pattern (`/api/v1/projects/:id`, never the raw path) and status. */
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  /** Socket.IO sockets connected to this node. */
  readonly socketsConnected: Gauge;
  /** Project rooms with at least one socket on this node. */
  readonly socketRooms: Gauge;
  /** Yjs documents loaded on this node. */
  readonly documentsLoaded: Gauge;
  /** Approximate bytes of the loaded Yjs documents (updates applied since each load). */
  readonly documentBytes: Gauge;
  /** Appending a Yjs update to the document store, by outcome (`ok`, `error`). */
  readonly documentAppendDuration: Histogram<'outcome'>;
  /** Jobs ready to be taken, per queue. */
  readonly queueDepth: Gauge<'queue'>;
  /** Jobs held by a worker's lease, per queue. */
  readonly queuePending: Gauge<'queue'>;
  /** Failed attempts waiting out their backoff, per queue. */
  readonly queueDelayed: Gauge<'queue'>;
  /** Dead letters kept, per queue. */
  readonly queueDeadLetters: Gauge<'queue'>;
  /**
   * Renders from a worker of this process taking the job to its settling, by outcome
   * (`completed`, `failed`, `cancelled`, `retrying`, `handed-back`, `lost`).
   */
  readonly renderDuration: Histogram<'outcome'>;
  /**
   * Steps of the video pipeline, by `step` (its name) and `status` (how it ended, e.g.
   * `completed`, `failed`). Fed by the pipeline:
   * `metrics.stepDuration.observe({ step, status }, seconds)`.
   */
  readonly stepDuration: Histogram<'step' | 'status'>;
  /** AI tokens by provider, model and kind (`input`, `output`); see {@link recordAiUsage}. */
  readonly aiTokens: Counter<'provider' | 'model' | 'kind'>;
  /** AI spend in USD by provider, model and purpose (`coach`, `pipeline`); see {@link recordAiUsage}. */
  readonly aiCostUsd: Counter<'provider' | 'model' | 'purpose'>;
  /**
   * Age in seconds of the oldest outbox entry not dispatched yet (0 when the outbox is empty).
   * Fed by the outbox dispatcher after each pass: `metrics.outboxLag.set(seconds)`.
   */
  readonly outboxLag: Gauge;
  /**
   * Inconsistencies the reconciler repaired, by `kind` (what was inconsistent, e.g.
   * `render_stuck`) and `action` (what it did, e.g. `requeued`, `refunded`). Fed by the
   * reconciler for each repair: `metrics.reconcilerRepairs.inc({ kind, action })`.
   */
  readonly reconcilerRepairs: Counter<'kind' | 'action'>;
  /**
   * Bytes held by the embedded database's own thread, by `part`: `wasm` (PGlite's Postgres
   * memory) and `js_heap` (that thread's JavaScript heap). The process's `nodejs_heap_*`
   * figures are the main thread's only; with these, resident memory can be accounted for.
   */
  readonly databaseThreadMemory: Gauge<'part'>;

  readonly #logger: NonNullable<MetricsOptions['logger']>;
  #realtime: RealtimeCounters | undefined;
  #databaseThread: (() => Promise<DatabaseThreadMemory>) | undefined;
  readonly #queues = new Map<string, QueueStats>();
  /** One read of every queue per scrape, shared by the four queue gauges. */
  #queueRead: Promise<Map<string, Record<QueueState, number> | null>> | null = null;

  constructor(options: MetricsOptions = {}) {
    const o = { ...DEFAULTS, ...stripUndefined(options) };
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(o.prefix)) {
      throw new Error(`Metrics: prefix must be a valid metric name prefix (got '${o.prefix}')`);
    }
    this.#logger = options.logger ?? console;
    const registers = [this.registry];
    const name = (suffix: string) => `${o.prefix}${suffix}`;
    if (o.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: o.prefix });

    this.httpRequestDuration = new Histogram({
      name: name('http_request_duration_seconds'),
      help: 'REST request duration by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    const realtimeGauge = (suffix: string, help: string, read: (r: RealtimeCounters) => number) => {
      const realtime = () => this.#realtime;
      return new Gauge({
        name: name(suffix),
        help,
        registers,
        collect() {
          const counters = realtime();
          if (counters) this.set(read(counters));
        },
      });
    };
    this.socketsConnected = realtimeGauge(
      'socketio_sockets',
      'Socket.IO sockets connected to this node',
      (r) => r.hub.socketCount,
    );
    this.socketRooms = realtimeGauge(
      'socketio_rooms',
      'Project rooms with at least one socket on this node',
      (r) => r.hub.roomCount,
    );
    this.documentsLoaded = realtimeGauge(
      'yjs_documents_loaded',
      'Yjs documents loaded on this node',
      (r) => r.documents.loadedDocumentCount,
    );
    this.documentBytes = realtimeGauge(
      'yjs_document_bytes',
      'Approximate bytes of the Yjs documents loaded on this node',
      (r) => r.documents.loadedDocumentBytes,
    );
    this.documentAppendDuration = new Histogram({
      name: name('yjs_append_duration_seconds'),
      help: 'Appending a Yjs update to the document store, by outcome',
      labelNames: ['outcome'],
      buckets: APPEND_BUCKETS,
      registers,
    });

    const queueGauge = (state: QueueState, help: string) => {
      const read = () => this.#readQueues();
      return new Gauge({
        name: name(QUEUE_GAUGES[state]),
        help,
        labelNames: ['queue'],
        registers,
        async collect() {
          for (const [queue, counts] of await read()) {
            if (counts) this.set({ queue }, counts[state]);
            // Unknown now: no value rather than a stale one.
            else this.remove({ queue });
          }
        },
      });
    };
    this.queueDepth = queueGauge('waiting', 'Jobs ready to be taken, per queue');
    this.queuePending = queueGauge('active', "Jobs held by a worker's lease, per queue");
    this.queueDelayed = queueGauge('delayed', 'Failed attempts waiting out their backoff');
    this.queueDeadLetters = queueGauge('dead', 'Dead letters kept, per queue');

    this.renderDuration = new Histogram({
      name: name('render_duration_seconds'),
      help: 'Renders from a worker taking the job to its settling, by outcome',
      labelNames: ['outcome'],
      buckets: RENDER_BUCKETS,
      registers,
    });
    this.stepDuration = new Histogram({
      name: name('pipeline_step_duration_seconds'),
      help: 'Video pipeline steps by step and status',
      labelNames: ['step', 'status'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.aiTokens = new Counter({
      name: name('ai_tokens_total'),
      help: 'AI tokens by provider, model and kind (input, output)',
      labelNames: ['provider', 'model', 'kind'],
      registers,
    });
    this.aiCostUsd = new Counter({
      name: name('ai_cost_usd_total'),
      help: 'AI spend in USD by provider, model and purpose (coach, pipeline)',
      labelNames: ['provider', 'model', 'purpose'],
      registers,
    });
    this.outboxLag = new Gauge({
      name: name('outbox_lag_seconds'),
      help: 'Age of the oldest outbox entry not dispatched yet',
      registers,
    });
    const readDatabaseThread = () => this.#databaseThread?.();
    const logger = this.#logger;
    this.databaseThreadMemory = new Gauge({
      name: name('database_thread_memory_bytes'),
      help: "Bytes held by the embedded database's own thread, by part (wasm, js_heap)",
      labelNames: ['part'],
      registers,
      async collect() {
        const memory = await readDatabaseThread()?.catch((error: unknown) => {
          logger.warn({ err: error }, 'metrics: the database thread did not say its memory');
          return undefined;
        });
        if (!memory) {
          this.reset();
          return;
        }
        this.set({ part: 'wasm' }, memory.wasmBytes);
        this.set({ part: 'js_heap' }, memory.heapBytes);
      },
    });
    this.reconcilerRepairs = new Counter({
      name: name('reconciler_repairs_total'),
      help: 'Inconsistencies the reconciler repaired, by kind and action',
      labelNames: ['kind', 'action'],
      registers,
    });
  }

  /** The Content-Type of {@link scrape}'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text format; reads the watched realtime layer and queues. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /** Reads the socket, room and document gauges from this node's realtime layer when scraped. */
  watchRealtime(realtime: RealtimeCounters): void {
    this.#realtime = realtime;
  }

  /** Reads the embedded database thread's memory when scraped. */
  watchDatabaseThread(memory: () => Promise<DatabaseThreadMemory>): void {
    this.#databaseThread = memory;
  }

  /** Reads a queue's depth, pending and dead-letter gauges (label `queue`) when scraped. */
  watchQueue(queue: string, source: QueueStats): void {
    this.#queues.set(queue, source);
  }

  /** Counts one AI call's tokens and cost; what the coach (and the pipeline) call per reply. */
  recordAiUsage(usage: AiUsage): void {
    const { provider, model } = usage;
    this.aiTokens.inc({ provider, model, kind: 'input' }, usage.inputTokens);
    this.aiTokens.inc({ provider, model, kind: 'output' }, usage.outputTokens);
    this.aiCostUsd.inc({ provider, model, purpose: usage.purpose }, usage.costUsd);
  }

  /** One stats() per queue, shared by the gauges of a scrape; a failing queue is logged, not fatal. */
  #readQueues(): Promise<Map<string, Record<QueueState, number> | null>> {
    this.#queueRead ??= (async () => {
      const entries = await Promise.all(
        [...this.#queues].map(async ([queue, source]) => {
          try {
            return [queue, await source.stats()] as const;
          } catch (error) {
            this.#logger.warn({ err: error, queue }, 'metrics: reading queue stats failed');
            return [queue, null] as const;
          }
        }),
      );
      return new Map(entries);
    })().finally(() => {
      this.#queueRead = null;
    });
    return this.#queueRead;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
