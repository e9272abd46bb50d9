import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerClient, type BrokerClientOptions } from '../../client/src/broker-client';
import { BrokerError } from '../../client/src/broker-error';
import { rejectedTokenHash } from '../../client/src/token-hash';
import {
  sendJson,
  startTinyServer,
  type Handler,
  type SeenRequest,
  type TinyServer,
} from '../support/tiny-server';
import { waitFor } from '../support/process';

const API_KEY = 'client-test-key-0123456789abcdef0123456789';

let server: TinyServer;
let issued = 0;

/**
 * A broker that answers every token request with a new token living `expiresIn` seconds from
 * `clock()` (the test's own clock when it moves time itself).
 */
function tokens(expiresIn = 3600, delayMs = 0, clock: () => number = Date.now) {
  return async (request: SeenRequest, response: ServerResponse) => {
    if (delayMs) await sleep(delayMs);
    const [, , account] = request.path.split('/');
    sendJson(response, 200, {
      account: decodeURIComponent(account),
      product: request.query.get('product') ?? 'crm',
      accessToken: `token-${++issued}`,
      tokenType: 'Bearer',
      expiresAt: new Date(clock() + expiresIn * 1000).toISOString(),
      expiresIn,
    });
  };
}

function client(options: Partial<BrokerClientOptions> = {}): BrokerClient {
  return new BrokerClient({ baseUrl: server.url, apiKey: API_KEY, product: 'crm', ...options });
}

/** Answers the first `count` requests with `fail`, the rest with `then`. */
function failFirst(count: number, fail: Handler, then: Handler = tokens()): Handler {
  let failed = 0;
  return (request, response, raw) =>
    failed++ < count ? fail(request, response, raw) : then(request, response, raw);
}

async function caught(promise: Promise<unknown>): Promise<BrokerError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BrokerError);
  return error as BrokerError;
}

beforeAll(async () => {
  server = await startTinyServer();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.handle = tokens();
});

describe('getToken: the memory cache', () => {
  it('asks the broker once for 1,000 calls, with the API key, product and minValidity + skew', async () => {
    const broker = client();
    const first = await broker.getToken('acme');
    for (let i = 0; i < 999; i++) expect(await broker.getToken('acme')).toEqual(first);
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request.path).toBe('/tokens/acme');
    expect(Object.fromEntries(request.query)).toEqual({ product: 'crm', minValidity: '120' });
    expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(first).toEqual({
      accessToken: 'token-' + issued,
      expiresAt: expect.any(Date),
      account: 'acme',
      product: 'crm',
    });
  });

  it('keeps one entry per account and product, and hands out copies', async () => {
    const broker = client();
    const crm = await broker.getToken('acme');
    crm.accessToken = 'changed by the caller';
    const marketing = await broker.getToken('acme', { product: 'marketing' });
    const other = await broker.getToken('other');
    expect(marketing.product).toBe('marketing');
    expect(new Set([marketing.accessToken, other.accessToken]).size).toBe(2);
    expect((await broker.getToken('acme')).accessToken).not.toBe('changed by the caller');
    expect(server.requests.map((r) => `${r.path}?${r.query}`)).toEqual([
      '/tokens/acme?product=crm&minValidity=120',
      '/tokens/acme?product=marketing&minValidity=120',
      '/tokens/other?product=crm&minValidity=120',
    ]);
  });

  it('sends no product when none is named, and escapes the account', async () => {
    const broker = client({ product: undefined });
    await broker.getToken('a:b.c');
    expect(server.requests[0].path).toBe('/tokens/a%3Ab.c');
    expect(server.requests[0].query.has('product')).toBe(false);
  });

  it('forgets a token on invalidate, for one product or all of them', async () => {
    const broker = client();
    await broker.getToken('acme');
    await broker.getToken('acme', { product: 'marketing' });
    broker.invalidate('acme', 'marketing');
    await broker.getToken('acme');
    await broker.getToken('acme', { product: 'marketing' });
    expect(server.requests).toHaveLength(3);
    new BrokerClient({ baseUrl: server.url, apiKey: API_KEY }).invalidate('acme'); // another client's cache is its own
    broker.invalidate('acme');
    expect(() => broker.invalidate('acme')).not.toThrow();
    const unnamed = client({ product: undefined });
    await unnamed.getToken('acme');
    unnamed.invalidate('acme');
    await unnamed.getToken('acme');
    expect(server.requests).toHaveLength(5);
  });

  it('does not cache the answer of a request that an invalidate overtook', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const answer = tokens();
    server.handle = async (request, response) => {
      await released;
      await answer(request, response);
    };
    const broker = client();
    const pending = broker.getToken('acme');
    // The request has reached the broker and its answer is held: the invalidate overtakes it.
    await waitFor(async () => (server.requests.length === 1 ? true : undefined));
    broker.invalidate('acme');
    release();
    await pending;
    await broker.getToken('acme');
    expect(server.requests).toHaveLength(2);
  });

  it('rejects a minValidity the broker would refuse, without asking it', async () => {
    const broker = client();
    for (const minValidity of [-1, 1.5, 3601, Number.NaN]) {
      await expect(broker.getToken('acme', { minValidity })).rejects.toThrow(RangeError);
    }
    expect(server.requests).toHaveLength(0);
  });
});

