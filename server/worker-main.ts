// Entry: `npm run start:worker`. A standalone render worker: pulls render jobs from Redis
// Streams, renders RENDER_CONCURRENCY at once, writes status to Postgres. Any number may run.
import { loadConfig } from './config.ts';
import { armCrashPoints, crashPoint } from './crash-points.ts';
import { openInfrastructure } from './infrastructure.ts';
import { createLogger } from './logger.ts';
import { closeOnSignals, exitOnStartupError } from './process-lifecycle.ts';
import {
  startRenderWorkerProcess,
  workerDatabaseConnections,
} from './renders/render-worker-process.ts';

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
  armCrashPoints(config.crashPoints);
  const infrastructure = await openInfrastructure(config, logger, {
    databaseConnections: workerDatabaseConnections(config.renderConcurrency),
    redisName: 'render worker',
  });
  const worker = await startRenderWorkerProcess(infrastructure, {
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    concurrency: config.renderConcurrency,
    memoryBudgetBytes: config.renderMemoryBudgetBytes,
    segmentCacheDir: config.segmentCacheDir,
    redisKeyPrefix: config.redisKeyPrefix,
    queueOptions: { leaseMs: config.renderLeaseMs },
    // Several heart-beats within one lease, or a healthy render would be taken over.
    heartbeatIntervalMs: Math.min(2_000, config.renderLeaseMs / 5),
    // Renders this worker ends as failed or cancelled are refunded from here.
    billing: config.billing,
    scratchDir: config.scratchDir,
    crashPoint,
    logger,
  });
  closeOnSignals(async () => {
    try {
      await worker.close(config.shutdownGraceMs);
    } finally {
      await infrastructure.close();
    }
  }, logger);
} catch (error) {
  exitOnStartupError(error);
}
