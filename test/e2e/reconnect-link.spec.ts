import { createHash } from 'node:crypto';
import request from 'supertest';
import { auth, connect, connectionRow, createHarness, type Harness } from '../support/harness';

const TTL_SECONDS = 2 * 3600;

/** Makes RD reject the stored refresh token at the next refresh, and forces that refresh. */
async function condemn(h: Harness, account: string) {
  h.rd.failNext(1, { kind: 'invalid_grant' });
  const res = await request(h.broker.url)
    .post(`/connections/${account}/refresh?product=crm`)
    .set('authorization', auth.admin)
    .expect(200);
  expect(res.body.status).toBe('reauthorization_required');
}

async function linkOf(h: Harness, account: string) {
  const res = await request(h.broker.url)
    .get(`/connections/${account}`)
    .set('authorization', auth.admin)
    .expect(200);
  return res.body.connections[0] as {
    status: string;
    reconnectUrl: string | null;
    reconnectUrlExpiresAt: string | null;
  };
}

/** Looks at a link (its page), as a browser or a link preview does: uses nothing up. */
function view(url: string, language?: string, method: 'GET' | 'HEAD' = 'GET') {
  return fetch(url, {
    method,
    redirect: 'manual',
    headers: language ? { 'accept-language': language } : {},
  });
}

/** Presses the page's Connect button: the form's POST to the link itself, as a browser sends it. */
function open(url: string, language?: string) {
  return fetch(url, {
    method: 'POST',
    body: new URLSearchParams(),
    redirect: 'manual',
    headers: language ? { 'accept-language': language } : {},
  });
}

async function liveLinks(h: Harness) {
  return h.db.dataSource.query(
    `SELECT account, product FROM reconnect_links WHERE used_at IS NULL AND expires_at > now()
      ORDER BY account, product`,
  );
}

/** The customer approves at the fake RD; answers the broker's callback page. */
async function approve(consentUrl: string) {
  const consent = await fetch(consentUrl, {
    method: 'POST',
    body: new URLSearchParams({ decision: 'approve' }),
    redirect: 'manual',
  });
  return fetch(consent.headers.get('location')!, { redirect: 'manual' });
}

