import type { Readable } from 'node:stream';
import { and, desc, eq } from 'drizzle-orm';
import type { OAuth2Client } from 'google-auth-library';
import { type Db, tables } from '../db/index.ts';
import { DomainError } from '../errors.ts';
import type { FileStorage } from '../storage/index.ts';
import { googleErrorReason, sanitizedGoogleError, type YoutubeService } from './youtube-service.ts';

/** What this module reads of a gaxios response. */
interface GoogleResponse {
  status: number;
  headers: unknown;
  data: unknown;
}

/** Chunks are multiples of 256 KiB, as Google's resumable protocol requires. */
export const UPLOAD_QUANTUM = 256 * 1024;

export interface PublishInput {
  /** The step and round: one upload session each. */
  stepKey: string;
  workspaceId: string;
  projectId: string;
  channelId: string;
  title: string;
  description: string;
  privacy: 'private' | 'unlisted' | 'public';
  signal: AbortSignal;
  progress(value: number, message?: string): void;
}

export interface YoutubePublisherOptions {
  db: Db;
  storage: FileStorage;
  youtube: YoutubeService;
  /** Bytes per PUT, rounded down to a multiple of 256 KiB. Default 8 MiB. */
  chunkBytes?: number;
  /** Attempts after a dropped connection or a 5xx before the step fails. Default 8. */
  maxRetries?: number;
  /** First backoff; doubled each retry up to 10 s. Default 500 ms. */
  backoffMs?: number;
}

/**
 * The publish step's work: the project's latest video uploaded through YouTube's resumable
 * protocol (the generated client only does multipart), on the channel's authorized client, then
 * its thumbnail. The session URI is stored before the first byte, so a worker taking over the
 * step asks Google what it has and goes on from there instead of uploading again.
 */
export class YoutubePublisher {
  readonly #o: Required<YoutubePublisherOptions>;

  constructor(options: YoutubePublisherOptions) {
    this.#o = { chunkBytes: 8 * 1024 * 1024, maxRetries: 8, backoffMs: 500, ...options };
    if (this.#o.chunkBytes < UPLOAD_QUANTUM) throw new Error('chunkBytes: at least 256 KiB');
    this.#o.chunkBytes -= this.#o.chunkBytes % UPLOAD_QUANTUM;
  }

  async publish(input: PublishInput): Promise<{ youtubeVideoId: string; thumbnailSet: boolean }> {
    const { db, youtube } = this.#o;
    const channel = await youtube.channelOf(input.workspaceId, input.channelId);
    const [video] = await db
      .select()
      .from(tables.renderJobs)
      .where(
        and(
          eq(tables.renderJobs.projectId, input.projectId),
          eq(tables.renderJobs.status, 'completed'),
        ),
      )
      .orderBy(desc(tables.renderJobs.finishedAt))
      .limit(1);
    if (!video?.videoKey) {
      throw new DomainError(
        'missing_input',
        'the project has no rendered video; run the render step first',
      );
    }
    const [thumbnail] = await db
      .select()
      .from(tables.assets)
      .where(
        and(eq(tables.assets.projectId, input.projectId), eq(tables.assets.source, 'thumbnail')),
      )
      .orderBy(desc(tables.assets.createdAt))
      .limit(1);
    const stat = await this.#o.storage.stat(video.videoKey);
    if (!stat) throw new DomainError('missing_input', 'the rendered video file is missing');
    const total = stat.bytes;

    const existing = await this.#session(input.stepKey);
    const methods = [
      ...(existing ? [] : ['videos.insert']),
      ...(thumbnail ? ['thumbnails.set'] : []),
    ];
    // Refuse before any call to Google when the pool cannot pay for what is left to do.
    await youtube.quota.ensure(channel.clientId, methods);
    const client = youtube.authorizedClient(channel);
    let videoId = existing?.youtubeVideoId ?? null;
    if (!videoId) {
      let sessionUri = existing?.sessionUri ?? null;
      for (let restarts = 0; ; restarts += 1) {
        if (!sessionUri) {
          sessionUri = await this.#startSession(client, channel.clientId, input, total);
          await db
            .insert(tables.youtubeUploadSessions)
            .values({
              stepKey: input.stepKey,
              channelId: channel.id,
              sessionUri,
              totalBytes: total,
              createdAt: new Date(),
            })
            .onConflictDoUpdate({
              target: tables.youtubeUploadSessions.stepKey,
              set: { sessionUri, totalBytes: total, createdAt: new Date() },
            });
        }
        try {
          videoId = await this.#send(
            client,
            channel.clientId,
            sessionUri,
            video.videoKey,
            total,
            input,
          );
          break;
        } catch (error) {
          // Google forgets a session after about a week (404) or ends it (410): nothing of it
          // can be resumed, so start one session anew, once, paying its videos.insert again.
          if (!(error instanceof UploadSessionGone) || restarts > 0) throw error;
          input.progress(0, 'the upload session expired; starting a new one');
          await youtube.quota.ensure(channel.clientId, ['videos.insert']);
          sessionUri = null;
        }
      }
      await db
        .update(tables.youtubeUploadSessions)
        .set({ youtubeVideoId: videoId })
        .where(eq(tables.youtubeUploadSessions.stepKey, input.stepKey));
    }
    let thumbnailSet = false;
    if (thumbnail) {
      input.progress(0.97, 'setting the thumbnail');
      await this.#call(channel.clientId, 'thumbnails.set', () =>
        youtube.dataApi(client).thumbnails.set(
          {
            videoId: videoId!,
            media: { mimeType: thumbnail.mime, body: this.#o.storage.read(thumbnail.path) },
          },
          { rootUrl: youtube.endpoints.root },
        ),
      );
      thumbnailSet = true;
    }
    return { youtubeVideoId: videoId, thumbnailSet };
  }

