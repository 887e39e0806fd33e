import { and, asc, eq } from 'drizzle-orm';
import type { Decision } from '../../shared/coach.ts';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';

type DecisionRow = typeof tables.coachDecisions.$inferSelect;

function toDecision(row: DecisionRow): Decision {
  return {
    id: row.id,
    projectId: row.projectId,
    category: row.category as Decision['category'],
    statement: row.statement,
    confidence: row.confidence as Decision['confidence'],
    rationale: row.rationale,
    decidedBy: row.decidedBy,
    decidedByName: row.decidedByName,
    sourceMessageId: row.sourceMessageId,
    status: row.status,
    supersededBy: row.supersededBy,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Decisions of each project, the record behind the plan document's `decisions`. */
export class DecisionStore {
  constructor(private readonly db: Db) {}

  /**
   * Stores a decision and, in the same transaction, marks the active decision of its category
   * superseded by it. Inside `tx` when given (the message it was read from is stored in it).
   */
  async add(decision: Decision, tx?: Tx): Promise<void> {
    const d = tables.coachDecisions;
    await (tx ?? this.db).transaction(async (tx) => {
      await tx
        .update(d)
        .set({ status: 'superseded', supersededBy: decision.id })
        .where(
          and(
            eq(d.projectId, decision.projectId),
            eq(d.category, decision.category),
            eq(d.status, 'active'),
          ),
        );
      await tx.insert(d).values({ ...decision, createdAt: new Date(decision.createdAt) });
    });
  }

  /** A project's decisions, oldest first; only those in force with `activeOnly`. */
  async list(projectId: string, activeOnly = false): Promise<Decision[]> {
    const d = tables.coachDecisions;
    const rows = await this.db
      .select()
      .from(d)
      .where(and(eq(d.projectId, projectId), activeOnly ? eq(d.status, 'active') : undefined))
      .orderBy(asc(d.createdAt), asc(d.id));
    return rows.map(toDecision);
  }
}
