import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type Product } from '../../src/config/config';
import { rdstationConfig } from '../../src/config/slices';
import { RdStationClient } from '../../src/rdstation/rdstation.client';
import { RdStationError } from '../../src/rdstation/rdstation.errors';
import { testEnv } from '../support/broker';
import { startTinyServer, type SeenRequest, type TinyServer } from '../support/tiny-server';

type Seen = SeenRequest;
type Handler = (res: ServerResponse, req: Seen) => void;

/** A local stand-in for RD: answers with the queued handlers in order, the last one repeating. */
let server: TinyServer;
let baseUrl: string;
let handlers: Handler[] = [];
let seen: Seen[] = [];
const clients: RdStationClient[] = [];

function reply(status: number, body?: unknown, headers: Record<string, string> = {}): Handler {
  return (res) => {
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    const type = typeof body === 'string' ? 'text/html' : 'application/json';
    res.writeHead(status, { 'content-type': type, ...headers }).end(text);
  };
}

function answer(...queue: Handler[]): void {
  handlers = queue;
}

function client(overrides: Record<string, string> = {}): RdStationClient {
  const config = loadConfig(
    testEnv({
      RD_API_URL: baseUrl,
      RD_ACCOUNTS_URL: 'https://accounts.example.test/',
      RD_TIMEOUT_MS: '2000',
      PUBLIC_URL: 'https://broker.example.test',
      ...overrides,
    }),
  );
  const created = new RdStationClient(rdstationConfig(config));
  clients.push(created);
  return created;
}

async function failure(promise: Promise<unknown>): Promise<RdStationError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RdStationError);
    return error as RdStationError;
  }
  throw new Error('expected an RdStationError');
}

const form = (body: string) => Object.fromEntries(new URLSearchParams(body));
const TOKENS = { access_token: 'new-access', refresh_token: 'new-refresh', expires_in: 7200 };
const REDIRECT = 'https://broker.example.test/oauth/callback';

beforeAll(async () => {
  server = await startTinyServer((request, res) => {
    seen.push(request);
    const handler = handlers.length > 1 ? handlers.shift()! : handlers[0];
    handler(res, request);
  });
  baseUrl = server.url;
});

beforeEach(() => {
  seen = [];
  handlers = [reply(200, TOKENS)];
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.onModuleDestroy()));
  await server.close();
});

describe('RdStationClient.authorizeUrl', () => {
  const state = 'st ate/&=+é?#';

  it.each([
    [
      'crm' as Product,
      'https://accounts.example.test/oauth/authorize',
      { response_type: 'code', client_id: 'crm-client', redirect_uri: REDIRECT, state },
    ],
    [
      'marketing' as Product,
      `BASE/auth/dialog`,
      { client_id: 'mkt-client', redirect_uri: REDIRECT, state },
    ],
  ])('builds the %s consent URL', (product, endpoint, params) => {
    const url = client().authorizeUrl(product, state);
    const parsed = new URL(url);
    expect(`${parsed.origin}${parsed.pathname}`).toBe(endpoint.replace('BASE', baseUrl));
    expect([...parsed.searchParams.entries()]).toEqual(Object.entries(params));
    expect(url).toContain('redirect_uri=https%3A%2F%2Fbroker.example.test%2Foauth%2Fcallback');
    expect(url).not.toContain(state);
    expect(url).not.toContain('secret');
  });

  it('throws a clear error for a product that is not configured', () => {
    const crmOnly = client({ RD_MARKETING_CLIENT_ID: '', RD_MARKETING_CLIENT_SECRET: '' });
    expect(() => crmOnly.authorizeUrl('marketing', 's')).toThrow(
      'RD Station product "marketing" is not configured: set RD_MARKETING_CLIENT_ID and RD_MARKETING_CLIENT_SECRET',
    );
  });

  it('refuses token calls for an unconfigured product without calling RD', async () => {
    const mktOnly = client({ RD_CRM_CLIENT_ID: '', RD_CRM_CLIENT_SECRET: '' });
    await expect(mktOnly.refresh('crm', 'rt')).rejects.toThrow('"crm" is not configured');
    await expect(mktOnly.revoke('crm', { refreshToken: 'rt', accessToken: 'at' })).rejects.toThrow(
      '"crm" is not configured',
    );
    expect(seen).toHaveLength(0);
  });
});

