import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  describeRenderSpecError,
  type RenderSpecInput,
  renderSpecIssues,
  renderSpecSchema,
} from '../../shared/render-spec.ts';

const valid: RenderSpecInput = {
  width: 1920,
  height: 1080,
  fps: 60,
  scenes: [
    { text: 'Hello', durationSec: 2, background: { type: 'color', color: '#112233' } },
    {
      text: 'Voice',
      background: { type: 'image', assetId: randomUUID() },
      voiceoverAssetId: randomUUID(),
    },
  ],
  musicAssetId: randomUUID(),
  subtitles: true,
};

function issuesOf(input: unknown) {
  const result = renderSpecSchema.safeParse(input);
  if (result.success) throw new Error('expected the spec to be refused');
  return renderSpecIssues(result.error);
}

describe('render spec', () => {
  it('accepts a full spec and defaults subtitles to off', () => {
    expect(renderSpecSchema.parse(valid)).toEqual(valid);
    const { subtitles: _, ...withoutSubtitles } = valid;
    expect(renderSpecSchema.parse(withoutSubtitles).subtitles).toBe(false);
  });

  it.each([
    [{ width: 1921 }, 'width'],
    [{ width: 321 }, 'width'],
    [{ height: 1082 }, 'height'],
    [{ height: 0 }, 'height'],
    [{ fps: 61 }, 'fps'],
    [{ fps: 29.97 }, 'fps'],
    [{ scenes: [] }, 'scenes'],
    [{ musicAssetId: 'music.mp3' }, 'musicAssetId'],
    [{ subtitles: 'yes' }, 'subtitles'],
  ])('refuses %j naming %s', (patch, path) => {
    const paths = issuesOf({ ...valid, ...patch }).map((issue) => issue.path);
    expect(new Set(paths)).toEqual(new Set([path]));
  });

  it.each([
    [{ durationSec: 0.4 }, 'scenes.0.durationSec'],
    [{ durationSec: 121 }, 'scenes.0.durationSec'],
    [{ durationSec: undefined }, 'scenes.0.durationSec'],
    [{ background: { type: 'color', color: 'red' } }, 'scenes.0.background.color'],
    [{ background: { type: 'color', color: '#fff;drawtext' } }, 'scenes.0.background.color'],
    [{ background: { type: 'video', assetId: randomUUID() } }, 'scenes.0.background.type'],
    [{ background: { type: 'image', assetId: '../../etc/passwd' } }, 'scenes.0.background.assetId'],
    [{ text: 'x'.repeat(1001) }, 'scenes.0.text'],
    [{ voiceoverAssetId: 42 }, 'scenes.0.voiceoverAssetId'],
  ])('refuses scene %j naming %s', (patch, path) => {
    const scene = { ...valid.scenes[0], ...patch };
    expect(issuesOf({ ...valid, scenes: [scene] }).map((issue) => issue.path)).toEqual([path]);
  });

  it('refuses unknown fields, at the top and in scenes', () => {
    expect(issuesOf({ ...valid, codec: 'vp9' })).toEqual([
      { path: 'codec', message: 'unknown field' },
    ]);
    const scene = { ...valid.scenes[0], filter: 'drawtext' };
    expect(issuesOf({ ...valid, scenes: [scene] })).toEqual([
      { path: 'scenes.0.filter', message: 'unknown field' },
    ]);
  });

  it('refuses more than 10 minutes in total', () => {
    const scenes = Array.from({ length: 6 }, () => ({
      text: '',
      durationSec: 101,
      background: { type: 'color', color: '#000000' },
    }));
    const result = renderSpecSchema.safeParse({ ...valid, scenes });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(describeRenderSpecError(result.error)).toMatch(/^scenes: total duration/);
  });
});