  async #session(stepKey: string) {
    const [row] = await this.#o.db
      .select()
      .from(tables.youtubeUploadSessions)
      .where(eq(tables.youtubeUploadSessions.stepKey, stepKey));
    return row ?? null;
  }

  async #startSession(client: OAuth2Client, clientId: string, input: PublishInput, total: number) {
    const url = `${this.#o.youtube.endpoints.root}upload/youtube/v3/videos?uploadType=resumable&part=snippet,status`;
    const response: GoogleResponse = await this.#call(clientId, 'videos.insert', () =>
      client.request<unknown>({
        url,
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=UTF-8',
          'X-Upload-Content-Length': String(total),
          'X-Upload-Content-Type': 'video/mp4',
        },
        data: {
          snippet: {
            title: input.title.slice(0, 100),
            description: input.description.slice(0, 5000),
          },
          status: { privacyStatus: input.privacy, selfDeclaredMadeForKids: false },
        },
        signal: input.signal,
      }),
    );
    const location = headerOf(response, 'location');
    if (!location) throw new DomainError('google_error', 'Google started no upload session');
    return location;
  }

  /** Sends from the byte Google has to the end; returns the video id. */
  async #send(
    client: OAuth2Client,
    clientId: string,
    sessionUri: string,
    key: string,
    total: number,
    input: PublishInput,
  ): Promise<string> {
    let failures = 0;
    let offset: number | null = null;
    for (;;) {
      if (input.signal.aborted) throw new DomainError('cancelled', 'the run was cancelled');
      try {
        if (offset === null) {
          // Ask Google what it holds (a new session holds nothing, a resumed one some bytes).
          const answer = await this.#put(client, sessionUri, `bytes */${total}`, undefined, input);
          const done = finishedId(answer);
          if (done) return done;
          offset = rangeEnd(answer);
        }
        const end = Math.min(total, offset + this.#o.chunkBytes);
        const chunk = await readRange(this.#o.storage, key, offset, end - 1);
        const answer = await this.#put(
          client,
          sessionUri,
          `bytes ${offset}-${end - 1}/${total}`,
          chunk,
          input,
        );
        const done = finishedId(answer);
        if (done) {
          input.progress(0.95, 'uploaded');
          return done;
        }
        offset = rangeEnd(answer);
        failures = 0;
        input.progress((0.95 * offset) / total, `uploading ${Math.round((100 * offset) / total)}%`);
      } catch (error) {
        const status = (error as { response?: { status?: number } }).response?.status;
        if (status === 404 || status === 410) throw new UploadSessionGone(status);
        if (status !== undefined && status < 500) throw await this.#googleFailure(clientId, error);
        if (input.signal.aborted) throw error;
        if (++failures > this.#o.maxRetries) throw sanitizedGoogleError(error);
        offset = null;
        const wait = Math.min(10_000, this.#o.backoffMs * 2 ** (failures - 1));
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  #put(
    client: OAuth2Client,
    url: string,
    contentRange: string,
    body: Buffer | undefined,
    input: PublishInput,
  ): Promise<GoogleResponse> {
    return client.request<unknown>({
      url,
      method: 'PUT',
      headers: { 'Content-Range': contentRange, 'Content-Type': 'video/mp4' },
      body: new Uint8Array(body ?? Buffer.alloc(0)),
      validateStatus: (status) => (status >= 200 && status < 300) || status === 308,
      retry: false,
      signal: input.signal,
    });
  }

  /** A call that spends quota; a quota answer marks the pool or fails with its own code. */
  async #call<T>(clientId: string, method: string, call: () => Promise<T>): Promise<T> {
    await this.#o.youtube.quota.spend(clientId, method);
    try {
      return await call();
    } catch (error) {
      throw await this.#googleFailure(clientId, error);
    }
  }

  async #googleFailure(clientId: string, error: unknown): Promise<unknown> {
    const reason = googleErrorReason(error);
    if (reason === 'quotaExceeded') {
      await this.#o.youtube.quota.markExhausted(clientId);
      const pool = await this.#o.youtube.quota.pool(clientId);
      return new DomainError(
        'youtube_quota_exhausted',
        `Google says the quota of ${clientId} is used up`,
        {
          details: { clientId, resetAt: pool.resetAt },
        },
      );
    }
    if (reason === 'uploadLimitExceeded') {
      return new DomainError(
        'youtube_upload_limit',
        "the channel reached YouTube's daily upload limit; try again tomorrow",
      );
    }
    return sanitizedGoogleError(error);
  }
}

/** Google no longer knows the upload session (expired: 404, or ended: 410). */
class UploadSessionGone extends DomainError {
  constructor(status: number) {
    super('google_error', `Google no longer has the upload session (${status})`);
  }
}

function headerOf(response: GoogleResponse, name: string): string | null {
  const headers = response.headers as unknown as Headers | Record<string, string>;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  return (headers as Record<string, string>)[name] ?? null;
}

function finishedId(response: GoogleResponse): string | null {
  if (response.status === 200 || response.status === 201) {
    const id = (response.data as { id?: string } | undefined)?.id;
    if (!id) throw new DomainError('google_error', 'Google finished the upload without a video id');
    return id;
  }
  return null;
}

/** The next byte after a 308's `Range: bytes=0-N` (none: Google has nothing yet). */
function rangeEnd(response: GoogleResponse): number {
  const range = headerOf(response, 'range');
  const match = range ? /bytes=0-(\d+)/.exec(range) : null;
  return match ? Number(match[1]) + 1 : 0;
}

async function readRange(storage: FileStorage, key: string, start: number, end: number) {
  const parts: Buffer[] = [];
  for await (const part of storage.read(key, { start, end }) as Readable)
    parts.push(part as Buffer);
  return Buffer.concat(parts);
}