describe('reconnect links (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ env: { RECONNECT_LINK_TTL: `${TTL_SECONDS}` } });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query(
      'TRUNCATE connections, oauth_states, connection_events, reconnect_links',
    );
    h.rd.reset();
  });

  it('works once: a fresh consent for the same account and product, ending on the callback page', async () => {
    expect((await connect(h, 'gone', 'crm')).status).toBe(200);
    expect((await linkOf(h, 'gone')).reconnectUrl).toBeNull(); // active: no link
    await condemn(h, 'gone');

    const link = await linkOf(h, 'gone');
    expect(link.reconnectUrl).toMatch(
      new RegExp(`^${h.broker.url}/oauth/reconnect/[A-Za-z0-9_-]{43}$`),
    );
    const expiresIn = Date.parse(link.reconnectUrlExpiresAt!) - Date.now();
    expect(expiresIn).toBeGreaterThan((TTL_SECONDS - 60) * 1000);
    expect(expiresIn).toBeLessThanOrEqual(TTL_SECONDS * 1000);
    // Asking again shows the same link (it is derived, not stored).
    expect((await linkOf(h, 'gone')).reconnectUrl).toBe(link.reconnectUrl);

    // Only the SHA-256 of the token is stored; the token is nowhere in the database.
    const token = link.reconnectUrl!.split('/').pop()!;
    const [row] = await h.db.dataSource.query(`SELECT * FROM reconnect_links`);
    expect(row).toMatchObject({ account: 'gone', product: 'crm', used_at: null });
    expect(row.token_hash).toEqual(createHash('sha256').update(token).digest());
    const everything = JSON.stringify(
      await h.db.dataSource.query(
        `SELECT (SELECT json_agg(e) FROM connection_events e) AS events,
                (SELECT json_agg(l) FROM reconnect_links l) AS links`,
      ),
    );
    expect(everything).not.toContain(token);

    // Looking at it (a link preview's HEAD, the customer's GET) shows the page and uses nothing up.
    const head = await view(link.reconnectUrl!, undefined, 'HEAD');
    expect(head.status).toBe(200);
    const page = await view(link.reconnectUrl!, 'en');
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toContain(
      `form-action 'self' ${new URL(h.broker.config.rd.accountsUrl).origin}`,
    );
    const html = await page.text();
    expect(html).toContain('RD Station CRM');
    expect(html).toContain('account gone');
    expect(html).toContain('<form method="post">');
    expect((await view(link.reconnectUrl!)).status).toBe(200);
    expect(await h.db.dataSource.query(`SELECT * FROM oauth_states`)).toEqual([]);
    expect(await liveLinks(h)).toEqual([{ account: 'gone', product: 'crm' }]);

    const opened = await open(link.reconnectUrl!);
    expect(opened.status).toBe(303);
    expect(opened.headers.get('referrer-policy')).toBe('no-referrer');
    expect(opened.headers.get('cache-control')).toBe('no-store');
    const consentUrl = new URL(opened.headers.get('location')!);
    expect(consentUrl.origin).toBe(new URL(h.broker.config.rd.accountsUrl).origin);
    expect(consentUrl.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
    const [state] = await h.db.dataSource.query(
      `SELECT account, product, expires_at - now() > interval '9 minutes' AS fresh FROM oauth_states`,
    );
    expect(state).toEqual({ account: 'gone', product: 'crm', fresh: true });

    const done = await approve(consentUrl.toString());
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('está conectado à conta gone');
    expect(await connectionRow(h.db, 'gone', 'crm')).toMatchObject({ status: 'active' });
    const tokenRes = await request(h.broker.url)
      .get('/tokens/gone?product=crm')
      .set('authorization', auth.service)
      .expect(200);
    expect(h.rd.isLiveAccessToken(tokenRes.body.accessToken)).toBe(true);

    // Refused after use, in the reader's language, and nothing started.
    const again = await open(link.reconnectUrl!, 'en-US');
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('This reconnect link is unknown, was already used');
    const againPt = await open(link.reconnectUrl!);
    expect(await againPt.text()).toContain('Este link de reconexão');
    expect((await view(link.reconnectUrl!)).status).toBe(400);
    expect(await h.db.dataSource.query(`SELECT * FROM oauth_states`)).toEqual([]);
  });

  it('is refused after its TTL, and once the connection was reconnected another way', async () => {
    expect((await connect(h, 'late', 'crm')).status).toBe(200);
    await condemn(h, 'late');
    const { reconnectUrl } = await linkOf(h, 'late');
    await h.db.dataSource.query(
      `UPDATE reconnect_links SET expires_at = now() - interval '1 second'`,
    );
    expect((await open(reconnectUrl!)).status).toBe(400);
    expect((await linkOf(h, 'late')).reconnectUrl).toBeNull(); // no longer shown
    expect(await h.db.dataSource.query(`SELECT * FROM oauth_states`)).toEqual([]);

    // A new condemnation makes a new link; a reconnect through the normal consent voids it.
    expect((await connect(h, 'late', 'crm')).status).toBe(200);
    await condemn(h, 'late');
    const second = (await linkOf(h, 'late')).reconnectUrl!;
    expect(second).not.toBe(reconnectUrl);
    expect((await connect(h, 'late', 'crm')).status).toBe(200);
    expect((await open(second)).status).toBe(400);
  });

  it('refuses made-up links', async () => {
    for (const token of ['x', 'A'.repeat(43), 'A'.repeat(44), '%00'.repeat(5)]) {
      for (const res of [
        await open(`${h.broker.url}/oauth/reconnect/${token}`),
        await view(`${h.broker.url}/oauth/reconnect/${token}`),
      ]) {
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      }
    }
  });
});

/**
 * A connection has at most one live link, every condemnation mints one (a confirmed hold too), and
 * recovery, delete, import and reconnect each remove it: an older link never comes back to life.
 */
