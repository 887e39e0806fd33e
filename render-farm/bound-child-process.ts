import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** Where util-linux's `setpriv` lives on Debian and most Linux systems (merged /usr or not). */
const SETPRIV_CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv'];

let setprivPath: string | null | undefined;

/**
 * The `setpriv` that can set a parent-death signal (Linux, util-linux 2.33 or newer), or null.
 * Looked up once per process.
 */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return setprivPath;
  for (const candidate of SETPRIV_CANDIDATES) {
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    const help = spawnSync(candidate, ['--help'], { encoding: 'utf8', timeout: 5000 });
    if (help.status === 0 && help.stdout.includes('--pdeathsig')) {
      setprivPath = candidate;
      break;
    }
  }
  return setprivPath;
}

/**
 * Whether {@link spawnBoundToParent} can make its children die with this process here (false:
 * not Linux, or no `setpriv` with `--pdeathsig`).
 */
export function canBindChildrenToParent(): boolean {
  return findSetpriv() !== null;
}

/**
 * `child_process.spawn`, but the child is killed (SIGKILL) when this process dies, however it
 * dies: a worker killed with `kill -9` or by the OOM killer takes its FFmpeg with it instead of
 * leaving an orphan that encodes on to the end for nobody.
 *
 * On Linux it runs the command through `setpriv --pdeathsig SIGKILL --`, which sets the
 * parent-death signal (prctl PR_SET_PDEATHSIG) and then execs the command, so the pid is the
 * command's own. The signal fires when the thread that spawned the child exits; Node spawns
 * from the main thread, which lives as long as the process. Where there is no such `setpriv`
 * (other systems, util-linux older than 2.33) this is a plain spawn and a dead parent's child
 * runs to its end, as before.
 */
export function spawnBoundToParent(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): ChildProcess {
  const setpriv = findSetpriv();
  if (!setpriv) return spawn(command, args, options);
  return spawn(setpriv, ['--pdeathsig', 'SIGKILL', '--', command, ...args], options);
}

export interface RunToCompletionOptions {
  /** Written to the child's stdin, which is then closed. Default: stdin is /dev/null. */
  input?: string | Buffer | undefined;
  /** Aborting kills the child (SIGKILL); the call rejects with kind `aborted`. */
  signal?: AbortSignal | undefined;
  /** Wall-clock limit; the child is killed and the call rejects with kind `timeout`. */
  timeoutMs: number;
  cwd?: string | undefined;
  /** How much of the end of stderr is kept. Default 64 KiB. */
  stderrLimit?: number;
}

/**
 * Why {@link runToCompletion} failed: `missing` (the program is not installed), `spawn` (it
 * could not start), `exit` (non-zero exit or killed by a signal), `timeout`, `aborted`.
 * Callers turn it into their own errors (speech, render).
 */
export class ChildRunError extends Error {
  override name = 'ChildRunError';
  constructor(
    readonly kind: 'missing' | 'spawn' | 'exit' | 'timeout' | 'aborted',
    message: string,
    /** The end of the child's stderr. */
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** `setpriv` itself reports a command it cannot exec with exit code 127. */
const SETPRIV_EXEC_FAILED = /setpriv: failed to execute/;

/**
 * Runs a program bound to this process ({@link spawnBoundToParent}) with an argument array,
 * never through a shell, to its end: resolves its stdout and the end of its stderr when it
 * exits with 0, rejects with a {@link ChildRunError} otherwise. The one way the render farm
 * runs a short-lived program (FFprobe, a thumbnail's FFmpeg, a speech engine).
 */
export function runToCompletion(
  file: string,
  args: readonly string[],
  options: RunToCompletionOptions,
): Promise<{ stdout: Buffer; stderr: string }> {
  const name = file.split('/').at(-1) ?? file;
  if (options.signal?.aborted) {
    return Promise.reject(
      new ChildRunError('aborted', `${name} aborted: ${String(options.signal.reason)}`, ''),
    );
  }
  const limit = options.stderrLimit ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawnBoundToParent(file, args, {
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    let stopped: ChildRunError | undefined;
    const stop = (error: ChildRunError) => {
      if (stopped) return;
      stopped = error;
      child.kill('SIGKILL');
    };
    const onAbort = () =>
      stop(
        new ChildRunError(
          'aborted',
          `${name} aborted: ${String(options.signal?.reason ?? 'abort')}`,
          stderr,
        ),
      );
    const timer = setTimeout(
      () =>
        stop(
          new ChildRunError('timeout', `${name} ran longer than ${options.timeoutMs} ms`, stderr),
        ),
      options.timeoutMs,
    );
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    const settle = (error?: ChildRunError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (stopped) reject(stopped);
      else if (error) reject(error);
      else resolve({ stdout: Buffer.concat(stdout), stderr });
    };
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-limit);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      settle(
        error.code === 'ENOENT'
          ? new ChildRunError('missing', `${file} is not installed`, stderr)
          : new ChildRunError('spawn', `${name} could not start: ${error.message}`, stderr),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) settle();
      else if (code === 127 && SETPRIV_EXEC_FAILED.test(stderr)) {
        settle(new ChildRunError('missing', `${file} is not installed`, stderr));
      } else {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        settle(new ChildRunError('exit', `${name} ${how}`, stderr));
      }
    });
    if (child.stdin) {
      // A program that exits before reading all of its input is reported by its exit code.
      child.stdin.on('error', () => {});
      child.stdin.end(options.input);
    }
  });
}
