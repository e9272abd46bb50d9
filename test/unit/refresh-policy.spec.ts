import type { Connection } from '../../src/database/connection.entity';
import {
  failureBackoffBaseSeconds,
  guardVerdict,
  heldMessage,
  nextRefreshAt,
  productHoldSeconds,
  reportRefreshWaitSeconds,
  skipReason,
  type RefreshTrigger,
} from '../../src/refresh/refresh-policy';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const SECOND = 1000;
const DAY = 24 * 3600 * SECOND;

function row(overrides: Partial<Connection> = {}): Connection {
  return {
    status: 'active',
    expiresAt: new Date(NOW + 7200 * SECOND),
    nextRefreshAt: new Date(NOW + 6600 * SECOND),
    lastRefreshedAt: new Date(NOW - 60 * SECOND),
    ...overrides,
  } as Connection;
}

describe('nextRefreshAt', () => {
  const aheadMs = 600 * SECOND;

  it('is REFRESH_AHEAD_SECONDS before expiry for a long-lived token', () => {
    const expiresAt = new Date(NOW + 86_400 * SECOND);
    expect(nextRefreshAt('marketing', expiresAt, aheadMs, NOW).getTime()).toBe(
      expiresAt.getTime() - aheadMs,
    );
  });

  it('is half-way for a token that lives shorter than the lead time', () => {
    const expiresAt = new Date(NOW + 120 * SECOND);
    expect(nextRefreshAt('crm', expiresAt, aheadMs, NOW).getTime()).toBe(NOW + 60 * SECOND);
  });

  it('is now for a token already expired', () => {
    const expiresAt = new Date(NOW - 10 * SECOND);
    expect(nextRefreshAt('marketing', expiresAt, aheadMs, NOW).getTime()).toBe(expiresAt.getTime());
  });

  it('keeps a CRM refresh token from idling past 7 days, but not a Marketing one', () => {
    const expiresAt = new Date(NOW + 30 * DAY);
    expect(nextRefreshAt('crm', expiresAt, aheadMs, NOW).getTime()).toBe(NOW + 7 * DAY);
    expect(nextRefreshAt('marketing', expiresAt, aheadMs, NOW).getTime()).toBe(
      expiresAt.getTime() - aheadMs,
    );
  });
});

describe('skipReason', () => {
  const read = (minValiditySeconds: number): RefreshTrigger => ({
    kind: 'read',
    minValiditySeconds,
  });

  it('never calls RD again for a rejected grant, whatever the trigger', () => {
    const rejected = row({ status: 'reauthorization_required', expiresAt: new Date(NOW - 1) });
    expect(skipReason(rejected, read(60), NOW)).toBe('not_needed');
    expect(skipReason(rejected, { kind: 'due' }, NOW)).toBe('not_needed');
    expect(skipReason(rejected, { kind: 'forced', requestedAt: new Date(NOW) }, NOW)).toBe(
      'not_needed',
    );
  });

  it('refreshes for a read only when the token has less than minValidity left', () => {
    expect(skipReason(row(), read(60), NOW)).toBe('not_needed');
    expect(skipReason(row(), read(7200), NOW)).toBe('not_needed');
    expect(skipReason(row(), read(7201), NOW)).toBeNull();
  });

  it('refreshes for the scheduler only when next_refresh_at has passed', () => {
    expect(skipReason(row(), { kind: 'due' }, NOW)).toBe('not_needed');
    expect(skipReason(row({ nextRefreshAt: null }), { kind: 'due' }, NOW)).toBe('not_needed');
    expect(skipReason(row({ nextRefreshAt: new Date(NOW - 1) }), { kind: 'due' }, NOW)).toBeNull();
  });

  it('backs off a failing connection until its retry time, for reads and the scheduler', () => {
    const failing = row({
      status: 'refresh_failing',
      expiresAt: new Date(NOW + 30 * SECOND),
      nextRefreshAt: new Date(NOW + 20 * SECOND),
    });
    expect(skipReason(failing, read(60), NOW)).toBe('backing_off');
    expect(skipReason(failing, read(60), NOW + 21 * SECOND)).toBeNull();
  });

  it('takes a forced refresh as done by any refresh committed after it was asked for', () => {
    const requestedAt = new Date(NOW);
    const failing = row({ status: 'refresh_failing', nextRefreshAt: new Date(NOW + DAY) });
    expect(skipReason(failing, { kind: 'forced', requestedAt }, NOW)).toBeNull();
    const refreshedSince = row({ lastRefreshedAt: new Date(NOW + SECOND) });
    expect(skipReason(refreshedSince, { kind: 'forced', requestedAt }, NOW + 2 * SECOND)).toBe(
      'not_needed',
    );
  });
});

