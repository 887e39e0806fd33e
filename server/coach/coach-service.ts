import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import type { Realtime } from '../../realtime/index.ts';
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
import { yjsDocName } from '../../shared/yjs-docs.ts';
import type { CoachConfig } from '../config.ts';
import type { Db } from '../db/index.ts';
import { ApiError, notFound } from '../errors.ts';
import type { ProjectService } from '../projects/project-service.ts';
import type { WorkspaceService } from '../workspaces/workspace-service.ts';
import { ChatStore } from './chat-store.ts';
import {
  buildSystemPrompt,
  type CoachContext,
  HISTORY_LIMIT,
  SCRIPT_EXCERPT_CHARS,
  toPromptMessages,
} from './coach-context.ts';
import { dailyLimitReached, spendCapReached, unknownTemplate } from './coach-errors.ts';
import { type CoachProvider, ProviderError, streamWithFallback } from './coach-provider.ts';
import { detectDecisions, type Speaker } from './decision-detector.ts';
import { DecisionStore } from './decision-store.ts';
import { DeltaBatcher } from './delta-batcher.ts';
import { appendDecision, readPlan, setTaskDone, writePlanTemplate } from './plan-document.ts';
import type { PlanTemplates } from './plan-templates.ts';
import type { PriceTable } from './price-table.ts';
import { ProfileStore } from './profile-store.ts';
import { ProjectQueue } from './project-queue.ts';
import { localReplyLock, type ReplyLock } from './reply-lock.ts';
import { coachUsage } from './usage-report.ts';
import { nextUtcMidnight, startOfUtcDay } from './utc-day.ts';

export interface CoachServiceOptions {
  db: Db;
  projects: ProjectService;
  workspaces: WorkspaceService;
  /** Room events (`chat:*`, `decision:detected`) and the plan document. */
  realtime: Pick<Realtime, 'emitter' | 'editDocument' | 'getDocumentText' | 'documents'>;
  provider: CoachProvider;
  prices: PriceTable;
  templates: PlanTemplates;
  config: CoachConfig;
  logger: Logger;
  /** Serialises replies of a project across nodes. Default: this node's queue only. */
  replyLock?: ReplyLock;
}

/** What a member sends: the REST route and the `chat:send` hook both end here. */
export interface ChatSend {
  projectId: string;
  workspaceId: string;
  userId: string;
  authorName: string;
  content: string;
}

/** The name decisions the coach confirmed are attributed to. */
const COACH_NAME = 'Coach';

/**
 * The AI coach of every project: stores members' messages, streams one reply per project at a
 * time to the whole room, keeps the chat, detects decisions into the plan document and keeps
 * the daily limits and spend.
 */
export class CoachService {
  readonly provider: CoachProvider;
  readonly templates: PlanTemplates;
  readonly #o: CoachServiceOptions;
  readonly #chat: ChatStore;
  readonly #decisions: DecisionStore;
  readonly #profiles: ProfileStore;
  readonly #replies: ProjectQueue;
  /** Decision writes of one project run in order: supersession depends on it. */
  readonly #decisionWrites: ProjectQueue;
  readonly #inFlight = new Set<AbortController>();
  /** Aborted on close: stops waiting for another node's reply slot. */
  readonly #shutdown = new AbortController();
  readonly #lock: ReplyLock;
  /** UTC day (YYYY-MM-DD) the spend warning was logged for, so it is logged once a day. */
  #warnedDay: string | null = null;
  #closing: Promise<void> | null = null;