describe('RdStationClient token requests', () => {
  it.each([
    [
      'crm exchange',
      (c: RdStationClient) => c.exchangeCode('crm', 'the-code'),
      '/oauth2/token',
      'application/x-www-form-urlencoded',
      {
        grant_type: 'authorization_code',
        code: 'the-code',
        redirect_uri: REDIRECT,
        client_id: 'crm-client',
        client_secret: 'crm-secret',
      },
    ],
    [
      'crm refresh',
      (c: RdStationClient) => c.refresh('crm', 'old-refresh'),
      '/oauth2/token',
      'application/x-www-form-urlencoded',
      {
        grant_type: 'refresh_token',
        refresh_token: 'old-refresh',
        client_id: 'crm-client',
        client_secret: 'crm-secret',
      },
    ],
    [
      'marketing exchange',
      (c: RdStationClient) => c.exchangeCode('marketing', 'the-code'),
      '/auth/token?token_by=code',
      'application/json',
      { client_id: 'mkt-client', client_secret: 'mkt-secret', code: 'the-code' },
    ],
    [
      'marketing refresh',
      (c: RdStationClient) => c.refresh('marketing', 'old-refresh'),
      '/auth/token',
      'application/json',
      { client_id: 'mkt-client', client_secret: 'mkt-secret', refresh_token: 'old-refresh' },
    ],
  ])('%s sends the documented request', async (_name, call, path, contentType, fields) => {
    await expect(call(client())).resolves.toEqual({
      accessToken: 'new-access',
      refreshToken: 'new-refresh',
      expiresIn: 7200,
    });
    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request.method).toBe('POST');
    expect(request.url).toBe(path);
    expect(request.headers['content-type']).toBe(contentType);
    expect(request.headers.accept).toBe('application/json');
    expect(request.headers.authorization).toBeUndefined();
    const body = contentType === 'application/json' ? JSON.parse(request.body) : form(request.body);
    expect(body).toEqual(fields);
  });
});

describe('RdStationClient response mapping', () => {
  it.each([
    ['crm', 'refresh', { ...TOKENS, expires_in: '3600' }, 'new-refresh', 3600],
    ['crm', 'refresh', { access_token: 'a', refresh_token: 'r' }, 'r', 7200],
    ['marketing', 'refresh', { access_token: 'a', refresh_token: 'r' }, 'r', 86400],
    ['marketing', 'refresh', { access_token: 'a', expires_in: 86400 }, null, 86400],
    ['marketing', 'refresh', { access_token: 'a', refresh_token: null, expires_in: 5 }, null, 5],
    ['marketing', 'exchange', { access_token: 'a', refresh_token: 'r', extra: 1 }, 'r', 86400],
  ] as const)('%s %s maps %j', async (product, operation, body, refreshToken, expiresIn) => {
    answer(reply(200, body));
    const c = client();
    const tokens = await (operation === 'refresh'
      ? c.refresh(product, 'rt')
      : c.exchangeCode(product, 'code'));
    expect(tokens).toEqual({
      accessToken: body.access_token,
      refreshToken,
      expiresIn,
    });
  });

  it('fails as suspect when a code exchange brings no refresh token', async () => {
    answer(reply(200, { access_token: 'a', expires_in: 7200 }));
    const error = await failure(client().exchangeCode('crm', 'code'));
    expect(error).toMatchObject({ kind: 'suspect', code: 'missing_refresh_token', status: 200 });
  });

  it.each([
    ['no access_token', { refresh_token: 'r', expires_in: 10 }],
    ['empty access_token', { access_token: '', expires_in: 10 }],
    ['non-numeric expires_in', { access_token: 'a', refresh_token: 'r', expires_in: 'soon' }],
    ['negative expires_in', { access_token: 'a', refresh_token: 'r', expires_in: -1 }],
    ['non-string refresh_token', { access_token: 'a', refresh_token: 42 }],
    ['a JSON array', [TOKENS]],
    ['an HTML page', '<html>maintenance</html>'],
    ['an empty body', undefined],
  ])('treats a 2xx with %s as transient invalid_response', async (_name, body) => {
    answer(reply(200, body));
    const error = await failure(client().refresh('crm', 'rt'));
    expect(error).toMatchObject({
      kind: 'transient',
      code: 'invalid_response',
      status: 200,
    });
  });
});

