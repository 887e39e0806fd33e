import { type Logger, pino } from 'pino';

/**
 * JSON logs on stdout (pino); `level: 'silent'` for tests. Writes are asynchronous: under load
 * the lines of many requests leave in one write instead of one blocking write each, and pino
 * flushes what is buffered when the process exits.
 */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { service: 'reelroom', ...base },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 1, sync: false }),
  );
}
