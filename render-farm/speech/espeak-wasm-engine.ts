import { type ChildProcess, fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UnrecoverableError } from '../errors.ts';
import { stderrTail } from './run-process.ts';
import type { SpeechEngine, SynthesizedSpeech, SynthesizeRequest } from './speech-engine.ts';
import { SpeechAbortedError, SpeechFailedError, throwIfSpeechAborted } from './speech-errors.ts';
import { synthesizedSpeechAt } from './wav-file.ts';

export interface EspeakWasmEngineOptions {
  /** espeak-ng voice, optionally with a variant (`en-us`, `en-gb`, `en-us+f3`). Default `en-us`. */
  voice?: string;
  /** Speaking rate in words per minute (espeak's `-s`, 80 to 450). Default 160. */
  wordsPerMinute?: number;
  /** Pitch, 0 to 99 (espeak's `-p`). Default 50. */
  pitch?: number;
  /** Longest one synthesis may take before the child is killed. Default 60 s. */
  timeoutMs?: number;
}

/** A request to the child process (see `espeak-wasm-process.ts`). */
export interface EspeakRequest {
  id: number;
  text: string;
  voice: string;
  wordsPerMinute: number;
  pitch: number;
}

/** The child's answer: the WAV, an error, or (id 0) that it is ready. */
export type EspeakReply =
  | { id: number; wav: Uint8Array }
  | { id: number; error: string; invalid: boolean }
  | { id: 0; ready: true };

const require = createRequire(import.meta.url);
const PROCESS_PATH = fileURLToPath(new URL('./espeak-wasm-process.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;
const ESPEAK_VERSION = (require('espeak-ng/package.json') as { version: string }).version;
const VOICE_NAME = /^[A-Za-z0-9_-]+(\+[A-Za-z0-9_-]+)?$/;

interface Pending {
  resolve: (wav: Uint8Array) => void;
  reject: (error: Error) => void;
}

/**
 * espeak-ng compiled to WebAssembly, from npm alone: works on a fresh machine with nothing
 * installed. Robotic, but always there.
 *
 * espeak-ng is GPL-3.0-or-later, so it runs in a child process of its own
 * (`espeak-wasm-process.ts`), started on the first request and kept for the next ones; this
 * class only sends it text over IPC and receives WAV bytes. A request that aborts or times out
 * kills the child; the next request starts a new one.
 */
export class EspeakWasmEngine implements SpeechEngine {
  readonly id = 'espeak-wasm' as const;
  readonly voice: string;
  readonly settings: Readonly<Record<string, string | number>>;
  readonly #wordsPerMinute: number;
  readonly #pitch: number;
  readonly #timeoutMs: number;
  #child: ChildProcess | undefined;
  #ready: Promise<void> | undefined;
  #stderr = '';
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(options: EspeakWasmEngineOptions = {}) {
    this.voice = options.voice ?? 'en-us';
    this.#wordsPerMinute = options.wordsPerMinute ?? 160;
    this.#pitch = options.pitch ?? 50;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    checkVoice(this.voice);
    if (!(this.#wordsPerMinute >= 80 && this.#wordsPerMinute <= 450)) {
      throw new RangeError('EspeakWasmEngine: wordsPerMinute must be between 80 and 450');
    }
    if (!(Number.isInteger(this.#pitch) && this.#pitch >= 0 && this.#pitch <= 99)) {
      throw new RangeError('EspeakWasmEngine: pitch must be an integer from 0 to 99');
    }
    this.settings = {
      version: ESPEAK_VERSION,
      wordsPerMinute: this.#wordsPerMinute,
      pitch: this.#pitch,
    };
  }

  async synthesize(request: SynthesizeRequest): Promise<SynthesizedSpeech> {
    const voice = request.voice ?? this.voice;
    checkVoice(voice);
    throwIfSpeechAborted(request.signal);
    await this.#start();
    const id = this.#nextId++;
    const wav = await new Promise<Uint8Array>((resolve, reject) => {
      const { signal } = request;
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
        if (this.#pending.size === 0) this.#unref();
      };
      const fail = (error: Error) => {
        finish();
        reject(error);
      };
      // The WebAssembly call cannot be interrupted: stopping it means killing the child.
      const onAbort = () => {
        fail(new SpeechAbortedError(`espeak-ng aborted: ${String(signal?.reason ?? 'abort')}`));
        this.#kill(new SpeechFailedError('espeak-ng process stopped for another request'));
      };
      const timer = setTimeout(() => {
        fail(new SpeechFailedError(`espeak-ng ran longer than ${this.#timeoutMs} ms`));
        this.#kill(new SpeechFailedError('espeak-ng process stopped for another request'));
      }, this.#timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (bytes) => {
          finish();
          resolve(bytes);
        },
        reject: fail,
      });
      this.#ref();
      const message: EspeakRequest = {
        id,
        text: request.text,
        voice,
        wordsPerMinute: this.#wordsPerMinute,
        pitch: this.#pitch,
      };
      this.#child!.send(message);
    });
    await writeFile(request.outputPath, wav);
    return synthesizedSpeechAt(request.outputPath);
  }

  async close(): Promise<void> {
    this.#kill(new SpeechAbortedError('espeak-ng engine closed'));
  }

  /** Starts the child unless it runs; resolves once it has compiled the WebAssembly module. */
  #start(): Promise<void> {
    if (this.#child && this.#ready) return this.#ready;
    this.#stderr = '';
    const child = fork(PROCESS_PATH, [], {
      execArgv: ['--import', TSX_LOADER],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.#child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-16_384);
    });
    this.#ready = new Promise<void>((resolve, reject) => {
      child.on('message', (reply: EspeakReply) => {
        if ('ready' in reply) {
          resolve();
          return;
        }
        const pending = this.#pending.get(reply.id);
        if (!pending) return;
        if ('wav' in reply) pending.resolve(reply.wav);
        else if (reply.invalid) {
          pending.reject(new UnrecoverableError(`espeak-ng: ${reply.error}`));
        } else pending.reject(new SpeechFailedError('espeak-ng failed', reply.error));
      });
      child.on('error', (error) => this.#lost(child, error.message, reject));
      child.on('exit', (code, signal) =>
        this.#lost(child, signal ? `killed by ${signal}` : `exited with code ${code}`, reject),
      );
    });
    return this.#ready;
  }

  /** The child died: fail what it was doing, so the next request starts a new one. */
  #lost(child: ChildProcess, how: string, rejectStart: (error: Error) => void): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#ready = undefined;
    const error = new SpeechFailedError(`espeak-ng process ${how}`, stderrTail(this.#stderr));
    rejectStart(error);
    for (const pending of [...this.#pending.values()]) pending.reject(error);
  }

  /** Kills the child; requests still waiting on it fail with `error`. */
  #kill(error: Error): void {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    this.#ready = undefined;
    child.kill('SIGKILL');
    for (const pending of [...this.#pending.values()]) pending.reject(error);
  }

  // An idle child must not keep the parent's event loop alive (a forgotten close()).
  #ref(): void {
    this.#child?.ref();
    this.#child?.channel?.ref();
  }

  #unref(): void {
    this.#child?.unref();
    this.#child?.channel?.unref();
  }
}

function checkVoice(voice: string): void {
  if (!VOICE_NAME.test(voice)) {
    throw new UnrecoverableError(`espeak-ng: invalid voice name ${JSON.stringify(voice)}`);
  }
}
