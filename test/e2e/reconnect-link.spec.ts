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

function open(url: string, language?: string) {
  return fetch(url, {
    redirect: 'manual',
    headers: language ? { 'accept-language': language } : {},
  });
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

    const opened = await open(link.reconnectUrl!);
    expect(opened.status).toBe(302);
    expect(opened.headers.get('referrer-policy')).toBe('no-referrer');
    expect(opened.headers.get('cache-control')).toBe('no-store');
    const consentUrl = new URL(opened.headers.get('location')!);
    expect(consentUrl.origin).toBe(new URL(h.broker.config.rd.accountsUrl).origin);
    expect(consentUrl.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
    const [state] = await h.db.dataSource.query(
      `SELECT account, product, expires_at - now() > interval '9 minutes' AS fresh FROM oauth_states`,
    );
    expect(state).toEqual({ account: 'gone', product: 'crm', fresh: true });

    const page = await approve(consentUrl.toString());
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('está conectado à conta gone');
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
      const res = await open(`${h.broker.url}/oauth/reconnect/${token}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    }
  });
});
