import { loadConfig } from '../../src/config/config';
import { cryptoConfig } from '../../src/config/slices';
import { DecryptionError, TokenCipher } from '../../src/crypto/token-cipher';
import { testEnv } from '../support/broker';

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');
const CONTEXT = { account: 'acme', product: 'crm' };

function cipher(current: string, previous = ''): TokenCipher {
  return new TokenCipher(
    cryptoConfig(
      loadConfig(
        testEnv({ TOKEN_ENCRYPTION_KEY: current, TOKEN_ENCRYPTION_PREVIOUS_KEYS: previous }),
      ),
    ),
  );
}

describe('TokenCipher', () => {
  it('round-trips and never stores the plaintext', () => {
    const value = cipher(KEY_A).encrypt('secret-access-token', CONTEXT);
    expect(value).not.toContain('secret-access-token');
    expect(value).toMatch(/^v1\.[0-9a-f]{8}\./);
    expect(cipher(KEY_A).decrypt(value, CONTEXT)).toBe('secret-access-token');
  });

  it('uses a fresh IV for every value', () => {
    const c = cipher(KEY_A);
    expect(c.encrypt('same', CONTEXT)).not.toBe(c.encrypt('same', CONTEXT));
  });

  it.each([
    [{ account: 'other', product: 'crm' }],
    [{ account: 'acme', product: 'marketing' }],
    [{ account: 'acm', product: 'ecrm' }],
  ])('refuses a ciphertext moved to another connection %j', (other) => {
    const value = cipher(KEY_A).encrypt('token', CONTEXT);
    expect(() => cipher(KEY_A).decrypt(value, other)).toThrow(DecryptionError);
  });

  it('detects tampering with any part', () => {
    const value = cipher(KEY_A).encrypt('token', CONTEXT);
    const parts = value.split('.');
    for (const index of [2, 3, 4]) {
      const tampered = [...parts];
      const bytes = Buffer.from(tampered[index], 'base64url');
      bytes[0] ^= 1;
      tampered[index] = bytes.toString('base64url');
      expect(() => cipher(KEY_A).decrypt(tampered.join('.'), CONTEXT)).toThrow(DecryptionError);
    }
    expect(() => cipher(KEY_A).decrypt('plain-token', CONTEXT)).toThrow(DecryptionError);
  });

  it('reads values under a previous key, writes under the current one', () => {
    const old = cipher(KEY_A).encrypt('token', CONTEXT);
    const rotated = cipher(KEY_B, KEY_A);
    expect(rotated.decrypt(old, CONTEXT)).toBe('token');
    expect(rotated.isStale(old)).toBe(true);
    expect(rotated.isStale(rotated.encrypt('token', CONTEXT))).toBe(false);
  });

  it('names an unknown key id instead of returning garbage', () => {
    const old = cipher(KEY_A).encrypt('token', CONTEXT);
    expect(() => cipher(KEY_B).decrypt(old, CONTEXT)).toThrow(/unknown key/);
  });
});
