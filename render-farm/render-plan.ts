import type { RenderSpec } from '../shared/render-spec.ts';

/** Audio sample rate of every render. */
export const AUDIO_SAMPLE_RATE = 48_000;
/** Music plays this loud under the voice-over. */
const MUSIC_VOLUME = 0.25;
/** File name the renderer copies the font to, inside the render's work directory. */
export const FONT_FILE_NAME = 'font.ttf';

/** A scene once its assets are resolved and probed. */
export interface PlannedScene {
  durationSec: number;
  /** Scene text, written to a file of its own; never part of the filtergraph. */
  text: string;
  imagePath?: string;
  voiceoverPath?: string;
}

export interface PlanInput {
  spec: RenderSpec;
  scenes: PlannedScene[];
  musicPath?: string;
}

/** One file input of an FFmpeg command; the path is an argument, never filtergraph text. */
export interface PlanInputFile {
  path: string;
  options: string[];
}

export interface RenderPlan {
  /** File inputs, in `-i` order; paths are arguments, never filtergraph text. */
  inputs: PlanInputFile[];
  /** Files the work directory must hold before FFmpeg starts (scene texts). */
  files: Array<{ name: string; content: string }>;
  /** The filtergraph: only numbers, validated colours and fixed file names of the work dir. */
  filter: string;
  videoLabel: string;
  audioLabel: string;
  totalDurationSec: number;
  totalFrames: number;
}

/** The video of a run of consecutive scenes, as one FFmpeg pass of its own (no audio). */
export interface SegmentPlan {
  inputs: PlanInputFile[];
  filter: string;
  videoLabel: string;
  /** Length of the segment: its scenes' frames at the spec's frame rate. */
  durationSec: number;
}

/** The audio of the whole render, mixed under the video segments (input 0, copied). */
export interface MuxPlan {
  /** Input 0 is the segment list (concat demuxer); the audio inputs follow. */
  inputs: PlanInputFile[];
  filter: string;
  audioLabel: string;
}

/** Where a scene sits on the render's timeline: exact frame and sample boundaries. */
interface SceneSlot {
  frames: number;
  samples: number;
}

/**
 * Lays scenes out on exact frame and sample boundaries (cumulative rounding), so the output
 * lasts the sum of the scenes to the frame whichever pass renders which scene.
 */
function layoutScenes(scenes: PlannedScene[], fps: number) {
  const slots: SceneSlot[] = [];
  let startSec = 0;
  for (const scene of scenes) {
    const endSec = startSec + scene.durationSec;
    slots.push({
      frames: Math.max(1, Math.round(endSec * fps) - Math.round(startSec * fps)),
      samples: Math.round(endSec * AUDIO_SAMPLE_RATE) - Math.round(startSec * AUDIO_SAMPLE_RATE),
    });
    startSec = endSec;
  }
  return {
    slots,
    totalDurationSec: startSec,
    totalFrames: Math.round(startSec * fps),
    totalSamples: Math.round(startSec * AUDIO_SAMPLE_RATE),
  };
}

/** Collects `-i` inputs; only the `file` protocol is allowed for any of them. */
function inputList() {
  const inputs: PlanInputFile[] = [];
  const add = (path: string, options: string[]) => {
    inputs.push({ path, options: ['-protocol_whitelist', 'file', ...options] });
    return inputs.length - 1;
  };
  return { inputs, add };
}

/** Name of a scene's text file in the work directory. */
function sceneTextName(index: number): string {
  return `scene-${index}.txt`;
}

/**
 * The scene texts, laid out for the frame, as files for the work directory: FFmpeg reads them
 * through `drawtext=textfile=...:expansion=none`, verbatim. Scenes without text have none.
 */
export function sceneTextFiles(input: PlanInput): Array<{ name: string; content: string }> {
  const { spec } = input;
  const files: Array<{ name: string; content: string }> = [];
  input.scenes.forEach((scene, i) => {
    const lines = layoutText(scene.text, spec.width, spec.height, spec.subtitles);
    if (lines) files.push({ name: sceneTextName(i), content: lines.text });
  });
  return files;
}

/**
 * The video chains of the given scenes, labelled `[v<i>]` by scene index. Each distinct image
 * is one input, decoded once, scaled and padded to the frame once, then split between its
 * scenes; each scene repeats that single frame (`loop`) for as long as it lasts, so no scene
 * decodes anything of its own and the image is never held at its original size per scene.
 */
