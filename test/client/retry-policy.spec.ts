import { decideRetry, retryAfterWaitMs } from '../../client/src/retry-policy';
import { parseRetryAfter } from '../../client/src/broker-error';

const limits = { maxRetryWaitMs: 10_000, networkRetries: 2 };
const fresh = { waitedMs: 0, networkFailures: 0 };

describe('client retry policy', () => {
  it('waits Retry-After plus up to 20% (at least 100 ms) of jitter', () => {
    expect(retryAfterWaitMs(5, () => 0)).toBe(5000);
    expect(retryAfterWaitMs(5, () => 1)).toBe(6000);
    expect(retryAfterWaitMs(0, () => 0)).toBe(100);
    expect(retryAfterWaitMs(0, () => 1)).toBe(200);
    expect(retryAfterWaitMs(undefined, () => 0)).toBe(1000);
  });

  it('retries 503 and 429 while the total wait stays within the budget', () => {
    expect(
      decideRetry({ kind: 'status', status: 503, retryAfter: 2 }, fresh, limits, () => 0),
    ).toEqual({ retry: true, waitMs: 2000 });
    expect(
      decideRetry({ kind: 'status', status: 429, retryAfter: 1 }, fresh, limits, () => 0),
    ).toEqual({ retry: true, waitMs: 1000 });
    expect(
      decideRetry(
        { kind: 'status', status: 503, retryAfter: 2 },
        { waitedMs: 8500, networkFailures: 0 },
        limits,
        () => 0,
      ),
    ).toEqual({ retry: false });
    expect(
      decideRetry({ kind: 'status', status: 503, retryAfter: 11 }, fresh, limits, () => 0),
    ).toEqual({ retry: false });
  });

  it.each([400, 401, 403, 404, 409, 422, 500, 502])('never retries %s', (status) => {
    expect(decideRetry({ kind: 'status', status, retryAfter: 0 }, fresh, limits)).toEqual({
      retry: false,
    });
  });

  it('retries network failures networkRetries times, backing off', () => {
    const after = (networkFailures: number) =>
      decideRetry({ kind: 'network' }, { waitedMs: 0, networkFailures }, limits, () => 1);
    expect(after(1)).toEqual({ retry: true, waitMs: 100 });
    expect(after(2)).toEqual({ retry: true, waitMs: 200 });
    expect(after(3)).toEqual({ retry: false });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.UTC(2026, 10, 30, 12, 0, 0);
    expect(parseRetryAfter('7', now)).toBe(7);
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90);
    expect(parseRetryAfter(new Date(now - 90_000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});
