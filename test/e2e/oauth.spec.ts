import request from 'supertest';
import { auth, connect, connectionRow, createHarness, type Harness } from '../support/harness';

const PRODUCTS = ['crm', 'marketing'] as const;
const RETURN_TO = 'https://app.example.com/rd/done';

async function startConsent(h: Harness, body: Record<string, unknown>) {
  const res = await request(h.broker.url)
    .post('/oauth/authorize-url')
    .set('authorization', auth.service)
    .send(body)
    .expect(201);
  return res.body as { url: string; expiresAt: string };
}

/** Decides at the fake RD's consent page; returns the callback URL RD sent the browser to. */
async function consent(url: string, decision: 'approve' | 'deny' = 'approve'): Promise<string> {
  const res = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams({ decision }),
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  return res.headers.get('location')!;
}

/** The browser of an English-speaking user; pages without Accept-Language are in Portuguese. */
function callback(url: string, language = 'en-US,en;q=0.9') {
  return fetch(url, { redirect: 'manual', headers: { 'accept-language': language } });
}

async function rowCount(h: Harness, table: string): Promise<number> {
  const [{ n }] = await h.db.dataSource.query(`SELECT count(*)::int AS n FROM ${table}`);
  return n;
}

function withParam(url: string, name: string, value: string | null): string {
  const parsed = new URL(url);
  if (value === null) parsed.searchParams.delete(name);
  else parsed.searchParams.set(name, value);
  return parsed.toString();
}

