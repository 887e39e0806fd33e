// A load-client process: connects the clients of its share of the documents, makes its share of
// the edits on the open-loop schedule, and reports latencies and the documents' final texts.
// Forked by client-pool.ts; all its clients of one document live here, so one clock times an
// edit from its sender to every receiver.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConnectClient, clientLibrary, type EditorClient } from './client-adapters.ts';
import { EditTracker, editMarker } from './edit-tracker.ts';
import { runSchedule } from './open-loop.ts';
import type { DocumentOutcome, DocumentPlan, FromClient, RunResult, ToClient } from './protocol.ts';
import { summarise } from './stats.ts';

// Every y-websocket provider adds a process 'exit' listener; hundreds are expected here.
process.setMaxListeners(0);

interface Member {
  doc: number;
  member: number;
  node: number;
  client: EditorClient;
  seq: number;
}

const send = (message: FromClient) => process.send!(message);
const hashOf = (text: string) => createHash('sha256').update(text).digest('hex');

let library: ConnectClient | undefined;
let documents: DocumentPlan[] = [];
let members: Member[] = [];
let tracker: EditTracker | undefined;

async function connect(plan: DocumentPlan[], connectClient: ConnectClient): Promise<void> {
  documents = plan;
  tracker = new EditTracker(plan.length, (plan[0]?.clients.length ?? 1) - 1);
  // Member-major order (doc 0 member 0, doc 1 member 0, ...): consecutive edits of the schedule
  // go to different documents, so the load is spread evenly in time over the documents.
  const maxMembers = Math.max(...plan.map((doc) => doc.clients.length));
  members = [];
  for (let member = 0; member < maxMembers; member += 1) {
    plan.forEach((doc, index) => {
      const endpoint = doc.clients[member];
      if (!endpoint) return;
      const client = connectClient(endpoint.url, doc.docName, endpoint.token);
      const entry: Member = { doc: index, member, node: endpoint.node, client, seq: 0 };
      client.text.observe((event, transaction) => {
        if (transaction.local) return;
        const now = performance.now();
        for (const op of event.delta) {
          if (typeof op.insert === 'string') tracker!.received(index, entry.node, op.insert, now);
        }
      });
      members.push(entry);
    });
  }
  await Promise.all(members.map((entry) => entry.client.synced));
}

function outcomes(byDoc: EditorClient[][]): DocumentOutcome[] {
  return byDoc.map((clients, index) => {
    const texts = clients.map((client) => client.text.toString());
    const first = texts[0] ?? '';
    return {
      docName: documents[index]!.docName,
      converged: texts.every((text) => text === first),
      hash: hashOf(first),
      length: first.length,
    };
  });
}

async function run(message: Extract<ToClient, { type: 'run' }>): Promise<RunResult> {
  const { rate, warmupMs, measureMs, drainMs } = message;
  const start = performance.now() + (message.startAt - Date.now());
  const measureFrom = start + warmupMs;
  const measureTo = measureFrom + measureMs;
  const total = Math.round((rate * (warmupMs + measureMs)) / 1000);
  const lag: number[] = [];
  let measuredEdits = 0;
  let firstMeasured = Number.NaN;
  let lastMeasured = Number.NaN;
  await runSchedule({
    rate,
    start,
    total,
    edit: (k, lateMs) => {
      const entry = members[k % members.length]!;
      const marker = editMarker(entry.member, entry.seq++);
      const due = start + (k * 1000) / rate;
      const measured = due >= measureFrom && due < measureTo;
      const now = performance.now();
      tracker!.sent(entry.doc, marker, entry.node, now, measured);
      // A small insert at the end, as a person typing a word; one transaction = one update.
      entry.client.text.insert(entry.client.text.length, marker);
      if (measured) {
        measuredEdits += 1;
        lag.push(lateMs);
        if (Number.isNaN(firstMeasured)) firstMeasured = now;
        lastMeasured = now;
      }
    },
  });
  const byDoc = documents.map((_, index) =>
    members.filter((entry) => entry.doc === index).map((entry) => entry.client),
  );
  // Wait for every delivery and for the texts to agree, bounded by the drain time.
  const deadline = performance.now() + drainMs;
  let documentOutcomes = outcomes(byDoc);
  while (performance.now() < deadline) {
    if (tracker!.outstanding() === 0 && documentOutcomes.every((doc) => doc.converged)) break;
    await sleep(50);
    documentOutcomes = outcomes(byDoc);
  }
  return {
    type: 'result',
    latencies: tracker!.latencies,
    sameNode: tracker!.sameNode,
    crossNode: tracker!.crossNode,
    measuredEdits,
    measuredSpanMs: measuredEdits > 1 ? lastMeasured - firstMeasured : Number.NaN,
    undelivered: tracker!.undelivered(),
    scheduleLag: summarise(lag),
    documents: documentOutcomes,
  };
}

/** Reads each document with one fresh client, after the harness reopened the store. */
async function read(
  plan: DocumentPlan[],
  connectClient: ConnectClient,
): Promise<DocumentOutcome[]> {
  documents = plan;
  const readers = plan.map((doc) =>
    connectClient(doc.clients[0]!.url, doc.docName, doc.clients[0]!.token),
  );
  await Promise.all(readers.map((reader) => reader.synced));
  const result = outcomes(readers.map((reader) => [reader]));
  for (const reader of readers) reader.destroy();
  return result;
}

process.on('message', (message: ToClient) => {
  void (async () => {
    try {
      switch (message.type) {
        case 'connect':
          library ??= await clientLibrary(message.kind);
          await connect(message.documents, library);
          send({ type: 'connected' });
          break;
        case 'run':
          send(await run(message));
          break;
        case 'read':
          library ??= await clientLibrary(message.kind);
          send({ type: 'texts', documents: await read(message.documents, library) });
          break;
        case 'close':
          for (const entry of members) entry.client.destroy();
          // Providers keep reconnect timers around after destroy: leave without them.
          process.exit(0);
      }
    } catch (error) {
      send({
        type: 'error',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    }
  })();
});
// The harness went away (crash, Ctrl-C): do not linger as an orphan.
process.on('disconnect', () => process.exit(0));
