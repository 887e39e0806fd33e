/**
 * The errors a speech engine throws besides {@link UnrecoverableError} (from `../errors.ts`),
 * which it throws for input that can never be spoken (an unknown voice, a rejected key, text
 * the provider refuses). Compared by `name` where errors cross process boundaries.
 */

/**
 * The provider refused for now (a rate limit, an overload, a connection that failed): the step
 * retries after `retryAfterMs` when the provider said how long, else with its own backoff.
 */
export class SpeechRetryLaterError extends Error {
  override readonly name = 'SpeechRetryLaterError';
  constructor(
    message: string,
    /** What the provider's `retry-after` asked for, in ms; undefined when it did not say. */
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * An engine process failed or wrote no usable WAV (a crash, a killed process, a full disk);
 * retried, as with `RenderFailedError`.
 */
export class SpeechFailedError extends Error {
  override readonly name = 'SpeechFailedError';
  constructor(
    message: string,
    /** The last lines the engine wrote to stderr, when there were any. */
    readonly stderrTail = '',
    options?: ErrorOptions,
  ) {
    super(stderrTail ? `${message}: ${stderrTail}` : message, options);
  }
}

/** The synthesis was stopped on purpose (its `signal` aborted) or ran past its time limit. */
export class SpeechAbortedError extends Error {
  override readonly name = 'SpeechAbortedError';
}

/** Throws {@link SpeechAbortedError} when `signal` has aborted. */
export function throwIfSpeechAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new SpeechAbortedError(`speech aborted: ${String(signal.reason ?? 'abort')}`);
  }
}
