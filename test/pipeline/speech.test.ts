import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableError } from '../../render-farm/errors.ts';
import { resolveFfmpegBinaries } from '../../render-farm/ffmpeg-binaries.ts';
import {
  captionCues,
  chooseSpeechEngine,
  detectSpeechEngines,
  EspeakWasmEngine,
  FestivalEngine,
  FliteEngine,
  normalizeLoudness,
  OpenAISpeechEngine,
  readWavInfo,
  SpeechAbortedError,
  type SpeechEngine,
  SpeechRetryLaterError,
  synthesizeVoiceOver,
  toWebVtt,
  type VoiceOver,
  voiceOverCacheKey,
  vttTimestamp,
} from '../../render-farm/speech/index.ts';
import { splitSentences } from '../../shared/script-format.ts';
import { FakeLlmServer } from '../coach/support/fake-llm-server.ts';

const run = promisify(execFile);
const ffmpeg = resolveFfmpegBinaries();
const installed = await detectSpeechEngines({ searchPath: process.env.PATH ?? '' });

/** About ten seconds of speech in every engine. */
const NARRATION = [
  'Every video starts with a hook.',
  'In the first three seconds, the viewer decides whether to stay.',
  'So we open with a question: what would you do with one more hour a day?',
].join('\n');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'reelroom-speech-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** FFmpeg's `volumedetect` mean volume, dB. */
async function meanVolume(path: string): Promise<number> {
  const { stderr } = await run(ffmpeg.ffmpegPath, [
    ...['-hide_banner', '-nostats', '-i', path, '-af', 'volumedetect', '-f', 'null', '-'],
  ]);
  return Number(/mean_volume:\s*(-?[\d.]+) dB/.exec(stderr)?.[1]);
}

/** FFmpeg's `ebur128` summary: integrated loudness (LUFS) and true peak (dBFS). */
async function ebur128(path: string): Promise<{ integrated: number; truePeak: number }> {
  const { stderr } = await run(ffmpeg.ffmpegPath, [
    ...['-hide_banner', '-nostats', '-i', path, '-af', 'ebur128=peak=true', '-f', 'null', '-'],
  ]);
  const summary = stderr.slice(stderr.lastIndexOf('Summary:'));
  return {
    integrated: Number(/I:\s+(-?[\d.]+) LUFS/.exec(summary)?.[1]),
    truePeak: Number(/Peak:\s+(-?[\d.]+) dBFS/.exec(summary)?.[1]),
  };
}

async function probeStream(path: string) {
  const { stdout } = await run(ffmpeg.ffprobePath, [
    ...['-v', 'error', '-print_format', 'json', '-show_streams', path],
  ]);
  return (
    JSON.parse(stdout) as {
      streams: { codec_name: string; sample_rate: string; channels: number }[];
    }
  ).streams[0]!;
}

/** Checks a WebVTT file the way a player reads it; returns its cues. */
function parseWebVtt(vtt: string) {
  const [header, ...blocks] = vtt.split(/\n\n+/).filter((block) => block.trim() !== '');
  expect(header).toBe('WEBVTT');
  const time = (stamp: string) => {
    const [h, m, s] = stamp.split(':');
    return Number(h) * 3600 + Number(m) * 60 + Number(s);
  };
  return blocks.map((block) => {
    const lines = block.split('\n');
    const timing = lines.find((line) => line.includes('-->'));
    const match = /^(\d{2,}:\d{2}:\d{2}\.\d{3}) --> (\d{2,}:\d{2}:\d{2}\.\d{3})$/.exec(
      timing ?? '',
    );
    expect(match, block).not.toBeNull();
    const text = lines.slice(lines.indexOf(timing!) + 1).join('\n');
    expect(text).not.toBe('');
    expect(text).not.toMatch(/-->|<|>/);
    return { start: time(match![1]!), end: time(match![2]!), text };
  });
}

function expectTimings(voiceOver: VoiceOver, narration: string) {
  const { sentences, durationSec } = voiceOver;
  expect(sentences.map((s) => s.text)).toEqual(splitSentences(narration));
  let previousEnd = 0;
  for (const sentence of sentences) {
    expect(sentence.start).toBeGreaterThanOrEqual(previousEnd);
    expect(sentence.end).toBeGreaterThan(sentence.start);
    expect(sentence.end).toBeLessThanOrEqual(durationSec);
    previousEnd = sentence.end;
  }
  // The last sentence ends where the audio does (within a resampler's rounding).
  expect(durationSec - previousEnd).toBeLessThan(0.05);
}

