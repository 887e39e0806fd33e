// Matches every edit with its arrivals at the other clients of its document. An edit's latency
// is the time until the LAST of its receivers has it: what the slowest person in the room waits.

/** The marker each edit inserts: `<member:seq>`, unique within its document. */
export const editMarker = (member: number, seq: number) => `<${member}:${seq}>`;
const MARKER = /<\d+:\d+>/g;

interface PendingEdit {
  sentAt: number;
  senderNode: number;
  remaining: number;
  measured: boolean;
}

export class EditTracker {
  readonly latencies: number[] = [];
  readonly sameNode: number[] = [];
  readonly crossNode: number[] = [];
  /** One map per document: marker -> the edit still waiting for receivers. */
  readonly #pending: Array<Map<string, PendingEdit>>;
  readonly #receivers: number;

  /** `receivers`: how many other clients each edit must reach (clients per document - 1). */
  constructor(documents: number, receivers: number) {
    this.#pending = Array.from({ length: documents }, () => new Map());
    this.#receivers = receivers;
  }

  sent(doc: number, marker: string, senderNode: number, sentAt: number, measured: boolean): void {
    this.#pending[doc]!.set(marker, { sentAt, senderNode, remaining: this.#receivers, measured });
  }

  /** Called with every string a receiver saw inserted by a remote transaction. */
  received(doc: number, receiverNode: number, inserted: string, now: number): void {
    const pending = this.#pending[doc]!;
    for (const match of inserted.matchAll(MARKER)) {
      const edit = pending.get(match[0]);
      if (!edit) continue;
      const latency = now - edit.sentAt;
      if (edit.measured) {
        (edit.senderNode === receiverNode ? this.sameNode : this.crossNode).push(latency);
      }
      edit.remaining -= 1;
      if (edit.remaining === 0) {
        if (edit.measured) this.latencies.push(latency);
        pending.delete(match[0]);
      }
    }
  }

  /** Measured edits still missing a receiver. */
  undelivered(): number {
    let count = 0;
    for (const pending of this.#pending) {
      for (const edit of pending.values()) if (edit.measured) count += 1;
    }
    return count;
  }

  /** Edits of any kind still missing a receiver. */
  outstanding(): number {
    return this.#pending.reduce((sum, pending) => sum + pending.size, 0);
  }
}
