/**
 * A job that can never succeed (an invalid spec, a missing asset): the queue dead-letters it at
 * once instead of retrying. Compared by `name` where errors cross process boundaries.
 */
export class UnrecoverableError extends Error {
  override readonly name = 'UnrecoverableError';
}

/** FFmpeg or FFprobe exited with an error; retried, since disks fill up and processes get killed. */
export class RenderFailedError extends Error {
  override readonly name = 'RenderFailedError';
  constructor(
    message: string,
    /** The last lines FFmpeg wrote to stderr, for the job's error and the dead-letter entry. */
    readonly stderrTail = '',
  ) {
    super(stderrTail ? `${message}: ${stderrTail}` : message);
  }
}

/** The render ran longer than its wall-clock limit and FFmpeg was killed. */
export class RenderTimeoutError extends Error {
  override readonly name = 'RenderTimeoutError';
}

/** The render was stopped on purpose (cancelled, lease lost, worker shutting down). */
export class RenderAbortedError extends Error {
  override readonly name = 'RenderAbortedError';
}

/** The queue no longer holds this job for the caller: another worker took it over. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/** Whether an error means "do not retry", also for errors revived from another process. */
export function isUnrecoverable(error: unknown): boolean {
  return error instanceof Error && error.name === 'UnrecoverableError';
}

/** A message for logs and the job's stored error, whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
