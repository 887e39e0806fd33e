import { Worker } from 'node:worker_threads';

/** What drizzle's PGlite driver calls on its client, and inside a transaction. */
export interface PgliteQueryable {
  query(
    sql: string,
    params?: unknown[],
    options?: { rowMode?: 'array' | 'object'; parsers?: Record<number, unknown> },
  ): Promise<{ rows: unknown[]; affectedRows?: number; fields: unknown[] }>;
}

/** A PGlite that runs in a worker thread of its own, as far as drizzle and we use one. */
export interface PgliteThread extends PgliteQueryable {
  transaction<T>(callback: (tx: PgliteQueryable) => Promise<T>): Promise<T>;
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  /** What the database thread holds: its wasm memory and its JavaScript heap, in bytes. */
  memory(): Promise<DatabaseThreadMemory>;
  readonly closed: boolean;
  /** Closes the database, then ends the thread; safe to call twice. */
  close(): Promise<void>;
}

export interface DatabaseThreadMemory {
  wasmBytes: number;
  heapBytes: number;
}

export interface PgliteThreadOptions {
  /** The data directory; absent, an in-memory database. */
  dataDir?: string | undefined;
  /** Every commit reaches the disk before it resolves (see `DatabaseOptions.durable`). */
  durable: boolean;
}

type Reply = { id: number; result?: unknown; error?: Record<string, unknown> };
type Notification = { notify: string; payload: string };

/** An error from the database thread, with the fields it had there (`code`, `detail`...). */
class PgliteThreadError extends Error {
  constructor(data: Record<string, unknown>) {
    super(String(data.message));
    Object.assign(this, data);
    this.name = typeof data.name === 'string' ? data.name : 'Error';
  }
}

/**
 * Starts PGlite in a worker thread (`pglite-worker.mjs`) and resolves once it has opened the
 * database. Each call is one message each way (structured clone and a wake-up of each thread:
 * about 0.1 ms more per query, measured), in exchange for the relay thread never running the
 * wasm Postgres or waiting on its fdatasync.
 * A query outside an open transaction waits for it to end, as on an in-process PGlite.
 */
export async function startPgliteThread(options: PgliteThreadOptions): Promise<PgliteThread> {
  const worker = new Worker(new URL('./pglite-worker.mjs', import.meta.url), {
    workerData: { dataDir: options.dataDir, durable: options.durable },
  });
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const listeners = new Map<string, Set<(payload: string) => void>>();
  let nextId = 1;
  let failure: Error | undefined;
  let closed = false;

  const failAll = (error: Error) => {
    failure ??= error;
    for (const call of pending.values()) call.reject(failure);
    pending.clear();
  };

  // Ready once the thread has opened the database; its error (PGlite could not open the
  // directory) or its exit before then is the caller's error.
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number) => settle(new Error(`the database thread exited (code ${code})`));
    const onMessage = (message: { ready?: boolean }) => {
      if (message.ready) settle();
    };
    const settle = (error?: Error) => {
      worker.off('message', onMessage).off('error', settle).off('exit', onExit);
      if (error) reject(error);
      else resolve();
    };
    worker.on('message', onMessage).on('error', settle).on('exit', onExit);
  });

  worker.on('message', (message: Reply | Notification) => {
    if ('notify' in message) {
      for (const listener of listeners.get(message.notify) ?? []) listener(message.payload);
      return;
    }
    const call = pending.get(message.id);
    if (!call) return;
    pending.delete(message.id);
    if (message.error) call.reject(new PgliteThreadError(message.error));
    else call.resolve(message.result);
  });
  worker.on('error', (error) => failAll(error));
  worker.on('exit', (code) => {
    closed = true;
    failAll(new Error(`the database thread exited (code ${code})`));
  });

  const call = <T>(message: Record<string, unknown>): Promise<T> => {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage({ id, ...message });
    });
  };

  const queryIn =
    (tx: number | undefined): PgliteQueryable['query'] =>
    (sql, params = [], queryOptions = {}) =>
      call({
        op: 'query',
        sql,
        params,
        tx,
        rowMode: queryOptions.rowMode ?? 'object',
        // drizzle's parsers keep dates and intervals as strings: the same, by type oid.
        rawTypes: Object.keys(queryOptions.parsers ?? {}).map(Number),
      });

  let closing: Promise<void> | undefined;
  return {
    query: queryIn(undefined),
    async transaction(callback) {
      const tx = await call<number>({ op: 'begin' });
      let result: Awaited<ReturnType<typeof callback>>;
      try {
        result = await callback({ query: queryIn(tx) });
      } catch (error) {
        await call({ op: 'end', tx, commit: false }).catch(() => {});
        throw error;
      }
      await call({ op: 'end', tx, commit: true });
      return result;
    },
    async listen(channel, onPayload) {
      let channelListeners = listeners.get(channel);
      if (!channelListeners) {
        channelListeners = new Set();
        listeners.set(channel, channelListeners);
        await call({ op: 'listen', channel });
      }
      channelListeners.add(onPayload);
      return async () => {
        channelListeners.delete(onPayload);
        if (channelListeners.size > 0 || listeners.get(channel) !== channelListeners) return;
        listeners.delete(channel);
        await call({ op: 'unlisten', channel }).catch(() => {});
      };
    },
    memory: () => call<DatabaseThreadMemory>({ op: 'memory' }),
    get closed() {
      return closed;
    },
    close() {
      closing ??= (async () => {
        try {
          if (!closed) await call({ op: 'close' });
        } finally {
          closed = true;
          await worker.terminate();
        }
      })();
      return closing;
    },
  };
}