describe('RdStationClient error classification', () => {
  const soon = new Date(Date.now() + 90_000).toUTCString();
  const past = new Date(Date.now() - 90_000).toUTCString();

  // [status, body, headers, kind, code, retryAfterSeconds]
  // prettier-ignore
  const table = [
    [400, { error: 'invalid_grant', error_description: 'bad grant' }, {}, 'grant_rejected', 'invalid_grant', null],
    [401, { error_type: 'INVALID_REFRESH_TOKEN', error_message: 'gone' }, {}, 'grant_rejected', 'INVALID_REFRESH_TOKEN', null],
    [401, { errors: { error_type: 'EXPIRED_CODE_GRANT', error_message: 'late' } }, {}, 'suspect', 'http_401', null],
    [401, { errors: [{ error_type: 'UNAUTHORIZED', error_message: 'no' }] }, {}, 'suspect', 'http_401', null],
    [401, { errors: [{ error_type: 'ACCESS_DENIED' }] }, {}, 'client_rejected', 'ACCESS_DENIED', null],
    [401, { errors: { error: 'invalid_client' } }, {}, 'suspect', 'http_401', null],
    [400, { error: 'invalid_client', error_description: 'bad secret' }, {}, 'client_rejected', 'invalid_client', null],
    [400, [{ error: 'unauthorized_client' }], {}, 'suspect', 'http_400', null],
    [401, { error: 'unauthorized_client' }, {}, 'client_rejected', 'unauthorized_client', null],
    [403, undefined, {}, 'suspect', 'http_403', null],
    [400, 'Bad Request', {}, 'suspect', 'http_400', null],
    [400, { error: 'has spaces in it' }, {}, 'suspect', 'http_400', null],
    [422, { error: 'invalid_grant' }, {}, 'suspect', 'http_422', null],
    [404, '<html>Not Found</html>', {}, 'suspect', 'http_404', null],
    [502, '<html><body>502 Bad Gateway</body></html>', {}, 'transient', 'http_502', null],
    [500, {}, {}, 'transient', 'http_500', null],
    [503, { error: 'temporarily_unavailable' }, { 'retry-after': '120' }, 'transient', 'http_503', 120],
    [503, '', { 'retry-after': 'garbage' }, 'transient', 'http_503', null],
    [429, { errors: { error_type: 'RATE_LIMIT_EXCEDDED' } }, { 'retry-after': '30' }, 'transient', 'rate_limited', 30],
    [429, { error_type: 'RATE_LIMIT_EXCEDDED' }, { 'retry-after': past }, 'transient', 'rate_limited', 0],
    [429, undefined, {}, 'transient', 'rate_limited', null],
  ] as const;

  it.each(table)('HTTP %i %j %j → %s %s', async (status, body, headers, kind, code, retryAfter) => {
    answer(reply(status, body, headers));
    const error = await failure(client().refresh('crm', 'rt'));
    expect(error).toMatchObject({
      kind,
      code,
      status,
      retryAfterSeconds: retryAfter,
    });
    expect(error.name).toBe('RdStationError');
    expect(error.message).toMatch(new RegExp(`^RD Station crm refresh failed: HTTP ${status}`));
    expect(error.message).not.toMatch(/<html>|<body>/);
  });

  it('keeps RD’s description in the message', async () => {
    answer(reply(400, { error: 'invalid_grant', error_description: 'Refresh token revoked' }));
    const error = await failure(client().refresh('crm', 'rt'));
    expect(error.message).toBe(
      'RD Station crm refresh failed: HTTP 400 invalid_grant: Refresh token revoked',
    );
  });

  it('reads Retry-After as an HTTP-date', async () => {
    answer(reply(429, {}, { 'retry-after': soon }));
    const error = await failure(client().refresh('crm', 'rt'));
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(80);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(91);
  });

  it('classifies a refused connection as transient network', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(
      client({ RD_API_URL: `http://127.0.0.1:${port}` }).refresh('crm', 'rt'),
    );
    expect(error).toMatchObject({ kind: 'transient', code: 'network', status: null });
    expect(error.message).toContain('ECONNREFUSED');
  });

  it.each([
    ['never sends headers', () => undefined],
    [
      'never finishes the body',
      (res: ServerResponse) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"access_token":');
      },
    ],
    [
      'drips the body slower than the deadline',
      (res: ServerResponse) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const drip = setInterval(
          () => (res.writableEnded ? clearInterval(drip) : res.write(' ')),
          50,
        );
        res.on('close', () => clearInterval(drip));
      },
    ],
  ])('times out within the deadline when RD %s', async (_name, handler) => {
    answer(handler);
    const started = Date.now();
    const error = await failure(client({ RD_TIMEOUT_MS: '300' }).refresh('crm', 'rt'));
    const took = Date.now() - started;
    expect(error).toMatchObject({ kind: 'transient', code: 'timeout', status: null });
    expect(error.message).toContain('300 ms');
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(300 + 700);
  });
});

