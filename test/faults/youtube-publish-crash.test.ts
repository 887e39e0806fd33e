import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { tables } from '../../server/db/index.ts';
import { LocalFileStorage } from '../../server/storage/index.ts';
import type { PipelineRun } from '../../shared/pipeline.ts';
import { FakeGoogle } from '../google/support/fake-google.ts';
import { storeFinishedRender } from '../google/support/finished-render.ts';
import type { NodeProcess } from '../support/processes.ts';
import { eventually, ok, signupWithProject, startFaultCluster } from './support/fault-cluster.ts';
import { balanceOf } from './support/invariants.ts';

// A publish whose API node is killed with SIGKILL in the middle of a chunk: the step's lease
// runs out, another node takes the step over, asks Google what the stored session holds and
// sends the rest into that same session. Real processes (distributed mode), the local Google.

const CLIENT = { clientId: 'faults.apps.googleusercontent.com', clientSecret: 'faults-secret' };
const CHUNK = 8 * 1024 * 1024;
const PUBLIC_URL = 'http://app.reelroom.test';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('publishing survives kill -9 of the node uploading', () => {
  it('a second node resumes the same upload session; Google holds exactly the render', async () => {
    const google = await new FakeGoogle([CLIENT]).start();
    cleanups.push(() => google.close());
    const c = await startFaultCluster();
    cleanups.push(() => c.close());
    const env = {
      GOOGLE_CLIENT_ID: CLIENT.clientId,
      GOOGLE_CLIENT_SECRET: CLIENT.clientSecret,
      GOOGLE_API_BASE: google.url,
      PUBLIC_URL,
      PIPELINE_LEASE_SECONDS: '2',
    };
    const first: NodeProcess = await c.startApi({ env });
    const member = await signupWithProject(first.url);
    const { token, workspaceId, projectId } = member;
    await ok(first.url, '/billing/grants', {
      token,
      json: { workspaceId, credits: 100, reason: 'publish crash test' },
    });

    // Connect a channel the way a browser does: our consent URL, Google's redirect, our callback.
    const { url } = (await ok(first.url, '/youtube/connect', { token, json: { workspaceId } })) as {
      url: string;
    };
    const atGoogle = await fetch(url, { redirect: 'manual' });
    const back = new URL(atGoogle.headers.get('location')!);
    const callback = await fetch(`${first.url}${back.pathname}${back.search}`, {
      redirect: 'manual',
    });
    expect(callback.status).toBe(302);
    const { channels } = (await ok(first.url, `/youtube/channels?workspaceId=${workspaceId}`, {
      token,
    })) as { channels: Array<{ id: string }> };
    const channelId = channels[0]!.id;

    // A finished render of the project: 2.5 chunks of bytes in the shared storage.
    const video = randomBytes(2 * CHUNK + 1_234_567);
    await storeFinishedRender({
      db: c.database.db,
      storage: new LocalFileStorage({ root: c.storageDir }),
      projectId,
      workspaceId,
      bytes: video,
    });
    const before = await balanceOf(c.database.db, workspaceId);

    // Google takes the first chunk, then holds the second without an answer.
    google.stallChunksAfterBytes = CHUNK;
    const { run } = (await ok(first.url, `/projects/${projectId}/pipeline-runs`, {
      token,
      json: { steps: ['publish'], publish: { channelId } },
    })) as { run: PipelineRun };
    await eventually(() => expect(google.stalledChunks).toBeGreaterThan(0));
    expect(google.sessionBytes()).toEqual([CHUNK]);
    await first.stop('SIGKILL');
    google.releaseStalledChunks();

    const second = await c.startApi({ env });
    const finished = await eventually(
      async () => {
        const { run: now } = (await ok(second.url, `/pipeline-runs/${run.id}`, { token })) as {
          run: PipelineRun;
        };
        expect(['completed', 'failed', 'cancelled']).toContain(now.status);
        return now;
      },
      60_000,
      250,
    );
    expect(finished.status, JSON.stringify(finished.error)).toBe('completed');

    const starts = google.calls.filter(
      (call) => call.method === 'POST' && call.path === '/upload/youtube/v3/videos',
    );
    expect(starts).toHaveLength(1);
    const youtubeVideoId = finished.steps[0]!.artifacts[0]!.youtubeVideoId!;
    expect(Buffer.compare(google.videos.get(youtubeVideoId)!.bytes, video)).toBe(0);
    const [session] = await c.database.db
      .select()
      .from(tables.youtubeUploadSessions)
      .where(eq(tables.youtubeUploadSessions.channelId, channelId));
    expect(session!.youtubeVideoId).toBe(youtubeVideoId);
    // Charged once for the publish, never refunded.
    const charged = before - (await balanceOf(c.database.db, workspaceId));
    expect(charged).toBeGreaterThan(0);
    expect(finished.steps[0]!.status).toBe('completed');
  });
});