const espeak = new EspeakWasmEngine();
afterAll(() => espeak.close());

const offlineEngines: { name: string; present: boolean; make: () => SpeechEngine }[] = [
  { name: 'espeak-wasm', present: true, make: () => espeak },
  {
    name: 'festival',
    present: installed.festival !== null,
    make: () => new FestivalEngine({ text2wavePath: installed.festival!.text2wavePath }),
  },
  {
    name: 'flite',
    present: installed.flite?.voices.includes('slt') ?? false,
    make: () => new FliteEngine({ flitePath: installed.flite!.flitePath }),
  },
];

describe.each(offlineEngines)('$name engine', ({ name, present, make }) => {
  it.skipIf(!present)('speaks a sentence into an audible WAV', async () => {
    const engine = make();
    const outputPath = join(scratch, `${name}-sentence.wav`);
    const result = await engine.synthesize({
      text: 'The quick brown fox jumps over the lazy dog.',
      outputPath,
    });
    expect(result.path).toBe(outputPath);
    expect(result.durationSec).toBeGreaterThan(0.5);
    expect((await readWavInfo(outputPath)).sampleRate).toBe(result.sampleRate);
    expect(await meanVolume(outputPath)).toBeGreaterThan(-50);
  });

  it.skipIf(!present)('makes a normalised voice-over with sentence timings', async () => {
    const engine = make();
    const started = performance.now();
    const voiceOver = await synthesizeVoiceOver({
      narration: NARRATION,
      engine,
      ffmpeg,
      scratchDir: scratch,
      outputPath: join(scratch, `${name}-voice-over.wav`),
    });
    const elapsedMs = performance.now() - started;
    console.log(
      `speech timing: ${name} spoke ${voiceOver.durationSec.toFixed(2)} s of narration in ${Math.round(elapsedMs)} ms (${voiceOver.loudness.normalizationType} loudnorm)`,
    );
    expect(voiceOver.durationSec).toBeGreaterThan(6);
    expect(voiceOver.durationSec).toBeLessThan(20);
    expect(await probeStream(voiceOver.path)).toMatchObject({
      codec_name: 'pcm_s16le',
      sample_rate: '48000',
      channels: 1,
    });
    const measured = await ebur128(voiceOver.path);
    expect(Math.abs(measured.integrated - -16)).toBeLessThanOrEqual(1.5);
    expect(measured.truePeak).toBeLessThanOrEqual(-1);
    expect(await meanVolume(voiceOver.path)).toBeGreaterThan(-50);
    expectTimings(voiceOver, NARRATION);
    expect(voiceOver.key).toBe(voiceOverCacheKey({ narration: NARRATION, engine }));
    // The intermediate sentence WAVs are gone; only the finished one is left.
    expect((await readdir(scratch)).filter((entry) => entry.startsWith('voice-over-'))).toEqual([]);
  });
});

