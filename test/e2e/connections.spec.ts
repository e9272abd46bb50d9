import request from 'supertest';
import { auth, connect, connectionRow, createHarness, type Harness } from '../support/harness';

function admin(h: Harness) {
  const agent = request(h.broker.url);
  return {
    get: (path: string) => agent.get(path).set('authorization', auth.admin),
    put: (path: string, body: object) =>
      agent.put(path).set('authorization', auth.admin).send(body),
    post: (path: string) => agent.post(path).set('authorization', auth.admin),
    delete: (path: string) => agent.delete(path).set('authorization', auth.admin),
  };
}

const TOKEN_FIELDS = /accessToken|refreshToken|access_token|refresh_token/;

describe('admin connection routes (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query('TRUNCATE connections, oauth_states, connection_events');
    h.rd.reset();
  });

  it('lists connections with filters and cursor pagination, without token material', async () => {
    for (const account of ['a1', 'a2', 'a3']) await connect(h, account, 'crm');
    await connect(h, 'a2', 'marketing');

    const first = await admin(h).get('/connections?limit=2').expect(200);
    expect(
      first.body.items.map(
        (c: { account: string; product: string }) => `${c.account}/${c.product}`,
      ),
    ).toEqual(['a1/crm', 'a2/crm']);
    const second = await admin(h)
      .get(`/connections?limit=2&cursor=${first.body.nextCursor}`)
      .expect(200);
    expect(
      second.body.items.map(
        (c: { account: string; product: string }) => `${c.account}/${c.product}`,
      ),
    ).toEqual(['a2/marketing', 'a3/crm']);
    expect(second.body.nextCursor).toBeNull();

    const marketing = await admin(h).get('/connections?product=marketing').expect(200);
    expect(marketing.body.items).toHaveLength(1);
    const failing = await admin(h).get('/connections?status=refresh_failing').expect(200);
    expect(failing.body.items).toHaveLength(0);

    expect(JSON.stringify([first.body, second.body])).not.toMatch(TOKEN_FIELDS);
    await admin(h).get('/connections?cursor=garbage').expect(400);
    await admin(h).get('/connections?limit=0').expect(400);
    await admin(h).get('/connections?status=broken').expect(400);
  });

  it("shows one account's connections per product", async () => {
    await connect(h, 'acme', 'crm');
    await connect(h, 'acme', 'marketing');
    const res = await admin(h).get('/connections/acme').expect(200);
    expect(res.body.account).toBe('acme');
    expect(res.body.connections).toHaveLength(2);
    expect(res.body.connections[0]).toMatchObject({
      product: 'crm',
      status: 'active',
      lastError: null,
      expiresAt: expect.any(String),
      lastRefreshedAt: expect.any(String),
    });
    expect(JSON.stringify(res.body)).not.toMatch(TOKEN_FIELDS);
    await admin(h).get('/connections/nobody').expect(404);
  });

  describe('import (PUT)', () => {
    it('proves a grant by one refresh, stores it encrypted, 201 then 200 on replace', async () => {
      const grant = h.rd.issueGrant('crm');
      const res = await admin(h)
        .put('/connections/imported', { product: 'crm', refreshToken: grant.refreshToken })
        .expect(201);
      // The answer says the proof rotated the grant: the old system's copy is dead now.
      expect(res.body).toMatchObject({
        account: 'imported',
        product: 'crm',
        status: 'active',
        refreshed: true,
        rotated: true,
      });
      expect(JSON.stringify(res.body)).not.toMatch(TOKEN_FIELDS);
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
      expect(h.rd.isLiveRefreshToken(grant.refreshToken)).toBe(false); // rolled by the proof

      const token = await request(h.broker.url)
        .get('/tokens/imported?product=crm')
        .set('authorization', auth.service)
        .expect(200);
      expect(h.rd.isLiveAccessToken(token.body.accessToken)).toBe(true);
      const raw = JSON.stringify(await connectionRow(h.db, 'imported', 'crm'));
      expect(raw).not.toContain(token.body.accessToken);

      const again = h.rd.issueGrant('crm');
      await admin(h)
        .put('/connections/imported', { product: 'crm', refreshToken: again.refreshToken })
        .expect(200);
    });

    it('takes a still-valid access token as given, without calling RD', async () => {
      const grant = h.rd.issueGrant('marketing');
      const expiresAt = new Date(Date.now() + 3600_000).toISOString();
      const res = await admin(h)
        .put('/connections/imported', {
          product: 'marketing',
          refreshToken: grant.refreshToken,
          accessToken: grant.accessToken,
          expiresAt,
        })
        .expect(201);
      expect(res.body).toMatchObject({ refreshed: false, rotated: false, expiresAt });
      expect(h.rd.tokenCalls()).toHaveLength(0);
      const token = await request(h.broker.url)
        .get('/tokens/imported?product=marketing')
        .set('authorization', auth.service)
        .expect(200);
      expect(token.body.accessToken).toBe(grant.accessToken);
    });

    it('takes a CRM grant over without rotating it when a valid access token comes with it (the migration procedure)', async () => {
      const grant = h.rd.issueGrant('crm');
      const expiresAt = new Date(Date.now() + 3600_000).toISOString();
      const res = await admin(h)
        .put('/connections/imported', {
          product: 'crm',
          refreshToken: grant.refreshToken,
          accessToken: grant.accessToken,
          expiresAt,
        })
        .expect(201);
      expect(res.body).toMatchObject({ refreshed: false, rotated: false });
      expect(h.rd.tokenCalls()).toHaveLength(0);
      // The old system's copy still works until the broker's first refresh.
      expect(h.rd.isLiveRefreshToken(grant.refreshToken)).toBe(true);
    });

    it('says when a proving refresh did not rotate the refresh token', async () => {
      const grant = h.rd.issueGrant('marketing');
      const res = await admin(h)
        .put('/connections/imported', { product: 'marketing', refreshToken: grant.refreshToken })
        .expect(201);
      // The fake, like RD Marketing by default, keeps the refresh token across refreshes.
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
      expect(h.rd.isLiveRefreshToken(grant.refreshToken)).toBe(true);
      expect(res.body).toMatchObject({ refreshed: true, rotated: false });
    });

    it('refuses a grant RD rejects and stores nothing', async () => {
      const res = await admin(h)
        .put('/connections/imported', { product: 'crm', refreshToken: 'dead-refresh-token' })
        .expect(400);
      expect(res.body.error).toBe('invalid_request');
      expect(res.body.message).not.toContain('dead-refresh-token');
      expect(await connectionRow(h.db, 'imported', 'crm')).toBeUndefined();
    });

    it('answers 503 when RD cannot be reached, storing nothing', async () => {
      h.rd.failNext(1, { kind: 'status', status: 502 });
      await admin(h)
        .put('/connections/imported', {
          product: 'crm',
          refreshToken: h.rd.issueGrant('crm').refreshToken,
        })
        .expect(503);
      expect(await connectionRow(h.db, 'imported', 'crm')).toBeUndefined();
    });

    it.each([
      [{ product: 'crm' }],
      [{ product: 'crm', refreshToken: '' }],
      [{ product: 'crm', refreshToken: 42 }],
      [{ product: 'crm', refreshToken: 'has space' }],
      [{ product: 'crm', refreshToken: 'x', accessToken: 'y' }],
      [{ product: 'crm', refreshToken: 'x', accessToken: 'y', expiresAt: 'tomorrow' }],
      [{ product: 'zoho', refreshToken: 'x' }],
      [{ product: 'crm', refreshToken: 'x', extra: true }],
    ])('refuses body %j with 400 and stores nothing', async (body) => {
      const res = await admin(h).put('/connections/imported', body).expect(400);
      expect(res.body.error).toBe('invalid_request');
      expect(h.rd.tokenCalls()).toHaveLength(0);
      expect(await connectionRow(h.db, 'imported', 'crm')).toBeUndefined();
    });
  });

  it('forces a refresh and answers with the new status', async () => {
    await connect(h, 'acme', 'crm');
    h.rd.reset();
    const res = await admin(h).post('/connections/acme/refresh?product=crm').expect(200);
    expect(res.body).toMatchObject({ account: 'acme', product: 'crm', status: 'active' });
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);

    h.rd.failNext(1, { kind: 'invalid_grant' });
    const failed = await admin(h).post('/connections/acme/refresh?product=crm').expect(200);
    expect(failed.body.status).toBe('reauthorization_required');
    const again = await admin(h).post('/connections/acme/refresh?product=crm').expect(409);
    expect(again.body.error).toBe('reauthorization_required');
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(2);
    await admin(h).post('/connections/nobody/refresh?product=crm').expect(404);
  });

  it('deletes: revokes at RD for Marketing, deletes only for CRM', async () => {
    await connect(h, 'acme', 'crm');
    await connect(h, 'acme', 'marketing');
    const marketingToken = await request(h.broker.url)
      .get('/tokens/acme?product=marketing')
      .set('authorization', auth.service);
    h.rd.reset();

    const revoked = await admin(h).delete('/connections/acme?product=marketing').expect(204);
    expect(revoked.headers['x-revoked']).toBe('true');
    expect(revoked.headers['x-revocation']).toBe('confirmed');
    expect(h.rd.calls.filter((c) => c.path.startsWith('/auth/revoke'))).toHaveLength(1);
    expect(h.rd.isLiveAccessToken(marketingToken.body.accessToken)).toBe(false);
    const crm = await admin(h).delete('/connections/acme?product=crm').expect(204);
    expect(crm.headers['x-revoked']).toBe('false');
    expect(crm.headers['x-revocation']).toBe('unsupported');
    expect(h.rd.calls.filter((c) => c.path.startsWith('/auth/revoke'))).toHaveLength(1);

    await request(h.broker.url)
      .get('/tokens/acme?product=crm')
      .set('authorization', auth.service)
      .expect(404);
    await admin(h).delete('/connections/acme?product=crm').expect(404);
  });

  it('deletes even when the revocation at RD fails', async () => {
    await connect(h, 'acme', 'marketing');
    h.rd.failAlways({ kind: 'status', status: 500 });
    try {
      const res = await admin(h).delete('/connections/acme?product=marketing').expect(204);
      expect(res.headers['x-revoked']).toBe('false');
      expect(res.headers['x-revocation']).toBe('failed');
    } finally {
      h.rd.failAlways(null);
    }
    expect(await connectionRow(h.db, 'acme', 'marketing')).toBeUndefined();
  });
});
