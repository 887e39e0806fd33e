import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openInfrastructure } from '../../server/infrastructure.ts';
import { createLogger } from '../../server/logger.ts';
import type { LocalFileStorage } from '../../server/storage/index.ts';
import { openTestPglite } from '../support/databases.ts';
import { TEST_REDIS_URL } from '../support/services.ts';

describe('openInfrastructure', () => {
  it('opens Redis once, hands out dedicated connections, and closes safely twice', async () => {
    const database = await openTestPglite();
    const dataDir = path.join(tmpdir(), `reelroom-${randomUUID()}`);
    const infrastructure = await openInfrastructure(
      { dataDir, databaseUrl: undefined, redisUrl: TEST_REDIS_URL },
      createLogger('silent'),
      { database },
    );
    expect(infrastructure.database).toBe(database);
    expect((infrastructure.storage as LocalFileStorage).root).toBe(`${dataDir}/storage`);
    const redis = infrastructure.redis!;
    expect(await redis.shared.ping()).toBe('PONG');
    const dedicated = redis.dedicated('test dedicated', { failFast: false });
    await dedicated.connect();
    expect(await dedicated.ping()).toBe('PONG');
    await dedicated.close();

    await Promise.all([infrastructure.close(), infrastructure.close()]);
    await infrastructure.close();
    expect(redis.shared.isOpen).toBe(false);
  });

  it('opens no Redis without REDIS_URL', async () => {
    const infrastructure = await openInfrastructure(
      { dataDir: tmpdir(), databaseUrl: undefined, redisUrl: undefined },
      createLogger('silent'),
      { database: await openTestPglite() },
    );
    expect(infrastructure.redis).toBeUndefined();
    await infrastructure.close();
  });
});
