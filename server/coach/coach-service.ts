import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import type { JobQueue } from '../../render-farm/index.ts';
import type {
  ChatMessage,
  CoachUsage,
  CreatorProfile,
  CreatorProfileBody,
  Decision,
  Plan,
} from '../../shared/coach.ts';
import { CoachErrorCodes } from '../../shared/coach.ts';
import type { RoomEventName, RoomEventPayload } from '../../shared/socket-events.ts';
import type { Role } from '../../shared/workspaces.ts';
import type { CoachConfig } from '../config.ts';
import type { Db, Tx } from '../db/index.ts';
import { DomainError, notFound } from '../errors.ts';
import type { Metrics } from '../metrics/index.ts';
import type { ProjectService } from '../projects/project-service.ts';
import type { WorkspaceService } from '../workspaces/workspace-service.ts';
import { ChatStore, type ReplyRow } from './chat-store.ts';
import {
  buildSystemPrompt,
  type CoachContext,
  HISTORY_LIMIT,
  SCRIPT_EXCERPT_CHARS,
  toPromptMessages,
} from './coach-context.ts';
import { dailyLimitReached, spendCapReached, unknownTemplate } from './coach-errors.ts';
import type { PlanDocumentEditor, RoomEmitter, ScriptReader } from './coach-ports.ts';
import { type CoachProvider, ProviderError, streamWithFallback } from './coach-provider.ts';
import { type DetectedDecision, detectDecisions, type Speaker } from './decision-detector.ts';
import { DecisionStore } from './decision-store.ts';
import { DeltaBatcher } from './delta-batcher.ts';
import { appendDecision, readPlan, setTaskDone, writePlanTemplate } from './plan-document.ts';
import type { PlanTemplates } from './plan-templates.ts';
import type { PriceTable } from './price-table.ts';
import { ProfileStore } from './profile-store.ts';
import { ProjectQueue } from './project-queue.ts';
import type { CoachReplyJob } from './reply-job.ts';
import { type ReplyRepair, sweepPendingReplies } from './reply-sweep.ts';
import { CoachReplyWorker, type ReplyAttempt, type ReplyOutcome } from './reply-worker.ts';
import { coachUsage } from './usage-report.ts';
import { nextUtcMidnight, startOfUtcDay } from './utc-day.ts';

/** How a node runs its part of the coach's replies; tests shorten the times. */
export interface CoachReplyTuning {
  /** Replies this node streams at once. Default 16 (see {@link CoachReplyWorker}). */
  concurrency?: number | undefined;
  /** Heart-beat interval of a streaming reply's lease, in ms. Default 2000. */
  heartbeatMs?: number | undefined;
  /**
   * How often this node runs the reply sweep ({@link sweepPendingReplies}), in ms; it always
   * runs once at start. Default 30 000. 0: only at start (a reconciler runs it instead).
   */
  sweepIntervalMs?: number | undefined;
}

export interface CoachServiceOptions {
  db: Db;
  projects: ProjectService;
  workspaces: WorkspaceService;
  /** Room events: `chat:*` and `decision:detected`. */
  room: RoomEmitter;
  /** The plan document: decisions, templates, ticked tasks. */
  plans: PlanDocumentEditor;
  /** The script, an excerpt of which goes into the reply's context. */
  scripts: ScriptReader;
  /**
   * The reply queue (Redis Streams with Redis, in-process in embedded mode), of coach replies
   * only. Replies are durable jobs on it; the composition root opens and closes it.
   */
  queue: JobQueue<CoachReplyJob>;
  provider: CoachProvider;
  prices: PriceTable;
  templates: PlanTemplates;
  config: CoachConfig;
  logger: Logger;
  replies?: CoachReplyTuning | undefined;
  /** Counts each reply's tokens and cost (`reelroom_ai_*`). Default: not counted. */
  metrics?: Pick<Metrics, 'recordAiUsage'>;
}

/** What a member sends: the REST route and the `chat:send` hook both end here. */
export interface ChatSend {
  projectId: string;
  workspaceId: string;
  userId: string;
  authorName: string;
  /**
   * The sender's role in the project's workspace when sending. Viewers may chat, but only
   * read the plan (SPEC: editors write, viewers read): decisions are not taken from what a
   * viewer says, nor from the coach's reply to it.
   */
  role: Role;
  content: string;
}

