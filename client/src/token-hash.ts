import { createHash } from 'node:crypto';

/**
 * What the broker's `rejected` parameter carries: the first 16 hex characters of the SHA-256 of
 * an access token RD refused. It names the token without revealing it.
 */
export function rejectedTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('hex').slice(0, 16);
}
