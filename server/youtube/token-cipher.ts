import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for Google refresh tokens at rest. The key comes from TOKEN_ENCRYPTION_KEY
 * (32 bytes, base64 or hex) or is derived from the service secret with HKDF-SHA256; its id
 * (a short hash of the key) is stored beside each ciphertext, so older keys can be kept in
 * `previousKeys` while tokens are re-encrypted under a new one.
 */
export class TokenCipher {
  readonly keyId: string;
  readonly #keys = new Map<string, Buffer>();

  constructor(options: {
    key?: string | undefined;
    serviceSecret: string;
    previousKeys?: string[];
  }) {
    const current = options.key
      ? decodeKey(options.key)
      : Buffer.from(
          hkdfSync('sha256', options.serviceSecret, 'reelroom', 'google-refresh-tokens v1', 32),
        );
    this.keyId = keyIdOf(current);
    this.#keys.set(this.keyId, current);
    for (const previous of options.previousKeys ?? []) {
      const key = decodeKey(previous);
      this.#keys.set(keyIdOf(key), key);
    }
  }

  encrypt(plain: string): { ciphertext: string; keyId: string } {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.keyId)!, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [iv, body, cipher.getAuthTag()].map((part) => part.toString('base64url'));
    return { ciphertext: parts.join('.'), keyId: this.keyId };
  }

  decrypt(ciphertext: string, keyId: string): string {
    const key = this.#keys.get(keyId);
    if (!key) throw new Error(`no token encryption key with id ${keyId}`);
    const [iv, body, tag] = ciphertext.split('.').map((part) => Buffer.from(part, 'base64url'));
    if (!iv || !body || !tag) throw new Error('malformed token ciphertext');
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  }
}

/** A TOKEN_ENCRYPTION_KEY: 64 hex characters or base64(url) of 32 bytes. */
export function decodeKey(value: string): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(value)
    ? Buffer.from(value, 'hex')
    : Buffer.from(value, 'base64');
  if (key.length !== 32) throw new Error('must be 32 bytes, as 64 hex characters or base64');
  return key;
}

function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 12);
}
