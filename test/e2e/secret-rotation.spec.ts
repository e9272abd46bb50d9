import request from 'supertest';
import { auth, connect, createHarness, type Harness } from '../support/harness';

describe('client secret rotation (e2e)', () => {
  let h: Harness;
  beforeAll(async () => {
    // The broker already holds the new secret first; RD still only knows the old one.
    h = await createHarness({
      env: { RD_CRM_CLIENT_SECRET: 'new-secret-not-yet-at-rd,crm-secret' },
    });
  });
  afterAll(() => h.close());

  it('tries the secrets in order when RD rejects the client credentials', async () => {
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
    const exchanges = h.rd.tokenCalls({ grantType: 'authorization_code' });
    expect(exchanges.map((c) => c.clientSecret)).toEqual([
      'new-secret-not-yet-at-rd',
      'crm-secret',
    ]);

    await h.db.dataSource.query(`UPDATE connections SET expires_at = now()`);
    h.rd.reset();
    await request(h.broker.url)
      .get('/tokens/acme?product=crm')
      .set('authorization', auth.service)
      .expect(200);
    expect(h.rd.tokenCalls({ grantType: 'refresh_token' }).map((c) => c.clientSecret)).toEqual([
      'new-secret-not-yet-at-rd',
      'crm-secret',
    ]);
  });
});
