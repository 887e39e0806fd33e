// Entry: one API node (REST, Socket.IO, Yjs). Several can run behind one Redis and Postgres.
import { loadConfig } from './config.ts';
import { armCrashPoints } from './crash-points.ts';
import { createLogger } from './logger.ts';
import { closeOnSignals, exitOnStartupError } from './process-lifecycle.ts';
import { startNode } from './runtime.ts';

try {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, { role: 'api' });
  armCrashPoints(config.crashPoints);
  const node = await startNode(config, logger);
  logger.info(
    { url: node.url, database: node.services.database.kind, redis: Boolean(config.redisUrl) },
    'api node listening',
  );
  closeOnSignals(node.close, logger);
} catch (error) {
  exitOnStartupError(error);
}