function videoChains(
  input: PlanInput,
  indices: number[],
  slots: SceneSlot[],
  addInput: (path: string, options: string[]) => number,
): string[] {
  const { spec, scenes } = input;
  const { width, height, fps } = spec;
  const chains: string[] = [];
  const byImage = new Map<string, number[]>();
  for (const i of indices) {
    const path = scenes[i]!.imagePath;
    if (path) byImage.set(path, [...(byImage.get(path) ?? []), i]);
  }
  const imagePad = new Map<number, string>();
  let imageCount = 0;
  for (const [path, users] of byImage) {
    const k = imageCount++;
    // No -loop: one frame is decoded, the loop filter below repeats it.
    const index = addInput(path, ['-framerate', String(fps)]);
    const pads = users.map((_, j) => `img${k}_${j}`);
    users.forEach((scene, j) => {
      imagePad.set(scene, pads[j]!);
    });
    chains.push(
      `[${index}:v]scale=${width}:${height}:force_original_aspect_ratio=decrease,` +
        `pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p,` +
        `split=${users.length}${pads.map((pad) => `[${pad}]`).join('')}`,
    );
  }

  for (const i of indices) {
    const scene = scenes[i]!;
    const video: string[] = [];
    const pad = imagePad.get(i);
    if (pad) {
      video.push(`[${pad}]loop=loop=-1:size=1`, `setpts=N/${fps}/TB`);
    } else {
      const background = spec.scenes[i]?.background;
      const color = background?.type === 'color' ? background.color.slice(1) : '000000';
      if (!/^[0-9a-fA-F]{6}$/.test(color)) throw new TypeError(`invalid colour in scene ${i}`);
      video.push(`color=c=0x${color}:s=${width}x${height}:r=${fps}`);
    }
    video.push('setsar=1', `trim=end_frame=${slots[i]!.frames}`, 'setpts=PTS-STARTPTS');

    const lines = layoutText(scene.text, width, height, spec.subtitles);
    if (lines) {
      const common = [
        `fontfile=${FONT_FILE_NAME}`,
        `textfile=${sceneTextName(i)}`,
        'expansion=none',
        'fontcolor=white',
        `fontsize=${lines.fontSize}`,
        `line_spacing=${Math.round(lines.fontSize * 0.25)}`,
        'x=(w-text_w)/2',
      ];
      const placement = spec.subtitles
        ? [
            `y=h-text_h-${Math.round(height * 0.06)}`,
            'box=1',
            'boxcolor=black@0.55',
            `boxborderw=${Math.max(2, Math.round(lines.fontSize * 0.3))}`,
          ]
        : [
            'y=(h-text_h)/2',
            `borderw=${Math.max(1, Math.round(lines.fontSize / 12))}`,
            'bordercolor=black@0.6',
          ];
      video.push(`drawtext=${[...common, ...placement].join(':')}`);
    }
    video.push('format=yuv420p');
    chains.push(`${video.join(',')}[v${i}]`);
  }
  const pads = indices.map((i) => `[v${i}]`).join('');
  chains.push(`${pads}concat=n=${indices.length}:v=1:a=0[vout]`);
  return chains;
}

/** The audio chains of every scene, concatenated, with the music mixed under them: `[aout]`. */
function audioChains(
  input: PlanInput,
  slots: SceneSlot[],
  totalSamples: number,
  addInput: (path: string, options: string[]) => number,
): string[] {
  const chains: string[] = [];
  const audioFormat = `aformat=sample_fmts=fltp:sample_rates=${AUDIO_SAMPLE_RATE}:channel_layouts=stereo`;
  input.scenes.forEach((scene, i) => {
    const samples = slots[i]!.samples;
    if (scene.voiceoverPath) {
      const index = addInput(scene.voiceoverPath, []);
      chains.push(
        `[${index}:a]aresample=${AUDIO_SAMPLE_RATE},${audioFormat},apad=whole_len=${samples},` +
          `atrim=end_sample=${samples},asetpts=PTS-STARTPTS[a${i}]`,
      );
    } else {
      chains.push(
        `anullsrc=r=${AUDIO_SAMPLE_RATE}:cl=stereo,${audioFormat},atrim=end_sample=${samples},` +
          `asetpts=PTS-STARTPTS[a${i}]`,
      );
    }
  });
  const count = input.scenes.length;
  const audioPads = input.scenes.map((_, i) => `[a${i}]`).join('');
  chains.push(`${audioPads}concat=n=${count}:v=0:a=1[narration]`);
  if (input.musicPath) {
    const index = addInput(input.musicPath, ['-stream_loop', '-1']);
    chains.push(
      `[${index}:a]aresample=${AUDIO_SAMPLE_RATE},${audioFormat},` +
        `atrim=end_sample=${totalSamples},asetpts=PTS-STARTPTS,volume=${MUSIC_VOLUME}[music]`,
    );
    // amix halves both inputs; the volume filter after it restores the voice-over's level.
    chains.push(
      '[narration][music]amix=inputs=2:duration=first:dropout_transition=0,volume=2[aout]',
    );
  } else {
    chains.push('[narration]anull[aout]');
  }
  return chains;
}

/**
 * Builds the FFmpeg filtergraph of a whole render as one pass (video and audio). The renderer
 * renders in segments ({@link buildSegmentPlan}, {@link buildMuxPlan}) to bound memory; this
 * single pass is the same graph for short renders and benchmarks. Scene text goes through
 * `drawtext=textfile=...:expansion=none`: the text sits in a file in the work directory and
 * FFmpeg reads it verbatim.
 */
