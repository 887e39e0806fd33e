import type { Logger } from 'pino';

/** One repair a pass made: what kind of job, which one, and what was done to it. */
export interface Repair {
  /** `render`, `pipeline-step`, ... */
  kind: string;
  id: string;
  /** `requeued`, `failed-dead`, `failed-deadline`, `cancelled`, ... */
  action: string;
  detail?: string;
}

/**
 * A pass over one kind of job: compares every unfinished job's stored state with the queue
 * and repairs what does not match. Must be safe to run on several nodes at once (each repair
 * a compare-and-set on the job's row) and to run again after a crash half-way.
 */
export interface ReconcilePass {
  readonly name: string;
  run(now: Date): Promise<Repair[]>;
}

export interface ReconcilerOptions {
  passes: ReconcilePass[];
  logger: Logger;
  /** Time between two rounds. Default 30 000 ms (RECONCILE_INTERVAL_SECONDS). */
  intervalMs?: number;
  /** Told of every repair (the `reconciler_repairs_total` metric). */
  onRepair?: ((repair: Repair) => void) | undefined;
  now?: () => Date;
}

/**
 * Runs the reconcile passes on every node, in distributed mode too: at start (what a crash or
 * a restart of Redis left behind) and every `intervalMs`. The Stripe inbox's sweep, turned to
 * jobs: the database says what should be happening, the queue what is, and a job that fell
 * between them (lost by the queue, dead-lettered before its row was written, past its
 * deadline) is put back or ended with its refund.
 */
type ResolvedOptions = Required<Omit<ReconcilerOptions, 'onRepair'>> & {
  onRepair: ReconcilerOptions['onRepair'];
};

export class Reconciler {
  readonly #options: ResolvedOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<Repair[]> | undefined;
  #closed = false;

  constructor(options: ReconcilerOptions) {
    this.#options = {
      intervalMs: 30_000,
      now: () => new Date(),
      ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
      onRepair: options.onRepair,
    } as ResolvedOptions;
    if (!(this.#options.intervalMs > 0)) throw new RangeError('intervalMs must be positive');
  }

  /** Starts the rounds; the first runs at once. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.runOnce(), this.#options.intervalMs);
    this.#timer.unref();
    void this.runOnce();
  }

  /**
   * One round of every pass (joins the round in flight, if any). Never throws: a failing pass
   * (Redis down) is logged and the next round tries again.
   */
  runOnce(): Promise<Repair[]> {
    this.#running ??= (async () => {
      const repairs: Repair[] = [];
      for (const pass of this.#options.passes) {
        if (this.#closed) break;
        try {
          const made = await pass.run(this.#options.now());
          for (const repair of made) {
            this.#options.logger.warn(repair, 'reconciler repaired a job');
            this.#options.onRepair?.(repair);
          }
          repairs.push(...made);
        } catch (error) {
          if (!this.#closed) {
            this.#options.logger.error({ err: error, pass: pass.name }, 'reconcile pass failed');
          }
        }
      }
      return repairs;
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops the rounds and waits for the one in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }
}
