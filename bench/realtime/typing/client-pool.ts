// The harness side of the load-client processes: forks them, hands each its share of the
// documents (document i to process i mod N, all clients of a document in one process) and
// gathers their answers.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ClientKind, DocumentPlan, FromClient, RunResult, ToClient } from './protocol.ts';

const ENTRY = fileURLToPath(new URL('./load-client-main.ts', import.meta.url));

export interface ClientPoolOptions {
  kind: ClientKind;
  /** Load-client processes (default 2: at 2,000 edits/s one Node thread is not enough). */
  processes?: number;
  /** How long a command may take before the pool gives up (default 120 s). */
  timeoutMs?: number;
}

export class ClientPool {
  readonly #kind: ClientKind;
  readonly #timeoutMs: number;
  readonly #children: ChildProcess[];
  #closing: Promise<void> | undefined;

  constructor(options: ClientPoolOptions) {
    const count = options.processes ?? 2;
    if (!Number.isInteger(count) || count < 1) throw new Error('processes must be >= 1');
    this.#kind = options.kind;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#children = Array.from({ length: count }, () =>
      fork(ENTRY, [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
  }

  get pids(): number[] {
    return this.#children.map((child) => child.pid!);
  }

  /** Connects every client of `documents` and waits until all are synced. */
  async connect(documents: DocumentPlan[]): Promise<void> {
    await Promise.all(
      this.#children.map((child, index) =>
        this.#ask(
          child,
          { type: 'connect', kind: this.#kind, documents: this.#share(documents, index) },
          'connected',
        ),
      ),
    );
  }

  /** Runs the schedule: `rate` is the total over all processes, split by their client counts. */
  async run(
    options: Omit<Extract<ToClient, { type: 'run' }>, 'type' | 'rate'> & {
      rate: number;
      documents: number;
    },
  ): Promise<RunResult[]> {
    const { documents, rate, ...rest } = options;
    return Promise.all(
      this.#children.map((child, index) => {
        const share = this.#shareCount(documents, index) / documents;
        return this.#ask(child, { type: 'run', rate: rate * share, ...rest }, 'result');
      }),
    ) as Promise<RunResult[]>;
  }

  /** Reads every document once with a fresh client each. */
  async read(documents: DocumentPlan[]) {
    const answers = await Promise.all(
      this.#children.map((child, index) =>
        this.#ask(
          child,
          { type: 'read', kind: this.#kind, documents: this.#share(documents, index) },
          'texts',
        ),
      ),
    );
    return answers.flatMap((answer) => (answer.type === 'texts' ? answer.documents : []));
  }

  /** Ends every process; safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled(
        this.#children.map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = once(child, 'exit');
          if (child.connected) child.send({ type: 'close' } satisfies ToClient);
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }),
      );
    })();
    return this.#closing;
  }

  #share(documents: DocumentPlan[], index: number): DocumentPlan[] {
    return documents.filter((_, doc) => doc % this.#children.length === index);
  }

  #shareCount(documents: number, index: number): number {
    return Array.from({ length: documents }, (_, doc) => doc).filter(
      (doc) => doc % this.#children.length === index,
    ).length;
  }

  #ask(child: ChildProcess, message: ToClient, expect: FromClient['type']): Promise<FromClient> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`load client ${child.pid}: no '${expect}' in ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      const onMessage = (answer: FromClient) => {
        if (answer.type === 'error') {
          cleanup();
          reject(new Error(`load client ${child.pid}: ${answer.message}`));
        } else if (answer.type === expect) {
          cleanup();
          resolve(answer);
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`load client ${child.pid} exited (${code}) before '${expect}'`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send(message);
    });
  }
}