describe('RdStationClient client-secret rotation', () => {
  it.each([
    ['crm', { error: 'invalid_client' }, 401],
    ['crm', { error: 'unauthorized_client' }, 400],
    ['marketing', { errors: { error_type: 'ACCESS_DENIED', error_message: 'denied' } }, 401],
  ] as const)('%s: tries the next secret after %j', async (product, body, status) => {
    answer(reply(status, body), reply(200, TOKENS));
    const prefix = product === 'crm' ? 'RD_CRM' : 'RD_MARKETING';
    const c = client({ [`${prefix}_CLIENT_SECRET`]: 'secret-new, secret-old' });
    await expect(c.refresh(product, 'rt')).resolves.toMatchObject({ accessToken: 'new-access' });
    const secrets = seen.map((request) =>
      product === 'crm' ? form(request.body).client_secret : JSON.parse(request.body).client_secret,
    );
    expect(secrets).toEqual(['secret-new', 'secret-old']);
  });

  it('throws the last rejection when every secret is refused', async () => {
    answer(reply(401, { error: 'invalid_client', error_description: 'nope' }));
    const c = client({ RD_CRM_CLIENT_SECRET: 'one,two,three' });
    const error = await failure(c.exchangeCode('crm', 'code'));
    expect(seen.map((request) => form(request.body).client_secret)).toEqual([
      'one',
      'two',
      'three',
    ]);
    expect(error).toMatchObject({
      kind: 'client_rejected',
      code: 'invalid_client',
    });
    expect(error.message).toContain('client credentials rejected');
  });

  it.each([
    ['a bad grant', reply(400, { error: 'invalid_grant' }), 'invalid_grant'],
    ['a 503', reply(503, '<html>down</html>'), 'http_503'],
    ['a rate limit', reply(429, {}), 'rate_limited'],
  ])('does not try the next secret after %s', async (_name, handler, code) => {
    answer(handler, reply(200, TOKENS));
    const c = client({ RD_CRM_CLIENT_SECRET: 'secret-new,secret-old' });
    const error = await failure(c.refresh('crm', 'rt'));
    expect(error.code).toBe(code);
    expect(seen).toHaveLength(1);
  });
});

describe('RdStationClient never leaks secrets', () => {
  const code = 'code-VERY-SECRET-123';
  const refreshToken = 'refresh/VERY+SECRET=456';
  const secret = 'client-VERY-SECRET-789';
  const leaks = [code, refreshToken, encodeURIComponent(refreshToken), secret, 'VERY'];

  it.each([
    [
      'the refresh token in the description',
      'refresh',
      { error: 'invalid_grant', error_description: `token ${refreshToken} is dead` },
    ],
    [
      'the URL-encoded refresh token',
      'refresh',
      {
        error: 'invalid_grant',
        error_description: `refresh_token=${encodeURIComponent(refreshToken)}`,
      },
    ],
    [
      'the client secret in RD shape',
      'refresh',
      { errors: [{ error_type: 'ACCESS_DENIED', error_message: `secret ${secret} wrong` }] },
    ],
    [
      'the code',
      'exchange',
      { error_type: 'EXPIRED_CODE_GRANT', error_message: `code ${code} expired` },
    ],
    ['the code as the error code', 'exchange', { error: code, error_description: code }],
    [
      'secrets under an unknown code',
      'refresh',
      { error: 'server_error', error_description: `${refreshToken} ${secret}` },
    ],
  ] as const)('scrubs %s', async (_name, operation, body) => {
    answer(reply(operation === 'exchange' ? 401 : 400, body));
    const c = client({ RD_CRM_CLIENT_SECRET: secret });
    const error = await failure(
      operation === 'exchange' ? c.exchangeCode('crm', code) : c.refresh('crm', refreshToken),
    );
    const exposed = `${error.message} ${error.code} ${error.stack} ${JSON.stringify(error)}`;
    for (const leak of leaks) expect(exposed).not.toContain(leak);
    expect(error.message).toContain('[redacted]');
  });

  it('truncates a long description to about 200 characters', async () => {
    answer(reply(400, { error: 'invalid_grant', error_description: 'x'.repeat(5000) }));
    const error = await failure(client().refresh('crm', 'rt'));
    expect(error.message.length).toBeLessThan(300);
  });

  it('scrubs the access token RD echoes on revoke', async () => {
    answer(reply(401, { error_type: 'UNAUTHORIZED', error_message: 'bad token at-SECRET-1' }));
    const error = await failure(
      client().revoke('marketing', { refreshToken: 'rt-SECRET-2', accessToken: 'at-SECRET-1' }),
    );
    expect(error.message).not.toContain('at-SECRET-1');
    expect(error.message).not.toContain('rt-SECRET-2');
  });
});

