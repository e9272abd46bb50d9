import request from 'supertest';
import { ADMIN_KEY, SERVICE_KEY } from '../support/broker';
import { auth, createHarness, type Harness } from '../support/harness';
import { seedConnections } from '../support/seed';

const READER_KEY = 'reader-secret-0123456789abcdef0123456789ab';

describe('GET /keys (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({
      env: {
        API_KEYS: `svc:${SERVICE_KEY},reader:${READER_KEY}`,
        API_KEY_SCOPES: 'reader=crm:acme-*@read,proxy',
        // Nothing flushed by the timer during the test: GET /keys must count this replica's reads itself.
        READ_FLUSH_SECONDS: '300',
      },
    });
    await seedConnections(h, 1, 'crm', { prefix: 'acme' });
  });
  afterAll(() => h.close());

  const keys = () => request(h.broker.url).get('/keys').set('authorization', auth.admin);

  it("lists every configured key with its scope, and shows a read's key as used", async () => {
    // An old read of `reader`, two days ago: its last use, but not in the last 24 hours.
    await h.db.dataSource.query(
      `INSERT INTO connection_reads (account, product, caller, hour, count, first_at, last_at)
       VALUES ('acme-0', 'crm', 'reader', date_trunc('hour', now() - interval '2 days'), 7,
               now() - interval '2 days', now() - interval '2 days')`,
    );
    const before = await keys().expect(200);
    expect(before.body).toEqual([
      { name: 'svc', admin: false, scope: null, lastUsedAt: null, reads24h: 0 },
      {
        name: 'reader',
        admin: false,
        scope: 'crm:acme-*@read,proxy',
        lastUsedAt: expect.any(String),
        reads24h: 0,
      },
      { name: 'ops', admin: true, scope: null, lastUsedAt: null, reads24h: 0 },
    ]);
    const old = Date.parse(before.body[1].lastUsedAt);
    expect(Date.now() - old).toBeGreaterThan(47 * 3600_000);

    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      await request(h.broker.url)
        .get('/tokens/acme-0?product=crm')
        .set('authorization', auth.service)
        .expect(200);
    }
    await request(h.broker.url)
      .get('/tokens/acme-0?product=crm')
      .set('authorization', `Bearer ${READER_KEY}`)
      .expect(200);

    const after = await keys().expect(200);
    const [svc, reader, ops] = after.body;
    expect(svc).toMatchObject({ name: 'svc', reads24h: 3 });
    expect(Date.parse(svc.lastUsedAt)).toBeGreaterThanOrEqual(started - 1000);
    expect(reader).toMatchObject({ name: 'reader', reads24h: 1 });
    expect(Date.parse(reader.lastUsedAt)).toBeGreaterThan(old);
    expect(ops).toMatchObject({ name: 'ops', lastUsedAt: null, reads24h: 0 });

    // Never a secret.
    const text = JSON.stringify(after.body);
    for (const secret of [SERVICE_KEY, READER_KEY, ADMIN_KEY]) expect(text).not.toContain(secret);
  });

  it('is for admin keys only', async () => {
    await request(h.broker.url).get('/keys').set('authorization', auth.service).expect(403);
    await request(h.broker.url).get('/keys').expect(401);
  });
});