/** The name decisions the coach confirmed are attributed to. */
const COACH_NAME = 'Coach';

const canWritePlan = (role: Role) => role !== 'viewer';

/**
 * The AI coach of every project: stores members' messages, streams one reply per project at a
 * time to the whole room, keeps the chat, detects decisions into the plan document and keeps
 * the daily limits and spend.
 *
 * Replies are durable. Accepting a question stores it with its pending reply in one
 * transaction, then queues the reply's job; any node's reply worker produces it. Per project
 * only the oldest pending reply (the head) has a job, so replies stream one at a time, in the
 * order the questions were accepted, without locks or waiting: settling a reply queues the
 * next head. A node that dies mid-reply loses its lease; another node takes the job over and
 * the reply starts over (`chat:error` `reply_restarted`, then the whole reply again), and the
 * dead node's writes are fenced out, so the stored reply is the one the room saw last. What a
 * crash leaves between a commit and its enqueue, the reply sweep puts back.
 */
export class CoachService {
  readonly provider: CoachProvider;
  readonly templates: PlanTemplates;
  readonly #o: CoachServiceOptions;
  readonly #chat: ChatStore;
  readonly #decisions: DecisionStore;
  readonly #profiles: ProfileStore;
  /** Plan-document writes of one project run in order on a node: supersession depends on it. */
  readonly #decisionWrites: ProjectQueue;
  readonly #worker: CoachReplyWorker;
  #started = false;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<ReplyRepair[]> | undefined;
  /** UTC day (YYYY-MM-DD) the spend warning was logged for, so it is logged once a day. */
  #warnedDay: string | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: CoachServiceOptions) {
    if (!options.queue) throw new TypeError('CoachService: queue is required');
    this.#o = options;
    this.provider = options.provider;
    this.templates = options.templates;
    this.#chat = new ChatStore(options.db);
    this.#decisions = new DecisionStore(options.db);
    this.#profiles = new ProfileStore(options.db);
    this.#decisionWrites = new ProjectQueue((error, projectId) =>
      options.logger.error(
        { err: error, projectId },
        'coach: writing decisions to the plan failed',
      ),
    );
    this.#worker = new CoachReplyWorker({
      queue: options.queue,
      handler: {
        answer: (job, attempt) => this.#answer(job, attempt),
        abandon: (job, reason) => this.#abandon(job, reason),
      },
      logger: options.logger,
      concurrency: options.replies?.concurrency,
      heartbeatMs: options.replies?.heartbeatMs,
    });
  }

  /**
   * Starts this node's reply worker and the reply sweep (now, then every `sweepIntervalMs`).
   * Call once the node is ready to serve. Safe to call twice.
   */
  start(): void {
    if (this.#closing || this.#started) return;
    this.#started = true;
    this.#worker.start();
    void this.sweepReplies();
    const every = this.#o.replies?.sweepIntervalMs ?? 30_000;
    if (every > 0) {
      this.#sweepTimer = setInterval(() => void this.sweepReplies(), every);
      this.#sweepTimer.unref();
    }
  }

  /**
   * One run of the reply sweep ({@link sweepPendingReplies}); joins a run in flight. Never
   * rejects: a failure (Redis down) is logged and the next run tries again. For a reconciler:
   * `{ name: 'coach-replies', run: () => coach.sweepReplies() }`.
   */
  sweepReplies(): Promise<ReplyRepair[]> {
    this.#sweeping ??= sweepPendingReplies({
      chat: this.#chat,
      queue: this.#o.queue,
      abandon: (job, reason) => this.#abandon(job, reason),
    })
      .then((repairs) => {
        for (const repair of repairs)
          this.#o.logger.warn(repair, 'coach: reply sweep repaired a reply');
        return repairs;
      })
      .catch((error: unknown) => {
        this.#o.logger.error({ err: error }, 'coach: reply sweep failed');
        return [];
      })
      .finally(() => {
        this.#sweeping = undefined;
      });
    return this.#sweeping;
  }

  // ------------------------------------------------------------------ chat

  /**
   * Stores a member's message and the reply it waits for, broadcasts it as `chat:message`,
   * reads decisions from it and queues the reply. Refused past the member's daily limit or the
   * service's spend cap. Resolves with the stored message and the id the reply streams under.
   */
  async send(input: ChatSend): Promise<{ message: ChatMessage; replyId: string }> {
    if (this.#closing) {
      throw new DomainError('service_unavailable', 'The coach is shutting down; try again');
    }
    const now = new Date();
    const dayStart = startOfUtcDay(now);
    const limit = this.#o.config.dailyMessageLimit;
    if ((await this.#chat.spendSince(dayStart)) >= this.#o.config.spendCapUsd) {
      throw spendCapReached(this.#o.config.spendCapUsd, nextUtcMidnight(now));
    }
    const detected = canWritePlan(input.role) ? detectDecisions(input.content, 'member') : [];
    const decisions: Decision[] = [];
    const accepted = await this.#chat.accept(
      {
        question: {
          id: randomUUID(),
          projectId: input.projectId,
          workspaceId: input.workspaceId,
          role: 'user',
          content: input.content,
          userId: input.userId,
          authorName: input.authorName,
          status: 'complete',
        },
        replyId: randomUUID(),
        limit,
        since: dayStart,
        now,
      },
      // In the same transaction: the reply's context (any node, any time) sees them.
      async (tx, message) => {
        decisions.push(...(await this.#storeDecisions(tx, message, 'member', detected)));
      },
    );
    if (!accepted) throw dailyLimitReached(limit, nextUtcMidnight(now));
    const { question, reply, head } = accepted;
    // `replyId` tells every client which streamed reply answers this message.
    await this.#emit(input.projectId, 'chat:message', {
      message: { ...question, replyId: reply.id },
    });
    await this.#showDecisions(input.projectId, decisions);
    // The head of the project's replies is queued now; any other waits for the one before it.
    if (head) {
      await this.#queueReply({ replyId: reply.id, projectId: reply.projectId }).catch(
        (error: unknown) => {
          this.#o.logger.error(
            { err: error, projectId: input.projectId, replyId: reply.id },
            'coach: queueing a reply failed; the reply sweep queues it',
          );
        },
      );
    }
    return { message: question, replyId: reply.id };
  }

  listMessages(projectId: string, query: { limit: number; cursor?: string | undefined }) {
    return this.#chat.page(projectId, query);
  }

  #queueReply(job: CoachReplyJob): Promise<unknown> {
    return this.#o.queue.add(job, { jobId: job.replyId });
  }

  /** Queues the project's head reply, if any (after a settle: the turn passes on). */
  async #queueHead(projectId: string): Promise<void> {
    const head = await this.#chat.headOf(projectId);
    if (head) await this.#queueReply(head);
  }

  // ------------------------------------------------------------------ replies (the worker's jobs)

  /**
   * One delivery of a reply's job. Claims the reply for this delivery (fencing out earlier
   * ones), streams it to the room, stores its final state once and queues the project's next
   * reply. Stops without writing when `attempt.signal` aborts; throws on infrastructure errors
   * (the queue retries); a provider failure is a final state (the partial is kept, incomplete).
   */
  async #answer(job: CoachReplyJob, { attempt, signal }: ReplyAttempt): Promise<ReplyOutcome> {
    const { projectId, replyId } = job;
    const logger = this.#o.logger.child({ projectId, messageId: replyId, attempt });
    if (signal.aborted) return 'interrupted';
    const claim = await this.#chat.claimReply(replyId, attempt);
    if (claim.outcome === 'gone') return 'settled';
    if (claim.outcome === 'settled') {
      // A delivery before this one stored the reply and died before telling the queue.
      await this.#queueHead(projectId);
      return 'settled';
    }
    if (claim.outcome === 'superseded') {
      logger.warn('coach: a later delivery holds this reply; leaving it');
      return 'settled';
    }
    const reply = claim.reply;
    if (attempt > 1 || claim.previousAttempt !== null) {
      // An earlier delivery may have streamed part of it: clients start this reply over.
      await this.#emit(projectId, 'chat:error', {
        messageId: replyId,
        error: {
          code: CoachErrorCodes.ReplyRestarted,
          message: 'The coach was interrupted; this reply starts over.',
        },
      });
    }
    const now = new Date();
    if ((await this.#chat.spendSince(startOfUtcDay(now))) >= this.#o.config.spendCapUsd) {
      const error = spendCapReached(this.#o.config.spendCapUsd, nextUtcMidnight(now));
      return this.#fail(reply, attempt, error.code, error.message, '');
    }
    let context: CoachContext;
    let askerRole: Role;
    try {
      ({ context, role: askerRole } = await this.#buildContext(reply));
    } catch (error) {
      // The asker lost access (left the workspace) or the project is going: nobody to answer.
      if (
        !(error instanceof DomainError) ||
        (error.code !== 'not_found' && error.code !== 'forbidden')
      )
        throw error;
      return this.#fail(
        reply,
        attempt,
        CoachErrorCodes.ReplyFailed,
        'The coach cannot answer this message any more.',
        '',
      );
    }
    if (signal.aborted) return 'interrupted';

    let text = '';
    // Not awaited: emits are handed to the room synchronously, in call order.
    const tokens = new DeltaBatcher((delta) => {
      void this.#emit(projectId, 'chat:token', { messageId: replyId, delta });
    });
    let result: Awaited<ReturnType<typeof streamWithFallback>>;
    try {
      result = await streamWithFallback(
        this.provider,
        {
          system: buildSystemPrompt(context),
          messages: toPromptMessages(context.history),
          maxOutputTokens: this.#o.config.maxOutputTokens,
          signal,
          context,
        },
        (delta) => {
          if (signal.aborted) return;
          text += delta;
          tokens.push(delta);
        },
        (from, to) => logger.warn({ from, to }, 'coach: rate limited, falling back'),
      );
    } catch (error) {
      // Stopped here (closing, or another node took over): that node streams it again.
      if (signal.aborted) return 'interrupted';
      const code =
        error instanceof ProviderError && error.kind === 'rate_limited'
          ? CoachErrorCodes.ProviderRateLimited
          : CoachErrorCodes.ProviderFailed;
      tokens.flush();
      logger.warn({ err: error, code, partialChars: text.length }, 'coach: reply failed');
      // The partial reply is kept, marked incomplete, so nobody loses what was already read.
      return this.#fail(
        reply,
        attempt,
        code,
        code === CoachErrorCodes.ProviderRateLimited
          ? 'The AI provider is rate limiting us; please try again in a minute.'
          : 'The AI provider failed while answering; the partial reply was kept.',
        text,
      );
    }
    if (signal.aborted) return 'interrupted';
    tokens.flush();
    const priced = this.#o.prices.has(result.model) ? result.model : this.#lastModel(result);
    const costUsd = this.#o.prices.costUsd(priced, result.usage);
    const decisions: Decision[] = [];
    const stored = await this.#chat.settleReply(
      replyId,
      attempt,
      {
        content: text,
        status: 'complete',
        provider: this.provider.name,
        offline: this.provider.name === 'offline',
        model: result.model,
        inputTokens: result.usage.inputTokens,
        outputTokens: result.usage.outputTokens,
        costUsd,
      },
      // Confirmations of what a viewer said are no decisions either.
      canWritePlan(askerRole)
        ? async (tx, message) => {
            decisions.push(...(await this.#storeDecisions(tx, message, 'coach')));
          }
        : undefined,
    );
    // A later delivery claimed the reply meanwhile: its stream is the one that counts.
    if (!stored) return 'settled';
    this.#o.metrics?.recordAiUsage({
      provider: this.provider.name,
      model: priced,
      purpose: 'coach',
      inputTokens: result.usage.inputTokens,
      outputTokens: result.usage.outputTokens,
      costUsd,
    });
    await this.#emit(projectId, 'chat:done', {
      messageId: replyId,
      usage: result.usage,
      costUsd,
    });
    await this.#showDecisions(projectId, decisions);
    await this.#checkSpend(now);
    await this.#queueHead(projectId);
    return 'settled';
  }

  /** Stores a reply's failure (with what it streamed, if anything), tells the room, passes the turn. */
  async #fail(
    reply: ReplyRow,
    attempt: number | null,
    code: string,
    message: string,
    partial: string,
  ): Promise<ReplyOutcome> {
    const stored = await this.#chat.settleReply(reply.id, attempt, {
      content: partial,
      status: 'incomplete',
      errorCode: code,
      provider: this.provider.name,
      offline: this.provider.name === 'offline',
    });
    if (stored) {
      await this.#emit(reply.projectId, 'chat:error', {
        messageId: reply.id,
        error: { code, message },
      });
    }
    await this.#queueHead(reply.projectId);
    return 'settled';
  }

  /** Ends a reply that gets no further attempt (worker, sweep); false when it had ended. */
  async #abandon(job: CoachReplyJob, reason: string): Promise<boolean> {
    const stored = await this.#chat.settleReply(job.replyId, null, {
      content: '',
      status: 'incomplete',
      errorCode: CoachErrorCodes.ReplyFailed,
    });
    if (stored) {
      this.#o.logger.warn(
        { projectId: job.projectId, messageId: job.replyId, reason },
        'coach: reply given up',
      );
      await this.#emit(job.projectId, 'chat:error', {
        messageId: job.replyId,
        error: {
          code: CoachErrorCodes.ReplyFailed,
          message: 'The coach could not answer this message; please ask again.',
        },
      });
    }
    await this.#queueHead(job.projectId);
    return stored !== null;
  }

  /** The model whose price applies: the one asked (a provider may answer with a dated alias). */
  #lastModel(result: { model: string }): string {
    if (this.#o.prices.has(this.provider.model) && result.model.startsWith(this.provider.model)) {
      return this.provider.model;
    }
    const fallback = this.provider.fallbackModel;
    if (fallback && this.#o.prices.has(fallback) && result.model.startsWith(fallback))
      return fallback;
    return result.model;
  }

  async #checkSpend(now: Date): Promise<void> {
    const day = startOfUtcDay(now).toISOString().slice(0, 10);
    if (this.#warnedDay === day) return;
    const spend = await this.#chat.spendSince(startOfUtcDay(now));
    if (spend >= this.#o.config.spendWarningUsd) {
      this.#warnedDay = day;
      this.#o.logger.warn(
        {
          alert: 'coach_daily_spend',
          spendUsd: spend,
          warningUsd: this.#o.config.spendWarningUsd,
          capUsd: this.#o.config.spendCapUsd,
        },
        `coach: daily AI spend $${spend.toFixed(2)} passed the warning threshold`,
      );
    }
  }

  /** The reply's context, and the asker's role now (it decides whether the reply may decide). */
  async #buildContext(reply: ReplyRow): Promise<{ context: CoachContext; role: Role }> {
    const askerId = reply.userId;
    if (!askerId) throw notFound('Asker');
    const { project, role } = await this.#o.projects.access(askerId, reply.projectId, 'viewer');
    const [profile, plan, decisions, script, history] = await Promise.all([
      this.#profileFor(askerId, project.createdBy),
      this.getPlan(reply.projectId),
      this.#decisions.list(reply.projectId, true),
      this.#o.scripts.text(reply.projectId),
      this.#chat.history(reply.projectId, HISTORY_LIMIT, reply.createdAt),
    ]);
    return {
      role,
      context: {
        project: { id: project.id, title: project.title, topic: project.topic },
        profile,
        plan: plan.phases.length > 0 ? plan : null,
        decisions,
        scriptExcerpt: script.slice(0, SCRIPT_EXCERPT_CHARS),
        history,
      },
    };
  }

  async #profileFor(userId: string, creatorId: string | null): Promise<CreatorProfile | null> {
    const own = await this.#profiles.get(userId);
    if (own || !creatorId || creatorId === userId) return own;
    return this.#profiles.get(creatorId);
  }

  // ------------------------------------------------------------------ decisions

  /**
   * Stores the decisions read from a message, in the transaction that stores the message (or
   * settles the reply), so whoever reads the chat reads them too.
   */
  async #storeDecisions(
    tx: Tx,
    message: ChatMessage,
    speaker: Speaker,
    detected: DetectedDecision[] = detectDecisions(message.content, speaker),
  ): Promise<Decision[]> {
    // Stored in the order they were found: supersession follows it, and so does the listing.
    const at = Date.now();
    const decisions: Decision[] = detected.map((found, index) => ({
      id: randomUUID(),
      projectId: message.projectId,
      ...found,
      decidedBy: speaker === 'coach' ? null : message.userId,
      decidedByName: speaker === 'coach' ? COACH_NAME : (message.authorName ?? 'member'),
      sourceMessageId: message.id,
      status: 'active',
      supersededBy: null,
      createdAt: new Date(at + index).toISOString(),
    }));
    for (const decision of decisions) await this.#decisions.add(decision, tx);
    return decisions;
  }

  /**
   * Writes stored decisions into the plan document and tells the room. After the commit, so
   * a crash in between leaves them in the database only (the outbox will carry this write).
   */
  #showDecisions(projectId: string, decisions: Decision[]): Promise<void> {
    if (decisions.length === 0) return Promise.resolve();
    return this.#decisionWrites.add(projectId, async () => {
      await this.#o.plans.edit(projectId, (doc) => {
        for (const decision of decisions) appendDecision(doc, decision);
      });
      for (const decision of decisions) {
        await this.#emit(projectId, 'decision:detected', { decision });
      }
    });
  }

  listDecisions(projectId: string): Promise<Decision[]> {
    return this.#decisions.list(projectId);
  }

  // ------------------------------------------------------------------ plan

  async #readPlanDoc<T>(projectId: string, read: (doc: Y.Doc) => T): Promise<T> {
    const state = await this.#o.plans.state(projectId);
    const doc = new Y.Doc();
    try {
      Y.applyUpdate(doc, state);
      return read(doc);
    } finally {
      doc.destroy();
    }
  }

  /** The plan document with progress computed from its tasks. */
  getPlan(projectId: string): Promise<Plan> {
    return this.#readPlanDoc(projectId, (doc) => readPlan(doc, projectId));
  }

  /** Ticks or unticks a task in the plan document (for clients without a Yjs connection). */
  async setTask(projectId: string, taskId: string, done: boolean): Promise<Plan> {
    let found = false;
    await this.#o.plans.edit(projectId, (doc) => {
      found = setTaskDone(doc, taskId, done);
    });
    if (!found) throw notFound('Task');
    return this.getPlan(projectId);
  }

  /** Writes a template into the plan document (replacing the plan, keeping decisions). */
  async applyTemplate(projectId: string, templateId: string): Promise<Plan> {
    const template = this.templates.get(templateId);
    if (!template) throw unknownTemplate(templateId);
    await this.#o.plans.edit(projectId, (doc) => writePlanTemplate(doc, template));
    return this.getPlan(projectId);
  }

  // ------------------------------------------------------------------ profile and usage

  getProfile(userId: string): Promise<CreatorProfile | null> {
    return this.#profiles.get(userId);
  }

  putProfile(userId: string, body: CreatorProfileBody): Promise<CreatorProfile> {
    return this.#profiles.put(userId, body);
  }

  /** Usage of a workspace by member and by day; owners only. */
  async usage(userId: string, workspaceId: string, days: number): Promise<CoachUsage> {
    await this.#o.workspaces.requireRole(userId, workspaceId, 'owner');
    const from = new Date(startOfUtcDay(new Date()).getTime() - (days - 1) * 86_400_000);
    return coachUsage(this.#o.db, workspaceId, from);
  }

  // ------------------------------------------------------------------ lifecycle

  async #emit<E extends RoomEventName>(
    projectId: string,
    event: E,
    payload: RoomEventPayload<E>,
  ): Promise<void> {
    try {
      await this.#o.room.emit(projectId, event, payload);
    } catch (error) {
      this.#o.logger.error({ err: error, projectId, event }, 'coach: emitting a room event failed');
    }
  }

  /**
   * Stops taking messages and replies: replies streaming here stop and their jobs go back to
   * the queue at once (another node starts them over; in embedded mode the next start does),
   * queued plan writes finish. Call before the queue, the realtime layer and the database
   * close. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#sweepTimer);
      await this.#worker.close();
      await this.#sweeping;
      await this.#decisionWrites.close();
    })();
    return this.#closing;
  }
}
