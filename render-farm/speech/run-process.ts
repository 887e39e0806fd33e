import { spawn } from 'node:child_process';
import { basename } from 'node:path';
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
 * line parser. Resolves when it exits with 0.
 *
 * @throws {UnrecoverableError} when the program is not installed (ENOENT).
 * @throws {SpeechFailedError} on a non-zero exit, a signal or the time limit.
 * @throws {SpeechAbortedError} when `signal` aborts.
 */
export function runProcess(
  file: string,
  args: readonly string[],
  options: RunProcessOptions,
): Promise<ProcessOutput> {
  throwIfSpeechAborted(options.signal);
  return new Promise<ProcessOutput>((resolve, reject) => {
    const name = basename(file);
    const child = spawn(file, args, {
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    let stopped: Error | undefined;
    const stop = (error: Error) => {
      if (stopped) return;
      stopped = error;
      child.kill('SIGKILL');
    };
    const onAbort = () =>
      stop(new SpeechAbortedError(`${name} aborted: ${String(options.signal?.reason ?? 'abort')}`));
    const timer = setTimeout(
      () => stop(new SpeechFailedError(`${name} ran longer than ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (error?: Error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (stopped) reject(stopped);
      else if (error) reject(error);
      else resolve({ stdout: Buffer.concat(stdout), stderr });
    };
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEPT);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      settle(
        error.code === 'ENOENT'
          ? new UnrecoverableError(`${file} is not installed`)
          : new SpeechFailedError(`${name} could not start: ${error.message}`),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) settle();
      else {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        settle(new SpeechFailedError(`${name} ${how}`, stderrTail(stderr)));
      }
    });
    if (child.stdin) {
      // A process that exits before reading all of its input is reported by its exit code.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input);
    }
  });
}
