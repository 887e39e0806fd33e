// One measured run: one contender, one edit rate, fresh documents, fresh load-client processes.
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientPool } from './client-pool.ts';
import type { Contender } from './contender.ts';
import { cpuMillis, type MeterReading, ProcessMeter } from './process-meter.ts';
import type { DocumentOutcome, DocumentPlan } from './protocol.ts';
import { type LatencySummary, summarise } from './stats.ts';

export interface RateFigures {
  latency: LatencySummary;
  /** Per-receiver latencies by node relation (distributed mode: same node vs through Redis). */
  sameNode: LatencySummary;
  crossNode: LatencySummary;
  achievedRate: number;
  measuredEdits: number;
  undelivered: number;
  /** Server CPU (nodes + database backends) per measured edit, and the database's part. */
  cpuMsPerEdit: number;
  databaseCpuMsPerEdit: number;
  peakRssMb: number;
  endRssMb: number;
  /** The busiest load-client process's CPU, percent of one core: near 100 means saturated. */
  clientCpuPercent: number;
  scheduleLagP99: number;
  /** Documents whose clients all ended with the same text. */
  convergedDocuments: number;
  documents: DocumentOutcome[];
}

export interface MeasureOptions {
  rate: number;
  documents: number;
  clientsPerDocument: number;
  clientProcesses: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
}

/** Runs `options.rate` edits/s on fresh documents of a started contender. */
export async function measureRate(
  contender: Contender,
  options: MeasureOptions,
): Promise<{ figures: RateFigures; plan: DocumentPlan[] }> {
  const plan = await contender.prepareDocuments(options.documents, options.clientsPerDocument);
  const pool = new ClientPool({ kind: contender.clientKind, processes: options.clientProcesses });
  try {
    await pool.connect(plan);
    // Let the connect storm (sync, awareness) settle before the clock starts.
    await sleep(500);
    const startAt = Date.now() + 300;
    // Server CPU counts from the end of the warm-up until every measured edit was delivered
    // (or the drain ran out): a server that falls behind does the work of the window later, and
    // stopping at the window's end would count only part of it. Client CPU is the window's own.
    let stopMeters: (() => [MeterReading, MeterReading]) | undefined;
    const measuring = (async () => {
      await sleep(startAt + options.warmupMs - Date.now());
      const pids = await contender.serverPids();
      const nodes = new ProcessMeter(pids.nodes);
      const database = new ProcessMeter(pids.database);
      const clientStart = pool.pids.map(cpuMillis);
      nodes.start();
      database.start();
      stopMeters = () => [nodes.stop(), database.stop()];
      await sleep(options.measureMs);
      return pool.pids.map((pid, index) => cpuMillis(pid) - clientStart[index]!);
    })();
    const results = await pool.run({
      rate: options.rate,
      documents: options.documents,
      startAt,
      warmupMs: options.warmupMs,
      measureMs: options.measureMs,
      drainMs: options.drainMs,
    });
    const clientMs = await measuring;
    const [nodes, database] = stopMeters!();
    const measuredEdits = results.reduce((sum, result) => sum + result.measuredEdits, 0);
    const spanMs = Math.max(...results.map((result) => result.measuredSpanMs));
    const documents = results.flatMap((result) => result.documents);
    const figures: RateFigures = {
      latency: summarise(results.flatMap((result) => result.latencies)),
      sameNode: summarise(results.flatMap((result) => result.sameNode)),
      crossNode: summarise(results.flatMap((result) => result.crossNode)),
      // Edits over the span from the first to the last measured edit, n-1 intervals. Above the
      // target when the generator fell behind and caught up in a burst (see scheduleLagP99).
      achievedRate: ((measuredEdits - 1) * 1000) / spanMs,
      measuredEdits,
      undelivered: results.reduce((sum, result) => sum + result.undelivered, 0),
      cpuMsPerEdit: (nodes.cpuMs + database.cpuMs) / measuredEdits,
      databaseCpuMsPerEdit: database.cpuMs / measuredEdits,
      peakRssMb: nodes.peakRssMb,
      endRssMb: nodes.endRssMb,
      clientCpuPercent: (Math.max(...clientMs) / options.measureMs) * 100,
      scheduleLagP99: Math.max(...results.map((result) => result.scheduleLag.p99)),
      convergedDocuments: documents.filter((doc) => doc.converged).length,
      documents,
    };
    return { figures, plan };
  } finally {
    await pool.close();
  }
}

/**
 * Reopens the contender's store (kill -9 and restart) and reads every document back with one
 * fresh client each: what was stored, by document name. Null when the contender keeps nothing.
 */
export async function readStored(
  contender: Contender,
  plan: DocumentPlan[],
  clientProcesses: number,
): Promise<Map<string, DocumentOutcome> | null> {
  const readPlan = await contender.reopenForRead(plan);
  if (!readPlan) return null;
  const pool = new ClientPool({ kind: contender.clientKind, processes: clientProcesses });
  try {
    const stored = await pool.read(readPlan);
    return new Map(stored.map((doc) => [doc.docName, doc]));
  } finally {
    await pool.close();
  }
}

/**
 * Compares the stored documents with the text their clients ended with. Only documents whose
 * clients converged can be compared: for the others there is no one text the store should hold.
 */
export function compareStored(
  clients: readonly DocumentOutcome[],
  stored: Map<string, DocumentOutcome>,
): { matching: number; compared: number } {
  const converged = clients.filter((doc) => doc.converged);
  const matching = converged.filter((doc) => {
    const kept = stored.get(doc.docName);
    return kept !== undefined && kept.hash === doc.hash && kept.length === doc.length;
  }).length;
  return { matching, compared: converged.length };
}