describe('reconnect link lifecycle (e2e)', () => {
  let h: Harness;

  beforeAll(async () => {
    // One condemnation per window: the next rejection of another CRM grant is held.
    h = await createHarness({ env: { REFRESH_CONDEMN_GUARD_MAX: '1' } });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query(
      'TRUNCATE connections, oauth_states, connection_events, reconnect_links, product_holds',
    );
    h.rd.reset();
  });

  const admin = () => request(h.broker.url);

  async function importGrant(account: string) {
    const grant = h.rd.issueGrant('crm');
    await admin()
      .put(`/connections/${account}`)
      .set('authorization', auth.admin)
      .send({
        product: 'crm',
        refreshToken: grant.refreshToken,
        accessToken: grant.accessToken,
        expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      })
      .expect((res) => expect([200, 201]).toContain(res.status));
  }

  /** RD rejects the grant at a forced refresh; the guard condemns or holds it. */
  async function reject(account: string, expected: string) {
    h.rd.failNext(1, { kind: 'invalid_grant' });
    const res = await admin()
      .post(`/connections/${account}/refresh?product=crm`)
      .set('authorization', auth.admin)
      .expect(200);
    expect(res.body.status).toBe(expected);
  }

  it('mints a new link when an admin confirms a held rejection; the one from before a delete stays dead', async () => {
    expect((await connect(h, 'old', 'crm')).status).toBe(200);
    await reject('old', 'reauthorization_required');
    const first = (await linkOf(h, 'old')).reconnectUrl!;
    expect(first).toEqual(expect.any(String));

    await admin()
      .delete('/connections/old?product=crm')
      .set('authorization', auth.admin)
      .expect(204);
    expect(await liveLinks(h)).toEqual([]);
    expect((await view(first)).status).toBe(400);

    // Another grant fills the guard's window, so the re-imported one's rejection is held.
    expect((await connect(h, 'other', 'crm')).status).toBe(200);
    await reject('other', 'reauthorization_required');
    await importGrant('old');
    await reject('old', 'refresh_failing');
    const confirmed = await admin()
      .post('/connections/held/confirm?product=crm')
      .set('authorization', auth.admin)
      .expect(200);
    expect(confirmed.body.confirmed).toEqual(['old']);

    const second = await linkOf(h, 'old');
    expect(second.status).toBe('reauthorization_required');
    expect(second.reconnectUrl).toEqual(expect.any(String));
    expect(second.reconnectUrl).not.toBe(first);
    // The link from before the delete is refused, viewed or pressed; the new one works.
    expect((await view(first)).status).toBe(400);
    expect((await open(first)).status).toBe(400);
    expect((await view(second.reconnectUrl!)).status).toBe(200);
    expect((await open(second.reconnectUrl!)).status).toBe(303);
    expect(await h.db.dataSource.query(`SELECT account FROM oauth_states`)).toEqual([
      { account: 'old' },
    ]);
  });

  it('keeps at most one live link per connection, and removes it on import, recovery and reconnect', async () => {
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
    await reject('acme', 'reauthorization_required');
    const first = (await linkOf(h, 'acme')).reconnectUrl!;

    // Import: the link dies with the grant it was for.
    await importGrant('acme');
    expect(await liveLinks(h)).toEqual([]);
    expect((await view(first)).status).toBe(400);

    // Condemned again (the guard's window counts only other grants): a new, single link.
    await reject('acme', 'reauthorization_required');
    const second = (await linkOf(h, 'acme')).reconnectUrl!;
    expect(second).not.toBe(first);
    expect(await liveLinks(h)).toEqual([{ account: 'acme', product: 'crm' }]);

    // Recovery (an admin's retry that RD accepts): the link dies.
    await admin()
      .post('/connections/acme/refresh?product=crm&retryRejected=true')
      .set('authorization', auth.admin)
      .expect(200)
      .expect((res) => expect(res.body.status).toBe('active'));
    expect(await liveLinks(h)).toEqual([]);
    expect((await view(second)).status).toBe(400);

    // Reconnect through the normal consent: the link dies.
    await reject('acme', 'reauthorization_required');
    const third = (await linkOf(h, 'acme')).reconnectUrl!;
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
    expect(await liveLinks(h)).toEqual([]);
    expect((await view(third)).status).toBe(400);
    for (const link of [first, second, third]) expect((await open(link)).status).toBe(400);
  });
});
