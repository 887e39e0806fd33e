import { createHmac, timingSafeEqual } from 'node:crypto';

/** The two files of a completed render that links can open. */
export type RenderFileKind = 'output' | 'thumbnail';

/** How long a link works at least. */
const DEFAULT_TTL_SECONDS = 60 * 60;
/**
 * Expiry times are rounded up to this step, so that a render's link stays the same for a while
 * and a browser can cache the video and the thumbnail instead of fetching them again.
 */
const EXPIRY_STEP_SECONDS = 5 * 60;

export type LinkCheck = 'valid' | 'expired' | 'invalid';

/**
 * Signed, expiring links to a render's files: `<video src>` and `<img src>` cannot send an
 * Authorization header, so a member who may see a render gets URLs that carry their own proof.
 * A link opens one file of one render until it expires, for whoever holds it, like any signed
 * URL; it is handed out only to members who can read the render.
 */
export class RenderLinks {
  readonly #key: Buffer;
  readonly #ttlSeconds: number;

  constructor(secret: string, ttlSeconds = DEFAULT_TTL_SECONDS) {
    if (!secret) throw new TypeError('RenderLinks: secret is required');
    // A key of its own, derived from the service secret, so a link signature can never pass
    // as a token signature or the other way round.
    this.#key = createHmac('sha256', secret).update('reelroom render links v1').digest();
    this.#ttlSeconds = ttlSeconds;
  }

  /** The URL (path and query) of a render's file, valid for at least the TTL from `nowMs`. */
  url(renderId: string, kind: RenderFileKind, nowMs = Date.now()): string {
    const expires =
      Math.ceil((nowMs / 1000 + this.#ttlSeconds) / EXPIRY_STEP_SECONDS) * EXPIRY_STEP_SECONDS;
    const signature = this.#sign(renderId, kind, expires);
    return `/api/v1/renders/${renderId}/${kind}?expires=${expires}&signature=${signature}`;
  }

  check(
    renderId: string,
    kind: RenderFileKind,
    expires: number,
    signature: string,
    nowMs = Date.now(),
  ): LinkCheck {
    const expected = Buffer.from(this.#sign(renderId, kind, expires));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return expires * 1000 <= nowMs ? 'expired' : 'valid';
  }

  #sign(renderId: string, kind: RenderFileKind, expires: number): string {
    return createHmac('sha256', this.#key)
      .update(`${renderId}\n${kind}\n${expires}`)
      .digest('base64url');
  }
}
