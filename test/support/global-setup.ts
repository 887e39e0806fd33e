import postgres from 'postgres';
import { createClient } from 'redis';
import { TEST_POSTGRES_URL, TEST_REDIS_URL } from './services.ts';

/** Fails the run early, with one clear line, when a real service the suite needs is down. */
export default async function globalSetup(): Promise<void> {
  const sql = postgres(TEST_POSTGRES_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (error) {
    throw new Error(`Postgres is not reachable at ${TEST_POSTGRES_URL}: ${String(error)}`);
  } finally {
    await sql.end();
  }
  const redis = createClient({ url: TEST_REDIS_URL });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis is not reachable at ${TEST_REDIS_URL}: ${String(error)}`);
  } finally {
    if (redis.isOpen) await redis.quit();
  }
}
