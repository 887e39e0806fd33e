import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineRun } from '../../shared/pipeline.ts';
import { parseScript } from '../../shared/script-format.ts';
import type { PipelineProgressEvent } from '../../shared/socket-events.ts';
import { connectSocket, connectYjs, type TestSocket } from '../realtime/support/clients.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { meanVolume, probeFile as probe, until } from './support/media-checks.ts';

describe('pipeline runs (embedded: PGlite, in-process queues, real FFmpeg and TTS)', () => {
  let node: TestNode;
  let token: string;
  let workspaceId: string;
  let projectId: string;
  let scratch: string;
  let socket: TestSocket;
  const events: PipelineProgressEvent[] = [];

  const api = async <T>(path: string, init: Parameters<TestNode['request']>[1] = {}) => {
    const response = await node.request(`/api/v1${path}`, { token, ...init });
    return { status: response.status, body: (await response.json()) as T };
  };
  const finished = (runId: string) =>
    until(`run ${runId} to finish`, async () => {
      const { body } = await api<{ run: PipelineRun }>(`/pipeline-runs/${runId}`);
      return ['completed', 'failed', 'cancelled'].includes(body.run.status) ? body.run : undefined;
    });
  const download = async (assetId: string, name: string) => {
    const response = await node.request(`/api/v1/assets/${assetId}/content`, { token });
    expect(response.status).toBe(200);
    const path = join(scratch, name);
    await writeFile(path, Buffer.from(await response.arrayBuffer()));
    return path;
  };

  beforeAll(async () => {
    node = await startTestNode({ config: { reconcileIntervalMs: 60_000 } });
    scratch = await mkdtemp(join(tmpdir(), 'pipeline-test-'));
    const session = await node.signup('Ada');
    token = session.accessToken;
    const { body } = await api<{ workspaces: Array<{ id: string }> }>('/workspaces');
    workspaceId = body.workspaces[0]!.id;
    const created = await api<{ project: { id: string } }>('/projects', {
      method: 'POST',
      json: { workspaceId, title: 'Morning routines', topic: 'morning routines' },
    });
    projectId = created.body.project.id;
    // Enough credits for several runs, without Stripe.
    const granted = await api<{ balance: number }>('/billing/grants', {
      method: 'POST',
      json: { workspaceId, credits: 1000, reason: 'pipeline tests' },
    });
    expect(granted.status).toBe(201);
    socket = connectSocket(node.url, token);
    socket.on('pipeline:progress', (event) => events.push(event));
    const ack = await socket.timeout(5000).emitWithAck('project:join', { projectId });
    expect(ack).toEqual({ ok: true });
  }, 60_000);

  afterAll(async () => {
    socket?.disconnect();
    await node?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('turns a topic into a script, voice-overs, a thumbnail and a video', async () => {
    const created = await api<{ run: PipelineRun }>(`/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json: { idempotencyKey: 'first' },
    });
    expect(created.status).toBe(202);
    expect(created.body.run.steps.map((step) => step.name)).toEqual([
      'script',
      'voiceover',
      'thumbnail',
      'render',
    ]);
    const again = await api<{ run: PipelineRun }>(`/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json: { idempotencyKey: 'first' },
    });
    expect(again.body.run.id).toBe(created.body.run.id);

    const done = await finished(created.body.run.id);
    expect(done.status, JSON.stringify(done.steps.map((s) => s.error))).toBe('completed');

    // The script is in the live document, read back with a stock y-websocket client.
    const yjs = connectYjs(node.url.replace('http', 'ws'), `project/${projectId}/script`, token);
    const text = await until('the script to sync', async () => yjs.text() || undefined);
    yjs.destroy();
    const scenes = parseScript(text).scenes;
    expect(scenes.length).toBeGreaterThanOrEqual(3);
    expect(scenes[0]!.notes.join(' ')).toMatch(/offline/i);
    expect(text).toContain('morning routines');

    const voiceovers = done.steps[1]!.artifacts.filter((a) => a.kind === 'voiceover');
    expect(voiceovers).toHaveLength(scenes.filter((s) => s.narration).length);
    let total = 0;
    for (const artifact of voiceovers) {
      const path = await download(artifact.assetId!, `${artifact.sceneIndex}.wav`);
      const probed = await probe(path);
      const seconds = Number(probed.format.duration);
      expect(seconds).toBeCloseTo(artifact.durationSec!, 1);
      expect(await meanVolume(path)).toBeGreaterThan(-40);
      total += seconds;
    }
    const subtitles = done.steps[1]!.artifacts.find((a) => a.kind === 'subtitles')!;
    const vtt = await node.request(`/api/v1/assets/${subtitles.assetId}/content`, { token });
    expect(await vtt.text()).toMatch(/^WEBVTT\n\n1\n00:00:00\.000 --> /);

    const thumbnail = done.steps[2]!.artifacts[0]!;
    expect(thumbnail).toMatchObject({ kind: 'thumbnail', width: 1280, height: 720 });
    const png = await probe(await download(thumbnail.assetId!, 'thumb.png'));
    expect(png.streams[0]).toMatchObject({ codec_name: 'png', width: 1280, height: 720 });
    const asset = await api<{ asset: { kind: string } }>(`/assets/${thumbnail.assetId}`);
    expect(asset.body.asset.kind).toBe('image');

    const video = done.steps[3]!.artifacts[0]!;
    expect(video.kind).toBe('video');
    const mp4 = await node.request(`/api/v1/renders/${video.renderId}/output`, { token });
    const mp4Path = join(scratch, 'video.mp4');
    await writeFile(mp4Path, Buffer.from(await mp4.arrayBuffer()));
    const probed = await probe(mp4Path);
    expect(probed.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    const silent = scenes.filter((s) => !s.narration).length * 3;
    expect(Number(probed.format.duration)).toBeCloseTo(total + silent, 0);
    expect(await meanVolume(mp4Path)).toBeGreaterThan(-45);

    // Progress reached the room at the start and end of every step.
    for (const step of ['script', 'voiceover', 'thumbnail', 'render']) {
      const mine = events.filter((e) => e.runId === done.id && e.step === step);
      expect(
        mine.some((e) => e.status === 'running'),
        step,
      ).toBe(true);
      expect(
        mine.some((e) => e.status === 'completed' && e.progress === 1),
        step,
      ).toBe(true);
    }

    // A scene edit re-synthesises only that scene.
    const editor = connectYjs(node.url.replace('http', 'ws'), `project/${projectId}/script`, token);
    await until('the editor to sync', async () => editor.text() || undefined);
    const ytext = editor.doc.getText('script');
    const at = ytext.toString().indexOf('Start small.');
    expect(at).toBeGreaterThan(0);
    ytext.insert(at, 'Really, ');
    await until('the edit to be stored', async () => {
      const { body } = await api<{ script: { text: string } }>(`/projects/${projectId}/script`);
      return JSON.stringify(body).includes('Really, Start small.') ? true : undefined;
    });
    editor.destroy();
    const second = await api<{ run: PipelineRun }>(`/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json: { steps: ['voiceover'] },
    });
    const redone = await finished(second.body.run.id);
    expect(redone.status).toBe('completed');
    const fresh = redone.steps[0]!.artifacts.filter((a) => a.kind === 'voiceover');
    expect(fresh.filter((a) => !a.cached).map((a) => a.sceneIndex)).toEqual([2]);
    expect(fresh.filter((a) => a.cached)).toHaveLength(voiceovers.length - 1);
  }, 300_000);

  it('fails a step without its input, refunds nothing kept, and retry resumes there', async () => {
    const balanceBefore = (
      await api<{ balance: number }>(`/billing/balance?workspaceId=${workspaceId}`)
    ).body.balance;
    // Edit a scene so the render finds no voice-over for it: the render step fails.
    await node.services.realtime.editDocument(`project/${projectId}/script`, (doc) => {
      const text = doc.getText('script');
      const at = text.toString().indexOf('Subscribe');
      text.insert(at, 'Please ');
    });
    const started = await api<{ run: PipelineRun }>(`/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json: { steps: ['thumbnail', 'render'] },
    });
    const failed = await finished(started.body.run.id);
    expect(failed.status).toBe('failed');
    expect(failed.steps[0]!.status).toBe('completed');
    expect(failed.steps[1]!.error?.code).toBe('missing_input');
    const balanceAfter = (
      await api<{ balance: number }>(`/billing/balance?workspaceId=${workspaceId}`)
    ).body.balance;
    expect(balanceAfter).toBe(balanceBefore);
    const thumbnailAsset = failed.steps[0]!.artifacts[0]!.assetId;

    // Make the missing voice-over, then resume the failed run at its render step.
    const voice = await api<{ run: PipelineRun }>(`/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json: { steps: ['voiceover'] },
    });
    expect((await finished(voice.body.run.id)).status).toBe('completed');
    const retried = await api<{ run: PipelineRun }>(`/pipeline-runs/${failed.id}/retry`, {
      method: 'POST',
    });
    expect(retried.status).toBe(202);
    const resumed = await finished(failed.id);
    expect(resumed.status).toBe('completed');
    // The thumbnail step was not run again: same artifact, same attempt.
    expect(resumed.steps[0]!.artifacts[0]!.assetId).toBe(thumbnailAsset);
    expect(resumed.steps[0]!.startedAt).toBe(failed.steps[0]!.startedAt);
    expect(resumed.steps[1]!.artifacts[0]!.kind).toBe('video');
  }, 300_000);

  it('refuses bad input naming the field, viewers and strangers', async () => {
    const post = (json: unknown, as = token) =>
      node.request(`/api/v1/projects/${projectId}/pipeline-runs`, {
        method: 'POST',
        token: as,
        json,
      });
    const cases: Array<[unknown, RegExp]> = [
      [{ steps: ['dance'] }, /steps\.0/],
      [{ steps: ['render', 'voiceover'] }, /steps\.1/],
      [{ steps: ['publish'] }, /publish\.channelId/],
      [{ steps: ['script'] }, /steps/],
    ];
    for (const [body, field] of cases) {
      const response = await post(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
        field,
      );
    }
    const stranger = await node.signup('Stranger');
    expect((await post({}, stranger.accessToken)).status).toBe(404);
    const viewer = await node.signup('Viewer');
    const added = await node.request(`/api/v1/workspaces/${workspaceId}/members`, {
      method: 'POST',
      token,
      json: { email: viewer.user.email, role: 'viewer' },
    });
    expect(added.status).toBeLessThan(300);
    expect((await post({}, viewer.accessToken)).status).toBe(403);
    const runs = await node.request(`/api/v1/projects/${projectId}/pipeline-runs`, {
      token: viewer.accessToken,
    });
    expect(runs.status).toBe(200);
  });

  it('fails a step whose spend would pass the daily limit, and one without credits', async () => {
    // Coach spend counts toward the daily limit.
    const { tables } = await import('../../server/db/index.ts');
    const limited = await startTestNode({
      config: { pipeline: { dailySpendLimitUsd: 1 } },
    });
    try {
      const session = await limited.signup('Limited');
      const request = async <T>(path: string, init: Parameters<TestNode['request']>[1] = {}) =>
        (await (
          await limited.request(`/api/v1${path}`, { token: session.accessToken, ...init })
        ).json()) as T;
      const { workspaces } = await request<{ workspaces: Array<{ id: string }> }>('/workspaces');
      const ws = workspaces[0]!.id;
      const { project } = await request<{ project: { id: string } }>('/projects', {
        method: 'POST',
        json: { workspaceId: ws, title: 'Limits', topic: 'limits' },
      });
      await limited.database.db.insert(tables.chatMessages).values({
        id: crypto.randomUUID(),
        projectId: project.id,
        workspaceId: ws,
        userId: session.user.id,
        role: 'assistant',
        content: 'an expensive reply',
        status: 'complete',
        costUsd: 2,
        createdAt: new Date(),
      } as never);
      const { run } = await request<{ run: PipelineRun }>(`/projects/${project.id}/pipeline-runs`, {
        method: 'POST',
        json: {},
      });
      const final = await until('the limited run', async () => {
        const { run: now } = await request<{ run: PipelineRun }>(`/pipeline-runs/${run.id}`);
        return now.status === 'failed' ? now : undefined;
      });
      expect(final.steps[0]!.error?.code).toBe('spend_limit_reached');
      expect(final.steps.slice(1).every((s) => s.status === 'cancelled')).toBe(true);

      // Another workspace of the same node, with no spend but its credits spent: refused for credits.
      const poor = await limited.signup('Poor');
      const poorRequest = async <T>(path: string, init: Parameters<TestNode['request']>[1] = {}) =>
        (await (
          await limited.request(`/api/v1${path}`, { token: poor.accessToken, ...init })
        ).json()) as T;
      const poorWs = (await poorRequest<{ workspaces: Array<{ id: string }> }>('/workspaces'))
        .workspaces[0]!.id;
      const { project: poorProject } = await poorRequest<{ project: { id: string } }>('/projects', {
        method: 'POST',
        json: { workspaceId: poorWs, title: 'Broke', topic: 'saving money' },
      });
      await limited.database.db
        .update(tables.wallets)
        .set({ balance: 5 })
        .where((await import('drizzle-orm')).eq(tables.wallets.workspaceId, poorWs));
      const { run: poorRun } = await poorRequest<{ run: PipelineRun }>(
        `/projects/${poorProject.id}/pipeline-runs`,
        { method: 'POST', json: {} },
      );
      const refused = await until('the run without credits', async () => {
        const { run: now } = await poorRequest<{ run: PipelineRun }>(
          `/pipeline-runs/${poorRun.id}`,
        );
        return now.status === 'failed' ? now : undefined;
      });
      expect(refused.steps[0]!.error?.code).toBe('insufficient_credits');
      expect(refused.steps[0]!.credits).toBe(0);
      const text = await limited.services.realtime.getDocumentText(
        `project/${poorProject.id}/script`,
      );
      expect(text).toBe('');
    } finally {
      await limited.close();
    }
  }, 60_000);
});
