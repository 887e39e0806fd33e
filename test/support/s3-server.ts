import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { S3FileStorage } from '../../server/storage/s3-file-storage.ts';

/** A real S3-protocol server (s3rver) on port 0 with a bucket in a temporary directory. */
export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** Environment of a process that uses the bucket under `prefix` (STORAGE_URL, S3_*, keys). */
  env(prefix: string): Record<string, string>;
  storage(prefix: string): S3FileStorage;
  close(): Promise<void>;
}

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startTestS3(bucket = 'reelroom-test'): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'reelroom-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const address = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${address.port}`;
  const opened: S3FileStorage[] = [];
  return {
    endpoint,
    bucket,
    env: (prefix) => ({
      STORAGE_URL: `s3://${bucket}/${prefix}`,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    }),
    storage(prefix) {
      const storage = new S3FileStorage({
        bucket,
        prefix,
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
      });
      opened.push(storage);
      return storage;
    },
    async close() {
      await Promise.all(opened.map((storage) => storage.close()));
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
