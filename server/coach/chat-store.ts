import { and, desc, eq, gte, sql } from 'drizzle-orm';
import type { ChatMessage } from '../../shared/coach.ts';
import type { Db } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { newestFirst, page } from '../pagination.ts';
import type { HistoryMessage } from './coach-context.ts';

type MessageRow = typeof tables.chatMessages.$inferSelect;
export type NewChatMessage = typeof tables.chatMessages.$inferInsert;

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

/** The chat tables: messages, and the sums the daily limits read. */
export class ChatStore {
  constructor(private readonly db: Db) {}

  async insert(message: NewChatMessage): Promise<ChatMessage> {
    const [row] = await this.db.insert(tables.chatMessages).values(message).returning();
    return toChatMessage(row!);
  }

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

  /** The last `limit` messages of a project, oldest first. */
  async history(projectId: string, limit: number): Promise<HistoryMessage[]> {
    const m = tables.chatMessages;
    const rows = await this.db
      .select({
        role: m.role,
        content: m.content,
        authorName: m.authorName,
        status: m.status,
      })
      .from(m)
      .where(eq(m.projectId, projectId))
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
   * Stores a member's message unless they already sent `limit` since `since`; false when over.
   * Count and insert run under a per-user advisory lock, so two messages sent at once cannot
   * both take the last one.
   */
  async insertWithinLimit(
    message: NewChatMessage & { userId: string },
    limit: number,
    since: Date,
  ): Promise<ChatMessage | null> {
    return this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`coach:${message.userId}`}))`);
      const m = tables.chatMessages;
      const [row] = await tx
        .select({ count: sql<number>`count(*)::int` })
        .from(m)
        .where(and(eq(m.userId, message.userId), eq(m.role, 'user'), gte(m.createdAt, since)));
      if (Number(row?.count ?? 0) >= limit) return null;
      const [inserted] = await tx.insert(m).values(message).returning();
      return toChatMessage(inserted!);
    });
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
