import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  checkStorageKey,
  type FileStorage,
  type SignedUrlOptions,
  type StoredFile,
  type StoredFileInfo,
  type UploadOptions,
  type WriteOptions,
} from './file-storage.ts';

export interface S3FileStorageOptions {
  bucket: string;
  /** Key prefix inside the bucket (`reelroom` for `s3://bucket/reelroom`). Default: none. */
  prefix?: string | undefined;
  /** S3_ENDPOINT, for MinIO, R2 and other S3-compatible services. Default: AWS. */
  endpoint?: string | undefined;
  /**
   * S3_PUBLIC_ENDPOINT: the endpoint browsers reach, for presigned URLs, when it differs from
   * `endpoint` (`http://minio:9000` inside compose, `https://files.example.com` outside).
   * Default: `endpoint`.
   */
  publicEndpoint?: string | undefined;
  /** S3_REGION. Default `us-east-1` (MinIO and R2 accept any; AWS needs the bucket's). */
  region?: string | undefined;
  /** S3_FORCE_PATH_STYLE: `endpoint/bucket/key` URLs (MinIO). Default false. */
  forcePathStyle?: boolean | undefined;
  /**
   * Part size of multipart uploads, in bytes. Default 8 MiB; S3's minimum is 5 MiB. A file
   * smaller than one part goes up in a single PUT.
   */
  partSizeBytes?: number | undefined;
  /** Parts uploaded at once. Default 4. */
  queueSize?: number | undefined;
  /** Fixed credentials (tests). Default: the SDK's chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** A client of the caller's (tests); otherwise one is built, credentials from the SDK chain. */
  client?: S3Client | undefined;
}

const MIN_PART_BYTES = 5 * 1024 * 1024;

/**
 * {@link FileStorage} in an S3-compatible bucket (AWS S3, MinIO, R2, GCS's XML API) through the
 * AWS SDK. Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID, profiles, instance
 * roles). Objects become visible only when their PUT or multipart upload completes, which gives
 * the atomic writes the interface promises.
 */
export class S3FileStorage implements FileStorage {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  /** Signs presigned URLs: {@link client}, or one on the public endpoint. */
  private readonly signer: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly ownsClient: boolean;
  private closing: Promise<void> | undefined;

  constructor(options: S3FileStorageOptions) {
    if (!options?.bucket) throw new TypeError('S3FileStorage: bucket is required');
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (this.prefix) checkStorageKey(this.prefix);
    this.partSize = options.partSizeBytes ?? 8 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 4;
    if (!(this.partSize >= MIN_PART_BYTES)) {
      throw new RangeError(`partSizeBytes must be at least ${MIN_PART_BYTES} (S3's minimum)`);
    }
    this.ownsClient = !options.client;
    const build = (endpoint: string | undefined) =>
      new S3Client({
        region: options.region ?? 'us-east-1',
        ...(options.credentials ? { credentials: options.credentials } : {}),
        ...(endpoint ? { endpoint } : {}),
        forcePathStyle: options.forcePathStyle ?? false,
        // S3-compatible services (MinIO, R2, older gateways) do not all take the SDK's default
        // CRC trailers on every request; checksums only where the S3 API requires them.
        ...(options.endpoint
          ? {
              requestChecksumCalculation: 'WHEN_REQUIRED' as const,
              responseChecksumValidation: 'WHEN_REQUIRED' as const,
            }
          : {}),
      });
    this.client = options.client ?? build(options.endpoint);
    this.signer =
      options.publicEndpoint && options.publicEndpoint !== options.endpoint
        ? build(options.publicEndpoint)
        : this.client;
  }

  async write(
    key: string,
    data: Uint8Array | Readable,
    options: WriteOptions = {},
  ): Promise<StoredFileInfo> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.#objectKey(key),
        Body: data,
        ...(options.contentType ? { ContentType: options.contentType } : {}),
      },
      partSize: this.partSize,
      queueSize: this.queueSize,
      // A failed multipart upload is aborted, so no parts are left to pay for.
      leavePartsOnError: false,
    });
    await upload.done();
    const info = await this.stat(key);
    if (!info) throw new Error(`S3FileStorage: ${key} is missing right after its upload`);
    return info;
  }

  async upload(key: string, path: string, options: UploadOptions = {}): Promise<StoredFileInfo> {
    const { size } = await stat(path);
    const info = await this.write(key, size === 0 ? new Uint8Array() : createReadStream(path), {
      contentType: options.contentType,
    });
    if (options.move) await rm(path, { force: true });
    return info;
  }

  async stat(key: string): Promise<StoredFileInfo | null> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.#objectKey(key) }),
      );
      return { bytes: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    const objectKey = this.#objectKey(key);
    const out = new PassThrough();
    this.client
      .send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      )
      .then(
        (response) => {
          const body = response.Body as Readable;
          body.on('error', (error) => out.destroy(error));
          out.on('close', () => body.destroy());
          body.pipe(out);
        },
        (error: unknown) => out.destroy(error as Error),
      );
    return out;
  }

  async localCopy(key: string, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const response = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: this.#objectKey(key) }),
    );
    await pipeline(response.Body as Readable, createWriteStream(path));
  }

  async remove(key: string): Promise<void> {
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#objectKey(key) }),
    );
  }

  async removeAll(prefix: string): Promise<void> {
    checkStorageKey(prefix);
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const keys = batch;
      batch = [];
      const result = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = result.Errors?.[0];
      if (failed) throw new Error(`S3FileStorage: deleting ${failed.Key} failed: ${failed.Code}`);
    };
    for await (const object of this.#objects(`${this.#objectKey(prefix)}/`)) {
      batch.push(object.Key);
      // DeleteObjects takes at most 1000 keys.
      if (batch.length === 1000) await flush();
    }
    await flush();
  }

  async *list(prefix: string): AsyncIterable<StoredFile> {
    const from = prefix === '' ? this.#root() : `${this.#objectKey(prefix)}/`;
    const strip = this.#root().length;
    for await (const object of this.#objects(from)) {
      yield { key: object.Key.slice(strip), bytes: object.Size, modifiedAt: object.LastModified };
    }
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    const expiresIn = Math.max(1, Math.floor((options.expiresAt.getTime() - Date.now()) / 1000));
    return getSignedUrl(
      this.signer,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.#objectKey(key),
        ...(options.contentType ? { ResponseContentType: options.contentType } : {}),
        ...(options.fileName
          ? { ResponseContentDisposition: `inline; filename="${options.fileName}"` }
          : {}),
      }),
      // SigV4 allows at most 7 days.
      { expiresIn: Math.min(expiresIn, 7 * 24 * 3600) },
    );
  }

  close(): Promise<void> {
    this.closing ??= Promise.resolve().then(() => {
      if (this.ownsClient) this.client.destroy();
      if (this.signer !== this.client) this.signer.destroy();
    });
    return this.closing;
  }

  #root(): string {
    return this.prefix ? `${this.prefix}/` : '';
  }

  #objectKey(key: string): string {
    return this.#root() + checkStorageKey(key);
  }

  async *#objects(prefix: string) {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) {
          yield {
            Key: object.Key,
            Size: object.Size ?? 0,
            LastModified: object.LastModified ?? new Date(0),
          };
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/** Parses `s3://bucket/prefix` (STORAGE_URL); throws a RangeError naming what is wrong. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!match) throw new RangeError('must be s3://bucket or s3://bucket/prefix');
  const prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (prefix) checkStorageKey(prefix);
  return { bucket: match[1]!, prefix };
}
