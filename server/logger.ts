import { type Logger, pino } from 'pino';

/** JSON logs on stdout (pino); `level: 'silent'` for tests. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'reelroom', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
