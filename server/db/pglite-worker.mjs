// The embedded database's own thread: PGlite runs here, so its wasm Postgres and the fdatasync
// of every commit take this thread's time, not the time of the thread that relays every
// document and answers every request (issue 16: they were a third of the relay thread at 500
// edits/s). `pglite-thread.ts` is the other end: it speaks the few calls drizzle makes.
//
// Plain JavaScript on purpose: a worker thread does not inherit the loader that runs our
// TypeScript (tsx in `npm start`, vite-node in the tests), and this file must start in both.
//
// Messages in: { id, op: 'query', sql, params, rowMode, rawTypes, tx? } | { id, op: 'begin' }
//   | { id, op: 'end', tx, commit } | { id, op: 'listen' | 'unlisten', channel }
//   | { id, op: 'memory' } | { id, op: 'close' }
// Messages out: { id, result } | { id, error } | { notify: channel, payload }
import { fdatasyncSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';

/**
 * Emscripten's NODEFS (what PGlite's NodeFS mounts) has no `fsync`, so `fsync()` inside the
 * wasm Postgres returns at once; this one passes it to the real file (`fdatasync`: the data
 * and the size, which is what Postgres's WAL and data file syncs need). `fdatasync()` itself is
 * a no-op stub in the wasm build, hence `wal_sync_method=fsync` below.
 */
class SyncingNodeFS extends NodeFS {
  async init(...args) {
    const result = await super.init(...args);
    const preRun = [...(result.emscriptenOpts.preRun ?? [])];
    preRun.push((module) => {
      const nodefs = module.NODEFS;
      nodefs.stream_ops.fsync = (stream) => {
        nodefs.tryFSOperation(() => fdatasyncSync(stream.nfd));
        return 0;
      };
    });
    return { emscriptenOpts: { ...result.emscriptenOpts, preRun } };
  }
}

/**
 * Postgres settings for the embedded PGlite, down from its defaults (128 MB shared buffers):
 * one process holds the whole database in its wasm memory, and the data of a team's projects
 * is far smaller. Measured: 387 -> 277 MB resident for a migrated database with 20k rows.
 */
const MEMORY_PARAMS = [
  '-c',
  'shared_buffers=16MB',
  '-c',
  'wal_buffers=1MB',
  '-c',
  'min_wal_size=32MB',
  '-c',
  'max_wal_size=64MB',
];

/** @type {{ dataDir?: string, durable: boolean }} */
const { dataDir, durable } = workerData;

const client = await PGlite.create(
  !dataDir
    ? {}
    : {
        ...(durable ? { fs: new SyncingNodeFS(dataDir) } : { dataDir }),
        startParams: [
          // Without `-F` (fsync off) when durable, its WAL synced through fsync().
          ...PGlite.defaultStartParams.filter((param) => !durable || param !== '-F'),
          ...(durable ? ['-c', 'wal_sync_method=fsync'] : []),
          ...MEMORY_PARAMS,
        ],
      },
);

/** Open transactions by id: PGlite's handle, how to end the callback holding it, its outcome. */
const transactions = new Map();
let nextTransaction = 1;
/** Unsubscribe functions of the channels listened to. */
const listening = new Map();

/**
 * The types drizzle asks for raw (dates and intervals stay strings), set on the instance the
 * first time a query names them. PGlite copies all its parsers (a few hundred, one per array
 * type) into a new object for every query given parsers of its own: measured, that doubled
 * the cost of a query (`select 1`: 80 -> 190 µs). This thread serves drizzle only, which asks
 * for the same raw types on every query.
 */
const rawTypes = new Set();
function keepRaw(oids) {
  for (const oid of oids) {
    if (rawTypes.has(oid)) continue;
    client.parsers[oid] = (value) => value;
    rawTypes.add(oid);
  }
}

/** An error as plain data: its message and its own fields (Postgres's `code`, `detail`...). */
function errorData(error) {
  if (!(error instanceof Error)) return { message: String(error) };
  const data = { name: error.name, message: error.message };
  for (const [key, value] of Object.entries(error)) {
    if (value === undefined || typeof value === 'function') continue;
    if (typeof value === 'object' && value !== null) continue;
    data[key] = value;
  }
  return data;
}

/** Starts a transaction and resolves with its id once PGlite holds it open for us. */
function begin() {
  const id = nextTransaction++;
  return new Promise((resolveBegin, rejectBegin) => {
    const open = { tx: undefined, finish: undefined, running: undefined };
    // PGlite commits when the callback's promise resolves and rolls back when it rejects;
    // `end` settles it. Until then PGlite queues every query outside this transaction.
    open.running = client.transaction(
      (tx) =>
        new Promise((commit, rollback) => {
          open.tx = tx;
          open.finish = { commit, rollback };
          transactions.set(id, open);
          resolveBegin(id);
        }),
    );
    open.running.catch((error) => {
      if (!open.tx) rejectBegin(error); // BEGIN itself failed
    });
  });
}

/** The rollback that the caller asked for, told apart from one that failed. */
const ROLLBACK = Symbol('rollback');

async function end(id, commit) {
  const open = transactions.get(id);
  if (!open) throw new Error(`no open transaction ${id}`);
  transactions.delete(id);
  if (commit) open.finish.commit();
  else open.finish.rollback(ROLLBACK);
  try {
    await open.running;
  } catch (error) {
    if (error !== ROLLBACK) throw error;
  }
  return null;
}

async function handle(message) {
  switch (message.op) {
    case 'query': {
      const target = message.tx === undefined ? client : transactions.get(message.tx)?.tx;
      if (!target) throw new Error(`no open transaction ${message.tx}`);
      keepRaw(message.rawTypes);
      const result = await target.query(message.sql, message.params, { rowMode: message.rowMode });
      return { rows: result.rows, affectedRows: result.affectedRows, fields: result.fields };
    }
    case 'begin':
      return begin();
    case 'end':
      return end(message.tx, message.commit);
    case 'listen': {
      if (!listening.has(message.channel)) {
        const channel = message.channel;
        const stop = await client.listen(channel, (payload) =>
          parentPort.postMessage({ notify: channel, payload }),
        );
        listening.set(channel, stop);
      }
      return null;
    }
    case 'unlisten': {
      const stop = listening.get(message.channel);
      listening.delete(message.channel);
      await stop?.();
      return null;
    }
    case 'memory':
      // The wasm Postgres's linear memory (it only grows) and this thread's JavaScript heap.
      return {
        wasmBytes: client.mod?.HEAPU8?.byteLength ?? 0,
        heapBytes: getHeapStatistics().used_heap_size,
      };
    case 'close':
      if (!client.closed) await client.close();
      return null;
    default:
      throw new Error(`unknown operation ${message.op}`);
  }
}

parentPort.on('message', (message) => {
  handle(message).then(
    (result) => parentPort.postMessage({ id: message.id, result }),
    (error) => parentPort.postMessage({ id: message.id, error: errorData(error) }),
  );
});
parentPort.postMessage({ ready: true });
