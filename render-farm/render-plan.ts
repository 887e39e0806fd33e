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

export interface RenderPlan {
  /** File inputs, in `-i` order; paths are arguments, never filtergraph text. */
  inputs: Array<{ path: string; options: string[] }>;
  /** Files the work directory must hold before FFmpeg starts (scene texts). */
  files: Array<{ name: string; content: string }>;
  /** The filtergraph: only numbers, validated colours and fixed file names of the work dir. */
  filter: string;
  videoLabel: string;
  audioLabel: string;
  totalDurationSec: number;
  totalFrames: number;
}

/**
 * Builds the FFmpeg filtergraph of a render. Scenes are laid out on exact frame and sample
 * boundaries (cumulative rounding), so the output lasts the sum of the scenes to the frame.
 * Scene text goes through `drawtext=textfile=...:expansion=none`: the text sits in a file in
 * the work directory and FFmpeg reads it verbatim.
 */
export function buildRenderPlan(input: PlanInput): RenderPlan {
  const { spec, scenes } = input;
  const { width, height, fps } = spec;
  const inputs: RenderPlan['inputs'] = [];
  const files: RenderPlan['files'] = [];
  const chains: string[] = [];
  const fileInput = (path: string, options: string[]) => {
    inputs.push({ path, options: ['-protocol_whitelist', 'file', ...options] });
    return inputs.length - 1;
  };

  let startSec = 0;
  scenes.forEach((scene, i) => {
    const endSec = startSec + scene.durationSec;
    const frames = Math.max(1, Math.round(endSec * fps) - Math.round(startSec * fps));
    const samples =
      Math.round(endSec * AUDIO_SAMPLE_RATE) - Math.round(startSec * AUDIO_SAMPLE_RATE);
    const background = spec.scenes[i]?.background;

    const video: string[] = [];
    if (scene.imagePath) {
      const index = fileInput(scene.imagePath, [
        '-loop',
        '1',
        '-framerate',
        String(fps),
        '-t',
        (scene.durationSec + 1).toFixed(3),
      ]);
      video.push(
        `[${index}:v]scale=${width}:${height}:force_original_aspect_ratio=decrease`,
        `pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:color=black`,
        `fps=${fps}`,
      );
    } else {
      const color = background?.type === 'color' ? background.color.slice(1) : '000000';
      if (!/^[0-9a-fA-F]{6}$/.test(color)) throw new TypeError(`invalid colour in scene ${i}`);
      video.push(`color=c=0x${color}:s=${width}x${height}:r=${fps}`);
    }
    video.push('setsar=1', `trim=end_frame=${frames}`, 'setpts=PTS-STARTPTS');

    const lines = layoutText(scene.text, width, height, spec.subtitles);
    if (lines) {
      const name = `scene-${i}.txt`;
      files.push({ name, content: lines.text });
      const common = [
        `fontfile=${FONT_FILE_NAME}`,
        `textfile=${name}`,
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

    const audioFormat = `aformat=sample_fmts=fltp:sample_rates=${AUDIO_SAMPLE_RATE}:channel_layouts=stereo`;
    if (scene.voiceoverPath) {
      const index = fileInput(scene.voiceoverPath, []);
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
    startSec = endSec;
  });

  const count = scenes.length;
  const videoPads = scenes.map((_, i) => `[v${i}]`).join('');
  const audioPads = scenes.map((_, i) => `[a${i}]`).join('');
  chains.push(`${videoPads}concat=n=${count}:v=1:a=0[vout]`);
  chains.push(`${audioPads}concat=n=${count}:v=0:a=1[narration]`);

  const totalSamples = Math.round(startSec * AUDIO_SAMPLE_RATE);
  if (input.musicPath) {
    const index = fileInput(input.musicPath, ['-stream_loop', '-1']);
    chains.push(
      `[${index}:a]aresample=${AUDIO_SAMPLE_RATE},aformat=sample_fmts=fltp:sample_rates=${AUDIO_SAMPLE_RATE}:channel_layouts=stereo,` +
        `atrim=end_sample=${totalSamples},asetpts=PTS-STARTPTS,volume=${MUSIC_VOLUME}[music]`,
    );
    // amix halves both inputs; the volume filter after it restores the voice-over's level.
    chains.push(
      '[narration][music]amix=inputs=2:duration=first:dropout_transition=0,volume=2[aout]',
    );
  } else {
    chains.push('[narration]anull[aout]');
  }

  return {
    inputs,
    files,
    filter: chains.join(';'),
    videoLabel: 'vout',
    audioLabel: 'aout',
    totalDurationSec: startSec,
    totalFrames: Math.round(startSec * fps),
  };
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