describe('getToken: skew', () => {
  it('uses a cached token only while it has minValidity + skew left', async () => {
    const broker = client({ skewSeconds: 30 });
    server.handle = tokens(100); // 100 s: enough for 60 + 30
    await broker.getToken('fits');
    await broker.getToken('fits');
    expect(server.requests).toHaveLength(1);

    // A larger minValidity makes the cached token too short: the broker is asked again.
    await broker.getToken('fits', { minValidity: 75 });
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1].query.get('minValidity')).toBe('105');
  });

  it('holds a token the broker answered with less than minValidity + skew for a moment, not per call', async () => {
    // The broker caps minValidity by the provider's lifetime and does not refresh a token it
    // refreshed seconds ago: asking again at once would get the same answer.
    let now = Date.now();
    server.handle = tokens(1.2, 0, () => now); // held for half its remaining life (at most 10 s)
    const broker = client({ now: () => now });
    const first = await broker.getToken('short');
    expect((await broker.getToken('short')).accessToken).toBe(first.accessToken);
    expect(server.requests).toHaveLength(1);
    // Not for a call that needs more than the answered request asked for.
    await broker.getToken('short', { minValidity: 61 });
    expect(server.requests).toHaveLength(2);
    now += 500; // still held (0.6 s)
    await broker.getToken('short');
    expect(server.requests).toHaveLength(2);
    now += 200;
    await broker.getToken('short');
    expect(server.requests).toHaveLength(3);
  });

  it('stops using a cached token once it is within minValidity + skew of expiring', async () => {
    let now = Date.now();
    server.handle = tokens(121.5, 0, () => now); // skew 60 + minValidity 60 = 120: usable for 1.5 s
    const broker = client({ now: () => now });
    await broker.getToken('acme');
    await broker.getToken('acme');
    expect(server.requests).toHaveLength(1);
    now += 1400;
    await broker.getToken('acme');
    expect(server.requests).toHaveLength(1);
    now += 200;
    await broker.getToken('acme');
    expect(server.requests).toHaveLength(2);
  });

  it('never asks the broker for more than its 3600-second cap', async () => {
    const broker = client();
    await broker.getToken('acme', { minValidity: 3600 });
    await broker.getToken('other', { minValidity: 3590 });
    expect(server.requests.map((r) => r.query.get('minValidity'))).toEqual(['3600', '3600']);
    // skew 0: minValidity as given
    await client({ skewSeconds: 0 }).getToken('acme', { minValidity: 0 });
    expect(server.requests[2].query.get('minValidity')).toBe('0');
  });
});

