import { and, asc, desc, eq, gte, lt, max, ne, sql } from 'drizzle-orm';
import type { ChatMessage } from '../../shared/coach.ts';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { newestFirst, page } from '../pagination.ts';
import type { HistoryMessage } from './coach-context.ts';

type MessageRow = typeof tables.chatMessages.$inferSelect;
export type NewChatMessage = typeof tables.chatMessages.$inferInsert;
/** A stored reply as the reply job reads it. */
export type ReplyRow = MessageRow;

/** Advisory lock class of a project's reply turn (two-key form: its own key space). */
const TURN_LOCK_CLASS = 7_010;

/** Serialises, per project, accepting a question and settling a reply (see `accept`). */
async function lockTurn(tx: Tx, projectId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${TURN_LOCK_CLASS}, hashtext(${projectId}))`);
}

export function toChatMessage(row: MessageRow): ChatMessage {
  return {
    id: row.id,
    projectId: row.projectId,
    role: row.role,
    content: row.content,
    userId: row.userId,
    authorName: row.authorName,
    status: row.status,
    replyTo: row.replyTo,
    provider: row.provider,
    model: row.model,
    offline: row.offline,
    usage:
      row.inputTokens === null || row.outputTokens === null
        ? null
        : { inputTokens: row.inputTokens, outputTokens: row.outputTokens },
    costUsd: row.costUsd,
    createdAt: row.createdAt.toISOString(),
  };
}

/**
 * The chat table: members' messages, the coach's replies (pending until their job settles
 * them), the per-project reply turn, and the sums the daily limits read.
 */
export class ChatStore {
  constructor(private readonly db: Db) {}

  /** A page of a project's chat, newest first. */
  async page(projectId: string, query: { limit: number; cursor?: string | undefined }) {
    const m = tables.chatMessages;
    const order = newestFirst(m.createdAt, m.id, query.cursor);
    const rows = await this.db
      .select()
      .from(m)
      .where(and(eq(m.projectId, projectId), order.where))
      .orderBy(...order.orderBy)
      .limit(query.limit + 1);
    const result = page(rows, query.limit);
    return { messages: result.items.map(toChatMessage), nextCursor: result.nextCursor };
  }

  /**
   * The last `limit` settled messages of a project before `before` (a reply's own place: its
   * question is the last of them), oldest first. A reply restarted after a crash gets the same
   * history as its first attempt.
   */
  async history(projectId: string, limit: number, before: Date): Promise<HistoryMessage[]> {
    const m = tables.chatMessages;
    const rows = await this.db
      .select({
        role: m.role,
        content: m.content,
        authorName: m.authorName,
        status: m.status,
      })
      .from(m)
      .where(and(eq(m.projectId, projectId), ne(m.status, 'pending'), lt(m.createdAt, before)))
      .orderBy(desc(m.createdAt), desc(m.id))
      .limit(limit);
    return rows.reverse().map((row) => ({
      role: row.role,
      content: row.content,
      authorName: row.authorName,
      incomplete: row.status === 'incomplete',
    }));
  }

  /**
   * Accepts a member's question: stores it and the pending reply that will answer it, in one
   * transaction, unless the member already sent `limit` messages since `since` (then null and
   * nothing is stored). `within` runs in the same transaction (the question's decisions).
   *
   * Under the project's turn lock (the same one {@link settleReply} takes), so that:
   * - `createdAt` is strictly after every earlier message of the project, whichever node or
   *   clock wrote it: the chat, the reply order and the history all follow accept order;
   * - `head` is true exactly when no other reply of the project is pending. Only the head of
   *   a project has a queued job; whoever settles a reply queues the next head, and the lock
   *   keeps an accept and a settle from each missing the other.
   * The count runs under a per-user advisory lock, so two messages sent at once cannot both
   * take the last one.
   */
  async accept(
    input: {
      question: Omit<NewChatMessage, 'createdAt'> & { userId: string };
      replyId: string;
      limit: number;
      since: Date;
      now: Date;
    },
    within?: (tx: Tx, question: ChatMessage) => Promise<void>,
  ): Promise<{ question: ChatMessage; reply: ChatMessage; head: boolean } | null> {
    const { question, replyId } = input;
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`coach:${question.userId}`}))`);
      const m = tables.chatMessages;
      const [row] = await tx
        .select({ count: sql<number>`count(*)::int` })
        .from(m)
        .where(
          and(eq(m.userId, question.userId), eq(m.role, 'user'), gte(m.createdAt, input.since)),
        );
      if (Number(row?.count ?? 0) >= input.limit) return null;
      await lockTurn(tx, question.projectId);
      const [latest] = await tx
        .select({ at: max(m.createdAt) })
        .from(m)
        .where(eq(m.projectId, question.projectId));
      const after = latest?.at ? latest.at.getTime() + 1 : 0;
      const createdAt = new Date(Math.max(input.now.getTime(), after));
      const [stored] = await tx
        .insert(m)
        .values({ ...question, createdAt })
        .returning();
      const [pending] = await tx
        .insert(m)
        .values({
          id: replyId,
          projectId: question.projectId,
          workspaceId: question.workspaceId,
          role: 'assistant',
          content: '',
          userId: question.userId,
          status: 'pending',
          replyTo: stored!.id,
          // Right after its question: the reply keeps its place in the chat while it streams.
          createdAt: new Date(createdAt.getTime() + 1),
        })
        .returning();
      const [other] = await tx
        .select({ id: m.id })
        .from(m)
        .where(
          and(
            eq(m.status, 'pending'),
            eq(m.projectId, question.projectId),
            ne(m.id, replyId),
            eq(m.role, 'assistant'),
          ),
        )
        .limit(1);
      const message = toChatMessage(stored!);
      await within?.(tx, message);
      return { question: message, reply: toChatMessage(pending!), head: !other };
    });
  }

  /**
   * Starts delivery `attempt` of a reply's job: records it on the pending reply, which fences
   * out the writes of every earlier delivery (a node that lost its lease but still streams).
   * `claimed` with the attempt it replaces (null: the first), `settled` when an earlier
   * delivery already wrote the final state (it died before telling the queue), `superseded`
   * when a later delivery holds it, `gone` when the reply no longer exists.
   */
  async claimReply(
    replyId: string,
    attempt: number,
  ): Promise<
    | { outcome: 'claimed'; reply: ReplyRow; previousAttempt: number | null }
    | { outcome: 'settled' }
    | { outcome: 'superseded' }
    | { outcome: 'gone' }
  > {
    const m = tables.chatMessages;
    return this.db.transaction(async (tx) => {
      const [row] = await tx.select().from(m).where(eq(m.id, replyId)).for('update');
      if (!row) return { outcome: 'gone' as const };
      if (row.status !== 'pending') return { outcome: 'settled' as const };
      if ((row.attempt ?? 0) >= attempt) return { outcome: 'superseded' as const };
      const [claimed] = await tx.update(m).set({ attempt }).where(eq(m.id, replyId)).returning();
      return { outcome: 'claimed' as const, reply: claimed!, previousAttempt: row.attempt };
    });
  }

  /**
   * Writes a reply's final state, once: only while it is pending and still held by delivery
   * `attempt` (null when settling a reply no delivery can finish, e.g. from the sweep). Under
   * the project's turn lock (see {@link accept}); `within` runs in the same transaction (the
   * reply's decisions). Resolves to the settled reply, or null when it was not pending or not
   * held by `attempt` any more (nothing was written).
   */
  async settleReply(
    replyId: string,
    attempt: number | null,
    fields: Pick<NewChatMessage, 'content' | 'status'> &
      Partial<
        Pick<
          NewChatMessage,
          | 'provider'
          | 'model'
          | 'offline'
          | 'inputTokens'
          | 'outputTokens'
          | 'costUsd'
          | 'errorCode'
        >
      >,
    within?: (tx: Tx, reply: ChatMessage) => Promise<void>,
  ): Promise<ChatMessage | null> {
    const m = tables.chatMessages;
    return this.db.transaction(async (tx) => {
      const [target] = await tx.select({ projectId: m.projectId }).from(m).where(eq(m.id, replyId));
      if (!target) return null;
      await lockTurn(tx, target.projectId);
      const [row] = await tx
        .update(m)
        .set(fields)
        .where(
          and(
            eq(m.id, replyId),
            eq(m.status, 'pending'),
            attempt === null ? undefined : eq(m.attempt, attempt),
          ),
        )
        .returning();
      if (!row) return null;
      const reply = toChatMessage(row);
      await within?.(tx, reply);
      return reply;
    });
  }

  /** The project's oldest pending reply: the one whose turn it is. */
  async headOf(projectId: string): Promise<{ replyId: string; projectId: string } | null> {
    const m = tables.chatMessages;
    const [row] = await this.db
      .select({ replyId: m.id, projectId: m.projectId })
      .from(m)
      .where(and(eq(m.status, 'pending'), eq(m.projectId, projectId), eq(m.role, 'assistant')))
      .orderBy(asc(m.createdAt), asc(m.id))
      .limit(1);
    return row ?? null;
  }

  /** The oldest pending reply of every project that has one (the reply sweep). */
  async pendingHeads(
    limit = 1000,
  ): Promise<Array<{ replyId: string; projectId: string; attempt: number | null }>> {
    const m = tables.chatMessages;
    return this.db
      .selectDistinctOn([m.projectId], {
        replyId: m.id,
        projectId: m.projectId,
        attempt: m.attempt,
      })
      .from(m)
      .where(and(eq(m.status, 'pending'), eq(m.role, 'assistant')))
      .orderBy(asc(m.projectId), asc(m.createdAt), asc(m.id))
      .limit(limit);
  }

  /**
   * Marks a pending reply as claimed before (attempt 0) when its job is added again after the
   * queue lost it: the new job's deliveries count from 1 again, and a reply that an earlier
   * delivery had claimed still starts with `reply_restarted`.
   */
  async resetAttempt(replyId: string): Promise<void> {
    const m = tables.chatMessages;
    await this.db
      .update(m)
      .set({ attempt: sql`case when ${m.attempt} is null then null else 0 end` })
      .where(and(eq(m.id, replyId), eq(m.status, 'pending')));
  }

  /** Messages a user sent since `since` (the daily message limit). */
  async countUserMessages(userId: string, since: Date): Promise<number> {
    const m = tables.chatMessages;
    const [row] = await this.db
      .select({ count: sql<number>`count(*)::int` })
      .from(m)
      .where(and(eq(m.userId, userId), eq(m.role, 'user'), gte(m.createdAt, since)));
    return Number(row?.count ?? 0);
  }

  /** USD the coach spent since `since`, across the whole service. */
  async spendSince(since: Date): Promise<number> {
    const m = tables.chatMessages;
    const [row] = await this.db
      .select({ total: sql<number>`coalesce(sum(${m.costUsd}), 0)::float8` })
      .from(m)
      .where(and(eq(m.role, 'assistant'), gte(m.createdAt, since)));
    return Number(row?.total ?? 0);
  }
}
