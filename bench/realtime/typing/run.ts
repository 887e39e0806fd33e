// bench/realtime/typing: a team typing together, side by side. 20 documents x 5 clients make
// edits at a total of 100, 500 and 2,000 edits/s on an open-loop schedule against Reelroom
// embedded, Reelroom distributed (two nodes, Postgres, Redis), Hocuspocus 3.4.4 with SQLite and
// the y-websocket reference server, one contender at a time in interleaved rounds
// (round 1: A B C D, round 2: B C D A, ...), medians over the rounds.
//
// Latency of an edit: from the edit at its client until every other client of the document has
// it. Server CPU (utime+stime) and RSS come from /proc of the contender's own processes; the
// clients run in separate processes. At the end of each contender's round every client must have
// the same text, and the store (reopened after kill -9) must hold that text.
//
//   npm run bench:typing [-- --rates 100,500,2000 --rounds 3 --seconds 10 --warmup 2
//                           --contenders reelroom-embedded,hocuspocus-sqlite --client-processes 2]

import { availableParallelism, loadavg } from 'node:os';
import { progressBar } from '../../support/progress-bar.ts';
import type { Contender, ContenderName } from './contender.ts';
import { HocuspocusSqlite } from './hocuspocus.ts';
import { compareStored, measureRate, readStored } from './measure-rate.ts';
import { parseOptions } from './options.ts';
import { ensurePeersInstalled } from './peers.ts';
import type { DocumentPlan } from './protocol.ts';
import { ReelroomDistributed } from './reelroom-distributed.ts';
import { ReelroomEmbedded } from './reelroom-embedded.ts';
import { type RoundFigures, renderReport } from './report.ts';
import { YWebsocketReference } from './y-websocket-reference.ts';

const factories: Record<ContenderName, () => Contender> = {
  'reelroom-embedded': () => new ReelroomEmbedded(),
  'reelroom-distributed': () => new ReelroomDistributed(),
  'hocuspocus-sqlite': () => new HocuspocusSqlite(),
  'y-websocket-server': () => new YWebsocketReference(),
};

const options = parseOptions();
const loadAtStart = loadavg()[0]!;
if (
  options.contenders.some((name) => name === 'hocuspocus-sqlite' || name === 'y-websocket-server')
) {
  ensurePeersInstalled();
}

const rows: RoundFigures[] = [];
let current: Contender | undefined;

// Ctrl-C or a kill: stop the contender's processes and drop its database and Redis keys.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void (current?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

const bar = progressBar(
  options.rounds * options.contenders.length * options.rates.length,
  'typing',
);
try {
  for (let round = 0; round < options.rounds; round += 1) {
    // Rotate the order each round, so no contender always runs first or right after another.
    const order = options.contenders.map(
      (_, i) => options.contenders[(i + round) % options.contenders.length]!,
    );
    for (const name of order) {
      const contender = factories[name]();
      current = contender;
      try {
        await contender.start(options.clientsPerDocument);
        const plans: DocumentPlan[] = [];
        const unit: RoundFigures[] = [];
        for (const rate of options.rates) {
          const { figures, plan } = await measureRate(contender, {
            rate,
            documents: options.documents,
            clientsPerDocument: options.clientsPerDocument,
            clientProcesses: options.clientProcesses,
            warmupMs: options.warmupSeconds * 1000,
            measureMs: options.seconds * 1000,
            drainMs: options.drainSeconds * 1000,
          });
          unit.push({ round: round + 1, contender: name, rate, figures });
          plans.push(...plan);
          bar.tick();
        }
        // One store check per contender and round, after all its rates: a restart is slow.
        try {
          const stored = await readStored(contender, plans, options.clientProcesses);
          for (const row of unit) {
            row.stored = stored && compareStored(row.figures.documents, stored);
          }
        } catch (error) {
          for (const row of unit) row.storedError = String(error);
        }
        rows.push(...unit);
        // Each contender's figures as they come (stderr), so that an interrupted run keeps them.
        for (const { figures, ...row } of unit) {
          const { documents: _documents, ...summary } = figures;
          console.error(JSON.stringify({ ...row, ...summary }));
        }
      } finally {
        await contender.close();
        current = undefined;
      }
    }
  }
  bar.done();
  console.log(
    `\n## Typing together: ${options.documents} documents x ${options.clientsPerDocument} clients, ` +
      `${options.seconds} s measured after ${options.warmupSeconds} s warm-up, ${options.rounds} interleaved rounds, medians\n`,
  );
  console.log(renderReport(rows, options.contenders, options.rates));
  console.log(
    `\nLoad average (1 min) at start ${loadAtStart.toFixed(1)}, at end ${loadavg()[0]!.toFixed(1)} ` +
      `on ${availableParallelism()} cores: other work on the machine shares them.`,
  );
} catch (error) {
  bar.done();
  console.error(error);
  process.exitCode = 1;
}
// Client libraries and child-process handles keep the loop alive; the figures are printed.
process.exit();
