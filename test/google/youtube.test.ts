import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase, tables } from '../../server/db/index.ts';
import { nextPacificMidnight, pacificDay, YoutubePublisher } from '../../server/youtube/index.ts';
import type { PipelineRun } from '../../shared/pipeline.ts';
import { SCRIPT_TEXT, yjsDocName } from '../../shared/yjs-docs.ts';
import { until } from '../pipeline/support/media-checks.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { defaultAccount, FakeGoogle } from './support/fake-google.ts';
import { storeFinishedRender } from './support/finished-render.ts';

const CLIENTS = [
  { clientId: 'pool-a.apps.googleusercontent.com', clientSecret: 'secret-a' },
  { clientId: 'pool-b.apps.googleusercontent.com', clientSecret: 'secret-b' },
];

describe('the Pacific quota day', () => {
  it('resets at midnight America/Los_Angeles, daylight saving included', () => {
    // 2026-03-08: clocks go forward at 02:00 PST; that midnight is still PST (UTC-8).
    expect(nextPacificMidnight(new Date('2026-03-08T05:00:00Z')).toISOString()).toBe(
      '2026-03-08T08:00:00.000Z',
    );
    expect(nextPacificMidnight(new Date('2026-03-08T12:00:00Z')).toISOString()).toBe(
      '2026-03-09T07:00:00.000Z',
    );
    // 2026-11-01: clocks go back at 02:00 PDT; that midnight is still PDT (UTC-7).
    expect(nextPacificMidnight(new Date('2026-11-01T05:00:00Z')).toISOString()).toBe(
      '2026-11-01T07:00:00.000Z',
    );
    expect(nextPacificMidnight(new Date('2026-11-01T12:00:00Z')).toISOString()).toBe(
      '2026-11-02T08:00:00.000Z',
    );
    expect(pacificDay(new Date('2026-11-01T06:59:59Z'))).toBe('2026-10-31');
    expect(pacificDay(new Date('2026-11-01T07:00:00Z'))).toBe('2026-11-01');
    // The exact instant of midnight belongs to the new day; the next reset is a day on.
    expect(nextPacificMidnight(new Date('2026-03-09T07:00:00Z')).toISOString()).toBe(
      '2026-03-10T07:00:00.000Z',
    );
  });
});

