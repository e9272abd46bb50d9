/**
 * Never lose a connection to an RD answer the broker does not recognise (issue 11):
 *  - 200 connections (both products) answered with every unknown shape in turn, then RD
 *    recovers: none is ever condemned, every one serves a token again;
 *  - 200 connections answered invalid_grant / INVALID_REFRESH_TOKEN at once (an RD incident):
 *    at most REFRESH_CONDEMN_GUARD_MAX per product condemned, the rest held and back by
 *    themselves after recovery, the condemned ones back through the admin retry;
 *  - the same guard holds across two replicas deciding at once (its count is in PostgreSQL);
 *  - a single genuine rejection still condemns after one RD call, with the 409 and the event;
 *  - an unknown shape is logged loudly, secret-free; the bulk retry honours [since, until] and
 *    limit;
 *  - RD details: a Marketing code answered ACCESS_DENIED, 429 with retry-after-quotas, and the
 *    revocation with the refresh token.
 * Time is driven, not waited for: the scheduler runs through `runOnce` and due times are moved
 * in SQL.
 */
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { ScheduledRefreshService } from '../../src/scheduler/scheduled-refresh.service';
import { UNKNOWN_SHAPES, type Failure } from '../fake-rd/fake-rd';
import { startBroker } from '../support/broker';
import { auth, connectionRow, createHarness, type Harness } from '../support/harness';
import { makeAllDue, seedConnection, seedConnections } from '../support/seed';

const FAR = Date.now() + 3600_000;
const PER_PRODUCT = 100;

function run(h: Harness) {
  return h.broker.app.get(ScheduledRefreshService).runOnce(FAR);
}

function admin(h: Harness) {
  const agent = request(h.broker.url);
  return {
    get: (path: string) => agent.get(path).set('authorization', auth.admin),
    post: (path: string, body?: object) =>
      agent.post(path).set('authorization', auth.admin).send(body),
    delete: (path: string) => agent.delete(path).set('authorization', auth.admin),
  };
}

function token(h: Harness, account: string, product: string, minValidity?: number) {
  const query = minValidity === undefined ? '' : `&minValidity=${minValidity}`;
  return request(h.broker.url)
    .get(`/tokens/${account}?product=${product}${query}`)
    .set('authorization', auth.service);
}

