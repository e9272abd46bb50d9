import { HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';

const WINDOW_MS = 60_000;
const MAX_FAILURES = 20;
const BLOCK_MS = 5 * 60_000;

interface Attempts {
  failures: number;
  windowStart: number;
  blockedUntil: number;
}

export class TooManyFailedAttemptsError extends HttpException {
  constructor(readonly retryAfterSeconds: number) {
    super(
      'too many failed authentication attempts from this address; try again later',
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

/**
 * Slows down API-key guessing: an address with more than 20 failed attempts in a minute is
 * refused for 5 minutes. Only failures count, so legitimate token reads are never throttled.
 * Per replica and in memory (bounded by the LRU), which is enough to make guessing pointless.
 */
@Injectable()
export class FailedAuthLimiter {
  private readonly attempts = new LRUCache<string, Attempts>({
    max: 50_000,
    ttl: BLOCK_MS + WINDOW_MS,
  });

  assertNotBlocked(address: string): void {
    const entry = this.attempts.get(address);
    const now = Date.now();
    if (entry && entry.blockedUntil > now) {
      throw new TooManyFailedAttemptsError(Math.ceil((entry.blockedUntil - now) / 1000));
    }
  }

  recordFailure(address: string): void {
    const now = Date.now();
    let entry = this.attempts.get(address);
    if (!entry || now - entry.windowStart > WINDOW_MS)
      entry = { failures: 0, windowStart: now, blockedUntil: 0 };
    entry.failures++;
    if (entry.failures > MAX_FAILURES) entry.blockedUntil = now + BLOCK_MS;
    this.attempts.set(address, entry);
  }
}
