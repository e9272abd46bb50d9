import { createHash } from 'node:crypto';
import request from 'supertest';
import { SERVICE_KEY } from '../support/broker';
import { auth, connectionRow, createHarness, type Harness } from '../support/harness';

const TTL_SECONDS = 3 * 86_400;
const RETURN = 'http://app.example.test/rd/';
const READER_KEY = 'reader-secret-0123456789abcdef0123456789ab';
const LINKER_KEY = 'linker-secret-0123456789abcdef0123456789ab';

function view(url: string, method: 'GET' | 'HEAD' = 'GET', language?: string) {
  return fetch(url, {
    method,
    redirect: 'manual',
    headers: language ? { 'accept-language': language } : {},
  });
}

/** The page's Connect button: a form POST to the link itself, as a browser sends it. */
function press(url: string) {
  return fetch(url, { method: 'POST', body: new URLSearchParams(), redirect: 'manual' });
}

describe('connect links (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({
      env: {
        CONNECT_LINK_TTL: `${TTL_SECONDS}`,
        OAUTH_RETURN_URL_ALLOWLIST: RETURN,
        API_KEYS: `svc:${SERVICE_KEY},reader:${READER_KEY},linker:${LINKER_KEY}`,
        API_KEY_SCOPES: 'reader=crm:*,marketing:*@read,proxy; linker=crm:acme-*@connect',
      },
    });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query(
      'TRUNCATE connections, oauth_states, connection_events, connect_links',
    );
    h.rd.reset();
  });

  const makeLink = (body: object, key = auth.service) =>
    request(h.broker.url).post('/connect-links').set('authorization', key).send(body);

  it('survives HEAD and GET, works once by POST, and completes a connect to returnTo', async () => {
    const res = await makeLink({ account: 'acme-1', product: 'marketing', returnTo: RETURN });
    expect(res.status).toBe(201);
    expect(res.body.url).toMatch(new RegExp(`^${h.broker.url}/connect/[A-Za-z0-9_-]{43}$`));
    const expiresIn = Date.parse(res.body.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan((TTL_SECONDS - 60) * 1000);
    expect(expiresIn).toBeLessThanOrEqual(TTL_SECONDS * 1000);
    const url: string = res.body.url;
    const token = url.split('/').pop()!;

    // Only the token's hash is stored.
    const [row] = await h.db.dataSource.query(`SELECT * FROM connect_links`);
    expect(row).toMatchObject({ account: 'acme-1', product: 'marketing', used_at: null });
    expect(row.token_hash).toEqual(createHash('sha256').update(token).digest());
    expect(JSON.stringify(row)).not.toContain(token);

    // A link preview (HEAD) and the customer's look (GET, twice) use nothing up.
    expect((await view(url, 'HEAD')).status).toBe(200);
    const page = await view(url, 'GET', 'en-US');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).toContain('Connect RD Station Marketing');
    expect(html).toContain('account acme-1');
    expect(html).toContain('<form method="post"><button type="submit">Connect</button></form>');
    const pt = await view(url);
    expect(await pt.text()).toContain('Conectar RD Station Marketing');
    expect(await h.db.dataSource.query(`SELECT used_at FROM connect_links`)).toEqual([
      { used_at: null },
    ]);
    expect(await h.db.dataSource.query(`SELECT * FROM oauth_states`)).toEqual([]);

    // The button: 303 to RD's consent with a fresh state that carries returnTo.
    const pressed = await press(url);
    expect(pressed.status).toBe(303);
    expect(pressed.headers.get('referrer-policy')).toBe('no-referrer');
    const consentUrl = new URL(pressed.headers.get('location')!);
    expect(consentUrl.origin).toBe(new URL(h.broker.config.rd.apiUrl).origin);
    expect(consentUrl.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
    expect(
      await h.db.dataSource.query(`SELECT account, product, return_to FROM oauth_states`),
    ).toEqual([{ account: 'acme-1', product: 'marketing', return_to: RETURN }]);

    // Used up: every later look or press is refused, and starts nothing.
    for (const again of [await press(url), await view(url), await view(url, 'HEAD')])
      expect(again.status).toBe(400);
    expect(await (await view(url, 'GET', 'en')).text()).toContain(
      'This connection link is unknown, was already used, or has expired',
    );
    expect(await h.db.dataSource.query(`SELECT count(*)::int AS n FROM oauth_states`)).toEqual([
      { n: 1 },
    ]);

    // The consent ends at returnTo, as with authorize-url.
    const consent = await fetch(consentUrl, {
      method: 'POST',
      body: new URLSearchParams({ decision: 'approve' }),
      redirect: 'manual',
    });
    const callback = await fetch(consent.headers.get('location')!, { redirect: 'manual' });
    expect(callback.status).toBe(302);
    const back = new URL(callback.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(RETURN);
    expect(Object.fromEntries(back.searchParams)).toEqual({
      account: 'acme-1',
      product: 'marketing',
      status: 'connected',
    });
    expect(await connectionRow(h.db, 'acme-1', 'marketing')).toMatchObject({ status: 'active' });
    const [event] = await h.db.dataSource.query(
      `SELECT detail FROM connection_events WHERE type = 'connection.created'`,
    );
    expect(event.detail).toMatchObject({
      via: 'consent',
      replaced: false,
      requestedBy: 'connect-link of svc',
    });
  });

  it('is refused after its TTL and for made-up tokens', async () => {
    const { body } = await makeLink({ account: 'late', product: 'crm' }).expect(201);
    await h.db.dataSource.query(`UPDATE connect_links SET expires_at = now() - interval '1 s'`);
    expect((await view(body.url)).status).toBe(400);
    expect((await press(body.url)).status).toBe(400);
    for (const token of ['x', 'A'.repeat(43), 'A'.repeat(44), '%00'.repeat(5)]) {
      for (const res of [
        await view(`${h.broker.url}/connect/${token}`),
        await press(`${h.broker.url}/connect/${token}`),
      ]) {
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      }
    }
    expect(await h.db.dataSource.query(`SELECT * FROM oauth_states`)).toEqual([]);
  });

  it('validates the body as authorize-url does', async () => {
    await makeLink({ account: 'bad account!', product: 'crm' }).expect(400);
    await makeLink({ account: 'acme', product: 'hubspot' }).expect(400);
    const res = await makeLink({ account: 'acme', product: 'crm', returnTo: 'https://evil.test/' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    await request(h.broker.url).post('/connect-links').send({ account: 'acme' }).expect(401);
    expect(await h.db.dataSource.query(`SELECT * FROM connect_links`)).toEqual([]);
  });

  it('needs the connect action of a scoped key, within its accounts', async () => {
    const reader = `Bearer ${READER_KEY}`;
    const linker = `Bearer ${LINKER_KEY}`;
    const refused = await makeLink({ account: 'acme-1', product: 'crm' }, reader);
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      statusCode: 403,
      error: 'forbidden',
      message: expect.stringContaining('action connect'),
    });
    await makeLink({ account: 'acme-1', product: 'crm' }, linker).expect(201);
    await makeLink({ account: 'other', product: 'crm' }, linker).expect(403);
    await makeLink({ account: 'acme-1', product: 'marketing' }, linker).expect(403);
    expect(await h.db.dataSource.query(`SELECT account, created_by FROM connect_links`)).toEqual([
      { account: 'acme-1', created_by: 'linker' },
    ]);
  });
});