  constructor(options: CoachServiceOptions) {
    this.#o = options;
    this.provider = options.provider;
    this.templates = options.templates;
    this.#chat = new ChatStore(options.db);
    this.#decisions = new DecisionStore(options.db);
    this.#profiles = new ProfileStore(options.db);
    this.#lock = options.replyLock ?? localReplyLock;
    this.#replies = new ProjectQueue((error, projectId) =>
      options.logger.error({ err: error, projectId }, 'coach: reply job failed'),
    );
    this.#decisionWrites = new ProjectQueue((error, projectId) =>
      options.logger.error({ err: error, projectId }, 'coach: recording decisions failed'),
    );
  }

  // ------------------------------------------------------------------ chat

  /**
   * Stores a member's message, broadcasts it as `chat:message`, reads decisions from it and
   * queues the coach's reply. Refused past the member's daily limit or the service's spend cap.
   * Resolves with the stored message and the id the reply will stream under.
   */
  async send(input: ChatSend): Promise<{ message: ChatMessage; replyId: string }> {
    if (this.#closing) {
      throw new ApiError(503, 'service_unavailable', 'The coach is shutting down; try again');
    }
    const now = new Date();
    const dayStart = startOfUtcDay(now);
    const limit = this.#o.config.dailyMessageLimit;
    if ((await this.#chat.spendSince(dayStart)) >= this.#o.config.spendCapUsd) {
      throw spendCapReached(this.#o.config.spendCapUsd, nextUtcMidnight(now));
    }
    const message = await this.#chat.insertWithinLimit(
      {
        id: randomUUID(),
        projectId: input.projectId,
        workspaceId: input.workspaceId,
        role: 'user',
        content: input.content,
        userId: input.userId,
        authorName: input.authorName,
        status: 'complete',
        createdAt: now,
      },
      limit,
      dayStart,
    );
    if (!message) throw dailyLimitReached(limit, nextUtcMidnight(now));
    const replyId = randomUUID();
    // `replyId` tells every client which streamed reply answers this message.
    await this.#emit(input.projectId, 'chat:message', { message: { ...message, replyId } });
    const decided = this.#recordDecisions(message, 'member');
    void this.#replies.add(input.projectId, async () => {
      // The reply's context includes what this message decided.
      await decided;
      await this.#reply(input, message, replyId);
    });
    return { message, replyId };
  }

  listMessages(projectId: string, query: { limit: number; cursor?: string | undefined }) {
    return this.#chat.page(projectId, query);
  }

  async #reply(input: ChatSend, question: ChatMessage, replyId: string): Promise<void> {
    const { projectId } = input;
    const unavailable = () =>
      this.#emit(projectId, 'chat:error', {
        messageId: replyId,
        error: { code: 'unavailable', message: 'the coach is shutting down; ask again' },
      });
    if (this.#closing) return unavailable();
    let release: () => Promise<void>;
    try {
      // Another node may be streaming for this project; its reply goes first.
      release = await this.#lock.acquire(projectId, this.#shutdown.signal);
    } catch (error) {
      if (this.#shutdown.signal.aborted) return unavailable();
      throw error;
    }
    try {
      await this.#replyHoldingLock(input, question, replyId);
    } finally {
      await release().catch((error: unknown) => {
        this.#o.logger.error({ err: error, projectId }, 'coach: releasing the reply lock failed');
      });
    }
  }

  async #replyHoldingLock(input: ChatSend, question: ChatMessage, replyId: string): Promise<void> {
    const { projectId } = input;
    const now = new Date();
    if ((await this.#chat.spendSince(startOfUtcDay(now))) >= this.#o.config.spendCapUsd) {
      const error = spendCapReached(this.#o.config.spendCapUsd, nextUtcMidnight(now));
      await this.#emit(projectId, 'chat:error', {
        messageId: replyId,
        error: { code: error.code, message: error.message },
      });
      return;
    }
    // Strictly after the question, so the chat pages in the order it was said.
    const createdAt = new Date(Math.max(now.getTime(), Date.parse(question.createdAt) + 1));
    const context = await this.#buildContext(input);
    const controller = new AbortController();
    this.#inFlight.add(controller);
    let text = '';
    // Not awaited: emits are handed to the room synchronously, in call order.
    const tokens = new DeltaBatcher((delta) => {
      void this.#emit(projectId, 'chat:token', { messageId: replyId, delta });
    });
    const logger = this.#o.logger.child({ projectId, messageId: replyId });
    const base = {
      id: replyId,
      projectId,
      workspaceId: input.workspaceId,
      role: 'assistant' as const,
      userId: input.userId,
      replyTo: question.id,
      provider: this.provider.name,
      offline: this.provider.name === 'offline',
      createdAt,
    };
    try {
      const result = await streamWithFallback(
        this.provider,
        {
          system: buildSystemPrompt(context),
          messages: toPromptMessages(context.history),
          maxOutputTokens: this.#o.config.maxOutputTokens,
          signal: controller.signal,
          context,
        },
        (delta) => {
          text += delta;
          tokens.push(delta);
        },
        (from, to) => logger.warn({ from, to }, 'coach: rate limited, falling back'),
      );
      tokens.flush();
      const priced = this.#o.prices.has(result.model) ? result.model : this.#lastModel(result);
      const costUsd = this.#o.prices.costUsd(priced, result.usage);
      const reply = await this.#chat.insert({
        ...base,
        content: text,
        status: 'complete',
        model: result.model,
        inputTokens: result.usage.inputTokens,
        outputTokens: result.usage.outputTokens,
        costUsd,
      });
      await this.#emit(projectId, 'chat:done', {
        messageId: replyId,
        usage: result.usage,
        costUsd,
      });
      await this.#recordDecisions(reply, 'coach');
      await this.#checkSpend(now);
    } catch (error) {
      const code =
        error instanceof ProviderError && error.kind === 'rate_limited'
          ? CoachErrorCodes.ProviderRateLimited
          : CoachErrorCodes.ProviderFailed;
      tokens.flush();
      logger.warn({ err: error, code, partialChars: text.length }, 'coach: reply failed');
      // The partial reply is kept, marked incomplete, so nobody loses what was already read.
      await this.#chat.insert({ ...base, content: text, status: 'incomplete', errorCode: code });
      await this.#emit(projectId, 'chat:error', {
        messageId: replyId,
        error: {
          code,
          message:
            code === CoachErrorCodes.ProviderRateLimited
              ? 'The AI provider is rate limiting us; please try again in a minute.'
              : 'The AI provider failed while answering; the partial reply was kept.',
        },
      });
    } finally {
      this.#inFlight.delete(controller);
    }
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

  async #buildContext(input: ChatSend): Promise<CoachContext> {
    const { project } = await this.#o.projects.access(input.userId, input.projectId, 'viewer');
    const [profile, plan, decisions, script, history] = await Promise.all([
      this.#profileFor(input.userId, project.createdBy),
      this.getPlan(input.projectId),
      this.#decisions.list(input.projectId, true),
      this.#o.realtime.getDocumentText(yjsDocName(input.projectId, 'script')),
      this.#chat.history(input.projectId, HISTORY_LIMIT),
    ]);
    return {
      project: { id: project.id, title: project.title, topic: project.topic },
      profile,
      plan: plan.phases.length > 0 ? plan : null,
      decisions,
      scriptExcerpt: script.slice(0, SCRIPT_EXCERPT_CHARS),
      history,
    };
  }

  async #profileFor(userId: string, creatorId: string | null): Promise<CreatorProfile | null> {
    const own = await this.#profiles.get(userId);
    if (own || !creatorId || creatorId === userId) return own;
    return this.#profiles.get(creatorId);
  }

  // ------------------------------------------------------------------ decisions

  /** Reads decisions from a message into the store, the plan document and the room. */
  #recordDecisions(message: ChatMessage, speaker: Speaker): Promise<void> {
    const detected = detectDecisions(message.content, speaker);
    if (detected.length === 0) return Promise.resolve();
    return this.#decisionWrites.add(message.projectId, async () => {
      const decisions: Decision[] = detected.map((found) => ({
        id: randomUUID(),
        projectId: message.projectId,
        ...found,
        decidedBy: speaker === 'coach' ? null : message.userId,
        decidedByName: speaker === 'coach' ? COACH_NAME : (message.authorName ?? 'member'),
        sourceMessageId: message.id,
        status: 'active',
        supersededBy: null,
        createdAt: new Date().toISOString(),
      }));
      for (const decision of decisions) await this.#decisions.add(decision);
      await this.#o.realtime.editDocument(yjsDocName(message.projectId, 'plan'), (doc) => {
        for (const decision of decisions) appendDecision(doc, decision);
      });
      for (const decision of decisions) {
        await this.#emit(message.projectId, 'decision:detected', { decision });
      }
    });
  }

  listDecisions(projectId: string): Promise<Decision[]> {
    return this.#decisions.list(projectId);
  }

  // ------------------------------------------------------------------ plan

  async #readPlanDoc<T>(projectId: string, read: (doc: Y.Doc) => T): Promise<T> {
    const state = await this.#o.realtime.documents.getDocumentState(yjsDocName(projectId, 'plan'));
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
    await this.#o.realtime.editDocument(yjsDocName(projectId, 'plan'), (doc) => {
      found = setTaskDone(doc, taskId, done);
    });
    if (!found) throw notFound('Task');
    return this.getPlan(projectId);
  }

  /** Writes a template into the plan document (replacing the plan, keeping decisions). */
  async applyTemplate(projectId: string, templateId: string): Promise<Plan> {
    const template = this.templates.get(templateId);
    if (!template) throw unknownTemplate(templateId);
    await this.#o.realtime.editDocument(yjsDocName(projectId, 'plan'), (doc) =>
      writePlanTemplate(doc, template),
    );
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
      await this.#o.realtime.emitter.emit(projectId, event, payload);
    } catch (error) {
      this.#o.logger.error({ err: error, projectId, event }, 'coach: emitting a room event failed');
    }
  }

  /**
   * Stops taking messages, aborts replies in flight (their partial text is kept, marked
   * incomplete) and waits for queued work. Call before the realtime layer and the database
   * close. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#shutdown.abort();
      for (const controller of this.#inFlight) controller.abort();
      await this.#replies.close();
      await this.#decisionWrites.close();
    })();
    return this.#closing;
  }
}
