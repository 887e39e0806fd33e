// Entry: `npm start`. Everything in one process on its embedded defaults (PGlite under
// ./data, in-process queue and workers) unless DATABASE_URL / REDIS_URL say otherwise.
import { loadConfig } from './config.ts';
import { armCrashPoints } from './crash-points.ts';
import { createLogger } from './logger.ts';
import { closeOnSignals, exitOnStartupError } from './process-lifecycle.ts';
import { startNode } from './runtime.ts';

try {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, { role: 'all-in-one' });
  armCrashPoints(config.crashPoints);
  const node = await startNode(config, logger);
  logger.info(
    {
      url: node.url,
      database: node.services.database.kind,
      dataDir: config.dataDir,
      redis: Boolean(config.redisUrl),
    },
    `Reelroom is running at ${node.url} (API reference: ${node.url}/docs)`,
  );
  closeOnSignals(node.close, logger);
} catch (error) {
  exitOnStartupError(error);
}
