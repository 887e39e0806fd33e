// Command-line options of the typing benchmark.
import { parseArgs } from 'node:util';
import { CONTENDER_NAMES, type ContenderName } from './contender.ts';

export interface BenchOptions {
  /** Total edit rates over all clients, edits/s (default 100, 500, 2000). */
  rates: number[];
  /** Interleaved rounds; figures are medians over them (default 3). */
  rounds: number;
  /** Measured seconds per rate (default 10), after `warmupSeconds` (default 2) not measured. */
  seconds: number;
  warmupSeconds: number;
  /** After the last edit, how long deliveries and convergence may take (default 20 s). */
  drainSeconds: number;
  contenders: ContenderName[];
  /** Documents and clients per document (default 20 x 5). */
  documents: number;
  clientsPerDocument: number;
  /** Load-client processes (default 2). */
  clientProcesses: number;
}

const positive = (name: string, value: string | undefined): number => {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    throw new Error(`--${name} must be a positive number`);
  return number;
};

export function parseOptions(args: string[] = process.argv.slice(2)): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      rates: { type: 'string', default: '100,500,2000' },
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      drain: { type: 'string', default: '20' },
      contenders: { type: 'string', default: CONTENDER_NAMES.join(',') },
      documents: { type: 'string', default: '20' },
      clients: { type: 'string', default: '5' },
      'client-processes': { type: 'string', default: '2' },
    },
  });
  const contenders = values.contenders.split(',').map((name) => name.trim());
  for (const name of contenders) {
    if (!(CONTENDER_NAMES as readonly string[]).includes(name)) {
      throw new Error(`--contenders: unknown '${name}' (known: ${CONTENDER_NAMES.join(', ')})`);
    }
  }
  const clientsPerDocument = positive('clients', values.clients);
  if (clientsPerDocument < 2)
    throw new Error('--clients must be at least 2 (a sender and a receiver)');
  return {
    rates: values.rates.split(',').map((rate) => positive('rates', rate)),
    rounds: positive('rounds', values.rounds),
    seconds: positive('seconds', values.seconds),
    warmupSeconds: Number(values.warmup),
    drainSeconds: positive('drain', values.drain),
    contenders: contenders as ContenderName[],
    documents: positive('documents', values.documents),
    clientsPerDocument,
    clientProcesses: positive('client-processes', values['client-processes']),
  };
}
