import { and, eq, inArray } from 'drizzle-orm';
import { renderJobs } from '../db/schema/renders.ts';
import { conflict } from '../errors.ts';
import type { ProjectDeleteGuard } from '../projects/project-service.ts';
import type { FileStorage } from '../storage/index.ts';

/**
 * Refuses to delete a project while one of its renders is queued or running: its worker would
 * write an output nobody can reach, and the render's charge would never be refunded.
 */
export const refuseWhileRendering: ProjectDeleteGuard = async (tx, projectId) => {
  const [active] = await tx
    .select({ id: renderJobs.id })
    .from(renderJobs)
    .where(
      and(eq(renderJobs.projectId, projectId), inArray(renderJobs.status, ['queued', 'running'])),
    )
    .limit(1);
  if (active) {
    throw conflict(
      'renders_in_progress',
      `project: render ${active.id} is still queued or running; cancel it (POST /renders/${active.id}/cancel) or let it end, then delete the project`,
    );
  }
};

/** Removes a deleted project's uploaded assets and rendered outputs. */
export async function removeProjectFiles(storage: FileStorage, projectId: string): Promise<void> {
  await Promise.all([
    storage.removeAll(`assets/${projectId}`),
    storage.removeAll(`renders/${projectId}`),
  ]);
}
