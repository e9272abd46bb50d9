import { createHash } from 'node:crypto';
import { auth, connect, connectionRow, createHarness, type Harness } from '../support/harness';

/** What a caller sends as `rejected`: the first 16 hex characters of the token's SHA-256. */
const hashOf = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 16);

interface Answer {
  status: number;
  body: { accessToken?: string; error?: string; message?: string };
  headers: Headers;
}

async function getToken(h: Harness, query: string, replica = 0): Promise<Answer> {
  const res = await fetch(`${h.brokers[replica].url}/tokens/acme?product=crm${query}`, {
    headers: { authorization: auth.service },
  });
  return { status: res.status, body: (await res.json()) as Answer['body'], headers: res.headers };
}

const refreshes = (h: Harness) => h.rd.tokenCalls({ grantType: 'refresh_token' }).length;

describe('GET /tokens/:account?rejected= (e2e, two replicas)', () => {
  let h: Harness;
  let current: string;

  beforeAll(async () => {
    h = await createHarness({ replicas: 2 });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query('TRUNCATE connections, oauth_states, connection_events');
    await connect(h, 'acme', 'crm');
    h.rd.reset();
    current = (await getToken(h, '')).body.accessToken!;
  });

  it('refreshes a token RD refused although it has its full 2 hours left, and answers the new one', async () => {
    h.rd.invalidateAccessToken(current);
    // Served from the replica's cache until reported.
    expect((await getToken(h, '')).body.accessToken).toBe(current);

    const res = await getToken(h, `&rejected=${hashOf(current)}`);
    expect(res.status).toBe(200);
    expect(res.body.accessToken).not.toBe(current);
    expect(h.rd.isLiveAccessToken(res.body.accessToken!)).toBe(true);
    expect(refreshes(h)).toBe(1);
    expect(await connectionRow(h.db, 'acme', 'crm')).toMatchObject({ status: 'active' });

    // A late report of the old token (on either replica) changes nothing.
    for (const replica of [0, 1]) {
      const late = await getToken(h, `&rejected=${hashOf(current)}`, replica);
      expect(late.body.accessToken).toBe(res.body.accessToken);
    }
    expect(refreshes(h)).toBe(1);
  });

  it('answers the current token without calling RD for a hash that is not the stored token', async () => {
    const res = await getToken(h, `&rejected=${hashOf('some older token')}`);
    expect(res.status).toBe(200);
    expect(res.body.accessToken).toBe(current);
    expect(refreshes(h)).toBe(0);
  });

  it('makes one refresh for 50 concurrent reports of the same token over two replicas', async () => {
    h.rd.invalidateAccessToken(current);
    h.rd.latencyMs = 200; // reports keep arriving while the refresh is in flight
    try {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => getToken(h, `&rejected=${hashOf(current)}`, i % 2)),
      );
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      const tokens = new Set(answers.map((a) => a.body.accessToken));
      expect(tokens.size).toBe(1);
      expect(tokens.has(current)).toBe(false);
      expect(refreshes(h)).toBe(1);
    } finally {
      h.rd.latencyMs = 0;
    }
  });

  it('answers 503 with Retry-After when RD fails to replace the refused token, and keeps the grant', async () => {
    h.rd.invalidateAccessToken(current);
    h.rd.failNext(1, { kind: 'status', status: 503 });
    const res = await getToken(h, `&rejected=${hashOf(current)}`);
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('provider_unavailable');
    expect(res.body.message).toContain('RD refused the stored token');
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await connectionRow(h.db, 'acme', 'crm')).toMatchObject({ status: 'refresh_failing' });

    // Once the backoff has passed, the next report replaces it.
    await h.db.dataSource.query(`UPDATE connections SET next_refresh_at = now()`);
    const retried = await getToken(h, `&rejected=${hashOf(current)}`);
    expect(retried.status).toBe(200);
    expect(retried.body.accessToken).not.toBe(current);
    expect(refreshes(h)).toBe(2);
  });

  it('answers 409 when RD rejects the refresh token as well', async () => {
    h.rd.failNext(1, { kind: 'invalid_grant' });
    const res = await getToken(h, `&rejected=${hashOf(current)}`);
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('reauthorization_required');
    await getToken(h, `&rejected=${hashOf(current)}`);
    expect(refreshes(h)).toBe(1);
  });

  // Issue 22 (1): reading the token and reporting it, 200 times, made 200 RD refreshes.
  it('200 reports of the same token over two replicas: 1 RD refresh', async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 200; i++)
      answers.push(await getToken(h, `&rejected=${hashOf(current)}`, i % 2));
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    const tokens = new Set(answers.map((a) => a.body.accessToken));
    expect(tokens.size).toBe(1);
    expect(tokens.has(current)).toBe(false);
    expect(refreshes(h)).toBe(1);
  });

  it('read, report, repeat (200 times): 1 RD refresh, then 429 rate_limited with Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter = 0;
    for (let i = 0; i < 200; i++) {
      const token = (await getToken(h, '', i % 2)).body.accessToken!;
      const res = await getToken(h, `&rejected=${hashOf(token)}`, (i + 1) % 2);
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.body.error).toBe('rate_limited');
        expect(JSON.stringify(res.body)).not.toContain(token);
        retryAfter = Number(res.headers.get('retry-after'));
      }
    }
    expect(statuses).toEqual([200, ...Array(199).fill(429)]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(refreshes(h)).toBe(1);

    // Once REFRESH_MIN_INTERVAL_SECONDS has passed, a report replaces the token again.
    await h.db.dataSource.query(
      `UPDATE connections SET report_refreshed_at = now() - interval '31 seconds'`,
    );
    const token = (await getToken(h, '')).body.accessToken!;
    const again = await getToken(h, `&rejected=${hashOf(token)}`);
    expect(again.status).toBe(200);
    expect(again.body.accessToken).not.toBe(token);
    expect(refreshes(h)).toBe(2);
  });

  it('does not limit admin refreshes', async () => {
    const token = (await getToken(h, '')).body.accessToken!;
    expect((await getToken(h, `&rejected=${hashOf(token)}`)).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${h.broker.url}/connections/acme/refresh?product=crm`, {
        method: 'POST',
        headers: { authorization: auth.admin },
      });
      expect(res.status).toBe(200);
    }
    expect(refreshes(h)).toBe(4);
  });

  it.each([
    ['not hex', 'zzzzzzzzzzzzzzzz'],
    ['upper case', 'ABCDEF0123456789'],
    ['15 characters', '0123456789abcde'],
    ['17 characters', '0123456789abcdef0'],
    ['the whole token', 'x'],
  ])('answers 400 invalid_request for a rejected that is %s', async (_what, value) => {
    const rejected = value === 'x' ? current : value;
    const res = await getToken(h, `&rejected=${encodeURIComponent(rejected)}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.message).toContain('rejected');
    expect(JSON.stringify(res.body)).not.toContain(current);
    expect(refreshes(h)).toBe(0);
  });

  it('answers 400 for rejected given twice', async () => {
    const res = await getToken(h, `&rejected=${hashOf(current)}&rejected=${hashOf(current)}`);
    expect(res.status).toBe(400);
    expect(refreshes(h)).toBe(0);
  });

  it('names the request id in every answer, the caller’s own when well-formed', async () => {
    const mine = await fetch(`${h.broker.url}/tokens/acme?product=crm`, {
      headers: { authorization: auth.service, 'x-request-id': 'caller-id-42' },
    });
    expect(mine.headers.get('x-request-id')).toBe('caller-id-42');
    const refused = await fetch(`${h.broker.url}/tokens/acme?product=crm`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
