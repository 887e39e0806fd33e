/**
 * The logging surface realtime needs; a pino logger satisfies it. Passed in by the composition
 * root so realtime never builds its own logging configuration.
 */
export interface RealtimeLogger {
  debug(context: object, message: string): void;
  info(context: object, message: string): void;
  warn(context: object, message: string): void;
  error(context: object, message: string): void;
}

/** Writes warnings and errors to stderr as one JSON line; the default when no logger is given. */
export const stderrLogger: RealtimeLogger = {
  debug() {},
  info() {},
  warn(context, message) {
    writeLine('warn', context, message);
  },
  error(context, message) {
    writeLine('error', context, message);
  },
};

function writeLine(level: string, context: object, message: string): void {
  const fields: Record<string, unknown> = { level, name: 'realtime', msg: message };
  for (const [key, value] of Object.entries(context)) {
    fields[key] = value instanceof Error ? { name: value.name, message: value.message } : value;
  }
  process.stderr.write(`${JSON.stringify(fields)}\n`);
}
