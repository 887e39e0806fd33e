/**
 * The child process that runs espeak-ng compiled to WebAssembly (the `espeak-ng` npm package).
 * espeak-ng is GPL-3.0-or-later: it runs here, in a program of its own, and never inside a
 * Reelroom process. The engine ({@link EspeakWasmEngine}) talks to it only through IPC
 * messages: text and settings in, WAV bytes out.
 *
 * Each request gets a fresh WebAssembly instance (espeak-ng's `main` runs once per instance),
 * instantiated from a module compiled once at start-up.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EspeakReply, EspeakRequest } from './espeak-wasm-engine.ts';

/** The part of the Emscripten module we use. */
interface EspeakModule {
  FS: {
    writeFile(path: string, data: string): void;
    readFile(path: string): Uint8Array;
  };
}
interface EspeakModuleOptions {
  arguments: string[];
  preRun: ((module: EspeakModule) => void)[];
  instantiateWasm: (
    imports: WebAssembly.Imports,
    receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
  ) => object;
  print: (line: string) => void;
  printErr: (line: string) => void;
}
type EspeakFactory = (options: EspeakModuleOptions) => Promise<EspeakModule>;

const require = createRequire(import.meta.url);
const entry = require.resolve('espeak-ng');
const compiled = await WebAssembly.compile(await readFile(join(dirname(entry), 'espeak-ng.wasm')));
const { default: createEspeak } = (await import(pathToFileURL(entry).href)) as {
  default: EspeakFactory;
};

const INPUT = '/input.txt';
const OUTPUT = '/output.wav';

async function speak(request: EspeakRequest): Promise<EspeakReply> {
  const errors: string[] = [];
  try {
    const espeak = await createEspeak({
      arguments: [
        ...['-v', request.voice, '-s', String(request.wordsPerMinute), '-p', String(request.pitch)],
        ...['-w', OUTPUT, '-f', INPUT],
      ],
      preRun: [(module) => module.FS.writeFile(INPUT, request.text)],
      instantiateWasm: (imports, receive) => {
        WebAssembly.instantiate(compiled, imports).then(
          (instance) => receive(instance, compiled),
          (error: unknown) => errors.push(`instantiate: ${String(error)}`),
        );
        return {};
      },
      print: () => {},
      printErr: (line) => errors.push(line),
    });
    const wav = espeak.FS.readFile(OUTPUT);
    return { id: request.id, wav };
  } catch (error) {
    const message = errors.filter((line) => !line.includes('keepRuntimeAlive')).join('\n');
    return {
      id: request.id,
      error: message || String(error),
      invalid: /voice does not exist/i.test(message),
    };
  } finally {
    // Emscripten's exit() sets the exit code of the whole process; this one keeps serving.
    process.exitCode = 0;
  }
}

// One request at a time, in order: each instance holds 32 MB.
let queue = Promise.resolve();
process.on('message', (request: EspeakRequest) => {
  queue = queue.then(async () => {
    process.send?.(await speak(request));
  });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ready: true } satisfies EspeakReply);
