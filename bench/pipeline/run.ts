// bench/pipeline: a 60 s, 8-scene script through voiceover, thumbnail and render on an
// embedded node (PGlite, in-process queue and render workers), all figures measured in this run:
//   (a) overhead: the pipeline run (REST -> step jobs -> TTS -> thumbnail -> render farm ->
//       completed) against the same engine calls made directly, with no Reelroom around them:
//       synthesizeVoiceOver per scene (same TTS engine, loudnorm), ThumbnailMaker, and
//       FfmpegRenderer on the same render spec (target ratio <= 1.10);
//   (b) a re-run after one scene's narration is edited, against that project's first run: only
//       that scene is synthesised again (target <= 0.25 of the first run's time).
// Rounds interleave the two sides (alternating which goes first) and report medians.
//
//   npm run bench:pipeline [-- --rounds 3]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type AssetResolver,
  FfmpegRenderer,
  resolveFfmpegBinaries,
  ThumbnailMaker,
} from '../../render-farm/index.ts';
import {
  chooseSpeechEngine,
  detectSpeechEngines,
  type SpeechEngine,
  synthesizeVoiceOver,
} from '../../render-farm/speech/index.ts';
import type { PipelineRun } from '../../shared/pipeline.ts';
import { type RenderSpec, renderSpecSchema } from '../../shared/render-spec.ts';
import { parseScript } from '../../shared/script-format.ts';
import { SCRIPT_TEXT, yjsDocName } from '../../shared/yjs-docs.ts';
import { startTestNode, type TestNode } from '../../test/support/test-node.ts';
import { fmt, median } from '../support/measure.ts';
import { progressBar } from '../support/progress-bar.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error('--rounds must be a whole number >= 1');

const OVERHEAD_TARGET = 1.1;
const RERUN_TARGET = 0.25;
const TITLE = 'Eight scenes in a minute';
/** The pipeline's thumbnail background for a project without images (pipeline-steps.ts). */
const THUMBNAIL_BACKGROUND = { type: 'gradient', from: '#1e3a5f', to: '#0b0f19' } as const;

/** Eight scenes of about 7.5 s of narration each (~20 words at the offline voices' pace). */
function benchScript(variant: number): string {
  const topics = [
    'Every video starts with one clear promise to the viewer',
    'Pick a single topic and cut everything that does not serve it',
    'Write the narration first, then plan the pictures around it',
    'Short sentences are easier to say and easier to follow',
    'Record a rough cut early and watch it with fresh eyes',
    'Captions help people who watch without sound, which is most of them',
    'A strong thumbnail names the payoff in three words or fewer',
    'End with one next step, and make it easy to take',
  ];
  return topics
    .map(
      (line, i) =>
        `# Scene ${i + 1}\n// bench round ${variant}\n${line}. Keep it simple and keep it moving, round ${variant}.`,
    )
    .join('\n---\n');
}

/** The script with one scene's narration changed (scene 4). */
function editedScript(variant: number): string {
  return benchScript(variant).replace(
    'Short sentences are easier to say',
    'Plain short sentences are much easier to say',
  );
}

interface Bench {
  node: TestNode;
  token: string;
  workspaceId: string;
  dir: string;
}