describe('retrying a rejected grant', () => {
  const rejected = row({
    status: 'reauthorization_required',
    lastRefreshedAt: new Date(NOW - DAY),
  });
  const requestedAt = new Date(NOW);

  it('calls RD for a condemned grant only on an explicit retryRejected', () => {
    expect(skipReason(rejected, { kind: 'forced', requestedAt }, NOW)).toBe('not_needed');
    expect(
      skipReason(rejected, { kind: 'forced', requestedAt, retryRejected: true }, NOW),
    ).toBeNull();
    expect(skipReason(rejected, { kind: 'due' }, NOW)).toBe('not_needed');
  });
});

describe('the blast-radius guard', () => {
  it('condemns while fewer than max others were rejected in the window, then holds', () => {
    expect([0, 4, 5, 6, 200].map((n) => guardVerdict(n, 5))).toEqual([
      'condemn',
      'condemn',
      'hold',
      'hold',
      'hold',
    ]);
    expect(guardVerdict(0, 0)).toBe('hold');
  });

  it('says why a connection is held', () => {
    expect(heldMessage(6, 600)).toBe(
      "held: 6 grants of this product rejected in 10 minutes; check the RD app's credentials and RD's status",
    );
    expect(heldMessage(7, 90)).toContain('rejected in 90 seconds');
  });

  it('backs a held product off from 30 s, doubling, to 10 minutes', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map(productHoldSeconds)).toEqual([
      30, 60, 120, 240, 480, 600, 600,
    ]);
  });
});

describe('failureBackoffBaseSeconds', () => {
  it('retries an outage within seconds, an unknown 4xx or rejected credentials from 30 s', () => {
    expect(failureBackoffBaseSeconds('transient')).toBe(2);
    expect(failureBackoffBaseSeconds('suspect')).toBe(30);
    expect(failureBackoffBaseSeconds('client_rejected')).toBe(30);
  });
});

describe('REFRESH_MIN_INTERVAL_SECONDS (refreshes asked for by reports)', () => {
  const report = (minIntervalSeconds = 30): RefreshTrigger => ({
    kind: 'rejected',
    tokenHash: '0123456789abcdef',
    minIntervalSeconds,
  });

  it('lets a report refresh when no report refreshed before, or the interval has passed', () => {
    expect(skipReason(row({ reportRefreshedAt: null }), report(), NOW)).toBeNull();
    const old = row({ reportRefreshedAt: new Date(NOW - 30 * SECOND) });
    expect(skipReason(old, report(), NOW)).toBeNull();
    expect(reportRefreshWaitSeconds(old, 30, NOW)).toBeNull();
  });

  it('says too_soon within the interval, and how long to wait (rounded up)', () => {
    const recent = row({ reportRefreshedAt: new Date(NOW - 10.5 * SECOND) });
    expect(skipReason(recent, report(), NOW)).toBe('too_soon');
    expect(reportRefreshWaitSeconds(recent, 30, NOW)).toBe(20);
  });

  it('does not count a connect or a scheduled refresh (lastRefreshedAt), only reports', () => {
    const connectedNow = row({ lastRefreshedAt: new Date(NOW), reportRefreshedAt: null });
    expect(skipReason(connectedNow, report(), NOW)).toBeNull();
  });

  it('is off at 0', () => {
    const recent = row({ reportRefreshedAt: new Date(NOW - SECOND) });
    expect(skipReason(recent, report(0), NOW)).toBeNull();
    expect(reportRefreshWaitSeconds(recent, 0, NOW)).toBeNull();
  });
});
