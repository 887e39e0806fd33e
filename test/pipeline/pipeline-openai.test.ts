import { chmod, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq, inArray, lt } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveFfmpegBinaries } from '../../render-farm/ffmpeg-binaries.ts';
import { tables } from '../../server/db/index.ts';
import type { PipelineRun, ProjectCosts } from '../../shared/pipeline.ts';
import { expectLedgerConsistent } from '../billing/support/wallets.ts';
import { FakeLlmServer, speechLikeWav } from '../coach/support/fake-llm-server.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { meanVolume, probeFile as probe, until } from './support/media-checks.ts';

const { ffmpegPath, ffprobePath } = resolveFfmpegBinaries();

const DRAFT = [
  '# Morning light\n',
  'Wake up with the sun. Open the curtains wide.\n',
  '---\n',
  '# Water first\n',
  '// keep it short\n',
  'Drink a glass of water. Your body will thank you.\n',
  '---\n',
  '# Move a little\n',
  'Stretch for five minutes. Then start your day.\n',
];

describe('pipeline with OpenAI keyed (the SDK against a local fake of the API)', () => {
  let fake: FakeLlmServer;
  let node: TestNode;
  let token: string;
  let userId: string;
  let workspaceId: string;
  let projectId: string;
  let scratch: string;
  /** While it exists, the FFmpeg wrapper refuses to encode video (a render fails). */
  let brokenFlag: string;
  /** Milliseconds each `audio/speech` answer waits. */
  let speechDelayMs = 0;
  /** An HTTP error status every `audio/speech` answers with while set. */
  let speechStatus: number | undefined;

  const api = async <T>(path: string, init: Parameters<TestNode['request']>[1] = {}) => {
    const response = await node.request(`/api/v1${path}`, { token, ...init });
    return { status: response.status, body: (await response.json()) as T };
  };
  const getRun = async (runId: string) =>
    (await api<{ run: PipelineRun }>(`/pipeline-runs/${runId}`)).body.run;
  const finished = (runId: string) =>
    until(`run ${runId} to finish`, async () => {
      const now = await getRun(runId);
      return ['completed', 'failed', 'cancelled'].includes(now.status) ? now : undefined;
    });
  const start = async (json: unknown) => {
    const created = await api<{ run: PipelineRun }>(`/projects/${projectId}/pipeline-runs`, {
      method: 'POST',
      json,
    });
    expect(created.status).toBe(202);
    return created.body.run;
  };
  const download = async (assetId: string, name: string) => {
    const response = await node.request(`/api/v1/assets/${assetId}/content`, { token });
    expect(response.status).toBe(200);
    const path = join(scratch, name);
    await writeFile(path, Buffer.from(await response.arrayBuffer()));
    return path;
  };
  const calls = (path: string) => fake.requests.filter((r) => r.path === path).length;
  const providerCalls = () => ({
    chat: calls('/v1/chat/completions'),
    speech: calls('/v1/audio/speech'),
    images: calls('/v1/images/generations'),
  });
  /** Refund entries of the charges with this reference (0 or 1 each, by the ledger's unique key). */
  const refundsOf = async (reference: string) => {
    const db = node.database.db;
    const l = tables.creditLedger;
    const charges = await db
      .select({ id: l.id })
      .from(l)
      .where(and(eq(l.workspaceId, workspaceId), eq(l.reference, reference), lt(l.amount, 0)));
    expect(charges.length, `charges of ${reference}`).toBe(1);
    const refunds = await db
      .select({ amount: l.amount })
      .from(l)
      .where(
        inArray(
          l.refundOf,
          charges.map((c) => c.id),
        ),
      );
    return refunds.length;
  };
  /** The charge reference of a run's step (step ids are not on the wire). */
  const chargeOf = async (runId: string, name: string, round = 1) => {
    const s = tables.pipelineSteps;
    const [row] = await node.database.db
      .select({ id: s.id })
      .from(s)
      .where(and(eq(s.runId, runId), eq(s.name, name as 'voiceover')));
    return `pipeline-step:${row!.id}:${round}`;
  };
  const editScript = (edit: (text: string) => [number, string]) =>
    node.services.realtime.editDocument(`project/${projectId}/script`, (doc) => {
      const text = doc.getText('script');
      const [at, insert] = edit(text.toString());
      text.insert(at, insert);
    });

  beforeAll(async () => {
    fake = await FakeLlmServer.start('openai', {
      reply: (request) =>
        request.path === '/v1/audio/speech' && speechStatus
          ? { tokens: [], status: speechStatus }
          : { tokens: DRAFT, usage: { inputTokens: 120, outputTokens: 80 } },
      speech: async (request) => {
        if (speechDelayMs) await new Promise((resolve) => setTimeout(resolve, speechDelayMs));
        return speechLikeWav(Math.max(0.6, String(request.body.input).length * 0.06));
      },
    });
    scratch = await mkdtemp(join(tmpdir(), 'pipeline-openai-'));
    brokenFlag = join(scratch, 'broken');
    const wrapper = join(scratch, 'ffmpeg');
    await writeFile(
      wrapper,
      [
        '#!/bin/sh',
        `if [ -e '${brokenFlag}' ]; then`,
        '  for a in "$@"; do',
        '    if [ "$a" = libx264 ]; then echo "test: the video encoder is broken" >&2; exit 1; fi',
        '  done',
        'fi',
        `exec '${ffmpegPath}' "$@"`,
        '',
      ].join('\n'),
    );
    await chmod(wrapper, 0o755);
    const openai = { apiKey: 'sk-test', baseUrl: fake.baseUrl };
    node = await startTestNode({
      config: {
        reconcileIntervalMs: 60_000,
        ffmpegPath: wrapper,
        ffprobePath,
        coach: { provider: 'openai', openai, maxRetries: 0 },
        pipeline: { openai },
      },
    });
    const session = await node.signup('Ada');
    token = session.accessToken;
    userId = session.user.id;
    const { body } = await api<{ workspaces: Array<{ id: string }> }>('/workspaces');
    workspaceId = body.workspaces[0]!.id;
    const created = await api<{ project: { id: string } }>('/projects', {
      method: 'POST',
      json: { workspaceId, title: 'Morning routines', topic: 'morning routines' },
    });
    projectId = created.body.project.id;
    const granted = await api('/billing/grants', {
      method: 'POST',
      json: { workspaceId, credits: 2000, reason: 'pipeline tests' },
    });
    expect(granted.status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await node?.close();
    await fake?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('speaks through audio/speech, paints through images/generations, and records every call', async () => {
    const first = await start({});
    const done = await finished(first.id);
    expect(done.status, JSON.stringify(done.steps.map((s) => s.error))).toBe('completed');

    // Six sentences in three scenes: one audio/speech call each, tts-1 with the default voice.
    const speech = fake.requests.filter((r) => r.path === '/v1/audio/speech');
    expect(speech).toHaveLength(6);
    for (const request of speech) {
      expect(request.body).toMatchObject({
        model: 'tts-1',
        voice: 'alloy',
        response_format: 'wav',
      });
      expect(request.headers.authorization).toBe('Bearer sk-test');
    }
    const images = fake.requests.filter((r) => r.path === '/v1/images/generations');
    expect(images).toHaveLength(1);
    expect(images[0]!.body).toMatchObject({ model: 'gpt-image-1', size: '1536x1024', n: 1 });
    expect(String(images[0]!.body.prompt)).toContain('Morning routines');

    const voiceovers = done.steps[1]!.artifacts.filter((a) => a.kind === 'voiceover');
    expect(voiceovers.map((a) => a.sceneIndex)).toEqual([0, 1, 2]);
    let total = 0;
    for (const artifact of voiceovers) {
      const path = await download(artifact.assetId!, `${artifact.sceneIndex}.wav`);
      const seconds = Number((await probe(path)).format.duration);
      expect(seconds).toBeCloseTo(artifact.durationSec!, 1);
      expect(await meanVolume(path)).toBeGreaterThan(-40);
      total += seconds;
    }
    const thumbnail = done.steps[2]!.artifacts[0]!;
    expect(thumbnail).toMatchObject({ kind: 'thumbnail', width: 1280, height: 720 });
    const png = await probe(await download(thumbnail.assetId!, 'thumb.png'));
    expect(png.streams[0]).toMatchObject({ codec_name: 'png', width: 1280, height: 720 });
    const video = done.steps[3]!.artifacts[0]!;
    const mp4 = await node.request(`/api/v1/renders/${video.renderId}/output`, { token });
    const mp4Path = join(scratch, 'video.mp4');
    await writeFile(mp4Path, Buffer.from(await mp4.arrayBuffer()));
    const probed = await probe(mp4Path);
    expect(probed.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(Number(probed.format.duration)).toBeCloseTo(total, 0);

    // Costs by step and by member, each call with provider, model, units and USD.
    const { status, body } = await api<{ costs: ProjectCosts }>(`/projects/${projectId}/costs`);
    expect(status).toBe(200);
    const costs = body.costs;
    const script = costs.entries.filter((e) => e.step === 'script');
    expect(script).toEqual([
      expect.objectContaining({ provider: 'openai', model: 'gpt-4o', units: 200, unit: 'tokens' }),
    ]);
    expect(script[0]!.usd).toBeCloseTo((120 * 2.5 + 80 * 10) / 1e6, 9);
    const spoken = costs.entries.filter((e) => e.step === 'voiceover');
    expect(spoken).toHaveLength(6);
    expect(spoken.map((e) => e.units)).toEqual(speech.map((r) => String(r.body.input).length));
    for (const entry of spoken) {
      expect(entry).toMatchObject({ provider: 'openai', model: 'tts-1', unit: 'characters' });
      expect(entry.usd).toBeCloseTo((entry.units * 15) / 1e6, 9);
      expect(entry.userId).toBe(userId);
    }
    expect(costs.entries.filter((e) => e.step === 'thumbnail')).toEqual([
      expect.objectContaining({
        provider: 'openai',
        model: 'gpt-image-1',
        units: 1,
        unit: 'images',
        usd: 0.063,
      }),
    ]);
    expect(Object.fromEntries(costs.byStep.map((s) => [s.step, s.calls]))).toEqual({
      script: 1,
      voiceover: 6,
      thumbnail: 1,
    });
    expect(costs.byMember).toEqual([{ userId, usd: costs.totalUsd, calls: 8 }]);
    expect(done.costUsd).toBeCloseTo(costs.totalUsd, 9);
    expect(done.steps[1]!.costUsd).toBeCloseTo(
      spoken.reduce((sum, e) => sum + e.usd, 0),
      9,
    );
    await expectLedgerConsistent(node.database.db, workspaceId);
  }, 300_000);

  it('refunds a render that fails after it was charged once, and retry calls no earlier provider again', async () => {
    // A changed scene: the voice-over step calls the provider for that scene only.
    await editScript(
      (text) => [text.indexOf('Then start your day.'), 'Breathe in. '] as [number, string],
    );
    await writeFile(brokenFlag, '');
    const before = providerCalls();
    const failing = await start({ steps: ['voiceover', 'thumbnail', 'render'] });
    const failed = await finished(failing.id);
    expect(failed.status).toBe('failed');
    expect(failed.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'failed']);
    expect(failed.steps[2]!.error?.code).toBe('step_failed');
    expect(failed.steps[2]!.error?.message).toMatch(/render failed/);
    const afterFailure = providerCalls();
    // The changed scene's three sentences, no other scene.
    expect(afterFailure.speech - before.speech).toBe(3);
    expect(afterFailure.images - before.images).toBe(1);
    // The render was charged by the render farm and refunded once; the voice-over kept its charge.
    const renders = await node.database.db
      .select({ id: tables.renderJobs.id, status: tables.renderJobs.status })
      .from(tables.renderJobs)
      .where(eq(tables.renderJobs.projectId, projectId));
    const broken = renders.find((r) => r.status === 'failed');
    expect(broken).toBeDefined();
    expect(await refundsOf(broken!.id)).toBe(1);
    const voiceStep = failed.steps[0]!;
    expect(voiceStep.credits).toBeGreaterThan(0);
    expect(await refundsOf(await chargeOf(failed.id, 'voiceover'))).toBe(0);
    await expectLedgerConsistent(node.database.db, workspaceId);

    // Retry resumes at the render: no speech or image call again, the earlier artifacts kept.
    await unlink(brokenFlag);
    const retried = await api<{ run: PipelineRun }>(`/pipeline-runs/${failed.id}/retry`, {
      method: 'POST',
    });
    expect(retried.status).toBe(202);
    const resumed = await finished(failed.id);
    expect(resumed.status).toBe('completed');
    expect(providerCalls()).toEqual(afterFailure);
    expect(resumed.steps[0]!.startedAt).toBe(voiceStep.startedAt);
    expect(resumed.steps[1]!.artifacts).toEqual(failed.steps[1]!.artifacts);
    expect(resumed.steps[2]!.artifacts[0]!.kind).toBe('video');
    expect(await refundsOf(broken!.id)).toBe(1);
    expect(await refundsOf(resumed.steps[2]!.artifacts[0]!.renderId!)).toBe(0);
    await expectLedgerConsistent(node.database.db, workspaceId);
  }, 300_000);

  it('cancels over REST mid-step: the step cancelled and refunded once, later steps cancelled', async () => {
    await editScript((text) => [
      text.length,
      '\n---\n# Slow scene\nOne more sentence here. And another one. And a third. And a fourth.\n',
    ]);
    speechDelayMs = 1500;
    const balanceBefore = await expectLedgerConsistent(node.database.db, workspaceId);
    const before = calls('/v1/audio/speech');
    const started = await start({ steps: ['voiceover', 'thumbnail', 'render'] });
    await until('the voice-over to be speaking', async () =>
      calls('/v1/audio/speech') > before ? true : undefined,
    );
    const running = await getRun(started.id);
    expect(running.steps[0]!.status).toBe('running');
    expect(running.steps[0]!.credits).toBeGreaterThan(0);
    const cancelled = await api(`/pipeline-runs/${started.id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBeLessThan(300);
    // The run is cancelled at once; its running step when its worker has stopped it.
    await finished(started.id);
    const final = await until('every step to be final', async () => {
      const now = await getRun(started.id);
      return now.steps.every((step) => ['completed', 'failed', 'cancelled'].includes(step.status))
        ? now
        : undefined;
    });
    speechDelayMs = 0;
    expect(final.status).toBe('cancelled');
    expect(final.steps.map((s) => s.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(final.steps[0]!.credits).toBe(0);
    // Fewer than the four new sentences were spoken: the step stopped.
    expect(calls('/v1/audio/speech') - before).toBeLessThan(4);
    expect(await refundsOf(await chargeOf(started.id, 'voiceover'))).toBe(1);
    // A second cancel changes nothing.
    await api(`/pipeline-runs/${started.id}/cancel`, { method: 'POST' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await refundsOf(await chargeOf(started.id, 'voiceover'))).toBe(1);
    expect(await expectLedgerConsistent(node.database.db, workspaceId)).toBe(balanceBefore);
  }, 120_000);

  it('refunds a charged voice-over whose provider refuses, once, and retry resumes there', async () => {
    await editScript(
      (text) => [text.indexOf('Drink a glass'), 'First thing: '] as [number, string],
    );
    speechStatus = 400;
    const before = providerCalls();
    const started = await start({ steps: ['voiceover', 'thumbnail'] });
    const failed = await finished(started.id);
    speechStatus = undefined;
    expect(failed.status).toBe('failed');
    expect(failed.steps.map((s) => s.status)).toEqual(['failed', 'cancelled']);
    expect(failed.steps[0]!.credits).toBe(0);
    expect(failed.steps[0]!.error?.message).toMatch(/refused/);
    expect(await refundsOf(await chargeOf(started.id, 'voiceover'))).toBe(1);
    // Refused: not retried by the queue either.
    expect(providerCalls().speech - before.speech).toBe(1);
    await expectLedgerConsistent(node.database.db, workspaceId);

    const retried = await api(`/pipeline-runs/${started.id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(202);
    const resumed = await finished(started.id);
    expect(resumed.status).toBe('completed');
    // Round 2 is charged once and kept; round 1's refund stays the only one.
    expect(await refundsOf(await chargeOf(started.id, 'voiceover', 2))).toBe(0);
    expect(await refundsOf(await chargeOf(started.id, 'voiceover'))).toBe(1);
    expect(providerCalls().chat).toBe(before.chat);
    await expectLedgerConsistent(node.database.db, workspaceId);
  }, 120_000);
});

describe('speech prices (server/coach/prices.json)', () => {
  it('prices tts-1 and tts-1-hd by characters and gpt-4o-mini-tts by tokens', async () => {
    const { PriceTable } = await import('../../server/coach/price-table.ts');
    const prices = PriceTable.load();
    expect(prices.speechCostUsd('tts-1', { characters: 1000, durationSec: 60 })).toEqual({
      units: 1000,
      unit: 'characters',
      usd: 0.015,
    });
    expect(prices.speechCostUsd('tts-1-hd', { characters: 1000, durationSec: 60 }).usd).toBe(0.03);
    // 1000 characters ~ 250 text tokens in; 60 s ~ 1250 audio tokens out: about $0.015 a minute.
    const mini = prices.speechCostUsd('gpt-4o-mini-tts', { characters: 1000, durationSec: 60 });
    expect(mini).toMatchObject({ units: 250 + 1250, unit: 'tokens' });
    expect(mini.usd).toBeCloseTo((250 * 0.6 + 1250 * 12) / 1e6, 9);
    expect(prices.speechCostUsd('some-local-tts', { characters: 10, durationSec: 1 }).usd).toBe(0);
  });
});
