// Entry: `npm run start:worker`. A standalone render worker: pulls render jobs from Redis
// Streams, renders RENDER_CONCURRENCY at once, writes status to Postgres. Any number may run.
import { openWorkerRenderCharges } from './billing/index.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { closeOnSignals, exitOnStartupError } from './process-lifecycle.ts';
import { startRenderWorkerProcess } from './renders/render-worker-process.ts';

try {
  const config = loadConfig();
  if (!config.databaseUrl || !config.redisUrl) {
    // An embedded PGlite and an in-process queue cannot be shared with the API: `npm start`
    // runs the workers in-process instead.
    throw new Error(
      'Invalid configuration: DATABASE_URL and REDIS_URL: a standalone worker needs both (use npm start for embedded mode)',
    );
  }
  const logger = createLogger(config.logLevel, { role: 'worker' });
  // Renders this worker ends as failed or cancelled are refunded from here.
  const charges = await openWorkerRenderCharges({
    databaseUrl: config.databaseUrl,
    settings: config.billing,
  });
  const worker = await startRenderWorkerProcess({
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    storageDir: config.storageDir,
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    concurrency: config.renderConcurrency,
    redisKeyPrefix: config.redisKeyPrefix,
    charges,
    logger,
  });
  closeOnSignals(() => worker.close(config.shutdownGraceMs).finally(() => charges.close()), logger);
} catch (error) {
  exitOnStartupError(error);
}