describe('getToken: single-flight', () => {
  it('sends one request for 100 concurrent calls on a cold cache, and all get its token', async () => {
    server.handle = tokens(3600, 100);
    const broker = client();
    const answers = await Promise.all(Array.from({ length: 100 }, () => broker.getToken('acme')));
    expect(server.requests).toHaveLength(1);
    expect(new Set(answers.map((a) => a.accessToken)).size).toBe(1);
  });

  it('shares a failure among the callers waiting together, and asks again afterwards', async () => {
    server.handle = async (_request, response) => {
      await sleep(50);
      sendJson(response, 404, { statusCode: 404, error: 'not_connected', message: 'no' });
    };
    const broker = client();
    const errors = await Promise.all(
      Array.from({ length: 10 }, () => caught(broker.getToken('acme'))),
    );
    expect(errors.map((e) => e.code)).toEqual(Array(10).fill('not_connected'));
    expect(server.requests).toHaveLength(1);
    server.handle = tokens();
    await broker.getToken('acme');
    expect(server.requests).toHaveLength(2);
  });

  it('keeps different keys apart', async () => {
    server.handle = tokens(3600, 50);
    const broker = client();
    await Promise.all([
      broker.getToken('a'),
      broker.getToken('b'),
      broker.getToken('a', { product: 'marketing' }),
      broker.getToken('a'),
    ]);
    expect(server.requests).toHaveLength(3);
  });
});

describe('getToken: a bounded cache', () => {
  it('keeps at most cacheSize tokens, dropping the least recently used', async () => {
    const broker = client({ cacheSize: 2 });
    await broker.getToken('a');
    await broker.getToken('b');
    await broker.getToken('a'); // a is now the most recently used
    await broker.getToken('c'); // evicts b
    expect(server.requests).toHaveLength(3);
    await broker.getToken('a');
    await broker.getToken('c');
    expect(server.requests).toHaveLength(3);
    await broker.getToken('b');
    expect(server.requests).toHaveLength(4);
  });

  it('caches nothing with cacheSize 0', async () => {
    const broker = client({ cacheSize: 0 });
    await broker.getToken('a');
    await broker.getToken('a');
    expect(server.requests).toHaveLength(2);
  });
});

describe('retries', () => {
  const refuse =
    (status: number, error: string, headers: Record<string, string> = {}) =>
    (_request: SeenRequest, response: ServerResponse) =>
      sendJson(response, status, { statusCode: status, error, message: error }, headers);

  it.each([
    [503, 'provider_unavailable'],
    [429, 'rate_limited'],
  ])('tries a %s again after Retry-After, then answers', async (status, code) => {
    server.handle = failFirst(2, refuse(status, code, { 'retry-after': '0' }));
    const token = await client().getToken('acme');
    expect(token.accessToken).toMatch(/^token-/);
    expect(server.requests).toHaveLength(3);
  });

  it('does not start a wait that would pass maxRetryWaitMs, and reports Retry-After', async () => {
    server.handle = refuse(503, 'provider_unavailable', { 'retry-after': '5' });
    const error = await caught(client({ maxRetryWaitMs: 1000 }).getToken('acme'));
    expect(error).toMatchObject({ code: 'provider_unavailable', status: 503, retryAfter: 5 });
    expect(server.requests).toHaveLength(1);
  });

  it('stops once the waits add up to maxRetryWaitMs', async () => {
    server.handle = refuse(429, 'rate_limited', { 'retry-after': '0' });
    const error = await caught(client({ maxRetryWaitMs: 300 }).getToken('acme'));
    expect(error.code).toBe('rate_limited');
    // every wait is 100-200 ms: at least one retry fits in 300 ms, at most three
    expect(server.requests.length).toBeGreaterThanOrEqual(2);
    expect(server.requests.length).toBeLessThanOrEqual(4);
  });

  it.each([
    [400, 'invalid_request'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_connected'],
    [409, 'reauthorization_required'],
    [500, 'internal_error'],
  ])('never tries a %s again', async (status, code) => {
    server.handle = refuse(status, code, { 'retry-after': '0' });
    const error = await caught(client().getToken('acme'));
    expect(error).toMatchObject({ code, status });
    expect(server.requests).toHaveLength(1);
  });

  it('tries again when the connection breaks, a bounded number of times', async () => {
    server.handle = (_request, response) => void response.socket?.destroy();
    const error = await caught(client({ networkRetries: 2 }).getToken('acme'));
    expect(error).toMatchObject({ code: 'network_error', status: 0 });
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.requests).toHaveLength(3);

    server.requests.length = 0;
    server.handle = failFirst(1, (_request, response) => void response.socket?.destroy());
    await client({ networkRetries: 2 }).getToken('acme');
    expect(server.requests).toHaveLength(2);
  });

  it('gives up an attempt after timeoutMs and counts it as a network failure', async () => {
    server.handle = () => undefined; // never answers
    const error = await caught(client({ timeoutMs: 200, networkRetries: 1 }).getToken('acme'));
    expect(error.code).toBe('network_error');
    expect(error.message).toContain('timed out after 200 ms');
    expect(server.requests).toHaveLength(2);
  });

  it('reports a broker nobody listens on as network_error', async () => {
    const gone = await startTinyServer();
    await gone.close();
    const broker = new BrokerClient({ baseUrl: gone.url, apiKey: API_KEY, networkRetries: 0 });
    const error = await caught(broker.getToken('acme'));
    expect(error).toMatchObject({ code: 'network_error', status: 0 });
    expect(error.message).toContain(gone.url);
  });
});

