import { and, asc, eq, inArray, isNull, lte, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { badRequest } from '../errors.ts';
import { invalidSignature, paymentsUnavailable } from './billing-errors.ts';
import type { BillingSettings } from './billing-settings.ts';
import {
  applyStripeEvent,
  HANDLED_EVENT_TYPES,
  storedEventSchema,
} from './stripe-event-handlers.ts';

export interface StripeWebhookInboxOptions {
  db: Db;
  logger: Logger;
  settings: BillingSettings;
  now: () => Date;
  /** `whsec_...`. Absent: the webhook answers 503, since it cannot verify anything. */
  webhookSecret: string | undefined;
  /** Oldest signature timestamp accepted, in seconds. Default 300 (Stripe's own default). */
  toleranceSeconds?: number;
  /**
   * Most events applied in one transaction. Default 25. Under a burst, events that arrived
   * meanwhile are applied together: one commit (one WAL flush) for many, which keeps the
   * database free for the acknowledgements.
   */
  batchSize?: number;
  /**
   * How long the first event of a batch waits for others, in ms. Default 20: a few more
   * events per commit at webhook rates, and credits still arrive well before the buyer is
   * back from Stripe's page.
   */
  batchDelayMs?: number;
  /**
   * How often pending events (a crash between acknowledgement and processing, a failed
   * attempt, another node's leftovers) are looked for. Default 5000 ms.
   */
  sweepIntervalMs?: number;
  /**
   * How long the receiving node has to process an event before the sweep of any node may.
   * Default 30 s.
   */
  claimDelayMs?: number;
}

/** Longest wait between two attempts of a failing event: 1 hour. */
const MAX_BACKOFF_SECONDS = 3600;

/**
 * The Stripe webhook inbox. `receive` verifies the signature on the raw body and stores the
 * event by id (a replay stores nothing); the acknowledgement waits only for that one durable
 * insert. Processing follows on this node a few milliseconds later, in batches, and an
 * event's effect and its `processed_at` mark commit in one transaction that holds the event
 * row's lock, so an event takes effect exactly once whatever the number of copies, nodes or
 * retries. What this node never gets to (a crash, a failure) the sweep of any node picks up.
 */
export class StripeWebhookInbox {
  readonly #options: Required<StripeWebhookInboxOptions>;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  #draining: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #closed = false;

  constructor(options: StripeWebhookInboxOptions) {
    this.#options = {
      toleranceSeconds: 300,
      batchSize: 25,
      batchDelayMs: 20,
      sweepIntervalMs: 5000,
      claimDelayMs: 30_000,
      ...options,
    };
    if (!Number.isInteger(this.#options.batchSize) || this.#options.batchSize < 1) {
      throw new Error('batchSize must be a positive integer');
    }
    if (this.#options.batchDelayMs < 0) throw new Error('batchDelayMs must be >= 0');
  }

  /** Starts the periodic sweep; the first one runs at once to pick up what a crash left. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.sweep(), this.#options.sweepIntervalMs);
    this.#timer.unref();
    void this.sweep();
  }

  /**
   * Verifies and stores one delivery. Throws 400 for a bad signature, a timestamp older than
   * the tolerance or a body that is not an event; 503 without a webhook secret.
   */
  async receive(
    payload: Uint8Array,
    signature: string | undefined,
  ): Promise<{ duplicate: boolean }> {
    const secret = this.#options.webhookSecret;
    if (!secret) {
      throw paymentsUnavailable(
        'Stripe webhooks are not configured on this server: set STRIPE_WEBHOOK_SECRET',
      );
    }
    if (!signature) throw invalidSignature('header missing');
    // Loaded on the first webhook, not at start: see StripeCheckout.
    const { default: Stripe } = await import('stripe');
    let verified: unknown;
    try {
      verified = Stripe.webhooks.constructEvent(
        Buffer.from(payload),
        signature,
        secret,
        this.#options.toleranceSeconds,
      );
    } catch (error) {
      throw invalidSignature((error as Error).message);
    }
    const parsed = storedEventSchema.safeParse(verified);
    if (!parsed.success) {
      const fields = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
        .join('; ');
      throw badRequest(`Invalid body: signed, but not a Stripe event we can store: ${fields}`);
    }
    // The payload is stored as jsonb, which cannot hold U+0000 anywhere (keys included).
    const nul = pathOfNul(verified);
    if (nul !== undefined) {
      throw badRequest(`Invalid body: ${nul || 'body'}: must not contain U+0000 (NUL)`);
    }
    const event = parsed.data;
    const now = this.#options.now();
    const handled = HANDLED_EVENT_TYPES.has(event.type);
    const [stored] = await this.#options.db
      .insert(tables.stripeEvents)
      .values({
        id: event.id,
        type: event.type,
        payload: event,
        createdAt: new Date(event.created * 1000),
        receivedAt: now,
        // Types we do not handle are recorded as done at once: nothing to process.
        processedAt: handled ? null : now,
        outcome: handled ? null : 'ignored',
        detail: handled ? null : `event type ${event.type} is not handled`,
        nextAttemptAt: new Date(now.getTime() + this.#options.claimDelayMs),
      })
      .onConflictDoNothing()
      .returning({ id: tables.stripeEvents.id });
    if (stored && handled) this.#enqueue(event.id);
    return { duplicate: !stored };
  }

  /**
   * Processes one stored event if it is still pending and no one else holds it. Never
   * throws: a failure is recorded on the event and retried later with backoff.
   */
  async process(eventId: string): Promise<void> {
    const { db, logger } = this.#options;
    try {
      this.#logProcessed(await db.transaction((tx) => this.#applyPending(tx, [eventId])));
    } catch (error) {
      logger.error({ err: error, eventId }, 'stripe event failed; will retry');
      const now = this.#options.now();
      await db
        .update(tables.stripeEvents)
        .set({
          attempts: sql`${tables.stripeEvents.attempts} + 1`,
          lastError: String((error as Error).message ?? error).slice(0, 2000),
          nextAttemptAt: sql`${now.toISOString()}::timestamptz + least(power(2, ${tables.stripeEvents.attempts}), ${MAX_BACKOFF_SECONDS}) * interval '1 second'`,
        })
        .where(and(eq(tables.stripeEvents.id, eventId), isNull(tables.stripeEvents.processedAt)))
        .catch((recordError: unknown) =>
          logger.error({ err: recordError, eventId }, 'could not record the failure'),
        );
    }
  }

  /**
   * Applies a batch in one transaction. If any event fails, nothing of the batch commits and
   * each event is retried alone, so one bad event never holds the others back.
   */
  async #processBatch(eventIds: string[]): Promise<void> {
    if (eventIds.length > 1) {
      try {
        this.#logProcessed(
          await this.#options.db.transaction((tx) => this.#applyPending(tx, eventIds)),
        );
        return;
      } catch (error) {
        this.#options.logger.warn(
          { err: error, events: eventIds.length },
          'stripe event batch failed; applying its events one by one',
        );
      }
    }
    for (const eventId of eventIds) await this.process(eventId);
  }

  /**
   * Locks the events that are still pending and not held by another node (SKIP LOCKED), then
   * applies each and marks it processed, all in `tx`: the effect and the mark commit together
   * or not at all. Events are applied in Stripe's order of creation.
   */
  async #applyPending(tx: Tx, eventIds: string[]): Promise<Array<Record<string, unknown>>> {
    const { logger } = this.#options;
    const rows = await tx
      .select()
      .from(tables.stripeEvents)
      .where(
        and(inArray(tables.stripeEvents.id, eventIds), isNull(tables.stripeEvents.processedAt)),
      )
      .orderBy(asc(tables.stripeEvents.createdAt), asc(tables.stripeEvents.receivedAt))
      .for('update', { skipLocked: true });
    const done: Array<Record<string, unknown>> = [];
    for (const row of rows) {
      const now = this.#options.now();
      const outcome = await applyStripeEvent(tx, storedEventSchema.parse(row.payload), {
        settings: this.#options.settings,
        now,
        onUnrecovered: (workspaceId, credits, paymentKey) =>
          logger.warn(
            { workspaceId, credits, paymentKey, eventId: row.id },
            'refund exceeds the balance: credits already spent, workspace flagged',
          ),
      });
      await tx
        .update(tables.stripeEvents)
        .set({
          processedAt: now,
          outcome: outcome.outcome,
          detail: outcome.detail,
          workspaceId: outcome.workspaceId,
          attempts: row.attempts + 1,
          lastError: null,
        })
        .where(eq(tables.stripeEvents.id, row.id));
      done.push({ eventId: row.id, type: row.type, ...outcome });
    }
    return done;
  }

  /** One line per committed event. */
  #logProcessed(results: Array<Record<string, unknown>>): void {
    for (const result of results) this.#options.logger.info(result, 'stripe event processed');
  }

  /** Queues every pending event that is due. Returns when they are queued, not processed. */
  sweep(): Promise<void> {
    this.#sweeping ??= (async () => {
      try {
        const due = await this.#options.db
          .select({ id: tables.stripeEvents.id })
          .from(tables.stripeEvents)
          .where(
            and(
              isNull(tables.stripeEvents.processedAt),
              lte(tables.stripeEvents.nextAttemptAt, this.#options.now()),
            ),
          )
          .orderBy(asc(tables.stripeEvents.nextAttemptAt))
          .limit(100);
        for (const { id } of due) this.#enqueue(id);
      } catch (error) {
        if (!this.#closed) this.#options.logger.error({ err: error }, 'stripe event sweep failed');
      } finally {
        this.#sweeping = undefined;
      }
    })();
    return this.#sweeping;
  }

  /** Resolves when nothing is queued or running on this node (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Stops sweeping and waits for the running batch; queued events stay pending in the database. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#queue.length = 0;
    this.#queued.clear();
    await this.#sweeping;
    await this.#draining;
  }

  #enqueue(eventId: string): void {
    if (this.#closed || this.#queued.has(eventId)) return;
    this.#queued.add(eventId);
    this.#queue.push(eventId);
    this.#drain();
  }

  /** One drain loop per node: waits `batchDelayMs`, then applies the queue a batch at a time. */
  #drain(): void {
    if (this.#draining || this.#closed) return;
    this.#draining = (async () => {
      await new Promise((resolve) => setTimeout(resolve, this.#options.batchDelayMs));
      while (!this.#closed && this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#options.batchSize);
        try {
          await this.#processBatch(batch);
        } finally {
          for (const eventId of batch) this.#queued.delete(eventId);
        }
      }
    })().finally(() => {
      this.#draining = undefined;
      if (this.#queue.length > 0) this.#drain();
    });
  }
}

/**
 * The dotted path of the first string or key under `value` holding a NUL, else undefined.
 * Iterative: a signed body may nest deeper than the call stack.
 */
function pathOfNul(value: unknown): string | undefined {
  const pending: Array<[unknown, string]> = [[value, '']];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, path] = next;
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return path;
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item)) {
        const childPath = path ? `${path}.${key}` : key;
        if (key.includes('\u0000')) return childPath;
        pending.push([child, childPath]);
      }
    }
  }
  return undefined;
}
