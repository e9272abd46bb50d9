import { hash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import type { ApiKey } from '../config/config';
import { authConfig } from '../config/slices';
import type { AuthenticatedRequest } from '../logging/logger';
import { FailedAuthLimiter } from './failed-auth.limiter';
import { KeyScope } from './key-scope';

export interface KnownKey {
  name: string;
  admin: boolean;
  digest: Buffer;
  scope?: KeyScope;
}

/**
 * One-shot SHA-256 (no Hash object per request: this runs on every authenticated call). Asked for
 * as hex and turned into bytes here: on Node 24 `hash()`'s own 'buffer' output costs about twice
 * as much (~1.0 against ~0.6 µs for a 32-character secret), and this is on every request.
 */
function digest(secret: string): Buffer {
  return Buffer.from(hash('sha256', secret, 'hex'), 'hex');
}

/** `Bearer <secret>`, any case, surrounding blanks allowed: the secret, or undefined. */
const BEARER = /^\s*Bearer ([^\s]+)\s*$/i;

/**
 * `Authorization: Bearer <secret>` against API_KEYS / ADMIN_API_KEYS, from the headers alone:
 * the one authenticator of the Nest guard (ApiKeyGuard) and of /proxy's `onRequest` hook, which
 * runs before any body byte is read. Secrets are compared as SHA-256 digests with
 * timingSafeEqual, against every key without stopping at a match, so the answer time says
 * nothing about how close a guess was.
 */
@Injectable()
export class ApiKeyAuthenticator {
  private readonly keys: KnownKey[];

  constructor(
    @Inject(authConfig.KEY) config: ConfigType<typeof authConfig>,
    private readonly limiter: FailedAuthLimiter,
  ) {
    const known = (keys: ApiKey[], admin: boolean) =>
      keys.map((key) => ({
        name: key.name,
        admin,
        digest: digest(key.secret),
        scope: admin ? undefined : scopeOf(config, key.name),
      }));
    this.keys = [...known(config.apiKeys, false), ...known(config.adminApiKeys, true)];
  }

  /**
   * The key `authorization` presents, named on `raw` (the access log's caller, the scope
   * checks). Without a valid key: 401, counted against `address` by the failed-key limiter
   * (429 once it blocks). The key comes first: a valid key is served whatever failures its
   * address has collected, so failing from (or behind the same proxy as) a service never locks
   * that service out.
   */
  authenticate(authorization: unknown, address: string, raw: AuthenticatedRequest): KnownKey {
    const key = this.identify(authorization);
    if (!key) {
      this.limiter.assertNotBlocked(address);
      this.limiter.recordFailure(address);
      throw new UnauthorizedException(
        'a valid API key is required: Authorization: Bearer <secret>',
      );
    }
    raw.apiKeyName = key.name;
    if (key.scope) raw.apiKeyScope = key.scope;
    return key;
  }

  private identify(header: unknown): KnownKey | undefined {
    if (typeof header !== 'string') return undefined;
    const match = BEARER.exec(header);
    if (!match) return undefined;
    const presented = digest(match[1]);
    let found: KnownKey | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(presented, key.digest) && !found) found = key;
    }
    return found;
  }
}

export function scopeOf(config: ConfigType<typeof authConfig>, name: string): KeyScope | undefined {
  const entry = config.apiKeyScopes.get(name);
  return entry ? new KeyScope(entry.rules, entry.actions) : undefined;
}