describe('errors', () => {
  it('carries code, status, the request id the broker sent, since and reason', async () => {
    server.handle = (_request, response) =>
      sendJson(
        response,
        409,
        {
          statusCode: 409,
          error: 'reauthorization_required',
          message: 'must be authorized again',
          since: '2026-11-26T12:00:00.000Z',
          reason: 'RD rejected the refresh token (invalid_grant)',
        },
        { 'x-request-id': 'req-409' },
      );
    const error = await caught(client().getToken('acme'));
    expect(error).toMatchObject({
      name: 'BrokerError',
      code: 'reauthorization_required',
      status: 409,
      message: 'must be authorized again',
      requestId: 'req-409',
      since: new Date('2026-11-26T12:00:00.000Z'),
      reason: 'RD rejected the refresh token (invalid_grant)',
    });
    expect(error.retryAfter).toBeUndefined();
    expect(error).toBeInstanceOf(Error);
  });

  it('falls back to the request id it sent, and reads Retry-After as a date too', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    server.handle = (_request, response) =>
      sendJson(
        response,
        503,
        { statusCode: 503, error: 'provider_unavailable', message: 'RD is down' },
        { 'retry-after': at },
      );
    const error = await caught(client({ maxRetryWaitMs: 0 }).getToken('acme'));
    expect(error.requestId).toBe(server.requests[0].headers['x-request-id']);
    expect(error.retryAfter).toBeGreaterThanOrEqual(28);
    expect(error.retryAfter).toBeLessThanOrEqual(30);
  });

  it('names an answer that is not the broker JSON by its status', async () => {
    server.handle = (_request, response) => {
      response.writeHead(502, { 'content-type': 'text/html' });
      response.end('<h1>Bad gateway</h1>');
    };
    const error = await caught(client().getToken('acme'));
    expect(error).toMatchObject({ code: 'http_502', status: 502 });
    server.handle = (_request, response) => {
      response.writeHead(403, { 'content-type': 'text/html' });
      response.end('<h1>Forbidden</h1>');
    };
    expect((await caught(client().getToken('acme'))).code).toBe('forbidden');
  });
});

