import { createHash, randomBytes } from 'node:crypto';
import { ReadCounter } from '../../src/history/read-counter';
import { SERVICE_KEY } from '../support/broker';
import { auth, connect, createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/process';
import { rawRequest, type RawResponse } from '../support/raw-http';
import { startTinyServer, type TinyServer } from '../support/tiny-server';

/** The token the broker currently serves for an account (what RD should receive). */
async function servedToken(h: Harness, account: string, product = 'crm'): Promise<string> {
  const res = await fetch(`${h.broker.url}/tokens/${account}?product=${product}`, {
    headers: { authorization: auth.service },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

function proxy(
  h: Harness,
  path: string,
  options: {
    method?: string;
    account?: string;
    product?: string;
    headers?: Record<string, string | string[]>;
    body?: string | Buffer;
    replica?: number;
  } = {},
): Promise<RawResponse> {
  const headers: Record<string, string | string[]> = {
    authorization: auth.service,
    ...(options.account === '' ? {} : { 'x-account': options.account ?? 'acme' }),
    ...(options.product === '' ? {} : { 'x-product': options.product ?? 'crm' }),
    ...options.headers,
  };
  return rawRequest(h.brokers[options.replica ?? 0].url, {
    method: options.method ?? 'GET',
    path,
    headers,
    body: options.body,
  });
}

/** Length and digest of a body: a readable diff when two large bodies differ. */
function fingerprint(bytes: Buffer) {
  return { length: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function expectBrokerError(res: RawResponse, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers['x-broker-error']).toBe(code);
  expect(res.json).toMatchObject({ statusCode: status, error: code });
}

/** PATCH /connections/:account?product={rateLimitPerMinute} on a replica. */
function setBudget(
  h: Harness,
  account: string,
  body: unknown,
  { replica = 0, product = 'crm', key = auth.admin } = {},
): Promise<Response> {
  return fetch(`${h.brokers[replica].url}/connections/${account}?product=${product}`, {
    method: 'PATCH',
    headers: { authorization: key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function connectionView(h: Harness, account: string, replica = 0) {
  const res = await fetch(`${h.brokers[replica].url}/connections/${account}`, {
    headers: { authorization: auth.admin },
  });
  expect(res.status).toBe(200);
  const { connections } = (await res.json()) as {
    connections: Array<{ product: string; rateLimitPerMinute: number | null }>;
  };
  return connections.find((c) => c.product === 'crm')!;
}

/**
 * Calls /proxy on a replica until it is no longer refused by the broker's budget (429
 * rate_limited, which reaches no RD), within 5 s; the first other answer's status.
 */
async function firstAllowed(h: Harness, account: string, replica: number): Promise<number> {
  return waitFor(
    async () => {
      const res = await proxy(h, '/proxy/crm/v2/contacts', { account, replica });
      const refused = res.status === 429 && res.headers['x-broker-error'] === 'rate_limited';
      return refused ? undefined : res.status;
    },
    { timeoutMs: 5_000, what: `a call on replica ${replica} past the budget` },
  );
}

/**
 * The budget counts per clock minute with the previous minute's calls weighing less as it goes
 * (rate-budget.policy.ts): a few calls that must land in one minute wait out its last seconds.
 */
async function awayFromMinuteEnd(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 200));
}

describe('/proxy on two replicas and the fake RD', () => {
  let h: Harness;

  beforeAll(async () => {
    // The tests below kill one connection's token again and again, seconds apart: without the
    // REFRESH_MIN_INTERVAL_SECONDS limit here (it has tests of its own, further down).
    h = await createHarness({
      replicas: 2,
      rd: { apiRateLimitPerMinute: 10_000 },
      env: { REFRESH_MIN_INTERVAL_SECONDS: '0' },
    });
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
    expect((await connect(h, 'acme', 'marketing')).status).toBe(200);
  });
  afterAll(() => h.close());
  beforeEach(() => h.rd.reset());

  describe('passthrough', () => {
    it("sends method, path, query, body and the caller's own headers to RD with the connection's token, and nothing of the caller's secrets", async () => {
      const body = JSON.stringify({ name: 'Ana', emails: [{ email: 'ana@example.com' }] });
      const res = await proxy(h, '/proxy/crm/v2/contacts?page=2&q=a%20b&tags=x,y', {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          accept: 'application/json',
          'x-trace-id': 'trace-123',
          cookie: 'broker_session=secret-cookie',
          'x-forwarded-for': '203.0.113.9',
          'x-forwarded-host': 'internal.example',
          forwarded: 'for=203.0.113.9',
          connection: 'keep-alive, x-hop-secret',
          'x-hop-secret': 'hop-value',
          'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
        },
        body,
      });
      expect(res.status).toBe(201);
      expect(res.headers['x-broker-error']).toBeUndefined();
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['x-rd-request-id']).toEqual(expect.any(String));
      expect(res.headers['set-cookie']).toBeUndefined();

      const [seen] = h.rd.apiCalls('/crm/v2/contacts');
      expect(seen).toMatchObject({
        method: 'POST',
        path: '/crm/v2/contacts',
        query: 'page=2&q=a%20b&tags=x,y',
        body,
        status: 201,
      });
      expect(seen.headers).toMatchObject({
        'content-type': 'application/json; charset=utf-8',
        accept: 'application/json',
        'x-trace-id': 'trace-123',
        authorization: `Bearer ${await servedToken(h, 'acme')}`,
      });
      for (const name of [
        'cookie',
        'x-account',
        'x-product',
        'x-forwarded-for',
        'x-forwarded-host',
        'forwarded',
        'x-hop-secret',
        'proxy-authorization',
      ]) {
        expect(seen.headers[name]).toBeUndefined();
      }
      const everything = JSON.stringify(seen);
      for (const secret of [SERVICE_KEY, 'secret-cookie', 'hop-value', 'cHJveHk6c2VjcmV0']) {
        expect(everything).not.toContain(secret);
      }
      // The echo is RD's body, streamed back untouched.
      expect((res.json as { echo: { body: string } }).echo.body).toBe(body);
    });

    it.each(['GET', 'PUT', 'PATCH', 'DELETE'])(
      'forwards %s to a Marketing path with a colon and an @, chosen by X-Product',
      async (method) => {
        const body = method === 'GET' || method === 'DELETE' ? undefined : '{"tags":["a"]}';
        const res = await proxy(h, '/proxy/platform/contacts/email:ana@example.com?x=1', {
          method,
          product: 'marketing',
          replica: 1,
          headers: body ? { 'content-type': 'application/json' } : {},
          body,
        });
        expect(res.status).toBe(200);
        const [seen] = h.rd.apiCalls('/platform/contacts/email:ana@example.com');
        expect(seen).toMatchObject({ method, query: 'x=1', body: body ?? '' });
        expect(seen.headers.authorization).toBe(
          `Bearer ${await servedToken(h, 'acme', 'marketing')}`,
        );
      },
    );

    it('buffers a binary body byte for byte, and refuses one over 1 MiB with 413 before RD', async () => {
      const bytes = Buffer.from([0, 1, 2, 250, 255, 10, 13]);
      const ok = await proxy(h, '/proxy/crm/v2/contacts', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      });
      expect(ok.status).toBe(201);
      const [seen] = h.rd.apiCalls();
      expect(seen.headers['content-length']).toBe(String(bytes.length));
      expect(seen.headers['content-type']).toBe('application/octet-stream');
      expect(seen.body).toBe(bytes.toString('utf8')); // the fake reads bodies as UTF-8 text

      h.rd.reset();
      const big = await proxy(h, '/proxy/crm/v2/contacts', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Buffer.alloc(1024 * 1024 + 1, 0x20),
      });
      expectBrokerError(big, 413, 'payload_too_large');
      expect(h.rd.calls).toHaveLength(0);
    });
  });

  describe('RD refuses the token', () => {
    it('dead token: 401 → one refresh → the call retried with the new token → 200', async () => {
      const dead = await servedToken(h, 'acme');
      expect(h.rd.invalidateAccessToken(dead)).toBe(true);
      const res = await proxy(h, '/proxy/crm/v2/contacts?page=1');
      expect(res.status).toBe(200);
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
      const calls = h.rd.apiCalls('/crm/v2/contacts');
      expect(calls.map((c) => c.status)).toEqual([401, 200]);
      const fresh = await servedToken(h, 'acme');
      expect(fresh).not.toBe(dead);
      expect(calls[1].headers.authorization).toBe(`Bearer ${fresh}`);
    });

    // The route buffers a request body (up to 1 MiB) so that the retry after RD's 401 can send
    // it again: a body read once from the caller's stream would be gone by then.
    it.each([
      {
        what: 'POST with a JSON body',
        method: 'POST',
        product: 'crm',
        path: '/crm/v2/contacts',
        contentType: 'application/json; charset=utf-8',
        body: Buffer.from(JSON.stringify({ name: 'Zoë', emails: [{ email: 'zoe@example.com' }] })),
        status: 201,
      },
      {
        what: 'POST with a binary body of 200 kB',
        method: 'POST',
        product: 'crm',
        path: '/crm/v2/contacts',
        contentType: 'application/octet-stream',
        // Every byte value, over more than one socket chunk (64 KiB).
        body: Buffer.concat([
          Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
          randomBytes(200_000),
        ]),
        status: 201,
      },
      {
        what: 'PUT with a JSON body',
        method: 'PUT',
        product: 'marketing',
        path: '/platform/contacts/email:zoe@example.com',
        contentType: 'application/json',
        body: Buffer.from('{"name":"Zoë","tags":["a"]}'),
        status: 200,
      },
      {
        what: 'PATCH with a binary body',
        method: 'PATCH',
        product: 'marketing',
        path: '/platform/contacts/email:zoe@example.com',
        contentType: 'application/octet-stream',
        body: randomBytes(4096),
        status: 200,
      },
    ])(
      'dead token: $what reaches RD twice, byte for byte with the same content-type and length, around one refresh',
      async ({ method, product, path, contentType, body, status }) => {
        const dead = await servedToken(h, 'acme', product);
        expect(h.rd.invalidateAccessToken(dead)).toBe(true);
        const res = await proxy(h, `/proxy${path}?retry=1`, {
          method,
          product,
          headers: { 'content-type': contentType },
          body,
        });
        expect(res.status).toBe(status);
        expect(res.headers['x-broker-error']).toBeUndefined();
        expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);

        const fresh = await servedToken(h, 'acme', product);
        expect(fresh).not.toBe(dead);
        const calls = h.rd.apiCalls(path);
        expect(calls.map((c) => [c.status, c.headers.authorization])).toEqual([
          [401, `Bearer ${dead}`],
          [status, `Bearer ${fresh}`],
        ]);
        for (const seen of calls) {
          expect(seen).toMatchObject({ method, query: 'retry=1' });
          expect(fingerprint(seen.bytes)).toEqual(fingerprint(body));
          expect(seen.headers['content-type']).toBe(contentType);
          expect(seen.headers['content-length']).toBe(String(body.length));
        }
        // The caller gets the answer to the retry: RD's echo of the same body.
        const echo = (res.json as { echo: { method: string; body: string } }).echo;
        expect(echo).toMatchObject({ method, body: body.toString('utf8') });
      },
    );

    it('50 concurrent calls on a dead token over two replicas: exactly one refresh at RD, all 200', async () => {
      expect((await connect(h, 'stampede', 'crm')).status).toBe(200);
      const account = 'stampede';
      const dead = await servedToken(h, account);
      // Both replicas hold the token in their caches before RD stops accepting it.
      await Promise.all(
        [0, 1].map((replica) => proxy(h, '/proxy/crm/v2/users', { account, replica })),
      );
      h.rd.reset();
      h.rd.invalidateAccessToken(dead);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          proxy(h, '/proxy/crm/v2/contacts', { account, replica: i % 2 }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
      expect(h.rd.isLiveAccessToken(await servedToken(h, account))).toBe(true);
    });

    it("passes RD's second 401 through (no X-Broker-Error) after one refresh", async () => {
      h.rd.failNextApi(2, { kind: 'status', status: 503 });
      // A 503 from RD is RD's answer too: passed through, not retried.
      const unavailable = await proxy(h, '/proxy/crm/v2/contacts');
      expect(unavailable.status).toBe(503);
      expect(unavailable.headers['x-broker-error']).toBeUndefined();
      h.rd.reset();

      const token = await servedToken(h, 'acme');
      h.rd.invalidateAccessToken(token);
      // The refreshed token is refused as well: RD's 401 goes back as it is.
      const refreshes = h.rd.tokenCalls({ grantType: 'refresh_token' }).length;
      h.rd.failNextApi(2, { kind: 'invalid_grant' });
      const res = await proxy(h, '/proxy/crm/v2/contacts');
      expect(res.status).toBe(401);
      expect(res.headers['x-broker-error']).toBeUndefined();
      expect(res.json).toMatchObject({ errors: { error_type: 'UNAUTHORIZED' } });
      expect(h.rd.apiCalls('/crm/v2/contacts')).toHaveLength(2);
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(refreshes + 1);
    });
  });

  describe('rate budget', () => {
    it("RD's 429 is passed through, and every replica then holds the account until RD's Retry-After", async () => {
      expect((await connect(h, 'paused', 'crm')).status).toBe(200);
      h.rd.reset();
      h.rd.failNextApi(1, { kind: 'rate_limited', retryAfter: 30 });
      const first = await proxy(h, '/proxy/crm/v2/contacts', { account: 'paused', replica: 0 });
      expect(first.status).toBe(429);
      expect(first.headers['retry-after']).toBe('30');
      expect(first.headers['x-broker-error']).toBeUndefined();
      expect(first.json).toMatchObject({ errors: { error_type: 'RATE_LIMIT_EXCEDDED' } });

      const held = await proxy(h, '/proxy/crm/v2/contacts', { account: 'paused', replica: 1 });
      expectBrokerError(held, 429, 'rate_limited');
      expect(Number(held.headers['retry-after'])).toBeGreaterThanOrEqual(28);
      expect(Number(held.headers['retry-after'])).toBeLessThanOrEqual(30);
      expect(h.rd.apiCalls()).toHaveLength(1);
      // Only that account is held.
      expect((await proxy(h, '/proxy/crm/v2/contacts', { replica: 1 })).status).toBe(200);
    });

    it("passes RD's own per-account limit through when the broker's budget is higher", async () => {
      expect((await connect(h, 'rdlimit', 'crm')).status).toBe(200);
      h.rd.reset();
      h.rd.apiRateLimitPerMinute = 2;
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++)
          statuses.push((await proxy(h, '/proxy/crm/v2/contacts', { account: 'rdlimit' })).status);
        expect(statuses).toEqual([200, 200, 429]);
        expect(h.rd.apiCalls()).toHaveLength(3);
        const held = await proxy(h, '/proxy/crm/v2/contacts', { account: 'rdlimit', replica: 1 });
        expectBrokerError(held, 429, 'rate_limited');
        expect(h.rd.apiCalls()).toHaveLength(3);
      } finally {
        h.rd.apiRateLimitPerMinute = 10_000;
      }
    });

    it.each([
      [[0, 1, 0], 1],
      [[1, 0, 1], 0],
    ])(
      "a connection's own budget of 3 (calls on replicas %j): the 4th call on replica %i answers 429 rate_limited, and RD saw 3",
      async (first, fourth) => {
        const account = `plan-${fourth}`;
        expect((await connect(h, account, 'crm')).status).toBe(200);
        const set = await setBudget(h, account, { rateLimitPerMinute: 3 }, { replica: 1 - fourth });
        expect(set.status).toBe(200);
        expect(await set.json()).toMatchObject({ account, product: 'crm', rateLimitPerMinute: 3 });
        expect((await connectionView(h, account, fourth)).rateLimitPerMinute).toBe(3);
        await awayFromMinuteEnd();
        h.rd.reset();
        for (const replica of first)
          expect((await proxy(h, '/proxy/crm/v2/contacts', { account, replica })).status).toBe(200);
        const refused = await proxy(h, '/proxy/crm/v2/contacts', { account, replica: fourth });
        expectBrokerError(refused, 429, 'rate_limited');
        expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(h.rd.apiCalls()).toHaveLength(3);
        // The other replica refuses too: one budget, wherever the calls came in.
        expectBrokerError(
          await proxy(h, '/proxy/crm/v2/contacts', { account, replica: 1 - fourth }),
          429,
          'rate_limited',
        );
        // Raised on one replica, it holds on the other within a second (a refusal is remembered
        // at most LEASE_MS); until then its calls are refused, and none reaches RD.
        expect(
          (await setBudget(h, account, { rateLimitPerMinute: 5 }, { replica: fourth })).status,
        ).toBe(200);
        expect(await firstAllowed(h, account, 1 - fourth)).toBe(200);
        // null: back to RD_RATE_LIMIT_PER_MINUTE (120).
        const reset = await setBudget(
          h,
          account,
          { rateLimitPerMinute: null },
          { replica: fourth },
        );
        expect(await reset.json()).toMatchObject({ rateLimitPerMinute: null });
        expect((await connectionView(h, account)).rateLimitPerMinute).toBeNull();
        for (const replica of [0, 1, 0]) expect(await firstAllowed(h, account, replica)).toBe(200);
        expect(h.rd.apiCalls()).toHaveLength(7);
      },
    );

    it("a connection's budget is admin only and validated: 400 invalid_request and nothing stored, 404 without a connection", async () => {
      expect((await connect(h, 'plan-checked', 'crm')).status).toBe(200);
      expect((await setBudget(h, 'plan-checked', { rateLimitPerMinute: 500 })).status).toBe(200);
      for (const body of [
        {},
        { rateLimitPerMinute: 0 },
        { rateLimitPerMinute: -1 },
        { rateLimitPerMinute: 1.5 },
        { rateLimitPerMinute: '7' },
        { rateLimitPerMinute: true },
        { rateLimitPerMinute: 100_001 },
        { rateLimitPerMinute: 7, other: 1 },
      ]) {
        const res = await setBudget(h, 'plan-checked', body, { replica: 1 });
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(await res.json()).toMatchObject({ error: 'invalid_request' });
      }
      expect((await connectionView(h, 'plan-checked')).rateLimitPerMinute).toBe(500);
      const notConnected = await setBudget(h, 'nobody-here', { rateLimitPerMinute: 5 });
      expect(notConnected.status).toBe(404);
      expect(await notConnected.json()).toMatchObject({ error: 'not_connected' });
      const asService = await setBudget(
        h,
        'plan-checked',
        { rateLimitPerMinute: 5 },
        { key: auth.service },
      );
      expect(asService.status).toBe(403);
      expect((await connectionView(h, 'plan-checked')).rateLimitPerMinute).toBe(500);
      // The list shows it too.
      const list = await fetch(`${h.broker.url}/connections?product=crm&limit=100`, {
        headers: { authorization: auth.admin },
      });
      const { items } = (await list.json()) as {
        items: Array<{ account: string; rateLimitPerMinute: number | null }>;
      };
      expect(items.find((c) => c.account === 'plan-checked')?.rateLimitPerMinute).toBe(500);
      expect(items.find((c) => c.account === 'acme')?.rateLimitPerMinute).toBeNull();
    });

    it('300 calls in a minute for one account over two replicas with a budget of 120: at most 126 reach RD, the rest get 429 rate_limited', async () => {
      expect((await connect(h, 'burst', 'crm')).status).toBe(200);
      h.rd.reset();
      const results: RawResponse[] = [];
      for (let batch = 0; batch < 6; batch++) {
        results.push(
          ...(await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              proxy(h, '/proxy/crm/v2/contacts', { account: 'burst', replica: i % 2 }),
            ),
          )),
        );
      }
      const passed = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.status !== 200);
      expect(h.rd.apiCalls()).toHaveLength(passed.length);
      expect(passed.length).toBeLessThanOrEqual(126);
      expect(passed.length).toBeGreaterThanOrEqual(100);
      expect(refused.length).toBe(300 - passed.length);
      for (const r of refused) {
        expectBrokerError(r, 429, 'rate_limited');
        expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      // The budget is per product × account: the same account's Marketing calls still pass.
      expect((await connect(h, 'burst', 'marketing')).status).toBe(200);
      const other = await proxy(h, '/proxy/platform/contacts/1', {
        account: 'burst',
        product: 'marketing',
      });
      expect(other.status).toBe(200);
    });
  });

  describe("the broker's own refusals", () => {
    let evil: TinyServer;
    let evilHost = '';

    beforeAll(async () => {
      evil = await startTinyServer((_request, res) => void res.end('owned'));
      evilHost = new URL(evil.url).host;
    });
    afterAll(() => evil.close());

    it.each([
      ['an absolute URL', () => `/proxy/http://${evilHost}/crm/v2/contacts`],
      ['a protocol-relative host', () => `/proxy//${evilHost}/crm/v2/contacts`],
      ['a .. segment', () => '/proxy/crm/v2/../../_fake/calls'],
      ['an encoded .. segment', () => '/proxy/crm/%2e%2e/_fake/calls'],
      ['an encoded slash', () => '/proxy/crm%2fv2/contacts'],
      ['an encoded backslash', () => '/proxy/crm%5cv2/contacts'],
      ['a backslash', () => `/proxy/\\\\${evilHost}/x`],
      ['an encoded CR/LF in the path', () => '/proxy/crm/v2/contacts%0d%0aHost:evil'],
      ['an encoded LF in the query', () => '/proxy/crm/v2/contacts?x=%0aHost:evil'],
      ['broken percent-encoding', () => '/proxy/crm/v2/%zz'],
    ])('refuses %s with 400 invalid_request, contacting no host', async (_what, path) => {
      const res = await proxy(h, path());
      expectBrokerError(res, 400, 'invalid_request');
      expect(h.rd.calls).toHaveLength(0);
      expect(evil.requests).toHaveLength(0);
    });

    it.each([
      ['without X-Account', { account: '' }, 'X-Account is required'],
      ['with a bad X-Account', { account: 'a b/../c' }, 'X-Account must be 1-128 characters'],
      ['without X-Product when two are configured', { product: '' }, 'X-Product is required'],
      ['with an unknown X-Product', { product: 'hubspot' }, 'X-Product must be crm or marketing'],
    ])('400 %s, the message naming the header', async (_what, options, message) => {
      const res = await proxy(h, '/proxy/crm/v2/contacts', options);
      expectBrokerError(res, 400, 'invalid_request');
      expect((res.json as { message: string }).message).toContain(message);
      expect(h.rd.calls).toHaveLength(0);
    });

    it('401 unauthorized without a valid API key', async () => {
      const res = await proxy(h, '/proxy/crm/v2/contacts', {
        headers: { authorization: 'Bearer not-a-key-0123456789abcdef0123456789' },
      });
      expectBrokerError(res, 401, 'unauthorized');
      expect(h.rd.calls).toHaveLength(0);
    });

    it('404 not_connected for an account without a connection', async () => {
      expectBrokerError(
        await proxy(h, '/proxy/crm/v2/contacts', { account: 'nobody' }),
        404,
        'not_connected',
      );
      expect(h.rd.calls).toHaveLength(0);
    });

    it('409 reauthorization_required for a condemned connection', async () => {
      expect((await connect(h, 'condemned', 'crm')).status).toBe(200);
      await h.db.dataSource.query(
        `UPDATE connections SET status = 'reauthorization_required', last_error = 'RD rejected the refresh token (invalid_grant)', last_error_at = now()
          WHERE account = 'condemned'`,
      );
      h.rd.reset();
      const res = await proxy(h, '/proxy/crm/v2/contacts', { account: 'condemned', replica: 1 });
      expectBrokerError(res, 409, 'reauthorization_required');
      expect(res.json).toMatchObject({ reason: expect.stringContaining('invalid_grant') });
      expect(h.rd.calls).toHaveLength(0);
    });

    it('503 provider_unavailable with Retry-After when RD does not answer in RD_TIMEOUT_MS', async () => {
      h.rd.failNextApi(1, { kind: 'hang' });
      const res = await proxy(h, '/proxy/crm/v2/contacts');
      expectBrokerError(res, 503, 'provider_unavailable');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    });

    it("503 provider_unavailable when RD's answer breaks off before the length it announced", async () => {
      h.rd.failNextApi(1, { kind: 'truncated' });
      const res = await proxy(h, '/proxy/crm/v2/contacts');
      expectBrokerError(res, 503, 'provider_unavailable');
      expect(res.json).toMatchObject({ message: 'RD Station broke off its answer' });
    });

    it('405 method_not_allowed for methods the proxy does not forward, 400 without an RD path', async () => {
      for (const method of ['HEAD', 'OPTIONS']) {
        const res = await proxy(h, '/proxy/crm/v2/contacts', { method });
        expect(res.status).toBe(405);
        expect(res.headers['x-broker-error']).toBe('method_not_allowed');
        expect(res.headers.allow).toBe('GET, POST, PUT, PATCH, DELETE');
      }
      expectBrokerError(await proxy(h, '/proxy'), 400, 'invalid_request');
      expect(h.rd.calls).toHaveLength(0);
    });
  });
});

