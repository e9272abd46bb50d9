import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { EncryptionKey } from '../config/config';
import { cryptoConfig } from '../config/slices';

/** Which connection a ciphertext belongs to: bound in as additional authenticated data. */
export interface CipherContext {
  account: string;
  product: string;
}

export class DecryptionError extends Error {}

const VERSION = 'v1';

function aad({ account, product }: CipherContext): Buffer {
  // A NUL cannot occur in either part, so distinct pairs never give the same bytes.
  return Buffer.from(`${product}\0${account}`, 'utf8');
}

/**
 * AES-256-GCM for tokens at rest: `v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts), a fresh
 * 12-byte IV per value. The key id picks the key on the way back, so TOKEN_ENCRYPTION_PREVIOUS_KEYS
 * keep old rows readable during a rotation; the account+product AAD makes a ciphertext copied to
 * another row fail to decrypt instead of handing out someone else's token.
 */
@Injectable()
export class TokenCipher {
  private readonly current: EncryptionKey;
  private readonly keys: Map<string, Buffer>;

  constructor(@Inject(cryptoConfig.KEY) config: ConfigType<typeof cryptoConfig>) {
    this.current = config.current;
    this.keys = new Map([...config.previous, config.current].map((k) => [k.id, k.key]));
  }

  encrypt(plaintext: string, context: CipherContext): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(aad(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.current.id, iv, ciphertext, cipher.getAuthTag()]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  }

  decrypt(value: string, context: CipherContext): string {
    const [version, keyId, iv, ciphertext, tag, ...rest] = value.split('.');
    if (version !== VERSION || rest.length > 0 || tag === undefined) {
      throw new DecryptionError('not a token ciphertext');
    }
    const key = this.keys.get(keyId);
    if (!key) throw new DecryptionError(`encrypted under unknown key ${keyId}`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(aad(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new DecryptionError('ciphertext failed authentication (tampered, or another row)');
    }
  }

  /** True when the value is not under the current key (a rotation has work left for it). */
  isStale(value: string): boolean {
    return value.split('.')[1] !== this.current.id;
  }
}
