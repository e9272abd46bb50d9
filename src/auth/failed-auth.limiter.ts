import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { RateLimitedError } from '../common/errors';

const WINDOW_MS = 60_000;
const MAX_FAILURES = 20;
const BLOCK_MS = 5 * 60_000;

interface Attempts {
  failures: number;
  windowStart: number;
  blockedUntil: number;
}

/**
 * Slows down API-key guessing: an address with more than 20 failed attempts in a minute is
 * refused for 5 minutes. Only failures count, and the guard (api-key.guard.ts) checks a presented
 * key before asking here, so a valid key is never refused for its address's failures: nobody can
 * lock a service out by failing from (or claiming) its address. A blocked guesser therefore
 * still learns when a guess is right; secrets of at least 32 characters (config.schema.ts) are
 * what make guessing hopeless, the block keeps a guesser's traffic cheap and visible.
 *
 * Per replica and in memory, bounded both ways: at most MAX_TRACKED_ADDRESSES entries (LRU), each
 * keyed by an IP address or, for anything else, its fixed-length digest.
 */
@Injectable()
export class FailedAuthLimiter {
  static readonly MAX_TRACKED_ADDRESSES = 50_000;

  private readonly attempts = new LRUCache<string, Attempts>({
    max: FailedAuthLimiter.MAX_TRACKED_ADDRESSES,
    ttl: BLOCK_MS + WINDOW_MS,
  });

  assertNotBlocked(address: string): void {
    const entry = this.attempts.get(keyOf(address));
    const now = Date.now();
    if (entry && entry.blockedUntil > now) {
      throw new RateLimitedError(
        'too many failed authentication attempts from this address; try again later',
        Math.ceil((entry.blockedUntil - now) / 1000),
      );
    }
  }

  recordFailure(address: string): void {
    const key = keyOf(address);
    const now = Date.now();
    let entry = this.attempts.get(key);
    if (!entry || now - entry.windowStart > WINDOW_MS)
      entry = { failures: 0, windowStart: now, blockedUntil: 0 };
    entry.failures++;
    if (entry.failures > MAX_FAILURES) entry.blockedUntil = now + BLOCK_MS;
    this.attempts.set(key, entry);
  }
}

/** An IP address as it is (≤ 45 chars); anything else as a 32-char digest. */
export function keyOf(address: string): string {
  return isIP(address) !== 0
    ? address
    : createHash('sha256').update(address).digest('base64url').slice(0, 32);
}
