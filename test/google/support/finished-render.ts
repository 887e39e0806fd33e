import { randomUUID } from 'node:crypto';
import type { Db } from '../../../server/db/index.ts';
import { tables } from '../../../server/db/index.ts';
import type { FileStorage } from '../../../server/storage/index.ts';

/**
 * A completed render of a project whose MP4 is `bytes`, stored as the render farm stores it
 * but without running FFmpeg: what the publishing tests upload. Returns its id and key.
 */
export async function storeFinishedRender(options: {
  db: Db;
  storage: Pick<FileStorage, 'write'>;
  projectId: string;
  workspaceId: string;
  bytes: Buffer;
}): Promise<{ renderId: string; videoKey: string }> {
  const renderId = randomUUID();
  const videoKey = `renders/${renderId}/output.mp4`;
  await options.storage.write(videoKey, options.bytes);
  await options.db.insert(tables.renderJobs).values({
    id: renderId,
    projectId: options.projectId,
    workspaceId: options.workspaceId,
    status: 'completed',
    spec: { width: 1280, height: 720, fps: 24, scenes: [] } as never,
    videoKey,
    bytes: options.bytes.length,
    finishedAt: new Date(),
  });
  return { renderId, videoKey };
}