describe('YouTube publishing against a local Google', () => {
  let google: FakeGoogle;
  let node: TestNode;
  let database: Database;
  let dataDir: string;
  let token: string;
  let workspaceId: string;
  let projectId: string;
  let clock = new Date();
  const publicUrl = 'http://app.reelroom.test';

  const api = async <T>(path: string, init: Parameters<TestNode['request']>[1] = {}) => {
    const response = await node.request(`/api/v1${path}`, { token, ...init });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: (text ? JSON.parse(text) : null) as T,
    };
  };

  /** The browser's trip: our consent URL, Google's redirect, our callback. */
  const consent = async (as = token, ws = workspaceId) => {
    const { status, body } = await api<{ url: string }>('/youtube/connect', {
      method: 'POST',
      token: as,
      json: { workspaceId: ws },
    });
    expect(status).toBe(200);
    const atGoogle = await fetch(body.url, { redirect: 'manual' });
    expect(atGoogle.status).toBe(302);
    const back = new URL(atGoogle.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(`${publicUrl}/api/v1/youtube/callback`);
    return { consentUrl: new URL(body.url), callback: `${back.pathname}${back.search}` };
  };
  const connectChannel = async () => {
    const { callback } = await consent();
    const response = await node.request(callback, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`${publicUrl}/`);
    const { body } = await api<{
      channels: Array<{ id: string; youtubeChannelId: string; clientId: string }>;
    }>(`/youtube/channels?workspaceId=${workspaceId}`);
    return body.channels.at(-1)!;
  };
  const finished = (runId: string) =>
    until(`run ${runId} to finish`, async () => {
      const { body } = await api<{ run: PipelineRun }>(`/pipeline-runs/${runId}`);
      return ['completed', 'failed', 'cancelled'].includes(body.run.status) ? body.run : undefined;
    });
  const balance = async () =>
    (await api<{ balance: number }>(`/billing/balance?workspaceId=${workspaceId}`)).body.balance;
  /** A completed render of the project whose MP4 is `bytes` (without running FFmpeg). */
  const storedRender = async (bytes: Buffer) =>
    (
      await storeFinishedRender({
        db: database.db,
        storage: node.services.storage,
        projectId,
        workspaceId,
        bytes,
      })
    ).renderId;
  const publishRun = async (channelId: string, privacy?: string) => {
    const created = await api<{ run: PipelineRun }>(`/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json: { steps: ['publish'], publish: { channelId, ...(privacy ? { privacy } : {}) } },
    });
    expect(created.status).toBe(202);
    return finished(created.body.run.id);
  };

  beforeAll(async () => {
    google = await new FakeGoogle(CLIENTS).start();
    dataDir = await mkdtemp(join(tmpdir(), 'youtube-pglite-'));
    database = await openDatabase({ dataDir: join(dataDir, 'pglite') });
    await database.migrate();
    node = await startTestNode({
      database,
      config: {
        reconcileIntervalMs: 60_000,
        publicUrl,
        google: { clients: CLIENTS, apiBase: google.url },
        youtubeTuning: { chunkBytes: 512 * 1024, backoffMs: 20, now: () => clock },
      },
    });
    token = (await node.signup('Ada')).accessToken;
    const { body } = await api<{ workspaces: Array<{ id: string }> }>('/workspaces');
    workspaceId = body.workspaces[0]!.id;
    const created = await api<{ project: { id: string } }>('/projects', {
      method: 'POST',
      json: { workspaceId, title: 'Morning routines', topic: 'morning routines' },
    });
    projectId = created.body.project.id;
    await node.services.realtime.editDocument(yjsDocName(projectId, 'script'), (doc) => {
      doc.getText(SCRIPT_TEXT).insert(0, '# Cold open\n---\n# Why mornings matter\n');
    });
    const granted = await api('/billing/grants', {
      method: 'POST',
      json: { workspaceId, credits: 1000, reason: 'youtube tests' },
    });
    expect(granted.status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await node?.close();
    await database?.close();
    await google?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('connects a channel through the consent page, lists it without tokens, and spreads pools', async () => {
    const { consentUrl } = await consent();
    expect(consentUrl.origin + consentUrl.pathname).toBe(`${google.url}/o/oauth2/v2/auth`);
    expect(consentUrl.searchParams.get('access_type')).toBe('offline');
    expect(consentUrl.searchParams.get('prompt')).toBe('consent');
    expect(consentUrl.searchParams.get('scope')?.split(' ').sort()).toEqual([
      'https://www.googleapis.com/auth/youtube.readonly',
      'https://www.googleapis.com/auth/youtube.upload',
    ]);
    expect(consentUrl.searchParams.get('redirect_uri')).toBe(
      `${publicUrl}/api/v1/youtube/callback`,
    );
    expect(consentUrl.searchParams.get('state')?.length).toBeGreaterThanOrEqual(40);

    google.account = defaultAccount();
    const first = await connectChannel();
    expect(first.youtubeChannelId).toBe(google.account.channel!.id);
    google.account = defaultAccount();
    const second = await connectChannel();
    // channels.list spent a unit of the first pool: the second channel goes to the other one.
    expect(new Set([first.clientId, second.clientId]).size).toBe(2);

    const listed = await api<{ channels: unknown[] }>(
      `/youtube/channels?workspaceId=${workspaceId}`,
    );
    expect(listed.body.channels).toHaveLength(2);
    const text = JSON.stringify(listed.body);
    expect(text).not.toMatch(/token|secret|ciphertext/i);
    for (const refreshToken of google.refreshTokens) expect(text).not.toContain(refreshToken);

    // Another team's user sees a 404 for this workspace.
    const stranger = (await node.signup('Eve')).accessToken;
    expect(
      (await api(`/youtube/channels?workspaceId=${workspaceId}`, { token: stranger })).status,
    ).toBe(404);
    const refused = await api('/youtube/connect', {
      method: 'POST',
      token: stranger,
      json: { workspaceId },
    });
    expect(refused.status).toBe(404);
  });

  it('lets editors connect, viewers only list, and only owners disconnect', async () => {
    const editor = await node.signup('Ed');
    const viewer = await node.signup('Vi');
    for (const [who, role] of [
      [editor, 'editor'],
      [viewer, 'viewer'],
    ] as const) {
      const added = await api(`/workspaces/${workspaceId}/members`, {
        method: 'POST',
        json: { email: who.user.email, role },
      });
      expect(added.status).toBeLessThan(300);
    }
    google.account = defaultAccount();
    const { callback } = await consent(editor.accessToken);
    expect((await node.request(callback, { redirect: 'manual' })).status).toBe(302);
    const asViewer = await api<{ channels: Array<{ id: string }> }>(
      `/youtube/channels?workspaceId=${workspaceId}`,
      { token: viewer.accessToken },
    );
    expect(asViewer.status).toBe(200);
    const connectAsViewer = await api('/youtube/connect', {
      method: 'POST',
      token: viewer.accessToken,
      json: { workspaceId },
    });
    expect(connectAsViewer.status).toBe(403);
    const channelId = asViewer.body.channels.at(-1)!.id;
    const byEditor = await api(`/youtube/channels/${channelId}`, {
      method: 'DELETE',
      token: editor.accessToken,
    });
    expect(byEditor.status).toBe(403);
  });

  it('refuses a replayed or forged state with a 400 and stores nothing', async () => {
    const before = (
      await api<{ channels: unknown[] }>(`/youtube/channels?workspaceId=${workspaceId}`)
    ).body.channels.length;
    google.account = defaultAccount();
    const { callback } = await consent();
    expect((await node.request(callback, { redirect: 'manual' })).status).toBe(302);
    const replayed = await node.request(callback, { redirect: 'manual' });
    expect(replayed.status).toBe(400);
    expect(((await replayed.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_state',
    );

    google.account = defaultAccount();
    const fresh = await consent();
    const forged = new URL(fresh.callback, 'http://x');
    forged.searchParams.set('state', randomBytes(32).toString('base64url'));
    const answer = await node.request(`${forged.pathname}${forged.search}`, { redirect: 'manual' });
    expect(answer.status).toBe(400);
    const after = (
      await api<{ channels: unknown[] }>(`/youtube/channels?workspaceId=${workspaceId}`)
    ).body.channels.length;
    expect(after).toBe(before + 1);
  });

  it('refreshes an expired access token by itself', async () => {
    const [row] = await database.db.select().from(tables.youtubeChannels).limit(1);
    const client = node.services.youtube.authorizedClient(row!);
    const data = node.services.youtube.dataApi(client);
    const grants = google.refreshGrants;
    await data.channels.list({ part: ['snippet'], mine: true });
    expect(google.refreshGrants).toBe(grants + 1);
    google.expireAccessTokens();
    const again = await data.channels.list({ part: ['snippet'], mine: true });
    expect(again.data.items?.[0]?.id).toBe(row!.youtubeChannelId);
    expect(google.refreshGrants).toBe(grants + 2);
  });

  it('resumes an upload after a connection dropped mid-chunk; Google holds the exact bytes', async () => {
    const channel = await connectChannel();
    const video = randomBytes(1024 * 1024 + 123_457);
    await storedRender(video);
    // The first chunk (512 KiB) is cut after 300 KiB: Google keeps 256 KiB and says so.
    google.dropNextChunkAfter = 300 * 1024;
    google.failNextChunks = 0;
    const before = await balance();
    const puts = () => google.calls.filter((c) => c.method === 'PUT').length;
    const putsBefore = puts();
    const run = await publishRun(channel.id, 'unlisted');
    expect(run.status, JSON.stringify(run.error)).toBe('completed');
    const artifact = run.steps[0]!.artifacts[0]!;
    expect(artifact.kind).toBe('youtube');
    const stored = google.videos.get(artifact.youtubeVideoId!)!;
    expect(Buffer.compare(stored.bytes, video)).toBe(0);
    expect(stored.metadata).toMatchObject({
      snippet: { title: 'Morning routines', description: '1. Cold open\n2. Why mornings matter' },
      status: { privacyStatus: 'unlisted' },
    });
    // 1 status query + the cut chunk + a status query + 3 more chunks at least.
    expect(puts() - putsBefore).toBeGreaterThanOrEqual(5);
    expect(await balance()).toBe(before - 5);
  });

  it('retries a 5xx chunk and uses private by default', async () => {
    const channel = await connectChannel();
    const video = randomBytes(700 * 1024);
    await storedRender(video);
    google.failNextChunks = 2;
    const run = await publishRun(channel.id);
    expect(run.status, JSON.stringify(run.error)).toBe('completed');
    const stored = google.videos.get(run.steps[0]!.artifacts[0]!.youtubeVideoId!)!;
    expect(Buffer.compare(stored.bytes, video)).toBe(0);
    expect(stored.metadata).toMatchObject({ status: { privacyStatus: 'private' } });
  });

  it('a worker that died mid-upload leaves its session; another resumes that same session', async () => {
    const channel = await connectChannel();
    const video = randomBytes(1536 * 1024 + 99);
    await storedRender(video);
    const stepKey = `pipeline:${randomUUID()}:0`;
    const input = {
      stepKey,
      workspaceId,
      projectId,
      channelId: channel.id,
      title: 'Crash test',
      description: '',
      privacy: 'private' as const,
    };
    const starts = () =>
      google.calls.filter((c) => c.path === '/upload/youtube/v3/videos' && c.method === 'POST')
        .length;
    const startsBefore = starts();
    // The first worker dies after its second chunk (its signal aborts, as on SIGKILL nothing more is sent).
    const dying = new AbortController();
    let chunks = 0;
    const first = new YoutubePublisher({
      db: database.db,
      storage: node.services.storage,
      youtube: node.services.youtube,
      chunkBytes: 512 * 1024,
    });
    await expect(
      first.publish({
        ...input,
        signal: dying.signal,
        progress: () => {
          if (++chunks === 2) dying.abort('killed');
        },
      }),
    ).rejects.toThrow();
    expect(google.sessionBytes()).toContain(1024 * 1024);
    const second = new YoutubePublisher({
      db: database.db,
      storage: node.services.storage,
      youtube: node.services.youtube,
      chunkBytes: 512 * 1024,
    });
    const putsBefore = google.calls.filter((c) => c.method === 'PUT').length;
    const { youtubeVideoId } = await second.publish({
      ...input,
      signal: new AbortController().signal,
      progress: () => {},
    });
    expect(starts() - startsBefore).toBe(1);
    // A status query and the two chunks Google did not have.
    expect(google.calls.filter((c) => c.method === 'PUT').length - putsBefore).toBe(3);
    expect(Buffer.compare(google.videos.get(youtubeVideoId)!.bytes, video)).toBe(0);
  });

  it('starts one new session when Google forgot the stored one, and uploads every byte into it', async () => {
    const channel = await connectChannel();
    const video = randomBytes(1024 * 1024 + 4321);
    await storedRender(video);
    const stepKey = `pipeline:${randomUUID()}:0`;
    const input = {
      stepKey,
      workspaceId,
      projectId,
      channelId: channel.id,
      title: 'Expired session',
      description: '',
      privacy: 'private' as const,
    };
    const publisher = () =>
      new YoutubePublisher({
        db: database.db,
        storage: node.services.storage,
        youtube: node.services.youtube,
        chunkBytes: 512 * 1024,
      });
    const starts = () =>
      google.calls.filter((c) => c.path === '/upload/youtube/v3/videos' && c.method === 'POST')
        .length;
    const startsBefore = starts();
    // A first worker sends one chunk and dies; a week later Google has forgotten the session.
    const dying = new AbortController();
    await expect(
      publisher().publish({
        ...input,
        signal: dying.signal,
        progress: () => dying.abort('killed'),
      }),
    ).rejects.toThrow();
    const [before] = await database.db
      .select()
      .from(tables.youtubeUploadSessions)
      .where(eq(tables.youtubeUploadSessions.stepKey, stepKey));
    google.expireUploadSessions();
    const messages: string[] = [];
    const { youtubeVideoId } = await publisher().publish({
      ...input,
      signal: new AbortController().signal,
      progress: (_value, message) => messages.push(message ?? ''),
    });
    expect(starts() - startsBefore).toBe(2);
    expect(messages).toContain('the upload session expired; starting a new one');
    expect(Buffer.compare(google.videos.get(youtubeVideoId)!.bytes, video)).toBe(0);
    const [after] = await database.db
      .select()
      .from(tables.youtubeUploadSessions)
      .where(eq(tables.youtubeUploadSessions.stepKey, stepKey));
    expect(after!.sessionUri).not.toBe(before!.sessionUri);
    expect(after!.youtubeVideoId).toBe(youtubeVideoId);
  });

  it('keeps no refresh token in plain text: raw PGlite files and every text column', async () => {
    const tokens = google.refreshTokens;
    expect(tokens.length).toBeGreaterThan(0);
    const columns = (await database.db.execute(sql`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and data_type in ('text', 'jsonb', 'character varying', 'json')
    `)) as unknown as { rows?: Array<{ table_name: string; column_name: string }> } & Array<{
      table_name: string;
      column_name: string;
    }>;
    const list = columns.rows ?? columns;
    expect(list.length).toBeGreaterThan(10);
    let dump = '';
    for (const { table_name, column_name } of list) {
      const result = (await database.db.execute(
        sql.raw(`select "${column_name}"::text as v from "${table_name}"`),
      )) as unknown as { rows?: Array<{ v: string | null }> } & Array<{ v: string | null }>;
      for (const row of result.rows ?? result) dump += `${row.v ?? ''}\n`;
    }
    const [channel] = await database.db.select().from(tables.youtubeChannels).limit(1);
    expect(dump).toContain(channel!.youtubeChannelId);
    for (const refreshToken of tokens) expect(dump).not.toContain(refreshToken);

    await database.db.execute(sql`checkpoint`);
    const files: string[] = [];
    const walk = async (dir: string) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else files.push(path);
      }
    };
    await walk(join(dataDir, 'pglite'));
    let sawChannel = false;
    for (const file of files) {
      const raw = await readFile(file);
      sawChannel ||= raw.includes(channel!.youtubeChannelId);
      for (const refreshToken of tokens) expect(raw.includes(refreshToken), file).toBe(false);
    }
    // The scan does see what is stored in clear (the channel id), so it would see a token.
    expect(sawChannel).toBe(true);
  });

  it('marks a pool exhausted on quotaExceeded, then refuses without calling Google until Pacific midnight', async () => {
    const channel = await connectChannel();
    await storedRender(randomBytes(300 * 1024));
    google.quotaExceeded = true;
    const before = await balance();
    const failed = await publishRun(channel.id);
    expect(failed.status).toBe('failed');
    expect(failed.error?.code).toBe('youtube_quota_exhausted');
    expect(await balance()).toBe(before);
    const quota = await api<{
      pools: Array<{ clientId: string; exhausted: boolean; resetAt: string }>;
    }>(`/youtube/quota?workspaceId=${workspaceId}`);
    const pool = quota.body.pools.find((p) => p.clientId === channel.clientId)!;
    expect(pool.exhausted).toBe(true);
    expect(pool.resetAt).toBe(nextPacificMidnight(clock).toISOString());
    expect((failed.error as { details?: { resetAt?: string } }).details?.resetAt).toBe(
      pool.resetAt,
    );

    google.quotaExceeded = false;
    const calls = google.calls.length;
    const refused = await publishRun(channel.id);
    expect(refused.error?.code).toBe('youtube_quota_exhausted');
    expect(google.calls.length).toBe(calls);

    // At the reset instant (no waiting: the quota's clock moves), the pool pays again.
    clock = new Date(pool.resetAt);
    const after = await publishRun(channel.id);
    expect(after.status, JSON.stringify(after.error)).toBe('completed');
    clock = new Date();
  });

  it('gives uploadLimitExceeded its own code', async () => {
    const channel = await connectChannel();
    google.uploadLimitExceeded = true;
    const run = await publishRun(channel.id);
    google.uploadLimitExceeded = false;
    expect(run.error?.code).toBe('youtube_upload_limit');
  });

  it('revokes the token at Google when an owner disconnects a channel', async () => {
    const channel = await connectChannel();
    const [row] = await database.db
      .select()
      .from(tables.youtubeChannels)
      .where(sql`${tables.youtubeChannels.id} = ${channel.id}`);
    const refreshToken = node.services.youtube.refreshToken(row!);
    const answer = await api(`/youtube/channels/${channel.id}`, { method: 'DELETE' });
    expect(answer.status).toBe(204);
    expect(google.revoked.has(refreshToken)).toBe(true);
    const listed = await api<{ channels: Array<{ id: string }> }>(
      `/youtube/channels?workspaceId=${workspaceId}`,
    );
    expect(listed.body.channels.map((c) => c.id)).not.toContain(channel.id);
    expect((await api(`/youtube/channels/${channel.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('runs thumbnail, render and publish: the video on YouTube is the render, with its thumbnail', async () => {
    const channel = await connectChannel();
    const created = await api<{ run: PipelineRun }>(`/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json: { steps: ['thumbnail', 'render', 'publish'], publish: { channelId: channel.id } },
    });
    expect(created.status).toBe(202);
    const run = await finished(created.body.run.id);
    expect(run.status, JSON.stringify(run.error)).toBe('completed');
    const render = run.steps.find((s) => s.name === 'render')!.artifacts[0]!;
    const published = run.steps.find((s) => s.name === 'publish')!.artifacts[0]!;
    expect(published.youtubeVideoId).toMatch(/^[\w-]{11}$/);
    const output = await node.request(`/api/v1/renders/${render.renderId}/output`, { token });
    const bytes = Buffer.from(await output.arrayBuffer());
    const stored = google.videos.get(published.youtubeVideoId!)!;
    expect(Buffer.compare(stored.bytes, bytes)).toBe(0);
    expect(stored.thumbnail?.length ?? 0).toBeGreaterThan(1000);
  }, 180_000);
});