export function buildRenderPlan(input: PlanInput): RenderPlan {
  const layout = layoutScenes(input.scenes, input.spec.fps);
  const { inputs, add } = inputList();
  const indices = input.scenes.map((_, i) => i);
  const chains = [
    ...videoChains(input, indices, layout.slots, add),
    ...audioChains(input, layout.slots, layout.totalSamples, add),
  ];
  return {
    inputs,
    files: sceneTextFiles(input),
    filter: chains.join(';'),
    videoLabel: 'vout',
    audioLabel: 'aout',
    totalDurationSec: layout.totalDurationSec,
    totalFrames: layout.totalFrames,
  };
}

/** Splits a render's scenes into runs of at most `perSegment` consecutive scenes. */
export function segmentScenes(sceneCount: number, perSegment: number): number[][] {
  if (!Number.isInteger(perSegment) || perSegment < 1) {
    throw new RangeError('perSegment must be a positive integer');
  }
  const segments: number[][] = [];
  for (let start = 0; start < sceneCount; start += perSegment) {
    const end = Math.min(sceneCount, start + perSegment);
    segments.push(Array.from({ length: end - start }, (_, j) => start + j));
  }
  return segments;
}

/**
 * The video-only pass of some consecutive scenes. FFmpeg sets up every scene of a filtergraph
 * when it starts and holds a few frames of each until its turn comes, so a pass's memory grows
 * with its scenes; a long render is made of several passes, joined by {@link buildMuxPlan}
 * without re-encoding (see `estimateRenderMemory` for how many scenes a pass gets).
 */
export function buildSegmentPlan(input: PlanInput, indices: number[]): SegmentPlan {
  const layout = layoutScenes(input.scenes, input.spec.fps);
  const { inputs, add } = inputList();
  const chains = videoChains(input, indices, layout.slots, add);
  const frames = indices.reduce((sum, i) => sum + layout.slots[i]!.frames, 0);
  return {
    inputs,
    filter: chains.join(';'),
    videoLabel: 'vout',
    durationSec: frames / input.spec.fps,
  };
}

/**
 * The last pass: the video segments listed in `segmentList` (an ffconcat file of the work
 * directory), joined without re-encoding, and the render's audio built under them.
 */
export function buildMuxPlan(input: PlanInput, segmentList: string): MuxPlan {
  const layout = layoutScenes(input.scenes, input.spec.fps);
  const { inputs, add } = inputList();
  add(segmentList, ['-f', 'concat', '-safe', '1']);
  const chains = audioChains(input, layout.slots, layout.totalSamples, add);
  return { inputs, filter: chains.join(';'), audioLabel: 'aout' };
}

/** The ffconcat file that lists the segments, by their names in the work directory. */
export function segmentListFile(names: string[]): string {
  for (const name of names) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new TypeError(`unsafe segment name ${name}`);
  }
  return `ffconcat version 1.0\n${names.map((name) => `file ${name}\n`).join('')}`;
}

/**
 * Wraps scene text into lines that fit the frame and picks a font size: a title in the middle,
 * or a caption at the bottom. Control characters are dropped; null when nothing is left.
 */
export function layoutText(
  raw: string,
  width: number,
  height: number,
  caption: boolean,
): { text: string; fontSize: number } | null {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  const clean = raw.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0009\u000b-\u001f\u007f]/g, ' ');
  const paragraphs = clean.split('\n').map((line) => line.trim());
  if (paragraphs.every((line) => line === '')) return null;
  const maxHeight = height * (caption ? 0.3 : 0.8);
  let fontSize = Math.max(8, Math.round(height / (caption ? 16 : 11)));
  for (;;) {
    // DejaVu Sans averages a little under 0.6 em per character.
    const perLine = Math.max(4, Math.floor((width * 0.9) / (fontSize * 0.6)));
    const lines = paragraphs.flatMap((paragraph) => wrap(paragraph, perLine));
    if (lines.length * fontSize * 1.25 <= maxHeight || fontSize <= 8) {
      return { text: lines.join('\n'), fontSize };
    }
    fontSize = Math.max(8, Math.floor(fontSize * 0.85));
  }
}

function wrap(paragraph: string, perLine: number): string[] {
  if (paragraph === '') return [''];
  const lines: string[] = [];
  let line = '';
  for (const word of paragraph.split(/\s+/)) {
    let rest = word;
    while (rest.length > perLine) {
      if (line) {
        lines.push(line);
        line = '';
      }
      lines.push(rest.slice(0, perLine));
      rest = rest.slice(perLine);
    }
    if (!line) line = rest;
    else if (line.length + 1 + rest.length <= perLine) line = `${line} ${rest}`;
    else {
      lines.push(line);
      line = rest;
    }
  }
  if (line) lines.push(line);
  return lines;
}
