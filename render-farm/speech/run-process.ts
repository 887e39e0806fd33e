import { ChildRunError, runToCompletion } from '../bound-child-process.ts';
import { UnrecoverableError } from '../errors.ts';
import { SpeechAbortedError, SpeechFailedError, throwIfSpeechAborted } from './speech-errors.ts';

export interface RunProcessOptions {
  /** Written to the process's stdin, which is then closed. Default: stdin is /dev/null. */
  input?: string | Buffer;
  /** Aborting kills the process (SIGKILL) and rejects with {@link SpeechAbortedError}. */
  signal?: AbortSignal | undefined;
  /** Wall-clock limit; the process is killed and the call fails when it is reached. */
  timeoutMs: number;
  cwd?: string;
}

export interface ProcessOutput {
  stdout: Buffer;
  /** The last {@link STDERR_KEPT} characters of stderr. */
  stderr: string;
}

const STDERR_KEPT = 64 * 1024;

/** The last few lines of an engine's stderr, for an error message. */
export function stderrTail(stderr: string, lines = 6): string {
  return stderr.trim().split('\n').slice(-lines).join('\n');
}

/**
 * Runs a program with an argument array, never through a shell, so no text reaches a command
 * line parser, and bound to this process (it dies with it). Resolves when it exits with 0.
 *
 * @throws {UnrecoverableError} when the program is not installed.
 * @throws {SpeechFailedError} on a non-zero exit, a signal or the time limit.
 * @throws {SpeechAbortedError} when `signal` aborts.
 */
export async function runProcess(
  file: string,
  args: readonly string[],
  options: RunProcessOptions,
): Promise<ProcessOutput> {
  throwIfSpeechAborted(options.signal);
  try {
    return await runToCompletion(file, args, { ...options, stderrLimit: STDERR_KEPT });
  } catch (error) {
    if (!(error instanceof ChildRunError)) throw error;
    switch (error.kind) {
      case 'missing':
        throw new UnrecoverableError(error.message);
      case 'aborted':
        throw new SpeechAbortedError(error.message);
      case 'exit':
        throw new SpeechFailedError(error.message, stderrTail(error.stderr));
      default:
        throw new SpeechFailedError(error.message);
    }
  }
}