async function statuses(h: Harness): Promise<Record<string, number>> {
  const rows: Array<{ status: string; n: number }> = await h.db.dataSource.query(
    `SELECT status, count(*)::int AS n FROM connections GROUP BY status`,
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

async function events(h: Harness, type: string) {
  return h.db.dataSource.query(
    `SELECT type, account, product, detail FROM connection_events WHERE type = $1 ORDER BY id`,
    [type],
  );
}

/** Tokens near their end were refreshed long ago (refresh-policy.ts reads both). */
async function age(h: Harness) {
  await h.db.dataSource.query(
    `UPDATE connections SET last_refreshed_at = now() - interval '3 hours'`,
  );
}

async function seedBoth(h: Harness, expiresInSeconds = 7200) {
  const crm = await seedConnections(h, PER_PRODUCT, 'crm', { prefix: 'c', expiresInSeconds });
  const mkt = await seedConnections(h, PER_PRODUCT, 'marketing', {
    prefix: 'm',
    expiresInSeconds,
  });
  return [
    ...crm.map((account) => ({ account, product: 'crm' })),
    ...mkt.map((account) => ({ account, product: 'marketing' })),
  ];
}

/** Every connection serves a token that RD accepts. */
async function expectAllServe(h: Harness, keys: Array<{ account: string; product: string }>) {
  for (const { account, product } of keys) {
    const res = await token(h, account, product);
    expect({ account, status: res.status }).toEqual({ account, status: 200 });
    expect(h.rd.isLiveAccessToken(res.body.accessToken)).toBe(true);
  }
}

describe('never lose a connection', () => {
  let h: Harness;
  /** How far the fake RD's clock runs ahead of this process's (a test moves it, not the wall). */
  let rdAheadMs = 0;

  beforeAll(async () => {
    h = await createHarness({
      rd: { now: () => Date.now() + rdAheadMs },
      env: {
        REFRESH_CONCURRENCY: '16',
        EVENTS_WEBHOOK_URL: 'http://127.0.0.1:9/never-delivered',
        EVENTS_WEBHOOK_SECRET: 'webhook-secret-0123456789',
      },
    });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query('TRUNCATE connections, connection_events, product_holds');
    h.rd.reset();
    rdAheadMs = 0;
  });

  it('200 connections answered with every unknown shape in turn, then RD recovers: 0 lost', async () => {
    const keys = await seedBoth(h);
    const seen = new Set<string>();
    for (const shape of UNKNOWN_SHAPES) {
      h.rd.failAlways(shape, { grantType: 'refresh_token' });
      await makeAllDue(h);
      // Backoffs of a few seconds may come due again within the run: claimed is 200 or more.
      const summary = await run(h);
      expect(summary.claimed).toBeGreaterThanOrEqual(200);
      expect(summary).toMatchObject({ refreshed: 0, failedPermanent: 0 });
      expect(summary.failedTransient).toBe(summary.claimed);
      expect(await statuses(h)).toEqual({ refresh_failing: 200 });
      const rows: Array<{ last_error: string }> = await h.db.dataSource.query(
        `SELECT DISTINCT last_error FROM connections`,
      );
      for (const { last_error: error } of rows) {
        expect(error).toContain(`HTTP ${(shape as { status: number }).status}`);
        seen.add(error.replace(/^RD refresh failed \(\w+\): RD Station \w+ refresh failed: /, ''));
      }
    }
    // What an operator reads: RD's status and a short excerpt of what it sent.
    expect([...seen]).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^HTTP 401 in a shape the broker does not recognise: \{"message":"Unauthorized"\}; x-amzn-remapped-www-authenticate: Bearer/,
        ),
        'HTTP 403 in a shape the broker does not recognise: {"message":"Forbidden"}',
        'HTTP 403 in a shape the broker does not recognise: 403 Forbidden 403 Forbidden',
        'HTTP 401 in a shape the broker does not recognise: (empty body)',
        expect.stringMatching(/^HTTP 401 in a shape .*"errors":\[\{"code":"unauthorized"/),
      ]),
    );
    expect(await events(h, 'connection.reauthorization_required')).toHaveLength(0);
    const metrics = await request(h.broker.url).get('/metrics');
    expect(metrics.text).toMatch(
      /broker_rd_unknown_answers_total\{product="crm",status="403"\} 200/,
    );

    h.rd.failAlways(null);
    await makeAllDue(h);
    expect(await run(h)).toMatchObject({ refreshed: 200, failedTransient: 0 });
    expect(await statuses(h)).toEqual({ active: 200 });
    expect(await events(h, 'connection.recovered')).toHaveLength(200);
    await expectAllServe(h, keys);
  });

  it('an RD incident rejecting 200 grants at once condemns at most the guard threshold; the rest recover', async () => {
    const keys = await seedBoth(h);
    h.rd.failAlways({ kind: 'invalid_grant' }, { grantType: 'refresh_token' });
    await makeAllDue(h);
    // Five condemned per product; then the guard holds, and the product's other refreshes stop
    // being claimed: they back off together with the held ones.
    const first = await run(h);
    expect(first.failedPermanent).toBe(10);
    const counts = await statuses(h);
    expect(counts.reauthorization_required).toBe(10);
    expect(counts.refresh_failing).toBeGreaterThanOrEqual(2);
    expect(counts.reauthorization_required + counts.refresh_failing + (counts.active ?? 0)).toBe(
      200,
    );
    for (const product of ['crm', 'marketing']) {
      const page = await admin(h)
        .get(`/connections?product=${product}&status=refresh_failing&limit=500`)
        .expect(200);
      expect(page.body.items.length).toBeGreaterThanOrEqual(1);
      for (const item of page.body.items) {
        expect(item.heldSince).toEqual(expect.any(String));
        expect(item.lastError).toMatch(
          /^held: \d+ grants of this product rejected in 10 minutes; check the RD app's credentials and RD's status/,
        );
      }
      const condemned = await admin(h)
        .get(`/connections?product=${product}&status=reauthorization_required`)
        .expect(200);
      expect(condemned.body.items).toHaveLength(5);
    }
    const held = await events(h, 'product.refresh_held');
    expect(held.map((e: { product: string }) => e.product).sort()).toEqual(['crm', 'marketing']);
    expect(held[0].detail).toMatchObject({ rejectedInWindow: 6, windowSeconds: 600 });
    const metrics = await request(h.broker.url).get('/metrics');
    expect(metrics.text).toMatch(/broker_refresh_held_total\{product="crm"\} [1-9]/);

    // Reads still get RD's answer, and a rejection on a read is held too, never condemned.
    const [{ account: untouched }] = await h.db.dataSource.query(
      `SELECT account FROM connections WHERE product = 'crm' AND status <> 'reauthorization_required' ORDER BY account LIMIT 1`,
    );
    await h.db.dataSource.query(
      `UPDATE connections SET expires_at = now() + interval '30 seconds',
              last_refreshed_at = now() - interval '3 hours' WHERE account = $1`,
      [untouched],
    );
    await token(h, untouched, 'crm', 120).expect(503);
    expect((await statuses(h)).reauthorization_required).toBe(10);

    // The product backs off together: nothing of it is due again before its shared retry time.
    await makeAllDue(h);
    expect((await run(h)).claimed).toBe(0);

    // RD recovers; the product's retry time comes.
    h.rd.failAlways(null);
    await h.db.dataSource.query(`UPDATE product_holds SET retry_at = now()`);
    await makeAllDue(h);
    expect(await run(h)).toMatchObject({ refreshed: 190, failedTransient: 0, failedPermanent: 0 });
    // A held product's refreshes are tried together again: held ones and untouched ones.
    expect(await statuses(h)).toEqual({ active: 190, reauthorization_required: 10 });
    const [{ n: stillHeld }] = await h.db.dataSource.query(
      `SELECT count(*)::int AS n FROM connections WHERE held_at IS NOT NULL`,
    );
    expect(stillHeld).toBe(0);
    expect(await h.db.dataSource.query(`SELECT * FROM product_holds`)).toEqual([]);

    // The condemned ten come back through the admin's bulk retry.
    for (const product of ['crm', 'marketing']) {
      const res = await admin(h).post('/connections/retry-rejected', { product }).expect(200);
      expect(res.body).toMatchObject({ tried: 5, stillRejected: [], failed: [] });
      expect(res.body.recovered).toHaveLength(5);
    }
    expect(await statuses(h)).toEqual({ active: 200 });
    await expectAllServe(h, keys);
  });

  it('confirms held rejections when they are real', async () => {
    await seedConnections(h, 8, 'marketing', { prefix: 'gone' });
    h.rd.failAlways({ kind: 'invalid_grant' }, { grantType: 'refresh_token' });
    await makeAllDue(h);
    await run(h);
    const first = await statuses(h);
    expect(first.reauthorization_required).toBe(5);
    const held: Array<{ account: string }> = await h.db.dataSource.query(
      `SELECT account FROM connections WHERE held_at IS NOT NULL ORDER BY account`,
    );
    expect(held.length).toBe(first.refresh_failing);
    expect(held.length).toBeGreaterThanOrEqual(1);
    await admin(h).post('/connections/held/confirm').expect(400);
    const res = await admin(h).post('/connections/held/confirm?product=marketing').expect(200);
    expect(res.body).toEqual({ product: 'marketing', confirmed: held.map((row) => row.account) });
    expect((await statuses(h)).reauthorization_required).toBe(5 + held.length);
    expect(await events(h, 'connection.reauthorization_required')).toHaveLength(5 + held.length);
    expect(await h.db.dataSource.query(`SELECT * FROM product_holds`)).toEqual([]);
    h.rd.failAlways(null);
  });

  it.each([
    ['crm', 'invalid_grant'],
    ['marketing', 'INVALID_REFRESH_TOKEN'],
  ] as const)(
    'a single genuine %s rejection still condemns after one RD call, with the 409 and the event',
    async (product, code) => {
      const [account] = await seedConnections(h, 1, product, { expiresInSeconds: 30 });
      await age(h);
      h.rd.failNext(1, { kind: 'invalid_grant' });
      const res = await token(h, account, product, 120).expect(409);
      expect(res.body).toMatchObject({
        error: 'reauthorization_required',
        reason: expect.stringContaining(code),
      });
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
      const emitted = await events(h, 'connection.reauthorization_required');
      expect(emitted).toEqual([
        expect.objectContaining({ account, product, detail: { reason: expect.any(String) } }),
      ]);
      await token(h, account, product).expect(409);
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
    },
  );

  it('the admin retry brings a condemned connection back when RD accepts its refresh token', async () => {
    const [account] = await seedConnections(h, 1, 'crm', { prefix: 'back', expiresInSeconds: 30 });
    await age(h);
    h.rd.failNext(1, { kind: 'invalid_grant' });
    await token(h, account, 'crm', 120).expect(409);
    const row = await connectionRow(h.db, account, 'crm');
    expect(row).toMatchObject({ status: 'reauthorization_required' });
    expect(row!.refresh_token).toEqual(expect.any(String)); // the grant is kept, encrypted

    await admin(h).post(`/connections/${account}/refresh?product=crm`).expect(409);
    // RD still rejects it: it stays condemned, RD was asked once.
    h.rd.failNext(1, { kind: 'invalid_grant' });
    const again = await admin(h)
      .post(`/connections/${account}/refresh?product=crm&retryRejected=true`)
      .expect(200);
    expect(again.body.status).toBe('reauthorization_required');
    expect(again.body.lastError).toContain('again on an admin retry');
    // RD cannot answer: 503, still condemned.
    h.rd.failNext(1, { kind: 'gateway', status: 403 });
    await admin(h)
      .post(`/connections/${account}/refresh?product=crm&retryRejected=true`)
      .expect(503);
    expect(await connectionRow(h.db, account, 'crm')).toMatchObject({
      status: 'reauthorization_required',
    });
    // RD accepts it.
    const back = await admin(h)
      .post(`/connections/${account}/refresh?product=crm&retryRejected=true`)
      .expect(200);
    expect(back.body).toMatchObject({ status: 'active', lastError: null });
    expect(await events(h, 'connection.recovered')).toEqual([
      expect.objectContaining({
        account,
        detail: expect.objectContaining({ from: 'reauthorization_required' }),
      }),
    ]);
    const served = await token(h, account, 'crm').expect(200);
    expect(h.rd.isLiveAccessToken(served.body.accessToken)).toBe(true);
    await admin(h)
      .post(`/connections/${account}/refresh?product=crm&retryRejected=maybe`)
      .expect(400);
  });

  it('an unknown shape on a read keeps the grant: 503, refresh_failing, RD status in lastError', async () => {
    const [account] = await seedConnections(h, 1, 'marketing', { expiresInSeconds: 30 });
    await age(h);
    h.rd.failNext(1, { kind: 'html', status: 403 });
    const res = await token(h, account, 'marketing', 120).expect(503);
    expect(res.body.error).toBe('provider_unavailable');
    const view = await admin(h).get(`/connections/${account}`).expect(200);
    expect(view.body.connections[0]).toMatchObject({
      status: 'refresh_failing',
      lastError: expect.stringContaining('HTTP 403 in a shape the broker does not recognise'),
      heldSince: null,
    });
    await h.db.dataSource.query(`UPDATE connections SET next_refresh_at = now()`);
    await token(h, account, 'marketing', 120).expect(200);
  });

  it('logs an unknown shape loudly: one error line with product, account, RD status and a secret-free excerpt', async () => {
    // A grant whose tokens the test knows, so it can look for them in the log.
    const grant = h.rd.issueGrant('crm');
    await seedConnection(
      h,
      { account: 'loud', product: 'crm' },
      { ...grant, expiresAt: new Date(Date.now() + 3600_000) },
    );
    await makeAllDue(h);
    // A gateway that echoes what it was sent: the refresh token, the client secret, the token.
    const echoed =
      `{"message":"Bad refresh","got":"refresh_token=${grant.refreshToken}` +
      `&client_secret=crm-secret","bearer":"${grant.accessToken}"}`;
    h.rd.failNext(1, { kind: 'raw', status: 400, body: echoed, contentType: 'application/json' });
    const error = jest.spyOn(Logger.prototype, 'error');
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      expect(await run(h)).toMatchObject({ claimed: 1, failedTransient: 1 });
      const loud = error.mock.calls.filter(([, message]) =>
        String(message).startsWith('RD answered a refresh in an unknown shape'),
      );
      expect(loud).toEqual([
        [
          {
            product: 'crm',
            account: 'loud',
            status: 400,
            body: '{"message":"Bad refresh","got":"refresh_token=[redacted]&client_secret=[redacted]","bearer":"[redacted]"}',
          },
          expect.stringContaining('the grant is kept and retried with backoff'),
        ],
      ]);
      const logged = JSON.stringify([...error.mock.calls, ...warn.mock.calls]);
      for (const secret of [grant.refreshToken, grant.accessToken, 'crm-secret'])
        expect(logged).not.toContain(secret);
    } finally {
      error.mockRestore();
      warn.mockRestore();
    }
    expect(await connectionRow(h.db, 'loud', 'crm')).toMatchObject({ status: 'refresh_failing' });
  });

  it('retries the condemned grants of one product rejected within [since, until], oldest first, at most limit', async () => {
    // Six real rejections (five CRM, one Marketing: under the guard's threshold of each).
    const crm = await seedConnections(h, 5, 'crm', { prefix: 'range' });
    const [mkt] = await seedConnections(h, 1, 'marketing', { prefix: 'range-mkt' });
    h.rd.failAlways({ kind: 'invalid_grant' }, { grantType: 'refresh_token' });
    await makeAllDue(h);
    expect(await run(h)).toMatchObject({ failedPermanent: 6 });
    h.rd.failAlways(null);
    h.rd.reset();
    // Their rejections moved back in time: 5 h, 3 h, 2 h, 1 h and 5 min ago; Marketing 2 h ago.
    const agesMinutes = [300, 180, 120, 60, 5];
    for (const [i, account] of crm.entries()) {
      await h.db.dataSource.query(
        `UPDATE connections SET rejected_at = now() - make_interval(mins => $2) WHERE account = $1`,
        [account, agesMinutes[i]],
      );
    }
    await h.db.dataSource.query(
      `UPDATE connections SET rejected_at = now() - interval '2 hours' WHERE account = $1`,
      [mkt],
    );
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3600_000).toISOString();
    const range = { product: 'crm', since: hoursAgo(4), until: hoursAgo(0.5) };

    // Bad ranges answer 400 and retry nothing.
    for (const bad of [
      { ...range, since: range.until, until: range.since },
      { ...range, since: 'yesterday' },
      { ...range, until: '2024-02-30T00:00:00Z' },
      { ...range, limit: 0 },
    ]) {
      const res = await admin(h).post('/connections/retry-rejected', bad);
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
    }
    expect(h.rd.tokenCalls()).toHaveLength(0);
    expect(await statuses(h)).toEqual({ reauthorization_required: 6 });

    // In range: 3 h, 2 h and 1 h ago. limit 2 takes the two oldest.
    const first = await admin(h)
      .post('/connections/retry-rejected', { ...range, limit: 2 })
      .expect(200);
    expect(first.body).toEqual({
      tried: 2,
      recovered: expect.arrayContaining([crm[1], crm[2]]),
      stillRejected: [],
      failed: [],
    });
    expect(first.body.recovered).toHaveLength(2);
    const rest = await admin(h).post('/connections/retry-rejected', range).expect(200);
    expect(rest.body).toEqual({ tried: 1, recovered: [crm[3]], stillRejected: [], failed: [] });
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(3);

    const rows: Array<{ account: string; status: string }> = await h.db.dataSource.query(
      `SELECT account, status FROM connections ORDER BY account`,
    );
    expect(Object.fromEntries(rows.map((row) => [row.account, row.status]))).toEqual({
      [crm[0]]: 'reauthorization_required', // 5 h ago: before since
      [crm[1]]: 'active',
      [crm[2]]: 'active',
      [crm[3]]: 'active',
      [crm[4]]: 'reauthorization_required', // 5 min ago: after until
      [mkt]: 'reauthorization_required', // in range, another product
    });
  });

  it('honours retry-after-quotas on a 429 from the token endpoint', async () => {
    await seedConnections(h, 1, 'crm');
    await makeAllDue(h);
    h.rd.failNext(1, { kind: 'rate_limited', retryAfter: 3, quotas: 240 });
    await run(h);
    const [{ wait }] = await h.db.dataSource.query(
      `SELECT extract(epoch FROM next_refresh_at - now())::int AS wait FROM connections`,
    );
    expect(wait).toBeGreaterThanOrEqual(235);
  });

  it('a Marketing code answered ACCESS_DENIED is code_rejected after one call, whatever the secrets', async () => {
    const rotating = await startBroker(h.db.url, {
      RD_API_URL: h.rd.url,
      RD_ACCOUNTS_URL: h.rd.url,
      RD_MARKETING_CLIENT_SECRET: 'mkt-secret,another-secret',
    });
    try {
      const started = await request(rotating.url)
        .post('/oauth/authorize-url')
        .set('authorization', auth.service)
        .send({ account: 'acme', product: 'marketing' })
        .expect(201);
      const state = new URL(started.body.url).searchParams.get('state')!;
      const res = await fetch(
        `${rotating.url}/oauth/callback?state=${state}&code=not-a-code-RD-knows`,
        { redirect: 'manual', headers: { 'accept-language': 'en' } },
      );
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('rejected the authorization code');
      const calls = h.rd.tokenCalls({ product: 'marketing' });
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ status: 401, outcome: 'invalid_grant' });
      expect(await connectionRow(h.db, 'acme', 'marketing')).toBeUndefined();
    } finally {
      await rotating.close();
    }
  });

  it('a code exchange answered in an unknown shape stores nothing and is not called a rejected code', async () => {
    h.rd.failNext(1, { kind: 'gateway', status: 403 }, { grantType: 'authorization_code' });
    const started = await request(h.broker.url)
      .post('/oauth/authorize-url')
      .set('authorization', auth.service)
      .send({ account: 'odd', product: 'crm' })
      .expect(201);
    const consent = await fetch(started.body.url, {
      method: 'POST',
      body: new URLSearchParams({ decision: 'approve' }),
      redirect: 'manual',
    });
    const res = await fetch(consent.headers.get('location')!, {
      redirect: 'manual',
      headers: { 'accept-language': 'en' },
    });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('could not be reached');
    expect(page).not.toContain('rejected the authorization code');
    expect(await connectionRow(h.db, 'odd', 'crm')).toBeUndefined();
  });

  it('deletes a Marketing connection by revoking its refresh token, even with an expired access token', async () => {
    const grant = h.rd.issueGrant('marketing', { accessTtlSeconds: 1 });
    await seedConnection(
      h,
      { account: 'leaving', product: 'marketing' },
      // As stored 1.1 s ago: expired 0.1 s ago.
      { ...grant, expiresAt: new Date(Date.now() - 100) },
    );
    expect(h.rd.isLiveAccessToken(grant.accessToken)).toBe(true);
    rdAheadMs = 1100; // 1.1 s later at RD too: the access token has expired there
    expect(h.rd.isLiveAccessToken(grant.accessToken)).toBe(false);
    const res = await admin(h).delete('/connections/leaving?product=marketing').expect(204);
    expect(res.headers['x-revoked']).toBe('true');
    expect(h.rd.isLiveRefreshToken(grant.refreshToken)).toBe(false);
    const [revoke] = h.rd.calls.filter((call) => call.path === '/auth/revoke');
    expect(revoke).toMatchObject({ status: 200, outcome: 'revoked' });
    expect(await events(h, 'connection.deleted')).toEqual([
      expect.objectContaining({ detail: { revokedAtRd: true, revocation: 'confirmed' } }),
    ]);
  });

  it('a failed revoke is recorded in the connection.deleted event and the answer', async () => {
    const [account] = await seedConnections(h, 1, 'marketing', { prefix: 'revoke-fails' });
    h.rd.failNext(1, { kind: 'gateway', status: 403 } satisfies Failure);
    const res = await admin(h).delete(`/connections/${account}?product=marketing`).expect(204);
    expect(res.headers).toMatchObject({ 'x-revoked': 'false', 'x-revocation': 'failed' });
    const [deleted] = await events(h, 'connection.deleted');
    expect(deleted.detail).toEqual({
      revokedAtRd: false,
      revocation: 'failed',
      revokeError: expect.stringContaining('HTTP 403'),
    });
  });
});

