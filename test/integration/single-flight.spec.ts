import { auth, connect, createHarness, type Harness } from '../support/harness';
import { storedRefreshToken } from '../support/seed';

const REQUESTS = 500;

/** 500 concurrent reads of one expired CRM token, spread over two broker replicas. */
async function stampede(h: Harness) {
  return Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const broker = h.brokers[i % h.brokers.length];
      const res = await fetch(`${broker.url}/tokens/acme?product=crm`, {
        headers: { authorization: auth.service },
      });
      return {
        status: res.status,
        body: (await res.json()) as { accessToken?: string; error?: string },
        retryAfter: res.headers.get('retry-after'),
      };
    }),
  );
}

describe('single-flight refresh across two replicas', () => {
  let h: Harness;

  afterEach(() => h.close());

  async function setUp(rdTimeoutMs: number) {
    h = await createHarness({ replicas: 2, env: { RD_TIMEOUT_MS: String(rdTimeoutMs) } });
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
    await h.db.dataSource.query(`UPDATE connections SET expires_at = now() - interval '1 second'`);
    h.rd.reset();
  }

  function expectOneRefresh(results: Awaited<ReturnType<typeof stampede>>) {
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    const tokens = new Set(results.map((r) => r.body.accessToken));
    expect(tokens.size).toBe(1);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
    expect(h.rd.isLiveAccessToken([...tokens][0]!)).toBe(true);
  }

  it('makes exactly one refresh; every answer carries the same new token; the stored refresh token is live', async () => {
    await setUp(2_000);
    expectOneRefresh(await stampede(h));
    expect(h.rd.isLiveRefreshToken(await storedRefreshToken(h, 'acme'))).toBe(true);
  });

  it('does the same when RD takes 2 s to answer', async () => {
    await setUp(5_000);
    h.rd.latencyMs = 2_000;
    expectOneRefresh(await stampede(h));
    expect(h.rd.isLiveRefreshToken(await storedRefreshToken(h, 'acme'))).toBe(true);
  });

  it("survives one instance's refresh timing out: no double refresh, the grant stays live, reads recover", async () => {
    await setUp(1_000);
    h.rd.failNext(1, { kind: 'hang' });
    const during = await stampede(h);
    // The timed-out attempt may have reached RD, so nobody retries at once: the callers get a clear
    // 503 with Retry-After (or the token, if the next holder was already past the backoff).
    for (const r of during) {
      if (r.status !== 200) {
        expect(r.status).toBe(503);
        expect(r.body.error).toBe('provider_unavailable');
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      }
    }
    const attempts = h.rd.tokenCalls({ grantType: 'refresh_token' });
    expect(attempts.length).toBeLessThanOrEqual(2);

    // Whatever happened during the outage (a later caller may already have refreshed once the
    // backoff passed), the next expiry again gives exactly one refresh and a live grant.
    await h.db.dataSource.query(
      `UPDATE connections SET expires_at = now() - interval '1 second', next_refresh_at = now()`,
    );
    h.rd.reset();
    expectOneRefresh(await stampede(h));
    expect(h.rd.isLiveRefreshToken(await storedRefreshToken(h, 'acme'))).toBe(true);
  });
});
