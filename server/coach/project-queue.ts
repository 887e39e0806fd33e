/**
 * Runs jobs one at a time per key, in the order they were added (one coach reply streams per
 * project; the next waits its turn). Different keys run concurrently. A failing job does not
 * stop the ones after it; its error goes to `onError`.
 */
export class ProjectQueue {
  readonly #tails = new Map<string, Promise<void>>();
  readonly #onError: (error: unknown, key: string) => void;
  #closed = false;

  constructor(onError: (error: unknown, key: string) => void) {
    this.#onError = onError;
  }

  /** Number of keys with work queued or running. */
  get busyKeys(): number {
    return this.#tails.size;
  }

  /** Queues `job` behind the key's earlier jobs; resolves when it ran (never rejects). */
  add(key: string, job: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('ProjectQueue: closed'));
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const run = previous.then(job).catch((error: unknown) => this.#onError(error, key));
    this.#tails.set(key, run);
    void run.then(() => {
      if (this.#tails.get(key) === run) this.#tails.delete(key);
    });
    return run;
  }

  /** Refuses new jobs and waits for the queued ones. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#tails.size > 0) await Promise.allSettled([...this.#tails.values()]);
  }
}