describe('withToken', () => {
  const unauthorized = () => Object.assign(new Error('RD said 401'), { status: 401 });

  it('runs fn again with a replacement when it throws a 401, reporting the refused token', async () => {
    const broker = client();
    const seen: string[] = [];
    const result = await broker.withToken('acme', async (token) => {
      seen.push(token);
      if (seen.length === 1) throw unauthorized();
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen).toHaveLength(2);
    expect(seen[1]).not.toBe(seen[0]);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1].query.get('rejected')).toBe(rejectedTokenHash(seen[0]));
    // the replacement is cached
    expect((await broker.getToken('acme')).accessToken).toBe(seen[1]);
    expect(server.requests).toHaveLength(2);
  });

  it("does the same for a returned Response with 401, and for axios' error.response.status", async () => {
    const broker = client();
    let calls = 0;
    const response = await broker.withToken('acme', async () =>
      ++calls === 1 ? new Response('no', { status: 401 }) : new Response('yes', { status: 200 }),
    );
    expect(await response.text()).toBe('yes');
    calls = 0;
    const axiosLike = await broker.withToken('other', async () => {
      if (++calls === 1) throw Object.assign(new Error('401'), { response: { status: 401 } });
      return calls;
    });
    expect(axiosLike).toBe(2);
    expect(server.requests.filter((r) => r.query.has('rejected'))).toHaveLength(2);
  });

  it('leaves other outcomes alone, and runs fn at most twice', async () => {
    const broker = client();
    const ok = await broker.withToken('acme', async () => new Response('x', { status: 403 }));
    expect(ok.status).toBe(403);
    await expect(
      broker.withToken('acme', async () => {
        throw Object.assign(new Error('boom'), { status: 500 });
      }),
    ).rejects.toThrow('boom');
    let calls = 0;
    await expect(
      broker.withToken('acme', async () => {
        calls++;
        throw unauthorized();
      }),
    ).rejects.toThrow('RD said 401');
    expect(calls).toBe(2);
    expect(server.requests.filter((r) => r.query.has('rejected'))).toHaveLength(1);
  });

  it('sends one report for many concurrent callers holding the same refused token', async () => {
    server.handle = tokens(3600, 50);
    const broker = client();
    const first = await broker.getToken('acme');
    const seen = await Promise.all(
      Array.from({ length: 20 }, () =>
        broker.withToken('acme', async (token) => {
          if (token === first.accessToken) throw unauthorized();
          return token;
        }),
      ),
    );
    expect(new Set(seen).size).toBe(1);
    expect(server.requests.filter((r) => r.query.has('rejected'))).toHaveLength(1);
  });
});

describe('fetch through /proxy', () => {
  it('sends the request to /proxy/<path> with the API key, account and product', async () => {
    server.handle = (request, response) =>
      sendJson(response, 200, { echoed: request.body }, { 'x-rd': 'yes' });
    const broker = client();
    const response = await broker.fetch('acme', '/crm/v2/users?page=2', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'ignored' },
      body: JSON.stringify({ name: 'x' }),
      product: 'marketing',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-rd')).toBe('yes');
    expect(await response.json()).toEqual({ echoed: '{"name":"x"}' });
    const [request] = server.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/proxy/crm/v2/users' });
    expect(request.query.get('page')).toBe('2');
    expect(request.headers).toMatchObject({
      authorization: `Bearer ${API_KEY}`,
      'x-account': 'acme',
      'x-product': 'marketing',
      'content-type': 'application/json',
    });
  });

  it("returns RD's own answers, 401 and 429 included, without retrying them", async () => {
    for (const status of [401, 429, 503]) {
      server.requests.length = 0;
      server.handle = (_request, response) => sendJson(response, status, { rd: true });
      const response = await client().fetch('acme', 'marketing/account_info');
      expect(response.status).toBe(status);
      expect(server.requests).toHaveLength(1);
    }
  });

  it("throws the broker's own refusals, retrying 429 after Retry-After", async () => {
    server.handle = (_request, response) =>
      sendJson(
        response,
        404,
        { statusCode: 404, error: 'not_connected', message: 'no crm connection' },
        { 'x-broker-error': 'not_connected' },
      );
    expect(await caught(client().fetch('acme', 'crm/v2/users'))).toMatchObject({
      code: 'not_connected',
      status: 404,
    });
    server.requests.length = 0;
    server.handle = failFirst(
      1,
      (_request, response) =>
        sendJson(
          response,
          429,
          { statusCode: 429, error: 'rate_limited', message: 'budget spent' },
          { 'x-broker-error': 'rate_limited', 'retry-after': '0' },
        ),
      (_request, response) => sendJson(response, 200, { ok: true }),
    );
    const response = await client().fetch('acme', 'crm/v2/users', { method: 'POST', body: 'x' });
    expect(response.status).toBe(200);
    expect(server.requests).toHaveLength(2);
  });

  it('does not send a POST twice when no answer came back', async () => {
    server.handle = (_request, response) => void response.socket?.destroy();
    const error = await caught(
      client().fetch('acme', 'crm/v2/deals', { method: 'POST', body: '{}' }),
    );
    expect(error.code).toBe('network_error');
    expect(server.requests).toHaveLength(1);
    server.requests.length = 0;
    await caught(client({ networkRetries: 1 }).fetch('acme', 'crm/v2/deals'));
    expect(server.requests).toHaveLength(2);
  });
});