/** A counter's value in Prometheus text, 0 when the series does not exist yet. */
function counter(metrics: string, series: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('/proxy metrics (a broker of its own: counts from zero, whatever ran before)', () => {
  let m: Harness;

  beforeAll(async () => {
    m = await createHarness({
      env: { RD_RATE_LIMIT_PER_MINUTE: '4' },
      rd: { apiRateLimitPerMinute: 10_000 },
    });
    expect((await connect(m, 'metered', 'crm')).status).toBe(200);
  });
  afterAll(() => m.close());

  it('counts proxied calls by product, method, RD status class and outcome, and budget refusals', async () => {
    const call = (method = 'GET') =>
      proxy(m, '/proxy/crm/v2/contacts', {
        method,
        account: 'metered',
        ...(method === 'POST'
          ? { body: '{}', headers: { 'content-type': 'application/json' } }
          : {}),
      });
    expect((await call('POST')).status).toBe(201);
    expect(m.rd.invalidateAccessToken(await servedToken(m, 'metered'))).toBe(true);
    expect((await call()).status).toBe(200); // RD's 401, one refresh, retried
    const answers: number[] = [];
    for (let i = 0; i < 6 && !answers.includes(429); i++) answers.push((await call()).status);
    const refused = answers.filter((status) => status === 429).length;
    expect(refused).toBe(1);

    const metrics = await (await fetch(`${m.broker.url}/metrics`)).text();
    const series = (outcome: string, method: string, rdStatus: string) =>
      counter(
        metrics,
        `broker_proxy_requests_total{product="crm",method="${method}",rd_status="${rdStatus}",outcome="${outcome}"}`,
      );
    expect(series('proxied', 'POST', '2xx')).toBe(1);
    expect(series('retried', 'GET', '2xx')).toBe(1);
    expect(series('proxied', 'GET', '2xx')).toBe(answers.length - refused);
    expect(series('rate_limited', 'GET', 'none')).toBe(refused);
    expect(
      counter(metrics, 'broker_proxy_budget_refusals_total{product="crm",reason="budget"}'),
    ).toBe(refused);
    expect(
      counter(metrics, 'broker_proxy_rd_duration_seconds_count{product="crm",rd_status="2xx"}'),
    ).toBeGreaterThanOrEqual(2 + answers.length - refused);
  });

  it('counts in the read audit only the calls that reached RD, not those the budget refused', async () => {
    // RD_RATE_LIMIT_PER_MINUTE is 4 here.
    expect((await connect(m, 'audit', 'crm')).status).toBe(200);
    const statuses: number[] = [];
    while (statuses.filter((status) => status === 429).length < 3 && statuses.length < 20)
      statuses.push((await proxy(m, '/proxy/crm/v2/contacts', { account: 'audit' })).status);
    const reachedRd = statuses.filter((status) => status === 200).length;
    expect(reachedRd + 3).toBe(statuses.length);
    expect(
      m.rd.apiCalls().filter((call) => call.query === '' && call.status === 200).length,
    ).toBeGreaterThanOrEqual(reachedRd);
    await m.broker.app.get(ReadCounter).flush();
    const [row] = await m.db.dataSource.query(
      `SELECT sum(count)::int AS count FROM connection_reads WHERE account = 'audit'`,
    );
    // Before: one per call, the 3 refused ones included.
    expect(row.count).toBe(reachedRd);
  });
});

describe('/proxy, issue 22 (security round 3): refreshes, request ids, odd answers, the read audit', () => {
  let s: Harness;
  const refreshes = () => s.rd.tokenCalls({ grantType: 'refresh_token' }).length;

  beforeAll(async () => {
    // REFRESH_MIN_INTERVAL_SECONDS at its default (30).
    s = await createHarness({
      env: { RD_TIMEOUT_MS: '500', RD_STREAM_TIMEOUT_MS: '3000' },
      rd: { apiRateLimitPerMinute: 10_000 },
    });
    for (const account of ['gw', 'expired', 'twice', 'ids', 'odd', 'stream', 'audit'])
      expect((await connect(s, account, 'crm')).status).toBe(200);
  });
  afterAll(() => s.close());
  beforeEach(() => s.rd.reset());

  it('refreshes nothing on a 401 that does not say the token is dead: 20 calls → 0 refreshes', async () => {
    // The gateway's bare 401 (`{"message":"Unauthorized"}`, a challenge without error=): what a
    // path or product the token does not reach answers. Before: 20 calls, 20 refreshes.
    s.rd.failNextApi(20, { kind: 'gateway', status: 401 });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await proxy(s, '/proxy/crm/v2/contacts', { account: 'gw' });
      expect(res.headers['x-broker-error']).toBeUndefined();
      statuses.push(res.status);
    }
    expect(statuses).toEqual(Array(20).fill(401));
    expect(refreshes()).toBe(0);
    expect(s.rd.apiCalls()).toHaveLength(20);
  });

  it('refreshes once and retries on a 401 whose challenge says error="expired_token"', async () => {
    s.rd.failNextApi(1, { kind: 'expired_token' });
    const res = await proxy(s, '/proxy/crm/v2/contacts', { account: 'expired' });
    expect(res.status).toBe(200);
    expect(refreshes()).toBe(1);
    expect(s.rd.apiCalls().map((call) => call.status)).toEqual([401, 200]);
  });

  it("refreshes a dead token once per REFRESH_MIN_INTERVAL_SECONDS: RD's next 401 goes back as it is", async () => {
    expect(s.rd.invalidateAccessToken(await servedToken(s, 'twice'))).toBe(true);
    expect((await proxy(s, '/proxy/crm/v2/contacts', { account: 'twice' })).status).toBe(200);
    expect(refreshes()).toBe(1);
    // RD refuses the new token too, seconds later: no second refresh within the interval.
    expect(s.rd.invalidateAccessToken(await servedToken(s, 'twice'))).toBe(true);
    for (let i = 0; i < 5; i++) {
      const res = await proxy(s, '/proxy/crm/v2/contacts', { account: 'twice' });
      expect(res.status).toBe(401);
      expect(res.headers['x-broker-error']).toBeUndefined();
      expect(res.json).toMatchObject({ errors: { error_type: 'UNAUTHORIZED' } });
    }
    expect(refreshes()).toBe(1);
  });

  it("keeps the broker's X-Request-Id on a proxied answer; RD's own is X-RD-Request-Id", async () => {
    const res = await proxy(s, '/proxy/crm/v2/contacts', {
      account: 'ids',
      headers: { 'x-request-id': 'caller-chosen-7' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe('caller-chosen-7');
    expect(res.headers['x-rd-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([600, 999])('answers 502 bad_gateway when RD answers status %i', async (status) => {
    s.rd.failNextApi(1, { kind: 'odd_status', status });
    const res = await proxy(s, '/proxy/crm/v2/contacts', { account: 'odd' });
    expectBrokerError(res, 502, 'bad_gateway');
  });

  it('streams an answer longer than RD_TIMEOUT_MS whole, and cuts one past RD_STREAM_TIMEOUT_MS', async () => {
    // 10 × 1 KB, 150 ms apart: 1.5 s, three times RD_TIMEOUT_MS (before: cut at 0.5 s).
    s.rd.failNextApi(1, { kind: 'slow_stream', chunks: 10, intervalMs: 150 });
    const whole = await proxy(s, '/proxy/crm/v2/contacts', { account: 'stream' });
    expect(whole.status).toBe(200);
    expect(JSON.parse(whole.text)).toHaveLength(10);

    // 40 × 150 ms = 6 s, past RD_STREAM_TIMEOUT_MS (3 s): the caller's answer breaks off, and
    // the access log says so (before: no line, or "200 request completed").
    const log = s.broker.app.getHttpAdapter().getInstance().log;
    const errors = jest.spyOn(log, 'error');
    try {
      s.rd.failNextApi(1, { kind: 'slow_stream', chunks: 40, intervalMs: 150 });
      await expect(
        proxy(s, '/proxy/crm/v2/contacts', {
          account: 'stream',
          headers: { 'x-request-id': 'cut-stream-1' },
        }),
      ).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
      const line = await waitFor(async () =>
        errors.mock.calls.find(
          ([fields]) => (fields as { requestId?: string }).requestId === 'cut-stream-1',
        ),
      );
      expect(line[0]).toMatchObject({ status: 200, cut: 'timeout', url: '/proxy/*' });
      expect(line[1]).toMatch(/^request cut/);
    } finally {
      errors.mockRestore();
    }
  });
});
