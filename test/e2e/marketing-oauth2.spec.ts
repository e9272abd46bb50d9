/**
 * RD_MARKETING_OAUTH=oauth2: Marketing through RD's newer OAuth server (consent at
 * RD_ACCOUNTS_URL/oauth/authorize, a form-encoded /oauth2/token), as RD's own n8n Marketing node
 * does, against the fake RD serving both flows.
 */
import request from 'supertest';
import { auth, connect, connectionRow, createHarness, type Harness } from '../support/harness';

describe('Marketing on OAuth 2 (RD_MARKETING_OAUTH=oauth2)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ env: { RD_MARKETING_OAUTH: 'oauth2' } });
  });
  afterAll(() => h.close());

  it('connects, serves, refreshes and condemns a rejected grant through /oauth2/token', async () => {
    const started = await request(h.broker.url)
      .post('/oauth/authorize-url')
      .set('authorization', auth.service)
      .send({ account: 'acme', product: 'marketing' })
      .expect(201);
    const consent = new URL(started.body.url);
    expect(consent.pathname).toBe('/oauth/authorize');
    expect(consent.searchParams.get('response_type')).toBe('code');
    expect(consent.searchParams.get('client_id')).toBe('mkt-client');

    expect((await connect(h, 'acme', 'marketing')).status).toBe(200);
    const row = await connectionRow(h.db, 'acme', 'marketing');
    expect(row).toMatchObject({ status: 'active', label: expect.stringContaining('Marketing') });
    const exchange = h.rd.tokenCalls({ product: 'marketing' });
    expect(exchange.map((call) => [call.path, call.grantType])).toEqual([
      ['/oauth2/token', 'authorization_code'],
    ]);

    const token = await request(h.broker.url)
      .get('/tokens/acme?product=marketing')
      .set('authorization', auth.service)
      .expect(200);
    expect(h.rd.isLiveAccessToken(token.body.accessToken)).toBe(true);

    const refreshed = await request(h.broker.url)
      .post('/connections/acme/refresh?product=marketing')
      .set('authorization', auth.admin)
      .expect(200);
    expect(refreshed.body.status).toBe('active');
    expect(h.rd.tokenCalls({ product: 'marketing' }).at(-1)).toMatchObject({
      path: '/oauth2/token',
      grantType: 'refresh_token',
      status: 200,
    });

    // RD's OAuth 2 server names a dead grant invalid_grant: condemned, as documented.
    h.rd.failNext(1, { kind: 'invalid_grant' }, { product: 'marketing' });
    const rejected = await request(h.broker.url)
      .post('/connections/acme/refresh?product=marketing')
      .set('authorization', auth.admin)
      .expect(200);
    expect(rejected.body).toMatchObject({
      status: 'reauthorization_required',
      lastError: expect.stringContaining('invalid_grant'),
    });
  });
});
