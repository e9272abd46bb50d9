import request from 'supertest';
import { ReadCounter } from '../../src/history/read-counter';
import { RefreshScheduler } from '../../src/scheduler/refresh-scheduler';
import { ADMIN_KEY, SERVICE_KEY, startBroker } from '../support/broker';
import { connect, createHarness, type Harness } from '../support/harness';

const BILLING_KEY = 'billing-secret-0123456789abcdef0123456789';
/** A key used only through /proxy, so its per-caller metric holds only that test's calls. */
const SYNC_KEY = 'crm-sync-secret-0123456789abcdef0123456789';
const KEYS = { svc: `Bearer ${SERVICE_KEY}`, billing: `Bearer ${BILLING_KEY}` };
const ADMIN = `Bearer ${ADMIN_KEY}`;

interface Item {
  at: string;
  type: string;
  detail: Record<string, unknown>;
}

function history(h: Harness, path: string) {
  return request(h.broker.url).get(path).set('authorization', ADMIN);
}

/** Every item, following nextCursor through pages of `limit`. */
async function allPages(h: Harness, account: string, limit: number): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page++) {
    const res: request.Response = await history(
      h,
      `/connections/${account}/history?product=crm&limit=${limit}` +
        (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''),
    ).expect(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error('history did not end');
}

/** Ages the stored token so the next read must refresh it (and the 10 s storm guard allows it). */
async function expire(h: Harness, account: string) {
  await h.db.dataSource.query(
    `UPDATE connections SET expires_at = now() + interval '5 seconds',
            last_refreshed_at = now() - interval '1 hour' WHERE account = $1 AND product = 'crm'`,
    [account],
  );
}

function read(h: Harness, account: string, key: keyof typeof KEYS) {
  return request(h.broker.url)
    .get(`/tokens/${account}?product=crm`)
    .set('authorization', KEYS[key])
    .expect(200);
}

describe('GET /connections/:account/history (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({
      env: {
        API_KEYS: `svc:${SERVICE_KEY},billing:${BILLING_KEY},crm-sync:${SYNC_KEY}`,
        READ_FLUSH_SECONDS: '300',
      },
    });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query(
      'TRUNCATE connections, oauth_states, connection_events, connection_reads',
    );
    h.rd.reset();
  });

  it('shows the connect, two refreshes with their trigger, a failure with its error, and the reads of two callers with counts', async () => {
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
    await request(h.broker.url)
      .post('/connections/acme/refresh?product=crm')
      .set('authorization', ADMIN)
      .expect(200);
    await expire(h, 'acme');
    await read(h, 'acme', 'svc'); // refreshes on read
    await read(h, 'acme', 'svc');
    await read(h, 'acme', 'svc');
    await read(h, 'acme', 'billing');
    await read(h, 'acme', 'billing');
    h.rd.failNext(1, { kind: 'status', status: 503 });
    await request(h.broker.url)
      .post('/connections/acme/refresh?product=crm')
      .set('authorization', ADMIN)
      .expect(200);
    await h.broker.app.get(ReadCounter).flush();

    const res = await history(h, '/connections/acme/history?product=crm').expect(200);
    expect(res.body.nextCursor).toBeNull();
    const items: Item[] = res.body.items;
    const events = items.filter((item) => item.type !== 'connection.read');
    expect(events).toEqual([
      {
        at: expect.any(String),
        type: 'connection.refresh_failed',
        detail: {
          error: expect.stringContaining('503'),
          retryAt: expect.any(String),
          failures: 1,
        },
      },
      { at: expect.any(String), type: 'connection.refreshed', detail: { trigger: 'on_read' } },
      { at: expect.any(String), type: 'connection.refreshed', detail: { trigger: 'forced' } },
      {
        at: expect.any(String),
        type: 'connection.created',
        detail: { via: 'consent', replaced: false, requestedBy: 'svc' },
      },
    ]);
    const times = items.map((item) => Date.parse(item.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times); // newest first

    const reads = items.filter((item) => item.type === 'connection.read');
    const hour = new Date(Date.now() - (Date.now() % 3_600_000)).toISOString();
    expect(
      reads.map((item) => item.detail).sort((a, b) => Number(a.count) - Number(b.count)),
    ).toEqual([
      { caller: 'billing', count: 2, firstAt: expect.any(String), lastAt: expect.any(String) },
      { caller: 'svc', count: 3, firstAt: expect.any(String), lastAt: expect.any(String) },
    ]);
    expect(reads.every((item) => item.at === hour)).toBe(true);

    // The per-caller metric saw the same counts.
    const metrics = await request(h.broker.url).get('/metrics').expect(200);
    expect(metrics.text).toContain(
      'broker_token_reads_by_caller_total{caller="svc",product="crm"} 3',
    );
    expect(metrics.text).toContain(
      'broker_token_reads_by_caller_total{caller="billing",product="crm"} 2',
    );

    // Later flushes add to the same hourly row.
    await read(h, 'acme', 'billing');
    await h.broker.app.get(ReadCounter).flush();
    const [row] = await h.db.dataSource.query(
      `SELECT count::int AS count FROM connection_reads WHERE caller = 'billing'`,
    );
    expect(row.count).toBe(3);
  });

  it("counts each proxied call as one read by the calling key, the retry after RD's 401 included in it, not added", async () => {
    expect((await connect(h, 'proxied', 'crm')).status).toBe(200);
    h.rd.reset();
    const proxied = (method: 'get' | 'post') => {
      const sent = request(h.broker.url)[method]('/proxy/crm/v2/contacts');
      const call = sent
        .set('authorization', `Bearer ${SYNC_KEY}`)
        .set('x-account', 'proxied')
        .set('x-product', 'crm');
      return method === 'get' ? call : call.set('content-type', 'application/json').send('{}');
    };
    for (const method of ['get', 'post', 'get'] as const) {
      expect([200, 201]).toContain((await proxied(method)).status);
    }
    // RD stops accepting the token it saw: the next call is refused, refreshed and sent again.
    const seen = String(h.rd.apiCalls()[0].headers.authorization).replace(/^Bearer /, '');
    expect(h.rd.invalidateAccessToken(seen)).toBe(true);
    expect((await proxied('post')).status).toBe(201);
    expect(h.rd.apiCalls().map((call) => call.status)).toEqual([200, 201, 200, 401, 201]);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
    // Beside them, two reads through GET /tokens by another key.
    await read(h, 'proxied', 'svc');
    await read(h, 'proxied', 'svc');

    // Proxied calls, like reads, reach the database only at a flush.
    expect(await h.db.dataSource.query(`SELECT * FROM connection_reads`)).toEqual([]);
    await h.broker.app.get(ReadCounter).flush();
    // Summed over hours: a test run across an hour's end writes two rows per caller.
    expect(
      await h.db.dataSource.query(
        `SELECT caller, sum(count)::int AS count FROM connection_reads
          WHERE account = 'proxied' AND product = 'crm' GROUP BY caller ORDER BY caller`,
      ),
    ).toEqual([
      { caller: 'crm-sync', count: 4 },
      { caller: 'svc', count: 2 },
    ]);

    const res = await history(h, '/connections/proxied/history?product=crm').expect(200);
    const reads: Record<string, number> = {};
    for (const item of res.body.items as Item[]) {
      if (item.type !== 'connection.read') continue;
      const caller = String(item.detail.caller);
      reads[caller] = (reads[caller] ?? 0) + Number(item.detail.count);
    }
    expect(reads).toEqual({ 'crm-sync': 4, svc: 2 });
    const metrics = await request(h.broker.url).get('/metrics').expect(200);
    expect(metrics.text).toContain(
      'broker_token_reads_by_caller_total{caller="crm-sync",product="crm"} 4',
    );
  });

  it('writes nothing per read: reads reach the database only at a flush', async () => {
    expect((await connect(h, 'quiet', 'crm')).status).toBe(200);
    for (let i = 0; i < 5; i++) await read(h, 'quiet', 'svc');
    expect(await h.db.dataSource.query(`SELECT * FROM connection_reads`)).toEqual([]);
    await h.broker.app.get(ReadCounter).flush();
    expect(await h.db.dataSource.query(`SELECT caller, count::int FROM connection_reads`)).toEqual([
      { caller: 'svc', count: 5 },
    ]);
  });

  it('pages newest first with a cursor, without skipping or repeating, and keeps the history of a deleted connection', async () => {
    expect((await connect(h, 'paged', 'crm')).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      await request(h.broker.url)
        .post('/connections/paged/refresh?product=crm')
        .set('authorization', ADMIN)
        .expect(200);
    }
    await read(h, 'paged', 'svc');
    await read(h, 'paged', 'billing');
    await h.broker.app.get(ReadCounter).flush();
    await request(h.broker.url)
      .delete('/connections/paged?product=crm')
      .set('authorization', ADMIN)
      .expect(204);

    const whole = await allPages(h, 'paged', 500);
    expect(whole).toHaveLength(1 + 4 + 2 + 1);
    expect(whole[0]).toMatchObject({
      type: 'connection.deleted',
      detail: { revokedAtRd: expect.any(Boolean) },
    });
    for (const limit of [1, 2, 3]) expect(await allPages(h, 'paged', limit)).toEqual(whole);
  });

  it.each([
    ['garbage!', 'not base64url'],
    ['%00', 'a NUL'],
    [encodeURIComponent('abc\u0000def'), 'a NUL inside'],
    [Buffer.from('[1,2]').toString('base64url'), 'the wrong shape'],
    [Buffer.from('["1","x\u0000"]').toString('base64url'), 'a NUL in the tie'],
    [Buffer.from('["1","e1"]').toString('base64url'), 'a short tie'],
    ['a'.repeat(201), 'too long'],
  ])('refuses a cursor that is %s (%s) with 400', async (cursor) => {
    const res = await history(h, `/connections/acme/history?product=crm&cursor=${cursor}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('refuses a bad limit, product or account, and non-admin keys', async () => {
    for (const path of [
      '/connections/acme/history?product=crm&limit=0',
      '/connections/acme/history?product=crm&limit=501',
      '/connections/acme/history?product=hubspot',
      '/connections/ac%20me/history?product=crm',
      '/connections/acme/history?product=crm&extra=1',
    ]) {
      expect((await history(h, path)).status).toBe(400);
    }
    await request(h.broker.url)
      .get('/connections/acme/history?product=crm')
      .set('authorization', KEYS.svc)
      .expect(403);
  });

  it('prunes history older than HISTORY_RETENTION_DAYS in batches, keeping undelivered webhook events', async () => {
    await h.db.dataSource.query(
      `INSERT INTO connection_events (type, account, product, detail, created_at, next_attempt_at, delivered_at)
       SELECT 'connection.refreshed', 'old', 'crm', '{}', now() - interval '31 days', NULL, NULL
         FROM generate_series(1, 1200)`,
    );
    await h.db.dataSource.query(
      `INSERT INTO connection_events (type, account, product, created_at, next_attempt_at, delivered_at) VALUES
         ('connection.created', 'old', 'crm', now() - interval '31 days', now(), now()),
         ('connection.deleted', 'old', 'crm', now() - interval '31 days', now(), NULL),
         ('connection.refreshed', 'old', 'crm', now() - interval '29 days', NULL, NULL)`,
    );
    await h.db.dataSource.query(
      `INSERT INTO connection_reads (account, product, caller, hour, count, first_at, last_at)
       SELECT 'old', 'crm', 'svc', date_trunc('hour', now()) - make_interval(hours => 24 * 31 + i), 1, now(), now()
         FROM generate_series(0, 599) AS i
       UNION ALL
       SELECT 'old', 'crm', 'svc', date_trunc('hour', now()) - interval '2 days', 7, now(), now()`,
    );

    await h.broker.app.get(RefreshScheduler).pruneHistory();

    expect(
      await h.db.dataSource.query(
        `SELECT type, delivered_at IS NULL AS pending, next_attempt_at IS NULL AS history_only
           FROM connection_events ORDER BY created_at, id`,
      ),
    ).toEqual([
      { type: 'connection.deleted', pending: true, history_only: false }, // still owed to the webhook
      { type: 'connection.refreshed', pending: true, history_only: true }, // 29 days: kept
    ]);
    expect(await h.db.dataSource.query(`SELECT count::int AS count FROM connection_reads`)).toEqual(
      [{ count: 7 }],
    );
  });

  it('flushes the counted reads when the broker shuts down', async () => {
    expect((await connect(h, 'closing', 'crm')).status).toBe(200);
    const other = await startBroker(h.db.url, {
      API_KEYS: `svc:${SERVICE_KEY}`,
      RD_API_URL: h.broker.config.rd.apiUrl,
      RD_ACCOUNTS_URL: h.broker.config.rd.accountsUrl,
      READ_FLUSH_SECONDS: '300',
    });
    await request(other.url)
      .get('/tokens/closing?product=crm')
      .set('authorization', KEYS.svc)
      .expect(200);
    await request(other.url)
      .get('/tokens/closing?product=crm')
      .set('authorization', KEYS.svc)
      .expect(200);
    expect(await h.db.dataSource.query(`SELECT * FROM connection_reads`)).toEqual([]);
    await other.close();
    expect(
      await h.db.dataSource.query(`SELECT account, caller, count::int FROM connection_reads`),
    ).toEqual([{ account: 'closing', caller: 'svc', count: 2 }]);
  });
});
