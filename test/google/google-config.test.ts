import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { TokenCipher } from '../../server/youtube/index.ts';

const base = { DATA_DIR: '/tmp/reelroom-config-test', JWT_SECRET: 'x'.repeat(40) };

describe('Google configuration', () => {
  it('reads GOOGLE_OAUTH_CLIENTS, PUBLIC_URL and TOKEN_ENCRYPTION_KEY', () => {
    const config = loadConfig({
      ...base,
      GOOGLE_OAUTH_CLIENTS: JSON.stringify([
        { clientId: 'a', clientSecret: 'sa' },
        { clientId: 'b', clientSecret: 'sb' },
      ]),
      PUBLIC_URL: 'https://reelroom.example/',
      TOKEN_ENCRYPTION_KEY: 'ab'.repeat(32),
    });
    expect(config.google.clients.map((c) => c.clientId)).toEqual(['a', 'b']);
    expect(config.publicUrl).toBe('https://reelroom.example');
    expect(config.tokenEncryptionKey).toBe('ab'.repeat(32));
  });

  it('makes GOOGLE_CLIENT_ID/SECRET the one pool, and PUBLIC_URL default to the port', () => {
    const config = loadConfig({
      ...base,
      PORT: '9000',
      GOOGLE_CLIENT_ID: 'id',
      GOOGLE_CLIENT_SECRET: 's',
    });
    expect(config.google.clients).toEqual([{ clientId: 'id', clientSecret: 's' }]);
    expect(config.publicUrl).toBe('http://localhost:9000');
    expect(loadConfig(base).google.clients).toEqual([]);
  });

  it.each([
    ['GOOGLE_OAUTH_CLIENTS', 'not json'],
    ['GOOGLE_OAUTH_CLIENTS', '[{"clientId": "a"}]'],
    ['PUBLIC_URL', 'not a url'],
    ['TOKEN_ENCRYPTION_KEY', 'too-short'],
  ])('stops on an invalid %s with one line naming it', (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ ...base, [variable]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.startsWith(`Invalid configuration: ${variable}`)).toBe(true);
    expect(message).not.toContain('\n');
  });

  it('encrypts with a key id, decrypts with older keys, and refuses a tampered ciphertext', () => {
    const old = new TokenCipher({ key: 'cd'.repeat(32), serviceSecret: 's' });
    const sealed = old.encrypt('1//refresh-token');
    expect(sealed.ciphertext).not.toContain('refresh-token');
    const rotated = new TokenCipher({
      key: 'ef'.repeat(32),
      serviceSecret: 's',
      previousKeys: ['cd'.repeat(32)],
    });
    expect(rotated.keyId).not.toBe(sealed.keyId);
    expect(rotated.decrypt(sealed.ciphertext, sealed.keyId)).toBe('1//refresh-token');
    const derived = new TokenCipher({ serviceSecret: 'the jwt secret' });
    const again = derived.encrypt('t');
    // One bit of the authentication tag flipped. Editing the base64url text instead could leave
    // the bytes as they were: a last character's low bits are padding, and a replacement can
    // equal the character it replaces.
    const [iv, body, tag] = again.ciphertext.split('.');
    const tagBytes = Buffer.from(tag!, 'base64url');
    tagBytes[0]! ^= 0x01;
    const flipped = [iv, body, tagBytes.toString('base64url')].join('.');
    expect(flipped).not.toBe(again.ciphertext);
    expect(() => derived.decrypt(flipped, again.keyId)).toThrow();
  });
});
