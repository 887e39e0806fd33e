import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import type { CoachUsage } from '../../shared/coach.ts';
import type { Db } from '../db/index.ts';
import { tables } from '../db/index.ts';

type Figures = CoachUsage['total'];
const empty = (): Figures => ({
  messages: 0,
  replies: 0,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
});

interface Group {
  key: string | null;
  role: 'user' | 'assistant';
  count: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

function add(figures: Figures, group: Group): void {
  if (group.role === 'user') figures.messages += group.count;
  else {
    figures.replies += group.count;
    figures.inputTokens += group.inputTokens;
    figures.outputTokens += group.outputTokens;
    figures.costUsd = Math.round((figures.costUsd + group.costUsd) * 1e9) / 1e9;
  }
}

/**
 * Coach usage of one workspace since `from`: members' messages and the replies they asked for
 * (tokens and USD, attributed to the asker), by member and by UTC day.
 */
export async function coachUsage(db: Db, workspaceId: string, from: Date): Promise<CoachUsage> {
  const m = tables.chatMessages;
  const figures = {
    role: m.role,
    count: sql<number>`count(*)::int`,
    inputTokens: sql<number>`coalesce(sum(${m.inputTokens}), 0)::int`,
    outputTokens: sql<number>`coalesce(sum(${m.outputTokens}), 0)::int`,
    costUsd: sql<number>`coalesce(sum(${m.costUsd}), 0)::float8`,
  };
  const where = and(eq(m.workspaceId, workspaceId), gte(m.createdAt, from));
  const day = sql<string>`to_char(${m.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`;
  const [byUser, byDay] = await Promise.all([
    db
      .select({ key: m.userId, ...figures })
      .from(m)
      .where(where)
      .groupBy(m.userId, m.role),
    db
      .select({ key: day, ...figures })
      .from(m)
      .where(where)
      .groupBy(day, m.role),
  ]);

  const members = new Map<string, Figures>();
  const days = new Map<string, Figures>();
  const total = empty();
  for (const group of byUser as Group[]) {
    if (!group.key) continue;
    const entry = members.get(group.key) ?? empty();
    add(entry, group);
    members.set(group.key, entry);
    add(total, group);
  }
  for (const group of byDay as Group[]) {
    if (!group.key) continue;
    const entry = days.get(group.key) ?? empty();
    add(entry, group);
    days.set(group.key, entry);
  }
  const ids = [...members.keys()];
  const names = new Map(
    ids.length === 0
      ? []
      : (
          await db
            .select({ id: tables.users.id, name: tables.users.name })
            .from(tables.users)
            .where(inArray(tables.users.id, ids))
        ).map((user) => [user.id, user.name] as const),
  );
  return {
    workspaceId,
    from: from.toISOString(),
    byMember: [...members.entries()]
      .map(([userId, entry]) => ({ userId, name: names.get(userId) ?? '(deleted user)', ...entry }))
      .sort((a, b) => b.costUsd - a.costUsd || b.messages - a.messages),
    byDay: [...days.entries()]
      .map(([key, entry]) => ({ day: key, ...entry }))
      .sort((a, b) => a.day.localeCompare(b.day)),
    total,
  };
}
