import { createHash } from 'node:crypto';

/**
 * How callers name an access token RD refused (`rejected` on GET /tokens/:account): the first 16
 * hex characters of its SHA-256. Not a secret, so it may be logged; enough to tell tokens apart.
 */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('hex').slice(0, 16);
}
