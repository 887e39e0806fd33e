// The markdown table and the target checks, from the figures of every round.
import type { ContenderName } from './contender.ts';
import type { RateFigures } from './measure-rate.ts';
import { median } from './stats.ts';

export interface RoundFigures {
  round: number;
  contender: ContenderName;
  rate: number;
  figures: RateFigures;
  /**
   * The store read back after kill -9 and restart: documents equal to their clients' converged
   * text, of those compared. Null when the contender keeps nothing; an error when reading failed.
   */
  stored?: { matching: number; compared: number } | null;
  storedError?: string;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const ms = (n: number) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(1)) : 'n/a');

function rowsOf(rows: RoundFigures[], contender: ContenderName, rate: number) {
  return rows.filter((row) => row.contender === contender && row.rate === rate);
}

function pick(rows: RoundFigures[], contender: ContenderName, rate: number) {
  return rowsOf(rows, contender, rate).map((row) => row.figures);
}

/** Per round: stored documents equal to the clients' text, of the converged ones compared. */
function storedText(rows: RoundFigures[]): string {
  if (rows.every((row) => row.stored === null && !row.storedError)) return 'n/a (memory)';
  return rows
    .map((row) => {
      if (row.storedError) return 'error';
      return row.stored ? `${row.stored.matching}/${row.stored.compared}` : '?';
    })
    .join(', ');
}

const med = (figures: RateFigures[], get: (f: RateFigures) => number) => median(figures.map(get));

export function renderReport(
  rows: RoundFigures[],
  contenders: ContenderName[],
  rates: number[],
): string {
  const lines: string[] = [];
  lines.push(
    '| contender | edits/s | achieved/s | p50 ms | p95 ms | p99 ms (rounds) | max ms | server CPU ms/edit | RSS peak / end MB | busiest client CPU | generator lag p99 ms | undelivered | converged | stored |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  );
  for (const contender of contenders) {
    for (const rate of rates) {
      const figures = pick(rows, contender, rate);
      if (figures.length === 0) continue;
      const p99s = figures.map((f) => f.latency.p99);
      const db = med(figures, (f) => f.databaseCpuMsPerEdit);
      lines.push(
        [
          contender,
          rate,
          fmt(
            med(figures, (f) => f.achievedRate),
            0,
          ),
          ms(med(figures, (f) => f.latency.p50)),
          ms(med(figures, (f) => f.latency.p95)),
          `${ms(median(p99s))} (${p99s.map(ms).join(', ')})`,
          ms(med(figures, (f) => f.latency.max)),
          `${fmt(
            med(figures, (f) => f.cpuMsPerEdit),
            3,
          )}${db > 0 ? ` (pg ${fmt(db, 3)})` : ''}`,
          `${fmt(
            med(figures, (f) => f.peakRssMb),
            0,
          )} / ${fmt(
            med(figures, (f) => f.endRssMb),
            0,
          )}`,
          `${fmt(
            med(figures, (f) => f.clientCpuPercent),
            0,
          )}%`,
          ms(med(figures, (f) => f.scheduleLagP99)),
          figures.map((f) => f.undelivered).join(', '),
          figures.map((f) => `${f.convergedDocuments}/${f.documents.length}`).join(', '),
          storedText(rowsOf(rows, contender, rate)),
        ]
          .join(' | ')
          .replace(/^/, '| ')
          .concat(' |'),
      );
    }
  }
  const distributed = rates
    .map((rate) => ({ rate, figures: pick(rows, 'reelroom-distributed', rate) }))
    .filter((entry) => entry.figures.length > 0);
  if (distributed.length > 0) {
    lines.push(
      '',
      'Reelroom distributed, per receiver (medians): same node vs other node (through Redis)',
    );
    for (const { rate, figures } of distributed) {
      lines.push(
        `- ${rate}/s: same node p50 ${ms(med(figures, (f) => f.sameNode.p50))} ms, p99 ${ms(med(figures, (f) => f.sameNode.p99))} ms; ` +
          `other node p50 ${ms(med(figures, (f) => f.crossNode.p50))} ms, p99 ${ms(med(figures, (f) => f.crossNode.p99))} ms`,
      );
    }
  }
  const baseline = 'hocuspocus-sqlite' as const;
  const targets = (['reelroom-embedded', 'reelroom-distributed'] as const).filter(
    (name) => contenders.includes(name) && contenders.includes(baseline),
  );
  if (targets.length > 0) {
    lines.push(
      '',
      'Targets (medians): Reelroom p99 <= 2x Hocuspocus-SQLite p99, CPU per edit <= 1.5x',
    );
    for (const name of targets) {
      for (const rate of rates) {
        const ours = pick(rows, name, rate);
        const theirs = pick(rows, baseline, rate);
        if (ours.length === 0 || theirs.length === 0) continue;
        const p99 = med(ours, (f) => f.latency.p99) / med(theirs, (f) => f.latency.p99);
        const cpu = med(ours, (f) => f.cpuMsPerEdit) / med(theirs, (f) => f.cpuMsPerEdit);
        lines.push(
          `- ${name} @ ${rate}/s: p99 ${fmt(p99, 2)}x ${p99 <= 2 ? 'PASS' : 'FAIL'}, ` +
            `CPU/edit ${fmt(cpu, 2)}x ${cpu <= 1.5 ? 'PASS' : 'FAIL'}`,
        );
      }
    }
  }
  for (const row of rows.filter((entry) => entry.storedError && entry.rate === rates[0])) {
    lines.push(`- stored check failed: ${row.contender} round ${row.round}: ${row.storedError}`);
  }
  return lines.join('\n');
}
