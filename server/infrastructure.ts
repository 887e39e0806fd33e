import type { Logger } from 'pino';
import { openRedisConnections, type RedisConnections } from '../realtime/index.ts';
import type { Config } from './config.ts';
import { type Database, openDatabase } from './db/index.ts';
import { type FileStorage, LocalFileStorage } from './storage/index.ts';

/** What opening the infrastructure needs from the configuration. */
export type InfrastructureConfig = Pick<Config, 'dataDir' | 'databaseUrl' | 'redisUrl'> & {
  /** STORAGE_DIR; default `dataDir/storage`. */
  storageDir?: string | undefined;
  /** STORAGE_URL (`s3://bucket/prefix`): object storage instead of the directory. */
  storageUrl?: string | undefined;
  /** S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE. */
  s3?: Partial<Config['s3']> | undefined;
};

/** Parts a caller opened already, and tuning of what is opened here. */
export interface InfrastructureParts {
  /** A database of the caller's (tests: in-memory PGlite, a throwaway Postgres database). */
  database?: Database | undefined;
  /** Pool size when Postgres is opened here. Default: the database module's (10). */
  databaseConnections?: number | undefined;
  /** Names the shared Redis connection in log lines. Default `shared`. */
  redisName?: string | undefined;
}

/**
 * A process's connections to the outside, opened once and handed to the components as clients:
 * the database, Redis (when REDIS_URL is set) and file storage.
 */
export interface Infrastructure {
  database: Database;
  /** The shared Redis client and the factory of dedicated connections; absent without Redis. */
  redis: RedisConnections | undefined;
  /** S3 with STORAGE_URL, else the STORAGE_DIR directory. */
  storage: FileStorage;
  /**
   * Closes Redis and the database (a handed-in database too: the process is done with it).
   * Each is closed even when another fails; the first failure is rethrown. Safe to call twice.
   */
  close(): Promise<void>;
}

/**
 * Opens the database (PGlite under `dataDir/pglite`, or Postgres at DATABASE_URL), connects
 * Redis when configured, and sets up storage. Nothing is migrated here: the API node migrates,
 * workers expect a migrated database.
 */
export async function openInfrastructure(
  config: InfrastructureConfig,
  logger: Logger,
  parts: InfrastructureParts = {},
): Promise<Infrastructure> {
  const database: Database =
    parts.database ??
    (await openDatabase(
      config.databaseUrl
        ? {
            url: config.databaseUrl,
            ...(parts.databaseConnections ? { maxConnections: parts.databaseConnections } : {}),
          }
        : { dataDir: `${config.dataDir}/pglite` },
    ));
  let redis: RedisConnections | undefined;
  try {
    redis = config.redisUrl
      ? await openRedisConnections({
          url: config.redisUrl,
          name: parts.redisName ?? 'shared',
          logger: logger.child({ part: 'redis' }),
        })
      : undefined;
  } catch (error) {
    if (!parts.database) await database.close().catch(() => undefined);
    throw error;
  }
  const storage = await openStorage(config);

  let closing: Promise<void> | undefined;
  return {
    database,
    redis,
    storage,
    close() {
      closing ??= (async () => {
        const results = await Promise.allSettled([
          redis?.close(),
          database.close(),
          storage.close(),
        ]);
        const failed = results.find((result) => result.status === 'rejected');
        if (failed) throw failed.reason;
      })();
      return closing;
    },
  };
}

/** The file storage the configuration names: S3 for an `s3://` STORAGE_URL, else the directory. */
export async function openStorage(
  config: Pick<InfrastructureConfig, 'dataDir' | 'storageDir' | 'storageUrl' | 's3'>,
): Promise<FileStorage> {
  if (!config.storageUrl) {
    return new LocalFileStorage({ root: config.storageDir ?? `${config.dataDir}/storage` });
  }
  const { parseS3Url, S3FileStorage } = await import('./storage/s3-file-storage.ts');
  const { bucket, prefix } = parseS3Url(config.storageUrl);
  return new S3FileStorage({
    bucket,
    prefix,
    endpoint: config.s3?.endpoint,
    publicEndpoint: config.s3?.publicEndpoint,
    region: config.s3?.region,
    forcePathStyle: config.s3?.forcePathStyle,
  });
}
