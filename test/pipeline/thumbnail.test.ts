import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32, deflateSync } from 'node:zlib';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FontMetrics,
  ImageGenerationError,
  layoutTitle,
  OpenAIImageGenerator,
  RenderAbortedError,
  RenderTimeoutError,
  THUMBNAIL_WIDTH,
  type ThumbnailBackground,
  ThumbnailMaker,
  thumbnailImagePrompt,
  UnrecoverableError,
} from '../../render-farm/index.ts';
import { PriceTable } from '../../server/coach/index.ts';
import { FakeLlmServer } from '../coach/support/fake-llm-server.ts';
import { FFMPEG_BIN, probe } from '../render-farm/media.ts';

const run = promisify(execFile);

const HOSTILE_TITLE = [
  `He said "it's fine": yes, [really] {maybe}`,
  String.raw`back\slash \N \n \\ \' ; a=b`,
  '%{localtime} %{pts} %{eif:1:d} %%',
  "textfile=/etc/passwd:fontfile=/etc/passwd' , [x]drawtext=text=pwned",
  'Emoji 🎬🔥 café — 你好',
]
  .join('\n')
  .padEnd(300, ' long tail');

let dir: string;
let work: string;
let maker: ThumbnailMaker;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reelroom-thumbnail-test-'));
  work = join(dir, 'work');
  await mkdir(work);
  maker = new ThumbnailMaker({ workDir: work });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh output directory and the thumbnail's path in it. */
async function output(name: string) {
  const out = await mkdtemp(join(dir, `${name}-`));
  return { out, path: join(out, 'thumb.png') };
}

/** Makes an image with FFmpeg from a lavfi source. */
async function makeImage(path: string, source: string): Promise<string> {
  await run(FFMPEG_BIN, [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', source],
    ...['-frames:v', '1', path],
  ]);
  return path;
}

/** Codec and size as FFprobe (an independent tool) reads them. */
async function describePng(path: string) {
  const data = await probe(path);
  const video = data.streams.find((stream) => stream.codec_type === 'video');
  return { codec: video?.codec_name, width: video?.width, height: video?.height };
}

/** A hash of the decoded pixels: equal only for identical images. */
async function pixelHash(path: string): Promise<string> {
  const { stdout } = await run(FFMPEG_BIN, [
    ...['-hide_banner', '-loglevel', 'error', '-i', path],
    ...['-pix_fmt', 'rgb24', '-f', 'hash', '-hash', 'sha256', '-'],
  ]);
  return stdout.trim();
}

/** Brightest luma in a region (`w:h:x:y`), from FFmpeg's signalstats. */
async function maxLuma(path: string, region: string): Promise<number> {
  const { stdout } = await run(FFMPEG_BIN, [
    ...['-hide_banner', '-loglevel', 'error', '-i', path],
    ...['-vf', `crop=${region},signalstats,metadata=mode=print:key=lavfi.signalstats.YMAX:file=-`],
    ...['-f', 'null', '-'],
  ]);
  const value = /YMAX=(\d+)/.exec(stdout)?.[1];
  if (value === undefined) throw new Error(`no YMAX in ${stdout}`);
  return Number(value);
}

/** PSNR in dB between two images of the same size (`inf` for identical ones). */
async function psnr(a: string, b: string): Promise<number> {
  const { stderr } = await run(FFMPEG_BIN, [
    ...['-hide_banner', '-i', a, '-i', b],
    ...['-lavfi', '[0:v]format=rgb24[a];[1:v]format=rgb24[b];[a][b]psnr', '-f', 'null', '-'],
  ]);
  const value = /average:(\S+)/.exec(stderr)?.[1];
  if (value === undefined) throw new Error(`no PSNR in ${stderr}`);
  return value === 'inf' ? Number.POSITIVE_INFINITY : Number(value);
}

