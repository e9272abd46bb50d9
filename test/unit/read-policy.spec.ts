import type { Connection } from '../../src/database/connection.entity';
import {
  RECENTLY_REFRESHED_MS,
  requiredValidityMs,
  servesRead,
  skipReason,
} from '../../src/refresh/refresh-policy';

/** When a token read refreshes: no refresh storms (issue 18), minValidity capped by the lifetime. */
const NOW = Date.parse('2026-11-30T12:00:00Z');
const SECOND = 1000;

/** A 120 s token (like oidc-provider in test/interop), refreshed `age` seconds before NOW. */
function token(age: number, lifetime = 120): Pick<Connection, 'expiresAt' | 'lastRefreshedAt'> {
  const refreshedAt = NOW - age * SECOND;
  return {
    lastRefreshedAt: new Date(refreshedAt),
    expiresAt: new Date(refreshedAt + lifetime * SECOND),
  };
}

describe('requiredValidityMs', () => {
  it('is minValidity when a fresh token can meet it', () => {
    expect(requiredValidityMs(token(0), 60)).toBe(60 * SECOND);
    expect(requiredValidityMs(token(0), 120)).toBe(120 * SECOND);
  });

  it('is half the lifetime when minValidity exceeds it', () => {
    expect(requiredValidityMs(token(0), 121)).toBe(60 * SECOND);
    expect(requiredValidityMs(token(50), 3600)).toBe(60 * SECOND);
  });

  it('is minValidity when the lifetime is unknown', () => {
    expect(requiredValidityMs({ ...token(0), lastRefreshedAt: null }, 600)).toBe(600 * SECOND);
  });
});

describe('servesRead', () => {
  it('serves a token with the validity asked for', () => {
    expect(servesRead(token(30), 60, NOW)).toBe(true);
    expect(servesRead(token(61), 60, NOW)).toBe(false);
  });

  it('serves a token asked for more than its lifetime until half of it is gone', () => {
    expect(servesRead(token(59), 600, NOW)).toBe(true);
    expect(servesRead(token(61), 600, NOW)).toBe(false);
  });

  it('never refreshes a token refreshed moments ago, but never serves an expired one', () => {
    // 115 s asked of a 120 s token refreshed 6 s ago: 114 s left, still served.
    expect(servesRead(token(6), 115, NOW)).toBe(true);
    expect(servesRead(token(RECENTLY_REFRESHED_MS / SECOND), 115, NOW)).toBe(false);
    // A provider handing out 5 s tokens: refreshed 6 s ago, expired: refresh.
    expect(servesRead(token(6, 5), 60, NOW)).toBe(false);
  });

  it('stops a stampede’s waiters under the lock: the holder refreshed just before', () => {
    const justRefreshed = { status: 'active', nextRefreshAt: null, ...token(0.2) } as Connection;
    expect(skipReason(justRefreshed, { kind: 'read', minValiditySeconds: 600 }, NOW)).toBe(
      'not_needed',
    );
    const stale = { status: 'active', nextRefreshAt: null, ...token(90) } as Connection;
    expect(skipReason(stale, { kind: 'read', minValiditySeconds: 600 }, NOW)).toBeNull();
  });
});
