import { open } from 'node:fs/promises';
import type { SynthesizedSpeech } from './speech-engine.ts';
import { SpeechFailedError } from './speech-errors.ts';

/** What a WAV file's header says. */
export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Bytes of samples: the `data` chunk's size, or the rest of the file when it says 0 or more. */
  dataBytes: number;
  durationSec: number;
}

/** Bytes read to find the `fmt ` and `data` chunks; engines write them within the first few. */
const HEADER_BYTES = 4096;

/**
 * Reads a PCM WAV's header. Streaming writers (OpenAI, espeak-ng) may leave the sizes at
 * 0 or 0xFFFFFFFF; the data then runs to the end of the file.
 *
 * @throws {SpeechFailedError} when the file is not a PCM WAV with samples in it.
 */
export async function readWavInfo(path: string): Promise<WavInfo> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const header = Buffer.alloc(Math.min(HEADER_BYTES, size));
    await file.read(header, 0, header.length, 0);
    return parseWavHeader(header, size, path);
  } finally {
    await file.close();
  }
}

function parseWavHeader(header: Buffer, fileSize: number, path: string): WavInfo {
  const fail = (why: string) => new SpeechFailedError(`${path} is not a usable WAV: ${why}`);
  if (
    header.length < 12 ||
    header.toString('latin1', 0, 4) !== 'RIFF' ||
    header.toString('latin1', 8, 12) !== 'WAVE'
  ) {
    throw fail('no RIFF/WAVE header');
  }
  let format: { channels: number; sampleRate: number; bitsPerSample: number } | undefined;
  let offset = 12;
  while (offset + 8 <= header.length) {
    const id = header.toString('latin1', offset, offset + 4);
    const chunkSize = header.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ' && body + 16 <= header.length) {
      format = {
        channels: header.readUInt16LE(body + 2),
        sampleRate: header.readUInt32LE(body + 4),
        bitsPerSample: header.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!format || format.channels === 0 || format.sampleRate === 0) throw fail('no format');
      const rest = fileSize - body;
      const dataBytes = chunkSize === 0 || chunkSize > rest ? rest : chunkSize;
      const bytesPerSecond = format.sampleRate * format.channels * (format.bitsPerSample / 8);
      if (dataBytes <= 0 || bytesPerSecond <= 0) throw fail('no samples');
      return { ...format, dataBytes, durationSec: dataBytes / bytesPerSecond };
    }
    // Chunks are padded to an even size.
    offset = body + chunkSize + (chunkSize % 2);
  }
  throw fail('no data chunk');
}

/** What an engine returns for the WAV it wrote at `path`, read from the file's header. */
export async function synthesizedSpeechAt(path: string): Promise<SynthesizedSpeech> {
  const info = await readWavInfo(path);
  return {
    path,
    sampleRate: info.sampleRate,
    channels: info.channels,
    durationSec: info.durationSec,
  };
}
