import request from 'supertest';
import { ADMIN_KEY, SERVICE_KEY } from '../support/broker';
import { rawRequest } from '../support/raw-http';
import { seedConnections } from '../support/seed';
import { connect, createHarness, type Harness } from '../support/harness';

const BILLING_KEY = 'billing-secret-0123456789abcdef0123456789';
const SYNC_KEY = 'sync-secret-0123456789abcdef0123456789abcd';
const READER_KEY = 'reader-secret-0123456789abcdef0123456789ab';
const LINKER_KEY = 'linker-secret-0123456789abcdef0123456789ab';

/** Each key, what its rule lets it reach, and a sample it must be refused. */
const KEYS = {
  billing: `Bearer ${BILLING_KEY}`, // crm:*
  sync: `Bearer ${SYNC_KEY}`, // marketing:acme-*, crm:acme-1-0
  svc: `Bearer ${SERVICE_KEY}`, // not listed: everything
  ops: `Bearer ${ADMIN_KEY}`, // admin: not scoped
};

const CASES: Array<[keyof typeof KEYS, string, 'crm' | 'marketing', boolean]> = [
  ['billing', 'acme-1', 'crm', true],
  ['billing', 'other', 'crm', true],
  ['billing', 'acme-1', 'marketing', false],
  ['sync', 'acme-1', 'marketing', true],
  ['sync', 'acme-2', 'marketing', true],
  ['sync', 'other', 'marketing', false],
  ['sync', 'acme-1', 'crm', true],
  ['sync', 'acme-2', 'crm', false],
  ['svc', 'other', 'marketing', true],
  ['svc', 'acme-2', 'crm', true],
  ['ops', 'other', 'marketing', true],
];

