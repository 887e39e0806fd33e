import type { Logger } from 'pino';

/**
 * SIGTERM and SIGINT close the node gracefully once; a second signal exits at once.
 * Exits 1 when closing fails so an orchestrator sees it.
 */
export function closeOnSignals(close: () => Promise<void>, logger: Logger): void {
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) process.exit(1);
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Prints a start-up failure as one line (config errors name the variable) and exits 1. */
export function exitOnStartupError(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`reelroom: ${message}\n`);
  process.exit(1);
}
