import type { BrokerClient as BrokerClientType, BrokerClientOptions } from '../../client/src/index';
import { FakeRdStation } from '../fake-rd/fake-rd';
import { ADMIN_KEY, SERVICE_KEY } from '../support/broker';

const BILLING_KEY = 'billing-test-secret-0123456789abcdef01234567';
import { startBrokerProcess } from '../support/broker-process';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { waitFor, type BrokerProcess } from '../support/process';

// The package as a service loads it: `require('<repo>/client')`, built by `npm run build`.
const { BrokerClient, BrokerError } =
  require('../../client') as typeof import('../../client/src/index');

/**
 * The client against two real broker processes (`node dist/main.js`) on one database, with the
 * fake RD Station in this process. Broker requests are counted from each broker's own /metrics.
 */
describe('the TypeScript client against real broker processes (e2e)', () => {
  let rd: FakeRdStation;
  let db: TestDatabase;
  let replicas: BrokerProcess[];

  const client = (options: Partial<BrokerClientOptions> = {}, replica = 0): BrokerClientType =>
    new BrokerClient({
      baseUrl: replicas[replica].url,
      apiKey: SERVICE_KEY,
      product: 'crm',
      ...options,
    });

  /** GET /tokens requests each replica has answered so far (any status). */
  async function brokerTokenRequests(): Promise<number> {
    let total = 0;
    for (const replica of replicas) {
      const text = await (await fetch(`${replica.url}/metrics`)).text();
      for (const line of text.split('\n')) {
        if (
          line.startsWith('broker_http_request_duration_seconds_count{') &&
          line.includes('route="/tokens/:account"')
        )
          total += Number(line.split(' ').pop());
      }
    }
    return total;
  }

  const rdRefreshes = () => rd.tokenCalls({ grantType: 'refresh_token' }).length;

  /** Stores a connection through the admin import route, backed by a real grant at the fake RD. */
  async function seed(account: string, accessTtlSeconds = 7200): Promise<string> {
    const grant = rd.issueGrant('crm', { accessTtlSeconds });
    const res = await fetch(`${replicas[0].url}/connections/${account}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        product: 'crm',
        refreshToken: grant.refreshToken,
        accessToken: grant.accessToken,
        expiresAt: new Date(Date.now() + accessTtlSeconds * 1000).toISOString(),
      }),
    });
    if (res.status !== 201) throw new Error(`import answered ${res.status}: ${await res.text()}`);
    return grant.accessToken;
  }

  /**
   * Leaves the stored token `seconds` of validity, refreshed an hour ago (the import route
   * refreshes short tokens itself, and a read never refreshes a token refreshed seconds ago).
   */
  async function age(account: string, seconds?: number): Promise<void> {
    await db.dataSource.query(
      `UPDATE connections SET last_refreshed_at = now() - interval '1 hour',
              expires_at = COALESCE(now() + make_interval(secs => $2), expires_at)
        WHERE account = $1`,
      [account, seconds ?? null],
    );
  }

  /** A call to RD's API with the token, as a service does it. */
  const callRd = (accessToken: string) =>
    fetch(`${rd.url}/crm/v2/users`, { headers: { authorization: `Bearer ${accessToken}` } });

  async function caught(promise: Promise<unknown>): Promise<InstanceType<typeof BrokerError>> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BrokerError);
    return error as InstanceType<typeof BrokerError>;
  }

  beforeAll(async () => {
    rd = new FakeRdStation();
    const rdUrl = await rd.start();
    db = await createTestDatabase();
    const env = {
      DATABASE_URL: db.url,
      RD_API_URL: rdUrl,
      RD_ACCOUNTS_URL: rdUrl,
      RD_TIMEOUT_MS: '2000',
      // A second service key that reaches only accounts starting with "billing-".
      API_KEYS: `svc:${SERVICE_KEY},billing:${BILLING_KEY}`,
      API_KEY_SCOPES: 'billing=crm:billing-*',
    };
    replicas = await Promise.all([startBrokerProcess(env), startBrokerProcess(env)]);
  });

  afterAll(async () => {
    await Promise.all(
      (replicas ?? []).map(async (replica) => {
        replica.child.kill('SIGTERM');
        await replica.exited;
      }),
    );
    await rd?.stop();
    await db?.drop();
  });

  beforeEach(() => rd.reset());

  it('sends 1 broker request for 1,000 getToken calls of one account', async () => {
    const seeded = await seed('thousand');
    const broker = client();
    const before = await brokerTokenRequests();
    for (let i = 0; i < 1000; i++) {
      expect((await broker.getToken('thousand')).accessToken).toBe(seeded);
    }
    expect((await brokerTokenRequests()) - before).toBe(1);
    expect(rdRefreshes()).toBe(0);
  });

  it('sends exactly one more when the cached token comes within minValidity + skew of expiring', async () => {
    // 70 s tokens, minValidity 60 + skew 5: each is served from memory for its first 5 seconds.
    const ttl = rd.accessTokenTtlSeconds.crm;
    rd.accessTokenTtlSeconds.crm = 70;
    try {
      const seeded = await seed('expiring', 70);
      await age('expiring');
      // Time moves by hand, on both sides: the client reads the test's clock; the brokers are
      // processes with their own, so the stored token loses the same time instead.
      let elapsedMs = 0;
      const broker = client({ skewSeconds: 5, now: () => Date.now() + elapsedMs });
      const before = await brokerTokenRequests();
      const first = await broker.getToken('expiring');
      expect(first.accessToken).toBe(seeded);
      for (let i = 0; i < 100; i++) await broker.getToken('expiring');
      expect((await brokerTokenRequests()) - before).toBe(1);

      // Until 64.8 s are left: 0.2 s past the client's minValidity + skew.
      elapsedMs = first.expiresAt.getTime() - 64_800 - Date.now();
      await db.dataSource.query(
        `UPDATE connections SET expires_at = expires_at - make_interval(secs => $2)
          WHERE account = $1 AND product = 'crm'`,
        ['expiring', elapsedMs / 1000],
      );
      const [{ expires_at: stored }]: Array<{ expires_at: Date }> = await db.dataSource.query(
        `SELECT expires_at FROM connections WHERE account = 'expiring' AND product = 'crm'`,
      );
      // The brokers' caches drop their copy on the update (its trigger): wait until the replica
      // the client asks answers the stored expiry (minValidity 0 never refreshes).
      await waitFor(
        async () => {
          const res = await fetch(`${replicas[0].url}/tokens/expiring?product=crm&minValidity=0`, {
            headers: { authorization: `Bearer ${SERVICE_KEY}` },
          });
          const body = (await res.json()) as { expiresAt?: string };
          return body.expiresAt === stored.toISOString() ? true : undefined;
        },
        { what: "the broker's cache to drop the aged token" },
      );
      // What RD issues from now on lives 70 s of the client's clock too.
      rd.accessTokenTtlSeconds.crm = 70 + Math.ceil(elapsedMs / 1000);
      const beforeExpiry = await brokerTokenRequests();
      const answers = [];
      for (let i = 0; i < 100; i++) answers.push(await broker.getToken('expiring'));
      expect((await brokerTokenRequests()) - beforeExpiry).toBe(1);
      // The broker was asked for 65 s of validity and refreshed once at RD.
      expect(rdRefreshes()).toBe(1);
      expect(new Set(answers.map((a) => a.accessToken)).size).toBe(1);
      expect(answers[0].accessToken).not.toBe(seeded);
      expect(rd.isLiveAccessToken(answers[0].accessToken)).toBe(true);
    } finally {
      rd.accessTokenTtlSeconds.crm = ttl;
    }
  });

  it('sends 1 broker request for 100 concurrent calls on a cold cache', async () => {
    const seeded = await seed('cold');
    const broker = client();
    const before = await brokerTokenRequests();
    const answers = await Promise.all(Array.from({ length: 100 }, () => broker.getToken('cold')));
    expect((await brokerTokenRequests()) - before).toBe(1);
    expect(answers.every((a) => a.accessToken === seeded)).toBe(true);
  });

  it('withToken recovers from a token RD stopped accepting with its full 2 hours left: one refresh', async () => {
    await seed('dead');
    const broker = client();
    const held = await broker.getToken('dead');
    expect(held.expiresAt.getTime() - Date.now()).toBeGreaterThan(7100_000);
    rd.invalidateAccessToken(held.accessToken);

    const used: string[] = [];
    const response = await broker.withToken('dead', (accessToken) => {
      used.push(accessToken);
      return callRd(accessToken);
    });
    expect(response.status).toBe(200);
    expect(used).toEqual([held.accessToken, expect.any(String)]);
    expect(used[1]).not.toBe(held.accessToken);
    expect(rdRefreshes()).toBe(1);
    // The replacement is cached: the next call neither asks the broker nor refreshes.
    const before = await brokerTokenRequests();
    expect((await broker.getToken('dead')).accessToken).toBe(used[1]);
    expect(await brokerTokenRequests()).toBe(before);
  });

  it('makes one refresh for 50 concurrent reports of the same dead token over two replicas', async () => {
    const seeded = await seed('crowd');
    const services = Array.from({ length: 50 }, (_, i) => client({}, i % 2));
    for (const service of services)
      expect((await service.getToken('crowd')).accessToken).toBe(seeded);
    rd.invalidateAccessToken(seeded);

    const before = await brokerTokenRequests();
    const used = await Promise.all(
      services.map(async (service) => {
        let last = '';
        const response = await service.withToken('crowd', (accessToken) => {
          last = accessToken;
          return callRd(accessToken);
        });
        expect(response.status).toBe(200);
        return last;
      }),
    );
    // Every service reported the token to a broker (none had another way to learn of it) ...
    expect((await brokerTokenRequests()) - before).toBe(50);
    // ... and RD saw one refresh.
    expect(rdRefreshes()).toBe(1);
    expect(new Set(used).size).toBe(1);
    expect(used[0]).not.toBe(seeded);
  });

  it('fetch goes through /proxy: RD answers with the connection token, and RD itself sees one call', async () => {
    await seed('proxied');
    const response = await client().fetch('proxied', '/crm/v2/contacts?page=2', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Ada' }),
    });
    expect(response.status).toBe(201);
    const { echo } = (await response.json()) as { echo: { query: string; body: string } };
    expect(echo).toMatchObject({ query: 'page=2', body: '{"name":"Ada"}' });
    const calls = rd.calls.filter((call) => call.path === '/crm/v2/contacts');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: 'POST', status: 201 });

    // The broker's own refusal (X-Broker-Error) is a BrokerError; RD's own answers are returned.
    const error = await caught(client().fetch('nobody', 'crm/v2/contacts'));
    expect(error).toMatchObject({ code: 'not_connected', status: 404 });
  });

  describe('each error code arrives as a BrokerError with its fields', () => {
    it('not_connected (404)', async () => {
      const error = await caught(client().getToken('nobody'));
      expect(error).toMatchObject({ code: 'not_connected', status: 404 });
      expect(error.message).toContain('nobody');
      expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('invalid_request (400)', async () => {
      const error = await caught(client().getToken('not an account'));
      expect(error).toMatchObject({ code: 'invalid_request', status: 400 });
    });

    it('unauthorized (401)', async () => {
      const error = await caught(client({ apiKey: 'not-a-key' }).getToken('thousand'));
      expect(error).toMatchObject({ code: 'unauthorized', status: 401 });
    });

    it('forbidden (403) for an account outside the scope of the key, on getToken and fetch', async () => {
      await seed('thousand-scoped');
      const billing = client({ apiKey: BILLING_KEY });
      const error = await caught(billing.getToken('thousand-scoped'));
      expect(error).toMatchObject({ code: 'forbidden', status: 403 });
      expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
      const viaProxy = await caught(billing.fetch('thousand-scoped', 'crm/v2/contacts'));
      expect(viaProxy).toMatchObject({ code: 'forbidden', status: 403 });
      expect(rd.apiCalls()).toHaveLength(0);
    });

    it('reauthorization_required (409) with since and reason', async () => {
      await seed('revoked');
      await age('revoked', 30); // under minValidity: the read refreshes
      rd.failNext(1, { kind: 'invalid_grant' });
      const error = await caught(client().getToken('revoked'));
      expect(error).toMatchObject({ code: 'reauthorization_required', status: 409 });
      expect(error.since).toBeInstanceOf(Date);
      expect(Date.now() - error.since!.getTime()).toBeLessThan(60_000);
      expect(error.reason).toContain('invalid_grant');
      expect(error.retryAfter).toBeUndefined();
    });

    it('provider_unavailable (503) with retryAfter, thrown once the retry budget is spent', async () => {
      await seed('down');
      await age('down', 30);
      rd.failAlways({ kind: 'status', status: 503 });
      try {
        const error = await caught(client({ maxRetryWaitMs: 0 }).getToken('down'));
        expect(error).toMatchObject({ code: 'provider_unavailable', status: 503 });
        expect(error.retryAfter).toBeGreaterThanOrEqual(1);
      } finally {
        rd.failAlways(null);
      }
    });

    it('provider_unavailable (503) is retried after Retry-After, and recovers when RD does', async () => {
      await seed('flaky');
      await age('flaky', 30);
      rd.failNext(1, { kind: 'status', status: 503 });
      const broker = client({ maxRetryWaitMs: 10_000 });
      // The first refresh fails and the broker backs off 1-2 s (its Retry-After); the client
      // waits that out and asks again, and the broker's next refresh succeeds.
      const token = await broker.getToken('flaky');
      expect(rd.isLiveAccessToken(token.accessToken)).toBe(true);
      expect(rdRefreshes()).toBe(2);
    });

    // Last: it blocks this address at the second replica for minutes.
    it('rate_limited (429) with retryAfter, after too many bad API keys', async () => {
      const broker = client({ apiKey: 'not-a-key', maxRetryWaitMs: 0 }, 1);
      let error = await caught(broker.getToken('thousand'));
      for (let i = 0; i < 30 && error.code === 'unauthorized'; i++)
        error = await caught(broker.getToken('thousand'));
      expect(error).toMatchObject({ code: 'rate_limited', status: 429 });
      expect(error.retryAfter).toBeGreaterThanOrEqual(1);
    });
  });
});
