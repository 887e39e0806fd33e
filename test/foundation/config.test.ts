import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { connectSocket } from '../realtime/support/clients.ts';
import { startTestNode } from '../support/test-node.ts';

describe('configuration', () => {
  it('runs on embedded defaults with no environment at all', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'reelroom-config-'));
    const config = loadConfig({ DATA_DIR: dataDir });
    expect(config).toMatchObject({
      port: 8080,
      databaseUrl: undefined,
      redisUrl: undefined,
      renderConcurrency: 1,
    });
    expect(config.storageDir).toBe(path.join(dataDir, 'storage'));
    // The embedded JWT secret is generated once, kept private and reused.
    expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(statSync(path.join(dataDir, 'jwt-secret')).mode & 0o777).toBe(0o600);
    expect(loadConfig({ DATA_DIR: dataDir }).jwtSecret).toBe(config.jwtSecret);
  });

  it.each([
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ RENDER_CONCURRENCY: '0' }, 'RENDER_CONCURRENCY'],
    [{ OPENAI_BASE_URL: 'not a url' }, 'OPENAI_BASE_URL'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ COACH_PROVIDER: 'gemini' }, 'COACH_PROVIDER'],
    [{ TTS_PROVIDER: 'polly' }, 'TTS_PROVIDER'],
    [{ TTS_PROVIDER: 'openai' }, 'TTS_PROVIDER'],
    [{ TTS_VOICE: 'no spaces; please' }, 'TTS_VOICE'],
    [{ MAX_CONNECTIONS_PER_USER: '0' }, 'MAX_CONNECTIONS_PER_USER'],
  ])('names the variable of an invalid value: %j', (env, variable) => {
    expect(() => loadConfig({ DATA_DIR: tmpdir(), ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ DATA_DIR: tmpdir(), ...env })).toThrow(
      new RegExp(`^Invalid configuration: ${variable}: `),
    );
  });

  it('speaks with OpenAI when keyed, else offline, unless TTS_PROVIDER says', () => {
    const dir = tmpdir();
    expect(loadConfig({ DATA_DIR: dir }).pipeline.speechProvider).toBe('offline');
    const keyed = loadConfig({ DATA_DIR: dir, OPENAI_API_KEY: 'sk-x', TTS_VOICE: 'nova' });
    expect(keyed.pipeline).toMatchObject({
      speechProvider: 'openai',
      speechVoice: 'nova',
      openai: { apiKey: 'sk-x' },
    });
    expect(
      loadConfig({ DATA_DIR: dir, OPENAI_API_KEY: 'sk-x', TTS_PROVIDER: 'flite' }).pipeline
        .speechProvider,
    ).toBe('flite');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ DATA_DIR: tmpdir(), PORT: '' }).port).toBe(8080);
  });

  it('MAX_CONNECTIONS_PER_USER reaches the node: the socket over it is refused', async () => {
    const { realtime } = loadConfig({ DATA_DIR: tmpdir(), MAX_CONNECTIONS_PER_USER: '2' });
    expect(realtime).toEqual({
      documents: { maxConnectionsPerUser: 2 },
      socketIo: { maxSocketsPerUser: 2, joinRateLimit: { points: 30, durationSeconds: 60 } },
    });
    expect(loadConfig({ DATA_DIR: tmpdir() }).realtime.socketIo).toMatchObject({
      maxSocketsPerUser: 20,
      joinRateLimit: { points: 30 },
    });
    // A load test's thousand sockets of one user may all join in the minute.
    expect(
      loadConfig({ DATA_DIR: tmpdir(), MAX_CONNECTIONS_PER_USER: '1000' }).realtime.socketIo
        .joinRateLimit.points,
    ).toBe(1500);
    const node = await startTestNode({ config: { realtime } });
    const sockets = [];
    try {
      const { accessToken } = await node.signup('Two tabs');
      for (let i = 0; i < 2; i += 1) {
        const socket = connectSocket(node.url, accessToken);
        sockets.push(socket);
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
      }
      const third = connectSocket(node.url, accessToken, { reconnection: false });
      sockets.push(third);
      const error = await new Promise<Error & { data?: { code?: string } }>((resolve) =>
        third.once('connect_error', resolve),
      );
      expect(error.data?.code).toBe('too_many_connections');
    } finally {
      for (const socket of sockets) socket.disconnect();
      await node.close();
    }
  });
});
