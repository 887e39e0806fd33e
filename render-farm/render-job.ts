import type { RenderSpec } from '../shared/render-spec.ts';

/** A render job as it travels through the queue; the queue's job id is the render's id. */
export interface RenderJobData {
  renderId: string;
  projectId: string;
  spec: RenderSpec;
}

/** Key prefix of the render queue in Redis under the default REDIS_KEY_PREFIX. */
export const RENDER_QUEUE_PREFIX = 'reelroom:renders';

/**
 * Key prefix of the render queue under a deployment's REDIS_KEY_PREFIX; API nodes and workers
 * derive it the same way, so they meet on the same stream.
 */
export function renderQueuePrefix(redisKeyPrefix = 'reelroom'): string {
  return `${redisKeyPrefix}:renders`;
}

/** Where a render's outputs go, relative to the storage directory. */
export function renderOutputKeys(
  projectId: string,
  renderId: string,
): { videoKey: string; thumbnailKey: string } {
  return {
    videoKey: `renders/${projectId}/${renderId}.mp4`,
    thumbnailKey: `renders/${projectId}/${renderId}.png`,
  };
}