async function api<T>(bench: Bench, method: string, pathname: string, body?: unknown): Promise<T> {
  const response = await bench.node.request(`/api/v1${pathname}`, {
    method,
    token: bench.token,
    ...(body !== undefined ? { json: body } : {}),
  });
  if (!response.ok)
    throw new Error(`${method} ${pathname}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function newProject(bench: Bench, script: string): Promise<string> {
  const { project } = await api<{ project: { id: string } }>(bench, 'POST', '/projects', {
    workspaceId: bench.workspaceId,
    title: TITLE,
    topic: 'making videos',
  });
  await writeScript(bench, project.id, script);
  return project.id;
}

/** A server edit of the live script, as a collaborator's typing would land in it. */
async function writeScript(bench: Bench, projectId: string, script: string): Promise<void> {
  await bench.node.services.realtime.editDocument(yjsDocName(projectId, 'script'), (doc) => {
    const text = doc.getText(SCRIPT_TEXT);
    text.delete(0, text.length);
    text.insert(0, script);
  });
}

/** POST a run of voiceover, thumbnail, render and wait for its end; seconds from POST to completed. */
async function pipelineRun(
  bench: Bench,
  projectId: string,
): Promise<{ seconds: number; run: PipelineRun }> {
  const started = performance.now();
  let { run } = await api<{ run: PipelineRun }>(
    bench,
    'POST',
    `/projects/${projectId}/pipeline-runs`,
    {
      steps: ['voiceover', 'thumbnail', 'render'],
    },
  );
  while (run.status === 'queued' || run.status === 'running') {
    await new Promise((resolve) => setTimeout(resolve, 50));
    ({ run } = await api<{ run: PipelineRun }>(bench, 'GET', `/pipeline-runs/${run.id}`));
  }
  const seconds = (performance.now() - started) / 1000;
  if (run.status !== 'completed')
    throw new Error(`run ${run.id} ended ${run.status}: ${JSON.stringify(run.error)}`);
  return { seconds, run };
}

/** The render spec the pipeline built for a run (its video artifact's render). */
async function specOf(bench: Bench, run: PipelineRun): Promise<RenderSpec> {
  const video = run.steps.flatMap((step) => step.artifacts).find((a) => a.kind === 'video');
  const { render } = await api<{ render: { spec: unknown } }>(
    bench,
    'GET',
    `/renders/${video!.renderId}`,
  );
  return renderSpecSchema.parse(render.spec);
}

/**
 * The same work without Reelroom: each narrated scene through synthesizeVoiceOver (the node's
 * engine and FFmpeg), the thumbnail through ThumbnailMaker, and FfmpegRenderer on the spec the
 * pipeline built, its voice-over ids pointing at this side's own WAVs.
 */
async function bareRun(
  script: string,
  template: RenderSpec,
  engine: SpeechEngine,
  dir: string,
): Promise<number> {
  const ffmpeg = resolveFfmpegBinaries();
  const work = mkdtempSync(path.join(dir, 'bare-'));
  const started = performance.now();
  const wavs: string[] = [];
  for (const scene of parseScript(script).scenes) {
    if (scene.narration === '') continue;
    const outputPath = path.join(work, `scene-${scene.index}.wav`);
    await synthesizeVoiceOver({
      narration: scene.narration,
      engine,
      ffmpeg,
      scratchDir: work,
      outputPath,
    });
    wavs.push(outputPath);
  }
  await new ThumbnailMaker({ ffmpegPath: ffmpeg.ffmpegPath, ffprobePath: ffmpeg.ffprobePath }).make(
    {
      title: TITLE,
      background: THUMBNAIL_BACKGROUND,
      outputPath: path.join(work, 'thumbnail.png'),
    },
  );
  const ids = template.scenes
    .map((scene) => scene.voiceoverAssetId)
    .filter((id) => id !== undefined);
  const byId = new Map(ids.map((id, i) => [id, wavs[i]!]));
  const assets: AssetResolver = {
    resolve: async (_projectId, assetId) => {
      const file = byId.get(assetId);
      return file ? { id: assetId, kind: 'audio', path: file } : null;
    },
  };
  await new FfmpegRenderer({ ...ffmpeg }).render({
    spec: template,
    projectId: 'bench',
    assets,
    videoPath: path.join(work, 'out.mp4'),
    thumbnailPath: path.join(work, 'out.png'),
  });
  const seconds = (performance.now() - started) / 1000;
  rmSync(work, { recursive: true, force: true });
  return seconds;
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'reelroom-bench-pipeline-'));
  mkdirSync(dir, { recursive: true });
  const node = await startTestNode();
  const engine = chooseSpeechEngine({
    provider: 'offline',
    installed: await detectSpeechEngines({ searchPath: process.env.PATH ?? '' }),
  });
  try {
    const owner = await node.signup('Bench');
    const { workspaces } = (await (
      await node.request('/api/v1/workspaces', { token: owner.accessToken })
    ).json()) as { workspaces: Array<{ id: string }> };
    const bench: Bench = { node, token: owner.accessToken, workspaceId: workspaces[0]!.id, dir };
    // Credits for every round (payments are off in embedded mode).
    await api(bench, 'POST', '/billing/grants', {
      workspaceId: bench.workspaceId,
      credits: 100_000,
      reason: 'bench:pipeline',
    });

    // Warm-up (not measured): engines, fonts, the database's first queries; and the spec the
    // pipeline builds for this script, which the bare side renders too.
    const warm = await pipelineRun(bench, await newProject(bench, benchScript(0)));
    const template = await specOf(bench, warm.run);
    const videoSec = warm.run.steps
      .flatMap((step) => step.artifacts)
      .find((a) => a.kind === 'video')?.durationSec;
    const scenes = template.scenes.length;

    const piped: number[] = [];
    const bare: number[] = [];
    const reruns: number[] = [];
    const resynthesised: number[] = [];
    const bar = progressBar(rounds * 3, 'pipeline rounds');
    for (let round = 1; round <= rounds; round += 1) {
      const script = benchScript(round);
      const pipelineSide = async () => {
        const projectId = await newProject(bench, script);
        const first = await pipelineRun(bench, projectId);
        piped.push(first.seconds);
        bar.tick();
        await writeScript(bench, projectId, editedScript(round));
        const again = await pipelineRun(bench, projectId);
        reruns.push(again.seconds / first.seconds);
        resynthesised.push(
          again.run.steps
            .flatMap((step) => step.artifacts)
            .filter((a) => a.kind === 'voiceover' && !a.cached).length,
        );
        bar.tick();
      };
      const bareSide = async () => {
        bare.push(await bareRun(script, template, engine, dir));
        bar.tick();
      };
      // Alternate which side goes first, so a drifting machine does not favour one.
      if (round % 2) {
        await pipelineSide();
        await bareSide();
      } else {
        await bareSide();
        await pipelineSide();
      }
    }
    bar.done();

    const overhead = median(piped) / median(bare);
    const rerun = median(reruns);
    const list = (xs: number[]) => `[${xs.map((x) => fmt(x)).join(', ')}]`;
    console.log(
      `\nbench:pipeline: ${scenes} scenes, ${videoSec !== undefined ? fmt(videoSec, 1) : '?'} s of video at ${template.width}x${template.height} ${template.fps} fps, TTS ${engine.id}, median of ${rounds}`,
    );
    console.log('(a) voiceover + thumbnail + render');
    console.log(
      `  bare engine calls (TTS, ThumbnailMaker, FfmpegRenderer)  ${fmt(median(bare))} s   ${list(bare)}`,
    );
    console.log(
      `  pipeline run (POST -> steps -> render farm -> completed) ${fmt(median(piped))} s   ${list(piped)}`,
    );
    console.log(
      `  overhead ratio ${fmt(overhead, 3)} (target <= ${fmt(OVERHEAD_TARGET)}) ${overhead <= OVERHEAD_TARGET ? 'PASS' : 'MISS'}`,
    );
    console.log('(b) re-run after editing one scene, against the first run of the same project');
    console.log(`  scenes synthesised again per re-run ${resynthesised.join(', ')}`);
    console.log(
      `  re-run / first run ${fmt(rerun, 3)}   ${list(reruns)} (target <= ${fmt(RERUN_TARGET)}) ${rerun <= RERUN_TARGET ? 'PASS' : 'MISS'}`,
    );
  } finally {
    await engine.close().catch(() => undefined);
    await node.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
