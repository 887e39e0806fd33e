import { randomUUID } from 'node:crypto';
import type { Db } from '../../server/db/index.ts';
import { assets, projects, workspaces } from '../../server/db/schema/index.ts';

/** A workspace with one project, straight into the tables. */
export async function seedProject(db: Db): Promise<{ workspaceId: string; projectId: string }> {
  const workspaceId = randomUUID();
  const projectId = randomUUID();
  await db.insert(workspaces).values({ id: workspaceId, name: 'Render tests' });
  await db
    .insert(projects)
    .values({ id: projectId, workspaceId, title: 'Renders', topic: 'tests' });
  return { workspaceId, projectId };
}

/** An asset row for a file stored under `key` in the storage directory. */
export async function seedAsset(
  db: Db,
  projectId: string,
  kind: 'image' | 'audio',
  key: string,
): Promise<string> {
  const id = randomUUID();
  await db.insert(assets).values({
    id,
    projectId,
    kind,
    mime: kind === 'image' ? 'image/png' : 'audio/wav',
    bytes: 1,
    path: key,
  });
  return id;
}
