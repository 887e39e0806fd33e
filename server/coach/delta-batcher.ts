/**
 * Merges text deltas that arrive within one event-loop turn into one `chat:token`. A provider
 * streaming at human pace (tens of tokens a second) still gets one event per token; a fast one
 * (a local model, or a burst the network delivered in one read) gets one event per read instead
 * of one per token, which keeps the fan-out to a big room from queueing behind itself. Order
 * is kept: a batch is the concatenation of its deltas in arrival order.
 */
export class DeltaBatcher {
  readonly #send: (text: string) => void;
  readonly #maxChars: number;
  #buffer = '';
  #scheduled: NodeJS.Immediate | null = null;

  /**
   * @param send receives each batch, in order.
   * @param maxChars a batch is sent at once when it reaches this size. Default 4096: keeps
   *   frames small even when a provider sends a long burst.
   */
  constructor(send: (text: string) => void, maxChars = 4096) {
    this.#send = send;
    this.#maxChars = maxChars;
  }

  push(text: string): void {
    this.#buffer += text;
    if (this.#buffer.length >= this.#maxChars) {
      this.flush();
      return;
    }
    // setImmediate runs after the I/O callbacks of this turn: every delta the SDK parsed from
    // the same network read is in the buffer by then.
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = null;
      this.flush();
    });
  }

  /** Sends what is buffered now (before `chat:done` or `chat:error`). */
  flush(): void {
    if (this.#scheduled) {
      clearImmediate(this.#scheduled);
      this.#scheduled = null;
    }
    if (!this.#buffer) return;
    const text = this.#buffer;
    this.#buffer = '';
    this.#send(text);
  }
}