describe('blast-radius guard across two replicas', () => {
  let h: Harness;

  beforeAll(async () => {
    // RD answers after 20 ms, so both replicas have rejections in flight at once.
    h = await createHarness({
      replicas: 2,
      env: { REFRESH_CONCURRENCY: '8' },
      rd: { latencyMs: 20 },
    });
  });
  afterAll(() => h.close());

  it('condemns at most REFRESH_CONDEMN_GUARD_MAX per product when both replicas see an RD incident at once', async () => {
    const max = h.broker.config.refresh.condemnGuard.max;
    expect(max).toBe(5); // the default
    await seedConnections(h, 30, 'crm', { prefix: 'c' });
    await seedConnections(h, 30, 'marketing', { prefix: 'm' });
    h.rd.failAlways({ kind: 'invalid_grant' }, { grantType: 'refresh_token' });
    await makeAllDue(h);
    const service = (replica: number) =>
      h.brokers[replica].app.get(ScheduledRefreshService).runOnce(FAR);
    const [a, b] = await Promise.all([service(0), service(1)]);

    // Both replicas met rejections: the guard's count had to hold across them.
    for (const summary of [a, b])
      expect(summary.failedPermanent + summary.failedTransient).toBeGreaterThan(0);
    expect(a.failedPermanent + b.failedPermanent).toBe(2 * max);
    for (const product of ['crm', 'marketing']) {
      const rows: Array<{ status: string; held: boolean; n: number }> = await h.db.dataSource.query(
        `SELECT status, held_at IS NOT NULL AS held, count(*)::int AS n
             FROM connections WHERE product = $1 GROUP BY 1, 2 ORDER BY 1, 2`,
        [product],
      );
      const count = (status: string, held: boolean) =>
        rows.find((row) => row.status === status && row.held === held)?.n ?? 0;
      // The guard's rule (refresh-policy.ts guardVerdict): condemn while fewer than `max` other
      // grants of the product were rejected in the window, so exactly `max`, never more.
      expect({ product, condemned: count('reauthorization_required', false) }).toEqual({
        product,
        condemned: max,
      });
      // Every other rejection is held; nothing is refresh_failing without being held.
      expect(count('refresh_failing', true)).toBeGreaterThanOrEqual(1);
      expect(count('refresh_failing', false)).toBe(0);
      expect(
        count('reauthorization_required', false) +
          count('refresh_failing', true) +
          count('active', false),
      ).toBe(30);
    }
    const held: Array<{ product: string }> = await h.db.dataSource.query(
      `SELECT product FROM connection_events WHERE type = 'product.refresh_held' ORDER BY product`,
    );
    expect(held.map((event) => event.product)).toEqual(['crm', 'marketing']);
    const condemned = await events(h, 'connection.reauthorization_required');
    expect(condemned).toHaveLength(2 * max);
    h.rd.failAlways(null);
  });
});
