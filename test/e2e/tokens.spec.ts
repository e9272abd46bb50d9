import request from 'supertest';
import { ReadCounter } from '../../src/history/read-counter';
import type { ConnectionKey } from '../../src/common/connection-key';
import { TokenCache } from '../../src/tokens/token-cache';
import { waitFor } from '../support/process';
import { auth, connect, connectionRow, createHarness, type Harness } from '../support/harness';

async function expireToken(h: Harness, account: string, product: string, secondsLeft = -1) {
  await h.db.dataSource.query(
    // Aged consistently: a token near its end was refreshed long ago (refresh-policy.ts reads both).
    `UPDATE connections SET expires_at = now() + make_interval(secs => $3), last_refreshed_at = now() - interval '2 hours'
      WHERE account = $1 AND product = $2`,
    [account, product, secondsLeft],
  );
  // Replicas drop a cached copy on the row's NOTIFY, asynchronously: wait for it.
  await waitFor(
    async () =>
      h.brokers.every(
        (broker) =>
          broker.app.get(TokenCache).get({ account, product } as ConnectionKey) === undefined,
      )
        ? true
        : undefined,
    { what: 'the cached token to be dropped' },
  );
}

function getToken(h: Harness, path: string, key = auth.service) {
  return request(h.broker.url).get(path).set('authorization', key);
}