describe('OAuth connect flow (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ env: { OAUTH_RETURN_URL_ALLOWLIST: 'https://app.example.com/rd' } });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query('TRUNCATE connections, oauth_states, connection_events');
    h.rd.reset();
  });

  describe.each(PRODUCTS)('%s', (product) => {
    it('answers in Portuguese to Accept-Language: pt-BR, and in English to en', async () => {
      const pt = await callback(
        await consent((await startConsent(h, { account: 'acme-pt', product })).url),
        'pt-BR,pt;q=0.9,en;q=0.8',
      );
      expect(pt.status).toBe(200);
      expect(pt.headers.get('content-language')).toBe('pt-BR');
      const page = await pt.text();
      expect(page).toContain('<html lang="pt-BR">');
      expect(page).toContain('está conectado à conta acme-pt');

      const failed = await callback(
        withParam(
          await consent((await startConsent(h, { account: 'acme-pt', product })).url),
          'code',
          null,
        ),
        'pt-BR',
      );
      expect(failed.status).toBe(400);
      expect(await failed.text()).toContain('sem um código de autorização');

      const en = await callback(
        await consent((await startConsent(h, { account: 'acme-en', product })).url),
        'en-GB',
      );
      expect(en.headers.get('content-language')).toBe('en');
      expect(await en.text()).toContain('is now connected for account acme-en');
    });

    it('connects: consent URL → RD consent → callback → stored encrypted and active', async () => {
      const { url, expiresAt } = await startConsent(h, { account: 'acme', product });
      const consentUrl = new URL(url);
      expect(consentUrl.pathname).toBe(product === 'crm' ? '/oauth/authorize' : '/auth/dialog');
      expect(consentUrl.searchParams.get('redirect_uri')).toBe(`${h.broker.url}/oauth/callback`);
      expect(consentUrl.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
      expect(new Date(expiresAt).getTime() - Date.now()).toBeGreaterThan(9 * 60 * 1000);

      const res = await callback(await consent(url));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toContain('now connected for account acme');

      const row = await connectionRow(h.db, 'acme', product);
      expect(row).toMatchObject({ status: 'active', account: 'acme', product });
      expect(h.rd.tokenCalls({ product, grantType: 'authorization_code' })).toHaveLength(1);

      // Neither token is stored in clear.
      const token = await request(h.broker.url)
        .get(`/tokens/acme?product=${product}`)
        .set('authorization', auth.service)
        .expect(200);
      const grant = h.rd.grantOf(token.body.accessToken)!;
      expect(grant.refreshToken).toBeTruthy();
      const raw = JSON.stringify(await h.db.dataSource.query('SELECT * FROM connections'));
      expect(raw).not.toContain(token.body.accessToken);
      expect(raw).not.toContain(grant.refreshToken);
      if (product === 'marketing') expect(row!.label).toMatch(/^Fake Marketing Account/);
      else expect(row!.label).toBeNull();
    });

    it('redirects to returnTo with the outcome', async () => {
      const { url } = await startConsent(h, { account: 'acme', product, returnTo: RETURN_TO });
      const res = await callback(await consent(url));
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location')!);
      expect(location.origin + location.pathname).toBe(RETURN_TO);
      expect(Object.fromEntries(location.searchParams)).toEqual({
        account: 'acme',
        product,
        status: 'connected',
      });
    });

    it('stores nothing when the user denies at RD', async () => {
      const { url } = await startConsent(h, { account: 'acme', product, returnTo: RETURN_TO });
      const res = await callback(await consent(url, 'deny'));
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location')!);
      expect(location.searchParams.get('status')).toBe('error');
      expect(location.searchParams.get('reason')).toBe('access_denied');
      expect(await rowCount(h, 'connections')).toBe(0);
      expect(h.rd.tokenCalls()).toHaveLength(0);
    });

    it('stores nothing when the code is missing', async () => {
      const { url } = await startConsent(h, { account: 'acme', product });
      const res = await callback(withParam(await consent(url), 'code', null));
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('without an authorization code');
      expect(await rowCount(h, 'connections')).toBe(0);
    });

    it('stores nothing when RD rejects the code', async () => {
      const { url } = await startConsent(h, { account: 'acme', product });
      const res = await callback(withParam(await consent(url), 'code', 'forged-code'));
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('rejected the authorization code');
      expect(await rowCount(h, 'connections')).toBe(0);
    });

    it('stores nothing when RD is unreachable, and the state cannot be replayed', async () => {
      const { url } = await startConsent(h, { account: 'acme', product });
      const back = await consent(url);
      h.rd.failNext(1, { kind: 'status', status: 503 }, { grantType: 'authorization_code' });
      const res = await callback(back);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('could not be reached');
      expect(await rowCount(h, 'connections')).toBe(0);
      expect((await callback(back)).status).toBe(400); // the state was consumed
    });

    it('refuses unknown, used and expired states', async () => {
      const { url } = await startConsent(h, { account: 'acme', product });
      const back = await consent(url);
      expect((await callback(withParam(back, 'state', 'x'.repeat(43)))).status).toBe(400);
      expect((await callback(withParam(back, 'state', null))).status).toBe(400);

      await h.db.dataSource.query(
        `UPDATE oauth_states SET expires_at = now() - interval '1 second'`,
      );
      const expired = await callback(back);
      expect(expired.status).toBe(400);
      expect(await expired.text()).toContain('expired');
      expect(await rowCount(h, 'connections')).toBe(0);
      expect(h.rd.tokenCalls()).toHaveLength(0);
    });

    it('leaves an existing connection untouched when a reconnect fails', async () => {
      expect((await connect(h, 'acme', product)).status).toBe(200);
      const before = await connectionRow(h.db, 'acme', product);
      const { url } = await startConsent(h, { account: 'acme', product });
      await callback(withParam(await consent(url), 'code', 'forged-code'));
      expect(await connectionRow(h.db, 'acme', product)).toEqual(before);
    });

    it('lets exactly one of two racing callbacks with one state reach RD', async () => {
      const { url } = await startConsent(h, { account: 'acme', product });
      const back = await consent(url);
      const answers = await Promise.all([callback(back), callback(back), callback(back)]);
      expect(answers.map((r) => r.status).sort()).toEqual([200, 400, 400]);
      expect(h.rd.tokenCalls({ grantType: 'authorization_code' })).toHaveLength(1);
      expect(await rowCount(h, 'connections')).toBe(1);
    });

    it('stores the account the state was minted for, whatever the callback URL says', async () => {
      const { url } = await startConsent(h, { account: 'tenant-a', product });
      const res = await callback(withParam(await consent(url), 'account', 'tenant-b'));
      expect(res.status).toBe(200);
      expect(await connectionRow(h.db, 'tenant-a', product)).toBeDefined();
      expect(await connectionRow(h.db, 'tenant-b', product)).toBeUndefined();
    });
  });

  it('stores only a hash of the state', async () => {
    const { url } = await startConsent(h, { account: 'acme', product: 'crm' });
    const state = new URL(url).searchParams.get('state')!;
    const raw = JSON.stringify(
      await h.db.dataSource.query('SELECT encode(state_hash, $1) AS h, * FROM oauth_states', [
        'base64',
      ]),
    );
    expect(raw).not.toContain(state);
  });

  it.each([
    ['https://evil.example/rd'],
    ['//evil.example/rd'],
    ['https://app.example.com.evil.example/rd'],
    ['https://app.example.com@evil.example/rd'],
    ['https://user:pw@app.example.com/rd'],
    ['javascript:alert(1)'],
    ['https://app.example.com/rdx'],
    ['https://app.example.com/other'],
    ['https://app.example.com/rd/\r\nSet-Cookie: x=1'],
    ['http://app.example.com/rd'],
  ])('refuses returnTo %j at authorize-url (no open redirect)', async (returnTo) => {
    const res = await request(h.broker.url)
      .post('/oauth/authorize-url')
      .set('authorization', auth.service)
      .send({ account: 'acme', product: 'crm', returnTo })
      .expect(400);
    expect(res.body).toEqual({
      statusCode: 400,
      error: 'invalid_request',
      message:
        'returnTo must be an http(s) URL starting with a prefix of OAUTH_RETURN_URL_ALLOWLIST',
    });
    expect(await rowCount(h, 'oauth_states')).toBe(0);
  });

  it('says so when returnTo is refused because OAUTH_RETURN_URL_ALLOWLIST is empty', async () => {
    const bare = await createHarness();
    try {
      const res = await request(bare.broker.url)
        .post('/oauth/authorize-url')
        .set('authorization', auth.service)
        .send({ account: 'acme', product: 'crm', returnTo: RETURN_TO })
        .expect(400);
      expect(res.body.error).toBe('invalid_request');
      expect(res.body.message).toContain('OAUTH_RETURN_URL_ALLOWLIST is empty');
      expect(await rowCount(bare, 'oauth_states')).toBe(0);
    } finally {
      await bare.close();
    }
  });

  it.each([
    [{ product: 'crm' }, 'account'],
    [{ account: '', product: 'crm' }, 'account'],
    [{ account: 'a'.repeat(129), product: 'crm' }, 'account'],
    [{ account: 'ac/me', product: 'crm' }, 'account'],
    [{ account: 'acme', product: 'hubspot' }, 'product'],
    [{ account: 'acme' }, 'product is required'],
    [{ account: 42, product: 'crm' }, 'account'],
  ])('refuses authorize-url body %j', async (body, message) => {
    const res = await request(h.broker.url)
      .post('/oauth/authorize-url')
      .set('authorization', auth.service)
      .send(body)
      .expect(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.message).toContain(message);
    expect(await rowCount(h, 'oauth_states')).toBe(0);
  });

  it('requires an API key to start an authorization', async () => {
    await request(h.broker.url)
      .post('/oauth/authorize-url')
      .send({ account: 'acme', product: 'crm' })
      .expect(401);
  });
});
