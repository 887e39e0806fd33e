import { type Logger, pino } from 'pino';

/** Lines wait in memory until this many bytes are buffered or the flush interval passes. */
const LOG_BUFFER_BYTES = 4096;
const LOG_FLUSH_INTERVAL_MS = 250;

/**
 * JSON logs on stdout (pino); `level: 'silent'` for tests. Writes are asynchronous and
 * buffered: under load the access lines of many requests leave in one write instead of one
 * write each (each costs more than a trivial request), and a quiet node still shows its lines
 * within a quarter second. pino flushes what is buffered when the process exits; a SIGKILL
 * loses at most the last quarter second. `time` is epoch milliseconds, pino's default: an ISO
 * string per line cost a tenth of a trivial request.
 */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino(
    { level, base: { service: 'reelroom', ...base } },
    pino.destination({
      dest: 1,
      sync: false,
      minLength: LOG_BUFFER_BYTES,
      periodicFlush: LOG_FLUSH_INTERVAL_MS,
    }),
  );
}