describe('GET /tokens/:account (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    // Read counts are flushed by the tests themselves (see "writes nothing…").
    h = await createHarness({ env: { READ_FLUSH_SECONDS: '300' } });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query('TRUNCATE connections, oauth_states, connection_events');
    h.rd.reset();
    await connect(h, 'acme', 'crm');
    await connect(h, 'acme', 'marketing');
    h.rd.reset();
  });

  it.each(['crm', 'marketing'])('answers a fresh %s token without calling RD', async (product) => {
    const res = await getToken(h, `/tokens/acme?product=${product}`).expect(200);
    expect(res.body).toEqual({
      account: 'acme',
      product,
      accessToken: expect.any(String),
      tokenType: 'Bearer',
      expiresAt: expect.any(String),
      expiresIn: expect.any(Number),
    });
    expect(h.rd.isLiveAccessToken(res.body.accessToken)).toBe(true);
    expect(res.body.expiresIn).toBeGreaterThan(product === 'crm' ? 7000 : 86000);
    expect(h.rd.tokenCalls()).toHaveLength(0);
  });

  it('refreshes first when the token has less than minValidity left, and stores the rolled refresh token', async () => {
    const before = await getToken(h, '/tokens/acme?product=crm').expect(200);
    const oldRefresh = h.rd.grantOf(before.body.accessToken)!.refreshToken;
    await expireToken(h, 'acme', 'crm', 30);

    const res = await getToken(h, '/tokens/acme?product=crm&minValidity=60').expect(200);
    expect(res.body.accessToken).not.toBe(before.body.accessToken);
    expect(res.body.expiresIn).toBeGreaterThan(7000);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
    expect(h.rd.isLiveRefreshToken(oldRefresh)).toBe(false);
    const row = await connectionRow(h.db, 'acme', 'crm');
    expect(row).toMatchObject({ status: 'active', last_error: null, refresh_started_at: null });

    // minValidity=0 takes what is there; the default (60) does not refresh a 2-hour token.
    await getToken(h, '/tokens/acme?product=crm').expect(200);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
  });

  it('keeps the Marketing refresh token when RD sends the same one back', async () => {
    await expireToken(h, 'acme', 'marketing');
    const res = await getToken(h, '/tokens/acme?product=marketing').expect(200);
    expect(h.rd.isLiveAccessToken(res.body.accessToken)).toBe(true);
    await expireToken(h, 'acme', 'marketing');
    await getToken(h, '/tokens/acme?product=marketing').expect(200);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(2);
  });

  it.each([
    ['/tokens/' + 'a'.repeat(129) + '?product=crm', 'account'],
    ['/tokens/ac%20me?product=crm', 'account'],
    ['/tokens/ac%2Fme?product=crm', 'account'],
    ['/tokens/acme?product=hubspot', 'product'],
    ['/tokens/acme', 'product is required'],
    ['/tokens/acme?product=crm&product=marketing', 'product'],
    ['/tokens/acme?product=crm&minValidity=-1', 'minValidity'],
    ['/tokens/acme?product=crm&minValidity=3601', 'minValidity'],
    ['/tokens/acme?product=crm&minValidity=abc', 'minValidity'],
    ['/tokens/acme?product=crm&minValidity=1.5', 'minValidity'],
  ])('answers 400 invalid_request to %s', async (path, message) => {
    const res = await getToken(h, path).expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'invalid_request' });
    expect(res.body.message).toContain(message);
  });

  it('answers 404 not_found to /tokens/ with no account, before looking at the key', async () => {
    const res = await getToken(h, '/tokens/?product=crm', 'Bearer not-a-key').expect(404);
    expect(res.body).toMatchObject({ statusCode: 404, error: 'not_found' });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('accepts a 128-character account', async () => {
    const res = await getToken(h, `/tokens/${'a'.repeat(128)}?product=crm`).expect(404);
    expect(res.body.error).toBe('not_connected');
  });

  it('answers 404 not_connected for an unknown account', async () => {
    const res = await getToken(h, '/tokens/nobody?product=crm').expect(404);
    expect(res.body).toEqual({
      statusCode: 404,
      error: 'not_connected',
      message: expect.stringContaining('nobody'),
    });
  });

  it('answers 409 with when and why once RD rejects the refresh token, and stops calling RD', async () => {
    await expireToken(h, 'acme', 'crm');
    h.rd.failNext(1, { kind: 'invalid_grant' });
    const res = await getToken(h, '/tokens/acme?product=crm').expect(409);
    expect(res.body).toMatchObject({
      statusCode: 409,
      error: 'reauthorization_required',
      reason: expect.stringContaining('invalid_grant'),
    });
    expect(new Date(res.body.since).getTime()).toBeGreaterThan(Date.now() - 10_000);
    await getToken(h, '/tokens/acme?product=crm').expect(409);
    await getToken(h, '/tokens/acme?product=crm&minValidity=0').expect(409);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
    expect(await connectionRow(h.db, 'acme', 'crm')).toMatchObject({
      status: 'reauthorization_required',
    });
  });

  it('answers 503 provider_unavailable with Retry-After when RD fails and the token is too short-lived', async () => {
    await expireToken(h, 'acme', 'crm', 30);
    h.rd.failNext(1, { kind: 'status', status: 503 });
    const res = await getToken(h, '/tokens/acme?product=crm&minValidity=60').expect(503);
    expect(res.body.error).toBe('provider_unavailable');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // Still valid for a caller who needs less: served while RD is failing.
    const served = await getToken(h, '/tokens/acme?product=crm&minValidity=10').expect(200);
    expect(served.body.expiresIn).toBeLessThanOrEqual(30);
    expect(await connectionRow(h.db, 'acme', 'crm')).toMatchObject({
      status: 'refresh_failing',
      consecutive_failures: 1,
    });

    // Backing off: no new RD call before next_refresh_at.
    await getToken(h, '/tokens/acme?product=crm&minValidity=60').expect(503);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);

    // Recovers once the backoff has passed and RD answers again.
    await h.db.dataSource.query(
      `UPDATE connections SET next_refresh_at = now() WHERE account = 'acme' AND product = 'crm'`,
    );
    await getToken(h, '/tokens/acme?product=crm&minValidity=60').expect(200);
    expect(await connectionRow(h.db, 'acme', 'crm')).toMatchObject({
      status: 'active',
      consecutive_failures: 0,
    });
  });

  it('answers 503 when RD rate-limits, honouring its Retry-After', async () => {
    await expireToken(h, 'acme', 'crm');
    h.rd.failNext(1, { kind: 'rate_limited', retryAfter: 120 });
    const res = await getToken(h, '/tokens/acme?product=crm').expect(503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(119);
  });

  it('keeps the grant when RD rejects the app credentials (a configuration problem, not the grant)', async () => {
    await expireToken(h, 'acme', 'crm');
    const clients = h.rd.clients.crm;
    h.rd.clients.crm = { ...clients, clientSecrets: ['rotated-at-rd'] };
    try {
      await getToken(h, '/tokens/acme?product=crm').expect(503);
      expect(await connectionRow(h.db, 'acme', 'crm')).toMatchObject({ status: 'refresh_failing' });
    } finally {
      h.rd.clients.crm = clients;
    }
    await h.db.dataSource.query(`UPDATE connections SET next_refresh_at = now()`);
    await getToken(h, '/tokens/acme?product=crm').expect(200);
    expect(await connectionRow(h.db, 'acme', 'crm')).toMatchObject({ status: 'active' });
  });

  it('writes nothing to the database on a read of a fresh token', async () => {
    await h.db.dataSource.query(`
      CREATE TABLE IF NOT EXISTS write_audit (tbl text, op text);
      CREATE OR REPLACE FUNCTION audit_write() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN INSERT INTO write_audit VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;
      DROP TRIGGER IF EXISTS audit ON connections;
      CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON connections FOR EACH STATEMENT EXECUTE FUNCTION audit_write();
      DROP TRIGGER IF EXISTS audit ON connection_events;
      CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON connection_events FOR EACH STATEMENT EXECUTE FUNCTION audit_write();
    `);
    try {
      const reads = h.broker.app.get(ReadCounter);
      await reads.flush();
      await h.db.dataSource.query('TRUNCATE connection_reads');
      // No transaction id is assigned over 50 reads: not a single write happened anywhere in the
      // cluster's view. The counter is cluster-wide, so other databases' work (a test run beside
      // this one) can move it too: up to three rounds, of which one must see it stand still. A
      // read that writes moves it in every round.
      const nextXid = async () =>
        (
          await h.db.dataSource.query(`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid`)
        )[0].xid as string;
      let rounds = 0;
      let unchanged = false;
      while (!unchanged && rounds < 3) {
        rounds++;
        const before = await nextXid();
        for (let i = 0; i < 50; i++) await getToken(h, '/tokens/acme?product=crm').expect(200);
        unchanged = (await nextXid()) === before;
      }
      expect(await h.db.dataSource.query('SELECT * FROM write_audit')).toEqual([]);
      expect(unchanged).toBe(true);
      // The reads were counted in memory; the flush (every READ_FLUSH_SECONDS) writes them.
      await reads.flush();
      expect(
        await h.db.dataSource.query(`SELECT caller, account, count::int FROM connection_reads`),
      ).toEqual([{ caller: 'svc', account: 'acme', count: 50 * rounds }]);
    } finally {
      await h.db.dataSource.query(
        'DROP TRIGGER audit ON connections; DROP TRIGGER audit ON connection_events; DROP TABLE write_audit',
      );
    }
  });

  describe('API keys', () => {
    it.each([
      [undefined],
      ['Bearer wrong-secret-wrong-secret-wrong-secret'],
      ['Basic c3ZjOnNlY3JldA=='],
      ['Bearer'],
      [auth.service.replace('Bearer ', 'Bearer  x')],
    ])('answers 401 unauthorized to Authorization %j', async (header) => {
      const req = request(h.broker.url).get('/tokens/acme?product=crm');
      if (header) req.set('authorization', header);
      const res = await req.expect(401);
      expect(res.body).toMatchObject({ statusCode: 401, error: 'unauthorized' });
    });

    it('accepts an admin key on service routes', async () => {
      await getToken(h, '/tokens/acme?product=crm', auth.admin).expect(200);
    });

    it.each([
      ['get', '/connections'],
      ['get', '/connections/acme'],
      ['put', '/connections/acme'],
      ['post', '/connections/acme/refresh?product=crm'],
      ['delete', '/connections/acme?product=crm'],
    ] as const)('answers 403 to a service key on %s %s', async (method, path) => {
      const agent = request(h.broker.url);
      const res = await agent[method](path).set('authorization', auth.service).send({}).expect(403);
      expect(res.body.error).toBe('forbidden');
    });
  });
});