describe('espeak-wasm engine errors', () => {
  it('refuses an unknown voice as unrecoverable and keeps working after it', async () => {
    const outputPath = join(scratch, 'unknown-voice.wav');
    await expect(
      espeak.synthesize({ text: 'Hello.', voice: 'xx-nowhere', outputPath }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(
      espeak.synthesize({ text: 'Hello.', voice: '-x; rm', outputPath }),
    ).rejects.toThrow(/invalid voice name/);
    expect(
      (await espeak.synthesize({ text: 'Still here.', outputPath })).durationSec,
    ).toBeGreaterThan(0.3);
  });

  it('stops on abort, and the next request starts a new child', async () => {
    const controller = new AbortController();
    const outputPath = join(scratch, 'aborted.wav');
    const pending = espeak.synthesize({
      text: 'A long text. '.repeat(200),
      outputPath,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('cancelled')), 20);
    await expect(pending).rejects.toBeInstanceOf(SpeechAbortedError);
    expect(
      (await espeak.synthesize({ text: 'Back again.', outputPath })).durationSec,
    ).toBeGreaterThan(0.3);
  });

  it('refuses narration with nothing to say, and silence to normalise', async () => {
    await expect(
      synthesizeVoiceOver({
        narration: '...\n—',
        engine: espeak,
        ffmpeg,
        scratchDir: scratch,
        outputPath: join(scratch, 'nothing.wav'),
      }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    const silence = join(scratch, 'silence.wav');
    await run(ffmpeg.ffmpegPath, [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'anullsrc=r=24000:cl=mono'],
      ...['-t', '2', '-y', silence],
    ]);
    await expect(
      normalizeLoudness({
        ffmpegPath: ffmpeg.ffmpegPath,
        inputPath: silence,
        outputPath: join(scratch, 'silence-out.wav'),
      }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
  });
});

describe('OpenAI speech engine', () => {
  let fake: FakeLlmServer;
  let client: OpenAI;
  let status: number | undefined;
  beforeAll(async () => {
    // The fake answers with real speech (espeak-ng) in a streamed WAV whose sizes say
    // 0xFFFFFFFF, as a WAV written while it is sent does.
    fake = await FakeLlmServer.start('openai', {
      reply: () => ({ tokens: [], ...(status ? { status } : {}) }),
      speech: async (request) => {
        const path = join(scratch, `fake-openai-${fake.requests.length}.wav`);
        await espeak.synthesize({ text: String(request.body.input), outputPath: path });
        const wav = await readFile(path);
        wav.writeUInt32LE(0xffffffff, 4);
        wav.writeUInt32LE(0xffffffff, 40);
        return wav;
      },
    });
    client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.baseUrl, maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('asks audio.speech for a WAV and makes a voice-over of it', async () => {
    const engine = new OpenAISpeechEngine({ client });
    const started = performance.now();
    const voiceOver = await synthesizeVoiceOver({
      narration: NARRATION,
      engine,
      ffmpeg,
      scratchDir: scratch,
      outputPath: join(scratch, 'openai-voice-over.wav'),
    });
    console.log(
      `speech timing: openai (fake server, espeak-ng behind it) spoke ${voiceOver.durationSec.toFixed(2)} s in ${Math.round(performance.now() - started)} ms`,
    );
    const speechRequests = fake.requests.filter((r) => r.path === '/v1/audio/speech');
    expect(speechRequests.map((r) => r.body)).toEqual(
      splitSentences(NARRATION).map((input) => ({
        model: 'tts-1',
        voice: 'alloy',
        input,
        response_format: 'wav',
      })),
    );
    expect(speechRequests[0]!.headers.authorization).toBe('Bearer sk-test');
    expectTimings(voiceOver, NARRATION);
    const measured = await ebur128(voiceOver.path);
    expect(Math.abs(measured.integrated - -16)).toBeLessThanOrEqual(1.5);
  });

  it('sorts API errors into retry-later and unrecoverable', async () => {
    const engine = new OpenAISpeechEngine({ client, voice: 'nova', model: 'tts-1-hd' });
    const outputPath = join(scratch, 'openai-error.wav');
    try {
      status = 429;
      await expect(engine.synthesize({ text: 'Hi.', outputPath })).rejects.toBeInstanceOf(
        SpeechRetryLaterError,
      );
      status = 503;
      await expect(engine.synthesize({ text: 'Hi.', outputPath })).rejects.toBeInstanceOf(
        SpeechRetryLaterError,
      );
      status = 400;
      await expect(engine.synthesize({ text: 'Hi.', outputPath })).rejects.toBeInstanceOf(
        UnrecoverableError,
      );
    } finally {
      status = undefined;
    }
    await expect(engine.synthesize({ text: 'x'.repeat(4097), outputPath })).rejects.toBeInstanceOf(
      UnrecoverableError,
    );
  });
});

describe('voice-over cache key', () => {
  it('changes with the narration, the voice, the engine and its settings, and not otherwise', () => {
    const festival = new FestivalEngine();
    const key = (narration: string, engine: SpeechEngine, voice?: string, pauseSec?: number) =>
      voiceOverCacheKey({ narration, engine, voice, ...(pauseSec ? { pauseSec } : {}) });
    const base = key(NARRATION, espeak);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    // Unchanged: the same options in another instance (another collaborator, another run),
    // the default voice named, the narration wrapped or spaced differently.
    expect(key(NARRATION, new EspeakWasmEngine())).toBe(base);
    expect(key(NARRATION, espeak, 'en-us')).toBe(base);
    expect(key(`  ${NARRATION.replaceAll('\n', '   \n\n')}  `, espeak)).toBe(base);
    expect(key(splitSentences(NARRATION).join(' '), espeak)).toBe(base);
    // Changed.
    const changed = [
      key(NARRATION.replace('hook', 'question'), espeak),
      key(NARRATION, espeak, 'en-gb'),
      key(NARRATION, festival),
      key(NARRATION, new EspeakWasmEngine({ wordsPerMinute: 180 })),
      key(NARRATION, espeak, undefined, 0.5),
    ];
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1);
  });
});

describe('captions', () => {
  it('writes a WebVTT file of every scene, moved by the scene offsets', async () => {
    const voiceOver = await synthesizeVoiceOver({
      narration: 'First scene. It has two sentences.',
      engine: espeak,
      ffmpeg,
      scratchDir: scratch,
      outputPath: join(scratch, 'captions-1.wav'),
    });
    const scenes = [
      { offsetSec: 0, sentences: voiceOver.sentences },
      // A scene without narration: 3 seconds, no cues.
      { offsetSec: voiceOver.durationSec, sentences: [] },
      {
        offsetSec: voiceOver.durationSec + 3,
        sentences: [{ start: 0, end: 1.25, text: 'Tom & Jerry --> <b>cats</b>' }],
      },
    ];
    const cues = parseWebVtt(toWebVtt(captionCues(scenes)));
    expect(cues.map((cue) => cue.text)).toEqual([
      'First scene.',
      'It has two sentences.',
      'Tom &amp; Jerry --&gt; &lt;b&gt;cats&lt;/b&gt;',
    ]);
    for (const [index, cue] of cues.entries()) {
      expect(cue.end).toBeGreaterThan(cue.start);
      if (index > 0) expect(cue.start).toBeGreaterThanOrEqual(cues[index - 1]!.end);
    }
    expect(cues[2]!.start).toBeCloseTo(voiceOver.durationSec + 3, 2);
    expect(cues[2]!.end).toBeCloseTo(voiceOver.durationSec + 4.25, 2);
    expect(vttTimestamp(3661.5)).toBe('01:01:01.500');
  });
});

describe('chooseSpeechEngine', () => {
  const none = { festival: null, flite: null };
  it('takes the best offline engine installed, and an engine by name', () => {
    expect(chooseSpeechEngine({ provider: 'offline', installed: none }).id).toBe('espeak-wasm');
    const fliteOnly = { festival: null, flite: { flitePath: '/usr/bin/flite', voices: ['slt'] } };
    expect(chooseSpeechEngine({ provider: 'offline', installed: fliteOnly }).id).toBe('flite');
    const both = {
      ...fliteOnly,
      festival: { text2wavePath: '/usr/bin/text2wave', voice: 'cmu_us_slt_arctic_hts' },
    };
    expect(chooseSpeechEngine({ provider: 'offline', installed: both })).toMatchObject({
      id: 'festival',
      voice: 'cmu_us_slt_arctic_hts',
    });
    expect(chooseSpeechEngine({ provider: 'espeak', installed: both }).id).toBe('espeak-wasm');
    expect(
      chooseSpeechEngine({
        provider: 'openai',
        installed: none,
        openai: new OpenAI({ apiKey: 'sk-test' }),
        voices: { openai: 'nova' },
      }),
    ).toMatchObject({ id: 'openai', voice: 'nova', settings: { model: 'tts-1', speed: 1 } });
  });

  it('refuses an engine that is missing, a voice it lacks, and openai without a client', () => {
    expect(() => chooseSpeechEngine({ provider: 'festival', installed: none })).toThrow(
      /not installed/,
    );
    const fliteOnly = { festival: null, flite: { flitePath: '/usr/bin/flite', voices: ['kal'] } };
    expect(() => chooseSpeechEngine({ provider: 'flite', installed: fliteOnly })).toThrow(
      /no voice slt/,
    );
    expect(chooseSpeechEngine({ provider: 'offline', installed: fliteOnly }).id).toBe(
      'espeak-wasm',
    );
    expect(() => chooseSpeechEngine({ provider: 'openai', installed: none })).toThrow(
      /no OpenAI client/,
    );
  });

  it('detects the Debian engines of this machine', () => {
    // .ci/run installs them; on a machine without them the detection says null.
    if (installed.festival) expect(installed.festival.voice).toBe('cmu_us_slt_arctic_hts');
    if (installed.flite) expect(installed.flite.voices).toContain('slt');
    console.log(
      `speech engines here: festival ${installed.festival ? 'yes' : 'no'}, flite ${installed.flite ? `yes (${installed.flite.voices.join(' ')})` : 'no'}, espeak-wasm yes`,
    );
  });
});
