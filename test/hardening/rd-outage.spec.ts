/**
 * RD Station down for a long stretch (5xx, then timeouts, then connection resets): tokens are
 * served while they are valid; then 503 provider_unavailable with Retry-After; the number of
 * calls to RD stays bounded by the backoff however hard the API is hammered; and everything
 * recovers by itself once RD does, without an operator.
 */
import { RefreshScheduler } from '../../src/scheduler/refresh-scheduler';
import { auth, connect, createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/process';
import { storedRefreshToken } from '../support/seed';

const KEYS = [
  ['outage-1', 'crm'],
  ['outage-2', 'crm'],
  ['outage-3', 'crm'],
  ['outage-4', 'marketing'],
] as const;

interface Answer {
  key: string;
  status: number;
  error?: string;
  retryAfter: string | null;
}

describe('RD outage', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ env: { RD_TIMEOUT_MS: '400' } });
    for (const [account, product] of KEYS)
      expect((await connect(h, account, product)).status).toBe(200);
  });
  afterAll(() => h.close());

  const keyOf = (account: string, product: string) => `${product}:${account}`;

  async function read(account: string, product: string, minValidity?: number): Promise<Answer> {
    const query = minValidity === undefined ? '' : `&minValidity=${minValidity}`;
    const res = await fetch(`${h.broker.url}/tokens/${account}?product=${product}${query}`, {
      headers: { authorization: auth.service },
    });
    const body = (await res.json()) as { error?: string };
    return {
      key: keyOf(account, product),
      status: res.status,
      error: body.error,
      retryAfter: res.headers.get('retry-after'),
    };
  }

  /** `workers` callers reading every connection round-robin for `ms`, plus a scheduler tick every 300 ms. */
  async function hammer(ms: number, workers = 8): Promise<Answer[]> {
    const answers: Answer[] = [];
    const until = Date.now() + ms;
    const scheduler = (async () => {
      while (Date.now() < until) {
        await h.broker.app.get(RefreshScheduler).tick();
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        for (let i = w; Date.now() < until; i++) {
          const [account, product] = KEYS[i % KEYS.length];
          answers.push(await read(account, product));
        }
      }),
    );
    await scheduler;
    return answers;
  }

  /**
   * Expiries are shortened in SQL; a replica's token cache learns of it through NOTIFY, a moment
   * later. Wait until the broker answers with the new expiry before measuring anything.
   */
  async function untilBrokerSees(
    keys: ReadonlyArray<readonly [string, string]>,
    maxExpiresIn: number,
  ) {
    await waitFor(
      async () => {
        const answers = await Promise.all(
          keys.map(async ([account, product]) => {
            const res = await fetch(
              `${h.broker.url}/tokens/${account}?product=${product}&minValidity=0`,
              { headers: { authorization: auth.service } },
            );
            return ((await res.json()) as { expiresIn?: number }).expiresIn ?? Infinity;
          }),
        );
        return answers.every((expiresIn) => expiresIn <= maxExpiresIn) ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'the broker to see the shortened expiry' },
    );
  }

  function refreshCallsPerConnection(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [account, product] of KEYS) counts[keyOf(account, product)] = 0;
    for (const call of h.rd.tokenCalls({ grantType: 'refresh_token' })) {
      for (const [account, product] of KEYS) {
        // Calls carry the refresh token; map it back to its connection through the fake's grant.
        if (grantIds[keyOf(account, product)] === h.rd.grantOf(call.refreshToken!)?.id)
          counts[keyOf(account, product)]++;
      }
    }
    return counts;
  }

  const grantIds: Record<string, string> = {};

  it('serves valid tokens, then 503 + Retry-After, calls RD a bounded number of times, and recovers by itself', async () => {
    for (const [account, product] of KEYS)
      grantIds[keyOf(account, product)] = h.rd.grantOf(
        await storedRefreshToken(h, account, product),
      )!.id;

    // The outage starts with 503s just as every token becomes due for its scheduled refresh.
    h.rd.reset();
    h.rd.failAlways({ kind: 'status', status: 503 });
    await h.db.dataSource.query(
      `UPDATE connections SET expires_at = now() + interval '90 seconds',
                              last_refreshed_at = now() - interval '2 hours',
                              next_refresh_at = now() - interval '1 second'`,
    );
    await untilBrokerSees(KEYS, 90);
    await h.broker.app.get(RefreshScheduler).tick();
    for (const [account] of KEYS) {
      const res = await fetch(`${h.broker.url}/connections/${account}`, {
        headers: { authorization: auth.admin },
      });
      const view = (await res.json()) as {
        connections: Array<{ status: string; lastError: string }>;
      };
      expect(view.connections[0]).toMatchObject({
        status: 'refresh_failing',
        lastError: expect.stringContaining('503'),
      });
    }

    // 1. Tokens with 90 s left are served (minValidity 60) for as long as they last.
    const whileValid = await hammer(1_500);
    expect(whileValid.length).toBeGreaterThan(100);
    expect(whileValid.filter((a) => a.status !== 200)).toEqual([]);

    // 2. Under minValidity: 503 provider_unavailable with Retry-After. RD now times out, then resets.
    await h.db.dataSource.query(
      `UPDATE connections SET expires_at = now() + interval '30 seconds', last_refreshed_at = now() - interval '2 hours'`,
    );
    h.rd.failAlways({ kind: 'hang' });
    const timingOut = await hammer(2_000);
    h.rd.failAlways({ kind: 'reset' });
    const resetting = await hammer(2_000);
    const during = [...timingOut, ...resetting];
    expect(during.length).toBeGreaterThan(100);
    for (const answer of during) {
      expect(answer).toMatchObject({ status: 503, error: 'provider_unavailable' });
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(answer.retryAfter)).toBeLessThanOrEqual(300);
    }
    // A caller that can live with less validity still gets the (valid) token.
    expect((await read('outage-1', 'crm', 0)).status).toBe(200);

    // Bounded: ~5.5 s of outage and hundreds of reads and ticks, but only a handful of calls per
    // connection (the first, then after 1-2 s, 2-4 s, 4-8 s of exponential backoff).
    const calls = refreshCallsPerConnection();
    for (const count of Object.values(calls)) {
      expect(count).toBeGreaterThanOrEqual(1);
      expect(count).toBeLessThanOrEqual(4);
    }
    expect(h.rd.tokenCalls().length).toBeLessThanOrEqual(4 * KEYS.length);

    // 3. RD recovers. Nobody touches the database: reads (and ticks) bring every connection back
    // once its backoff has passed, each with exactly one successful refresh.
    h.rd.failAlways(null);
    const recoveredAt = await waitFor(
      async () => {
        await h.broker.app.get(RefreshScheduler).tick();
        const answers = await Promise.all(KEYS.map(([account, product]) => read(account, product)));
        return answers.every((a) => a.status === 200) ? Date.now() : undefined;
      },
      { timeoutMs: 20_000, what: 'every connection to recover' },
    );
    expect(recoveredAt).toBeGreaterThan(0);
    const succeeded = h.rd
      .tokenCalls({ grantType: 'refresh_token' })
      .filter((call) => call.outcome === 'ok');
    expect(succeeded).toHaveLength(KEYS.length);

    for (const [account, product] of KEYS) {
      const res = await fetch(`${h.broker.url}/tokens/${account}?product=${product}`, {
        headers: { authorization: auth.service },
      });
      const body = (await res.json()) as { accessToken: string; expiresIn: number };
      expect(h.rd.isLiveAccessToken(body.accessToken)).toBe(true);
      expect(body.expiresIn).toBeGreaterThan(3600);
      expect(h.rd.isLiveRefreshToken(await storedRefreshToken(h, account, product))).toBe(true);
    }
    const rows: Array<Record<string, unknown>> = await h.db.dataSource.query(
      `SELECT status, last_error, consecutive_failures FROM connections`,
    );
    expect(rows).toEqual(
      KEYS.map(() => ({ status: 'active', last_error: null, consecutive_failures: 0 })),
    );
  });

  it("honours RD's Retry-After when it rate-limits: no call before it, and callers are told", async () => {
    h.rd.reset();
    expect((await connect(h, 'ratelimited', 'crm')).status).toBe(200);
    await h.db.dataSource.query(
      `UPDATE connections SET expires_at = now() + interval '30 seconds', last_refreshed_at = now() - interval '2 hours'
        WHERE account = 'ratelimited'`,
    );
    await untilBrokerSees([['ratelimited', 'crm']], 30);
    h.rd.reset();
    h.rd.failAlways({ kind: 'rate_limited', retryAfter: 30 });
    const answers: Answer[] = [];
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      answers.push(await read('ratelimited', 'crm'));
      await h.broker.app.get(RefreshScheduler).tick();
    }
    expect(answers.length).toBeGreaterThan(20);
    expect(answers.every((a) => a.status === 503 && a.error === 'provider_unavailable')).toBe(true);
    const retryAfter = Number(answers[answers.length - 1].retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(26);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
    h.rd.failAlways(null);
  });
});