describe('RdStationClient with RD_MARKETING_OAUTH=oauth2', () => {
  it('sends Marketing consent to the accounts host and token calls as forms to /oauth2/token', async () => {
    const c = client({ RD_MARKETING_OAUTH: 'oauth2' });
    const url = new URL(c.authorizeUrl('marketing', 'st'));
    expect(`${url.origin}${url.pathname}`).toBe('https://accounts.example.test/oauth/authorize');
    expect(url.searchParams.get('response_type')).toBe('code');
    answer(reply(200, TOKENS));
    await c.refresh('marketing', 'rt');
    await c.exchangeCode('marketing', 'the-code');
    expect(seen.map((request) => request.url)).toEqual(['/oauth2/token', '/oauth2/token']);
    expect(seen[0].headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(form(seen[0].body)).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'rt' });
    expect(form(seen[1].body)).toMatchObject({
      grant_type: 'authorization_code',
      code: 'the-code',
      redirect_uri: 'https://broker.example.test/oauth/callback',
      client_id: 'mkt-client',
    });
    expect(c.supportsRevocation('marketing')).toBe(true);
  });

  it('keeps the legacy endpoints by default', () => {
    const url = new URL(client().authorizeUrl('marketing', 'st'));
    expect(url.pathname).toBe('/auth/dialog');
  });
});

describe('RdStationClient revoke', () => {
  it('revokes a Marketing grant with its refresh token, a bearer header and a form body', async () => {
    answer(reply(200, {}));
    const c = client();
    expect(c.supportsRevocation('marketing')).toBe(true);
    await expect(
      c.revoke('marketing', { refreshToken: 'the-refresh', accessToken: 'the-access' }),
    ).resolves.toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/auth/revoke' });
    expect(seen[0].headers.authorization).toBe('Bearer the-access');
    expect(seen[0].headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(form(seen[0].body)).toEqual({ token: 'the-refresh', token_type_hint: 'refresh_token' });
  });

  it('answers false for CRM without calling RD', async () => {
    const c = client();
    expect(c.supportsRevocation('crm')).toBe(false);
    await expect(
      c.revoke('crm', { refreshToken: 'the-refresh', accessToken: 'the-access' }),
    ).resolves.toBe(false);
    expect(seen).toHaveLength(0);
  });

  it.each([
    [reply(401, { errors: { error_type: 'UNAUTHORIZED', error_message: 'x' } }), 'grant_rejected'],
    [reply(401, { errors: { error_type: 'ACCESS_DENIED', error_message: 'x' } }), 'suspect'],
    [reply(403, { message: 'Forbidden' }), 'suspect'],
  ])(
    'reports a refused revocation typed, never as a credentials problem (%#)',
    async (handler, kind) => {
      answer(handler);
      const tokens = { refreshToken: 'the-refresh', accessToken: 'the-access' };
      const error = await failure(client().revoke('marketing', tokens));
      expect(error).toMatchObject({ kind });
      expect(seen).toHaveLength(1);
    },
  );
});

describe('RdStationClient accountInfo', () => {
  it('reads the Marketing account name with the bearer token', async () => {
    answer(reply(200, { name: 'ACME Ltda' }));
    await expect(client().accountInfo('the-access')).resolves.toEqual({ name: 'ACME Ltda' });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/marketing/account_info', body: '' });
    expect(seen[0].headers.authorization).toBe('Bearer the-access');
  });

  it.each([
    [reply(200, { nome: 'x' }), 'transient', 'invalid_response'],
    [reply(401, { errors: { error_type: 'UNAUTHORIZED' } }), 'grant_rejected', 'UNAUTHORIZED'],
    [reply(503, 'down'), 'transient', 'http_503'],
  ])('fails typed (%#)', async (handler, kind, code) => {
    answer(handler);
    const error = await failure(client().accountInfo('the-access'));
    expect(error).toMatchObject({ kind, code });
  });
});

describe('RdStationClient lifecycle', () => {
  it('closes its agent on module destroy', async () => {
    const c = client();
    await c.onModuleDestroy();
    const error = await failure(c.refresh('crm', 'rt'));
    expect(error).toMatchObject({ kind: 'transient', code: 'network' });
  });
});