/** A PNG whose header declares a size and whose pixels are a few bytes (never decoded). */
async function pngDeclaring(path: string, width: number, height: number): Promise<string> {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  await writeFile(
    path,
    Buffer.concat([
      signature,
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(Buffer.alloc(width * 3 + 1))),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
  return path;
}

async function expectOnlyThumbnail(out: string) {
  expect(await readdir(out)).toEqual(['thumb.png']);
  expect(await readdir(work)).toEqual([]);
}

const CENTRE = '960:160:160:280';
const colour: ThumbnailBackground = { type: 'color', color: '#1a3b5c' };

describe('ThumbnailMaker', () => {
  it('draws the title over a colour background into a 1280×720 PNG', async () => {
    const titled = await output('colour');
    const result = await maker.make({
      title: 'How I edit videos 10× faster',
      background: colour,
      outputPath: titled.path,
    });
    expect(result).toEqual({
      path: titled.path,
      width: 1280,
      height: 720,
      bytes: (await stat(titled.path)).size,
    });
    expect(await describePng(titled.path)).toEqual({ codec: 'png', width: 1280, height: 720 });
    await expectOnlyThumbnail(titled.out);

    const plain = await output('colour-plain');
    await maker.make({ title: '', background: colour, outputPath: plain.path });
    expect(await describePng(plain.path)).toEqual({ codec: 'png', width: 1280, height: 720 });
    expect(await pixelHash(titled.path)).not.toBe(await pixelHash(plain.path));
    // White letters in the middle; the bare background there is a dark blue.
    expect(await maxLuma(titled.path, CENTRE)).toBeGreaterThan(200);
    expect(await maxLuma(plain.path, CENTRE)).toBeLessThan(100);

    // Different letters, same layout: the glyphs themselves are drawn, not just the band.
    const other = await output('colour-other');
    await maker.make({
      title: 'How I edit videos 10× fasteR',
      background: colour,
      outputPath: other.path,
    });
    expect(await pixelHash(other.path)).not.toBe(await pixelHash(titled.path));
  });

  it('covers and center-crops an image of another aspect ratio (800×1200)', async () => {
    const image = await makeImage(join(dir, 'portrait.png'), 'testsrc2=size=800x1200:rate=1');
    const background: ThumbnailBackground = { type: 'image', path: image };
    const plain = await output('image-plain');
    await maker.make({ title: '', background, outputPath: plain.path });
    expect(await describePng(plain.path)).toEqual({ codec: 'png', width: 1280, height: 720 });

    // The same cover-and-crop done independently: 800×1200 scaled to 1280×1920, the middle kept.
    const reference = join(dir, 'reference.png');
    await run(FFMPEG_BIN, [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-i', image],
      ...['-vf', 'scale=1280:1920,crop=1280:720:0:600', reference],
    ]);
    expect(await psnr(plain.path, reference)).toBeGreaterThan(30);

    const titled = await output('image');
    const result = await maker.make({
      title: 'A portrait photo, cropped',
      background,
      outputPath: titled.path,
    });
    expect(result.width).toBe(1280);
    expect(await describePng(titled.path)).toEqual({ codec: 'png', width: 1280, height: 720 });
    expect(await pixelHash(titled.path)).not.toBe(await pixelHash(plain.path));
    await expectOnlyThumbnail(titled.out);
  });

  it('draws a hostile 300-character title verbatim and leaves no other file', async () => {
    expect(HOSTILE_TITLE).toHaveLength(300);
    const titled = await output('hostile');
    await maker.make({ title: HOSTILE_TITLE, background: colour, outputPath: titled.path });
    expect(await describePng(titled.path)).toEqual({ codec: 'png', width: 1280, height: 720 });
    await expectOnlyThumbnail(titled.out);
    expect(await maxLuma(titled.path, CENTRE)).toBeGreaterThan(200);
    const plain = await output('hostile-plain');
    await maker.make({ title: '', background: colour, outputPath: plain.path });
    expect(await pixelHash(titled.path)).not.toBe(await pixelHash(plain.path));
  });

  it('wraps long titles to at most three lines inside the margins, shrinking them first', () => {
    const metrics = FontMetrics.load(
      join(process.cwd(), 'node_modules/dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf'),
    );
    const short = layoutTitle('Short', metrics);
    expect(short?.lines.map((line) => line.text)).toEqual(['Short']);
    const medium = layoutTitle('The ten tools every small channel needs in 2025', metrics);
    expect(medium?.lines.length).toBeLessThanOrEqual(3);
    expect(medium?.fontSize).toBeLessThanOrEqual(short?.fontSize ?? 0);

    const long = layoutTitle(HOSTILE_TITLE, metrics);
    expect(long?.lines).toHaveLength(3);
    expect(long?.lines[2]?.text.endsWith('…')).toBe(true);
    for (const line of long?.lines ?? []) {
      expect(line.text).not.toMatch(/\n/);
      expect(metrics.width(line.text, long?.fontSize ?? 0)).toBeLessThanOrEqual(
        THUMBNAIL_WIDTH - 2 * 72,
      );
    }
    // A word wider than a line is broken rather than drawn off the frame.
    const word = layoutTitle('W'.repeat(60), metrics);
    expect(word?.lines.length).toBeGreaterThan(1);
    expect(layoutTitle(' \n\t ', metrics)).toBeNull();
  });

  it('makes a gradient background', async () => {
    const gradient = await output('gradient');
    await maker.make({
      title: 'Gradient',
      background: { type: 'gradient', from: '#000000', to: '#ffffff', direction: 'horizontal' },
      outputPath: gradient.path,
    });
    expect(await describePng(gradient.path)).toEqual({ codec: 'png', width: 1280, height: 720 });
    expect(await maxLuma(gradient.path, '32:32:0:0')).toBeLessThan(40);
    expect(await maxLuma(gradient.path, '32:32:1248:0')).toBeGreaterThan(200);
  });

  it('refuses an image larger than 8192×8192 before decoding it', async () => {
    const wide = await makeImage(join(dir, 'wide.png'), 'color=c=red:size=8200x64');
    const declared = await pngDeclaring(join(dir, 'declared.png'), 9000, 9000);
    for (const [path, message] of [
      [wide, /8200×64; at most 8192×8192/],
      [declared, /within 8192×8192/],
    ] as const) {
      const target = await output('oversize');
      await expect(
        maker.make({
          title: 'Too big',
          background: { type: 'image', path },
          outputPath: target.path,
        }),
      ).rejects.toThrow(message);
      await expect(
        maker.make({
          title: 'Too big',
          background: { type: 'image', path },
          outputPath: target.path,
        }),
      ).rejects.toBeInstanceOf(UnrecoverableError);
      expect(await readdir(target.out)).toEqual([]);
    }
    expect(await readdir(work)).toEqual([]);
  });

  it('refuses what is not an image, bad colours, and an aborted signal', async () => {
    const target = await output('refused');
    const concat = join(dir, 'list.png');
    await writeFile(concat, 'ffconcat version 1.0\nfile /etc/passwd\n');
    await expect(
      maker.make({
        title: 'x',
        background: { type: 'image', path: concat },
        outputPath: target.path,
      }),
    ).rejects.toThrow(/not a PNG, JPEG, WebP or GIF/);
    await expect(
      maker.make({
        title: 'x',
        background: { type: 'color', color: 'red:s=9999x9999' },
        outputPath: target.path,
      }),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(
      maker.make({
        title: 'x',
        background: colour,
        outputPath: target.path,
        signal: AbortSignal.abort('cancelled'),
      }),
    ).rejects.toBeInstanceOf(RenderAbortedError);
    // FFmpeg killed at its wall-clock limit: nothing at the final name, no `.part` left.
    const hurried = new ThumbnailMaker({ workDir: work, timeoutMs: 1 });
    await expect(
      hurried.make({ title: 'x', background: colour, outputPath: target.path }),
    ).rejects.toBeInstanceOf(RenderTimeoutError);
    expect(await readdir(target.out)).toEqual([]);
    expect(await readdir(work)).toEqual([]);
  });
});

describe('OpenAIImageGenerator through the SDK', () => {
  let fake: FakeLlmServer;
  beforeAll(async () => {
    fake = await FakeLlmServer.start('openai', {
      reply: (request) => ({
        tokens: [],
        ...(request.body.prompt === 'limit' ? { status: 429 } : {}),
      }),
    });
  });
  afterAll(async () => {
    await fake.close();
  });
  const client = () => new OpenAI({ apiKey: 'sk-test', baseURL: fake.baseUrl, maxRetries: 0 });

  it('asks gpt-image-1 for a 1536x1024 image and the maker crops it to 1280×720', async () => {
    const generator = new OpenAIImageGenerator({ client: client() });
    const prompt = thumbnailImagePrompt('How I edit videos 10× faster');
    const image = await generator.generate({ prompt });
    const request = fake.requests.at(-1);
    expect(request?.path).toBe('/v1/images/generations');
    expect(request?.body).toMatchObject({
      model: 'gpt-image-1',
      size: '1536x1024',
      quality: 'medium',
      n: 1,
      prompt,
    });
    expect(request?.body).not.toHaveProperty('response_format');
    expect(image.usage).toEqual({
      provider: 'openai',
      model: 'gpt-image-1',
      size: '1536x1024',
      quality: 'medium',
      images: 1,
    });
    expect(PriceTable.load().imageCostUsd(image.usage)).toBe(0.063);

    const thumb = await output('generated');
    const result = await maker.make({
      title: 'How I edit videos 10× faster',
      background: { type: 'image', bytes: image.bytes },
      outputPath: thumb.path,
    });
    expect(result).toMatchObject({ width: 1280, height: 720 });
    expect(await describePng(thumb.path)).toEqual({ codec: 'png', width: 1280, height: 720 });
    await expectOnlyThumbnail(thumb.out);
  });

  it('asks dall-e-3 for 1792x1024 as b64_json, priced by quality', async () => {
    const generator = new OpenAIImageGenerator({
      client: client(),
      model: 'dall-e-3',
      quality: 'hd',
    });
    const image = await generator.generate({ prompt: 'a mountain at dawn' });
    expect(fake.requests.at(-1)?.body).toMatchObject({
      model: 'dall-e-3',
      size: '1792x1024',
      quality: 'hd',
      response_format: 'b64_json',
    });
    expect(image.revisedPrompt).toBe('a mountain at dawn');
    const prices = PriceTable.load();
    expect(prices.imageCostUsd(image.usage)).toBe(0.12);
    expect(prices.imageCostUsd({ ...image.usage, quality: 'standard' })).toBe(0.08);
    expect(
      prices.imageCostUsd({ model: 'dall-e-3', quality: 'standard', size: '1024x1024', images: 1 }),
    ).toBe(0.04);
    expect(
      prices.imageCostUsd({ model: 'gpt-image-1', quality: 'low', size: '1536x1024', images: 2 }),
    ).toBe(0.032);
    expect(
      prices.imageCostUsd({ model: 'gpt-image-1', quality: 'high', size: '1536x1024', images: 1 }),
    ).toBe(0.25);
    expect(await describePng(await writeBytes(image.bytes))).toMatchObject({
      codec: 'png',
      width: 1792,
      height: 1024,
    });
  });

  it('turns a rate limit into a retry-later error and rejects bad options', async () => {
    const generator = new OpenAIImageGenerator({ client: client() });
    const error = await generator.generate({ prompt: 'limit' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageGenerationError);
    expect((error as ImageGenerationError).kind).toBe('rate_limited');
    expect(() => new OpenAIImageGenerator({ client: client(), quality: 'hd' as 'high' })).toThrow(
      RangeError,
    );
  });
});

async function writeBytes(bytes: Uint8Array): Promise<string> {
  const path = join(dir, `generated-${Date.now()}.png`);
  await writeFile(path, bytes);
  return path;
}
