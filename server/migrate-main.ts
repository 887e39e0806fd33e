// Entry: `npm run migrate`. Applies pending migrations to DATABASE_URL (or the embedded PGlite).
import { loadConfig } from './config.ts';
import { openDatabase } from './db/index.ts';
import { exitOnStartupError } from './process-lifecycle.ts';

try {
  const config = loadConfig();
  const database = await openDatabase(
    config.databaseUrl
      ? { url: config.databaseUrl, maxConnections: 2 }
      : { dataDir: `${config.dataDir}/pglite` },
  );
  await database.migrate();
  await database.close();
  process.stdout.write(`migrations applied (${database.kind})\n`);
} catch (error) {
  exitOnStartupError(error);
}