describe('API_KEY_SCOPES (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({
      env: {
        API_KEYS: `svc:${SERVICE_KEY},billing:${BILLING_KEY},sync:${SYNC_KEY},reader:${READER_KEY},linker:${LINKER_KEY}`,
        API_KEY_SCOPES:
          'billing=crm:*; sync=marketing:acme-*,crm:acme-1-0; reader=crm:*@read,proxy; linker=crm:acme-*@connect',
      },
    });
    for (const account of ['acme-1', 'acme-2', 'other']) {
      await seedConnections(h, 1, 'crm', { prefix: account });
      await seedConnections(h, 1, 'marketing', { prefix: account });
    }
  });
  afterAll(() => h.close());

  // seedConnections names accounts `<prefix>-0`.
  const seeded = (account: string) => `${account}-0`;

  it.each(CASES)('GET /tokens: %s on %s (%s) allowed=%s', async (key, account, product, ok) => {
    const res = await request(h.broker.url)
      .get(`/tokens/${seeded(account)}?product=${product}`)
      .set('authorization', KEYS[key]);
    if (ok) {
      expect(res.status).toBe(200);
      expect(res.body.account).toBe(seeded(account));
    } else {
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        statusCode: 403,
        error: 'forbidden',
        message: expect.stringContaining(`${product}:${seeded(account)}`),
      });
      expect(JSON.stringify(res.body)).not.toMatch(/accessToken/);
    }
  });

  it.each(CASES)(
    'POST /oauth/authorize-url: %s on %s (%s) allowed=%s',
    async (key, account, product, ok) => {
      const before = await h.db.dataSource.query(`SELECT count(*)::int AS n FROM oauth_states`);
      const res = await request(h.broker.url)
        .post('/oauth/authorize-url')
        .set('authorization', KEYS[key])
        .send({ account: seeded(account), product });
      const after = await h.db.dataSource.query(`SELECT count(*)::int AS n FROM oauth_states`);
      if (ok) {
        expect(res.status).toBe(201);
        expect(after[0].n).toBe(before[0].n + 1);
      } else {
        expect(res.status).toBe(403);
        expect(res.body.error).toBe('forbidden');
        // Refused before anything is stored.
        expect(after[0].n).toBe(before[0].n);
      }
    },
  );

  it.each(CASES)('/proxy: %s on %s (%s) allowed=%s', async (key, account, product, ok) => {
    h.rd.reset();
    const res = await rawRequest(h.broker.url, {
      method: 'GET',
      path: product === 'crm' ? '/proxy/crm/v2/contacts' : '/proxy/platform/contacts/email:a@b.c',
      headers: { authorization: KEYS[key], 'x-account': seeded(account), 'x-product': product },
    });
    if (ok) {
      // RD's own answer comes back; the broker refused nothing.
      expect(res.headers['x-broker-error']).toBeUndefined();
      expect(h.rd.apiCalls()).toHaveLength(1);
    } else {
      expect(res.status).toBe(403);
      expect(res.headers['x-broker-error']).toBe('forbidden');
      expect(res.json).toMatchObject({ statusCode: 403, error: 'forbidden' });
      expect(h.rd.apiCalls()).toHaveLength(0);
    }
  });

  it('answers 403 for an account out of scope even when it is not connected (no existence leak)', async () => {
    const res = await request(h.broker.url)
      .get('/tokens/nobody?product=marketing')
      .set('authorization', KEYS.billing)
      .expect(403);
    expect(res.body.error).toBe('forbidden');
    await request(h.broker.url)
      .get('/tokens/nobody?product=crm')
      .set('authorization', KEYS.billing)
      .expect(404);
  });

  it('does not restrict admin routes for admin keys, and scoped keys stay out of them', async () => {
    await request(h.broker.url).get('/connections').set('authorization', KEYS.ops).expect(200);
    await request(h.broker.url).get('/connections').set('authorization', KEYS.billing).expect(403);
  });

  describe('actions after @', () => {
    const reader = `Bearer ${READER_KEY}`;
    const linker = `Bearer ${LINKER_KEY}`;
    const states = async () =>
      (await h.db.dataSource.query(`SELECT count(*)::int AS n FROM oauth_states`))[0].n as number;

    const tokens = (key: string) =>
      request(h.broker.url)
        .get(`/tokens/${seeded('acme-1')}?product=crm`)
        .set('authorization', key);
    const authorizeUrl = (key: string) =>
      request(h.broker.url)
        .post('/oauth/authorize-url')
        .set('authorization', key)
        .send({ account: seeded('acme-1'), product: 'crm' });
    const proxy = (key: string) =>
      rawRequest(h.broker.url, {
        method: 'GET',
        path: '/proxy/crm/v2/contacts',
        headers: { authorization: key, 'x-account': seeded('acme-1'), 'x-product': 'crm' },
      });

    it('a read,proxy key reads and proxies, but may not start a consent', async () => {
      h.rd.reset();
      await tokens(reader).expect(200);
      const proxied = await proxy(reader);
      expect(proxied.headers['x-broker-error']).toBeUndefined();
      expect(h.rd.apiCalls()).toHaveLength(1);
      const before = await states();
      const res = await authorizeUrl(reader);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({
        statusCode: 403,
        error: 'forbidden',
        message:
          'the API key "reader" may not start a connection (action connect) (API_KEY_SCOPES)',
      });
      expect(await states()).toBe(before);
    });

    it('a connect key starts consents, but may neither read nor proxy', async () => {
      h.rd.reset();
      const before = await states();
      await authorizeUrl(linker).expect(201);
      expect(await states()).toBe(before + 1);
      const read = await tokens(linker);
      expect(read.status).toBe(403);
      expect(read.body.message).toContain('action read');
      expect(JSON.stringify(read.body)).not.toMatch(/accessToken/);
      const proxied = await proxy(linker);
      expect(proxied.status).toBe(403);
      expect(proxied.headers['x-broker-error']).toBe('forbidden');
      expect(h.rd.apiCalls()).toHaveLength(0);
    });

    it('records a consent that replaces a connection with who asked and both RD accounts', async () => {
      expect((await connect(h, 'swap', 'marketing')).status).toBe(200);
      expect((await connect(h, 'swap', 'marketing')).status).toBe(200);
      const events: Array<{ detail: Record<string, unknown> }> = await h.db.dataSource.query(
        `SELECT detail FROM connection_events
          WHERE account = 'swap' AND type = 'connection.created' ORDER BY id`,
      );
      expect(events).toHaveLength(2);
      const [first, second] = events.map((event) => event.detail);
      expect(first).toMatchObject({ replaced: false, requestedBy: 'svc' });
      expect(first.rdAccount).toMatch(/^Fake Marketing Account \d+$/);
      expect(second).toMatchObject({
        replaced: true,
        requestedBy: 'svc',
        previousStatus: 'active',
        previousRdAccount: first.rdAccount,
      });
      expect(second.rdAccount).toMatch(/^Fake Marketing Account \d+$/);
      expect(second.rdAccount).not.toBe(first.rdAccount);
    });
  });
});
