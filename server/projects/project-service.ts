import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Project } from '../../shared/projects.ts';
import type { Role } from '../../shared/workspaces.ts';
import type { Db, Tx } from '../db/index.ts';
import { tables } from '../db/index.ts';
import { notFound } from '../errors.ts';
import { addToOutbox } from '../outbox/index.ts';
import { newestFirst, page } from '../pagination.ts';
import type { WorkspaceService } from '../workspaces/workspace-service.ts';

type ProjectRow = typeof tables.projects.$inferSelect;

function toProject(row: ProjectRow): Project {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    title: row.title,
    topic: row.topic,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * Runs inside the deleting transaction, with the project row locked; throws (a DomainError) to
 * refuse the delete. Other parts register one for work that must not lose its project.
 */
export type ProjectDeleteGuard = (tx: Tx, projectId: string) => Promise<void>;

/**
 * Told after a delete committed (the node's outbox dispatcher is kicked from here); the
 * clean-up itself is the outbox's `project.deleted` entry, written in the deleting transaction.
 */
export type ProjectDeletedListener = (deleted: { projectId: string; workspaceId: string }) => void;

/** Projects, always seen through the caller's membership of the project's workspace. */
export class ProjectService {
  readonly #deleteGuards: ProjectDeleteGuard[] = [];
  readonly #deletedListeners = new Set<ProjectDeletedListener>();

  constructor(
    private readonly db: Db,
    private readonly workspaces: WorkspaceService,
  ) {}

  addDeleteGuard(guard: ProjectDeleteGuard): void {
    this.#deleteGuards.push(guard);
  }

  onDeleted(listener: ProjectDeletedListener): () => void {
    this.#deletedListeners.add(listener);
    return () => this.#deletedListeners.delete(listener);
  }

  /**
   * The project and the caller's role in it, if the caller has at least `minimum`. Another
   * workspace's project is a 404, exactly like a project that does not exist.
   */
  async access(
    userId: string,
    projectId: string,
    minimum: Role = 'viewer',
  ): Promise<{ project: Project; role: Role }> {
    const [row] = await this.db
      .select({ project: tables.projects, role: tables.workspaceMembers.role })
      .from(tables.projects)
      .leftJoin(
        tables.workspaceMembers,
        and(
          eq(tables.workspaceMembers.workspaceId, tables.projects.workspaceId),
          eq(tables.workspaceMembers.userId, userId),
        ),
      )
      .where(eq(tables.projects.id, projectId));
    if (!row?.role) throw notFound('Project');
    await this.workspaces.requireRole(userId, row.project.workspaceId, minimum);
    return { project: toProject(row.project), role: row.role };
  }

  async create(
    userId: string,
    input: { workspaceId: string; title: string; topic: string },
  ): Promise<Project> {
    await this.workspaces.requireRole(userId, input.workspaceId, 'editor');
    const now = new Date();
    const [row] = await this.db
      .insert(tables.projects)
      .values({ id: randomUUID(), ...input, createdBy: userId, createdAt: now, updatedAt: now })
      .returning();
    return toProject(row!);
  }

  async update(
    userId: string,
    projectId: string,
    changes: { title?: string | undefined; topic?: string | undefined },
  ) {
    await this.access(userId, projectId, 'editor');
    const [row] = await this.db
      .update(tables.projects)
      .set({
        ...(changes.title !== undefined && { title: changes.title }),
        ...(changes.topic !== undefined && { topic: changes.topic }),
        updatedAt: new Date(),
      })
      .where(eq(tables.projects.id, projectId))
      .returning();
    if (!row) throw notFound('Project');
    return toProject(row);
  }

  /** Deleting removes the project's documents, renders and chat with it, so owners only. */
  async delete(userId: string, projectId: string): Promise<void> {
    const { project } = await this.access(userId, projectId, 'owner');
    await this.db.transaction(async (tx) => {
      // The lock makes anything that references the project meanwhile (a render submitted,
      // say) wait for this transaction, then fail on the missing row instead of slipping in
      // between the guards and the delete (the error handler answers that 409).
      const [locked] = await tx
        .select({ id: tables.projects.id })
        .from(tables.projects)
        .where(eq(tables.projects.id, projectId))
        .for('update');
      if (!locked) throw notFound('Project');
      for (const guard of this.#deleteGuards) await guard(tx, projectId);
      await tx.delete(tables.projects).where(eq(tables.projects.id, projectId));
      // Closing its documents and rooms on every node and removing its files follow the
      // commit through the outbox, so a crash right after it cannot skip them.
      await addToOutbox(tx, {
        topic: 'project.deleted',
        key: projectId,
        payload: { projectId, workspaceId: project.workspaceId },
      });
    });
    for (const listener of this.#deletedListeners) {
      listener({ projectId, workspaceId: project.workspaceId });
    }
  }

  async list(
    userId: string,
    workspaceId: string,
    query: { limit: number; cursor?: string | undefined },
  ) {
    await this.workspaces.requireRole(userId, workspaceId, 'viewer');
    const order = newestFirst(tables.projects.createdAt, tables.projects.id, query.cursor);
    const rows = await this.db
      .select()
      .from(tables.projects)
      .where(and(eq(tables.projects.workspaceId, workspaceId), order.where))
      .orderBy(...order.orderBy)
      .limit(query.limit + 1);
    const result = page(rows, query.limit);
    return { projects: result.items.map(toProject), nextCursor: result.nextCursor };
  }
}
