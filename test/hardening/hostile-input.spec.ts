/**
 * Hostile input, table-driven, across every route that takes input. Each case must get a clear
 * 4xx: JSON `{statusCode, error, message}` with a stable `error` code (or, on the browser-facing
 * callback, the HTML error page), never a 500, and must leave the database exactly as it was
 * (every row of every table compared before and after). HTML pages must not reflect raw markup.
 */
import { connect as connectSocket } from 'node:net';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../src/http/json-body';
import { PAGE_TEXT } from '../../src/oauth/callback-page';
import { type CallbackFailure } from '../../src/oauth/oauth.service';
import { snapshotDatabase } from '../support/db-snapshot';
import { auth, connect, createHarness, type Harness } from '../support/harness';
import { rawRequest, type RawResponse } from '../support/raw-http';

const ALLOWED_RETURN = 'https://app.example.com/rd';
/** The allowlist entry of the outside review's returnTo findings. */
const ALLOWED_DEEP_RETURN = 'https://app.example.com/integrations/rd';
const STABLE_CODES = [
  'invalid_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'not_connected',
  'method_not_allowed',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'request_too_large',
];

type Who = 'service' | 'admin';

interface JsonCase {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  who?: Who;
  /** A JSON value (serialised here) or a raw string/Buffer body. */
  json?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  status: number;
  error: string;
}

const enc = encodeURIComponent;
const b64url = (text: string) => Buffer.from(text).toString('base64url');
const big = (bytes: number) =>
  JSON.stringify({ account: 'acme', product: 'crm', pad: 'x'.repeat(bytes) });

const bad = (path: string, extra: Partial<JsonCase> = {}): JsonCase => ({
  path,
  status: 400,
  error: 'invalid_request',
  ...extra,
});
const authorize = (json: unknown, extra: Partial<JsonCase> = {}): JsonCase =>
  bad('/oauth/authorize-url', { method: 'POST', json, ...extra });
const returnTo = (value: unknown) =>
  authorize({ account: 'acme', product: 'crm', returnTo: value });
/** A body whose `pad` field nests `depth` arrays (`[[[…]]]`). */
const nested = (depth: number, fields = '"account":"acme","product":"crm"') =>
  `{${fields},"pad":${'['.repeat(depth)}${']'.repeat(depth)}}`;
const importBody = (json: unknown, account = 'acme', extra: Partial<JsonCase> = {}): JsonCase =>
  bad(`/connections/${account}`, { method: 'PUT', who: 'admin', json, ...extra });

/** [name, case]: the name says what the attack is. */
const JSON_CASES: Array<[string, JsonCase]> = [
  // ---- GET /tokens/:account — the account path parameter
  ['path traversal ../../etc/passwd (encoded)', bad('/tokens/..%2F..%2Fetc%2Fpasswd?product=crm')],
  ['path traversal %2e%2e%2f', bad('/tokens/%2e%2e%2f?product=crm')],
  ['path traversal ..%5c (backslash)', bad('/tokens/..%5c..%5cwindows?product=crm')],
  ['encoded slash inside the account', bad('/tokens/acme%2Fother?product=crm')],
  ['NUL byte after the account', bad('/tokens/acme%00?product=crm')],
  ['NUL byte alone', bad('/tokens/%00?product=crm')],
  ['emoji', bad(`/tokens/acme${enc('😀')}?product=crm`)],
  ['RTL override', bad(`/tokens/acme${enc('\u202e')}moc?product=crm`)],
  ['zero-width space', bad(`/tokens/ac${enc('\u200b')}me?product=crm`)],
  ['fullwidth homoglyphs', bad(`/tokens/${enc('ａｃｍｅ')}?product=crm`)],
  ['Cyrillic homoglyph', bad(`/tokens/${enc('аcme')}?product=crm`)],
  ['invalid UTF-8 percent-encoding', bad('/tokens/%ff%fe?product=crm')],
  ['a lone percent sign', bad('/tokens/acme%?product=crm')],
  ['trailing space', bad('/tokens/acme%20?product=crm')],
  ['CRLF header injection', bad('/tokens/acme%0D%0ASet-Cookie:%20x=1?product=crm')],
  ['SQL injection', bad(`/tokens/${enc("acme' OR '1'='1")}?product=crm`)],
  ['shell metacharacters', bad(`/tokens/${enc('acme;rm -rf /')}?product=crm`)],
  ['HTML in the account', bad(`/tokens/${enc('<script>alert(1)</script>')}?product=crm`)],
  ['a wildcard account', bad('/tokens/*?product=crm')],
  ['129-character account', bad(`/tokens/${'a'.repeat(129)}?product=crm`)],
  ['1,000-character account', bad(`/tokens/${'a'.repeat(1000)}?product=crm`)],
  [
    '5,000-character account (beyond the router limit)',
    bad(`/tokens/${'a'.repeat(5000)}?product=crm`),
  ],
  [
    '".." is a legal account, and not connected',
    { path: '/tokens/%2e%2e?product=crm', status: 404, error: 'not_connected' },
  ],
  [
    'an extra path segment',
    { path: '/tokens/acme/..?product=crm', status: 404, error: 'not_found' },
  ],
  ['an empty account', { path: '/tokens/?product=crm', status: 404, error: 'not_found' }],
  // ---- GET /tokens/:account — the query
  ['duplicated product', bad('/tokens/acme?product=crm&product=marketing')],
  ['duplicated minValidity', bad('/tokens/acme?product=crm&minValidity=1&minValidity=2')],
  ['product in another case', bad('/tokens/acme?product=CRM')],
  ['product with a NUL', bad('/tokens/acme?product=crm%00')],
  ['product as a bracket array', bad('/tokens/acme?product[]=crm')],
  ['minValidity 1e9', bad('/tokens/acme?product=crm&minValidity=1e9')],
  ['minValidity Infinity', bad('/tokens/acme?product=crm&minValidity=Infinity')],
  ['minValidity NaN', bad('/tokens/acme?product=crm&minValidity=NaN')],
  ['minValidity as an object', bad('/tokens/acme?product=crm&minValidity[gt]=1')],
  [
    'constructor pollution in the query',
    bad('/tokens/acme?product=crm&constructor[prototype][admin]=1'),
  ],
  ['a 10 KB unknown parameter', bad(`/tokens/acme?product=crm&pad=${'x'.repeat(10_240)}`)],
  ['a 10 KB product', bad(`/tokens/acme?product=${'crm'.repeat(3414)}`)],
  [
    'a 20 KB query (over the header limit)',
    {
      path: `/tokens/acme?product=crm&pad=${'x'.repeat(20_480)}`,
      status: 431,
      error: 'request_too_large',
    },
  ],
  // ---- POST /oauth/authorize-url — wrong types, hostile accounts
  ['account "../etc"', authorize({ account: '../etc', product: 'crm' })],
  ['account with RTL override', authorize({ account: '\u202eacme', product: 'crm' })],
  ['account with NUL', authorize({ account: 'acme\u0000', product: 'crm' })],
  ['account emoji', authorize({ account: '😀', product: 'crm' })],
  ['account of 129 chars', authorize({ account: 'a'.repeat(129), product: 'crm' })],
  ['account as an array', authorize({ account: ['acme'], product: 'crm' })],
  ['account as an object', authorize({ account: { $ne: null }, product: 'crm' })],
  ['account as a number', authorize({ account: 42, product: 'crm' })],
  ['account null', authorize({ account: null, product: 'crm' })],
  ['account true', authorize({ account: true, product: 'crm' })],
  ['product as an array', authorize({ account: 'acme', product: ['crm'] })],
  ['product as an operator object', authorize({ account: 'acme', product: { $ne: null } })],
  ['returnTo as a number', returnTo(123)],
  ['returnTo as an array', returnTo([ALLOWED_RETURN])],
  ['an unknown field', authorize({ account: 'acme', product: 'crm', scope: 'admin' })],
  ['a JSON array body', authorize([{ account: 'acme', product: 'crm' }])],
  ['a JSON string body', authorize('acme')],
  ['a JSON null body', authorize(null)],
  ['a JSON number body', authorize(42)],
  ['truncated JSON', authorize(undefined, { raw: '{"account":' })],
  ['JSON with a trailing comma', authorize(undefined, { raw: '{"account":"acme",}' })],
  ['JSON with comments', authorize(undefined, { raw: '{"account":"acme" /* x */}' })],
  ['an empty JSON body', authorize(undefined, { raw: '' })],
  [
    '__proto__ pollution',
    authorize(undefined, { raw: '{"account":"acme","product":"crm","__proto__":{"admin":true}}' }),
  ],
  [
    'constructor.prototype pollution',
    authorize(undefined, {
      raw: '{"account":"acme","product":"crm","constructor":{"prototype":{"admin":true}}}',
    }),
  ],
  [
    'a 100 KB body (limit 64 KB)',
    authorize(undefined, { raw: big(100 * 1024), status: 413, error: 'payload_too_large' }),
  ],
  [
    'a 2 MB body',
    authorize(undefined, { raw: big(2 * 1024 * 1024), status: 413, error: 'payload_too_large' }),
  ],
  [
    'JSON nested 30,000 deep (60 KB, class-transformer recursion)',
    authorize(undefined, { raw: nested(30_000) }),
  ],
  [`JSON nested ${MAX_JSON_DEPTH + 1} deep`, authorize(undefined, { raw: nested(MAX_JSON_DEPTH) })],
  [
    'JSON nested 10,000 deep in objects',
    authorize(undefined, { raw: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}` }),
  ],
  [
    'content-type text/plain (read as a string, not as JSON)',
    authorize(undefined, { raw: '{"account":"acme","product":"crm"}', contentType: 'text/plain' }),
  ],
  [
    'content-type application/xml',
    authorize(undefined, {
      raw: '<account>acme</account>',
      contentType: 'application/xml',
      status: 415,
      error: 'unsupported_media_type',
    }),
  ],
  [
    'content-type multipart/form-data',
    authorize(undefined, {
      raw: '--x\r\nContent-Disposition: form-data; name="account"\r\n\r\nacme\r\n--x--\r\n',
      contentType: 'multipart/form-data; boundary=x',
      status: 415,
      error: 'unsupported_media_type',
    }),
  ],
  // ---- returnTo: open redirects and smuggling
  ['returnTo javascript:', returnTo('javascript:alert(document.cookie)')],
  ['returnTo data:', returnTo('data:text/html,<script>alert(1)</script>')],
  ['returnTo file:', returnTo('file:///etc/passwd')],
  ['returnTo ftp:', returnTo('ftp://app.example.com/rd')],
  ['returnTo ws:', returnTo('ws://app.example.com/rd')],
  ['returnTo scheme-relative //evil', returnTo('//evil.example/rd')],
  ['returnTo relative path', returnTo('/rd')],
  ['returnTo http downgrade', returnTo('http://app.example.com/rd')],
  ['returnTo another port', returnTo('https://app.example.com:8443/rd')],
  ['returnTo suffix host', returnTo('https://app.example.com.evil.example/rd')],
  ['returnTo userinfo trick', returnTo('https://app.example.com@evil.example/rd')],
  ['returnTo encoded @ in host', returnTo('https://app.example.com%40evil.example/rd')],
  ['returnTo encoded slash + userinfo', returnTo('https://app.example.com%2f@evil.example/rd')],
  ['returnTo backslash userinfo', returnTo('https://evil.example\\@app.example.com/rd')],
  ['returnTo backslashes for slashes', returnTo('https:\\\\evil.example\\rd')],
  ['returnTo backslash before the host', returnTo('https:/\\evil.example/rd')],
  ['returnTo encoded host', returnTo('https://%65vil.example/rd')],
  ['returnTo IDN homograph host', returnTo('https://аpp.example.com/rd')],
  ['returnTo missing slashes', returnTo('https:evil.example/rd')],
  ['returnTo upper-case evil host', returnTo('HTTPS://EVIL.EXAMPLE/rd')],
  ['returnTo dot-segments out of the prefix', returnTo('https://app.example.com/rd/../admin')],
  ['returnTo encoded dot-segments', returnTo('https://app.example.com/rd/%2e%2e/admin')],
  [
    'returnTo allowlist in the fragment',
    returnTo('https://evil.example/#https://app.example.com/rd'),
  ],
  [
    'returnTo allowlist in the query',
    returnTo('https://evil.example/?u=https://app.example.com/rd'),
  ],
  [
    'returnTo CRLF header injection',
    returnTo('https://app.example.com/rd/\r\nLocation: https://evil.example'),
  ],
  ['returnTo a tab', returnTo('https://app.example.com/rd\t')],
  ['returnTo leading space', returnTo(' https://app.example.com/rd')],
  ['returnTo NUL', returnTo('https://app.example.com/rd\u0000')],
  ['returnTo empty', returnTo('')],
  ['returnTo of 3,000 chars', returnTo(`${ALLOWED_RETURN}/${'a'.repeat(3000)}`)],
  // The outside review's escapes, under the allowlisted prefix /integrations/rd.
  [
    'returnTo ..%2F escapes the prefix path',
    returnTo(`${ALLOWED_DEEP_RETURN}/..%2F..%2Flogout?next=https://evil.com`),
  ],
  ['returnTo ..;/ path parameters', returnTo(`${ALLOWED_DEEP_RETURN}/..;/..;/admin`)],
  ['returnTo %5c.. encoded backslashes', returnTo(`${ALLOWED_DEEP_RETURN}/%5c..%5c..%5cadmin`)],
  ['returnTo lower-case %2f', returnTo(`${ALLOWED_DEEP_RETURN}/%2e%2e%2fadmin`)],
  ['returnTo double-encoded dot-segments', returnTo(`${ALLOWED_DEEP_RETURN}/%252e%252e/admin`)],
  ['returnTo a ; parameter on the last segment', returnTo(`${ALLOWED_DEEP_RETURN};jsessionid=x`)],
  ['returnTo empty userinfo', returnTo('https://:@app.example.com/integrations/rd')],
  ['returnTo empty user', returnTo('https://@app.example.com/integrations/rd')],

  // ---- PUT /connections/:account (admin import)
  [
    'import: traversal in the account',
    importBody({ product: 'crm', refreshToken: 'x' }, '..%2F..'),
  ],
  ['import: no refreshToken', importBody({ product: 'crm' })],
  ['import: refreshToken as a number', importBody({ product: 'crm', refreshToken: 123 })],
  ['import: refreshToken as an array', importBody({ product: 'crm', refreshToken: ['a'] })],
  [
    'import: refreshToken as an operator',
    importBody({ product: 'crm', refreshToken: { $gt: '' } }),
  ],
  ['import: refreshToken with CRLF', importBody({ product: 'crm', refreshToken: 'abc\r\ndef' })],
  [
    'import: refreshToken of 5,000 chars',
    importBody({ product: 'crm', refreshToken: 'r'.repeat(5000) }),
  ],
  [
    'import: accessToken without expiresAt',
    importBody({ product: 'crm', refreshToken: 'r', accessToken: 'a' }),
  ],
  [
    'import: expiresAt not a date',
    importBody({ product: 'crm', refreshToken: 'r', accessToken: 'a', expiresAt: 'tomorrow' }),
  ],
  [
    'import: expiresAt a number',
    importBody({ product: 'crm', refreshToken: 'r', accessToken: 'a', expiresAt: 1893456000 }),
  ],
  ['import: unknown product', importBody({ product: 'hubspot', refreshToken: 'r' })],
  [
    'import: status smuggled in',
    importBody({ product: 'crm', refreshToken: 'r', status: 'active' }),
  ],
  [
    'import: a forged refresh token RD rejects',
    importBody({ product: 'crm', refreshToken: 'forged-refresh-token' }),
  ],
  [
    'import: a 100 KB body',
    importBody(undefined, 'acme', {
      raw: big(100 * 1024),
      status: 413,
      error: 'payload_too_large',
    }),
  ],
  // ---- POST /connections/:account/refresh, DELETE, GET (admin)
  [
    'refresh: NUL account',
    bad('/connections/%00/refresh?product=crm', { method: 'POST', who: 'admin' }),
  ],
  [
    'refresh: duplicated product',
    bad('/connections/acme/refresh?product=crm&product=crm', { method: 'POST', who: 'admin' }),
  ],
  [
    'refresh: CRLF in product',
    bad('/connections/acme/refresh?product=crm%0d%0a', { method: 'POST', who: 'admin' }),
  ],
  [
    'delete: NUL after a real account',
    bad('/connections/acme%00?product=crm', { method: 'DELETE', who: 'admin' }),
  ],
  [
    'delete: wildcard account',
    bad('/connections/*?product=crm', { method: 'DELETE', who: 'admin' }),
  ],
  [
    'delete: percent account',
    bad('/connections/%25?product=crm', { method: 'DELETE', who: 'admin' }),
  ],
  [
    'delete: SQL LIKE pattern',
    bad('/connections/ac_e%25?product=crm', { method: 'DELETE', who: 'admin' }),
  ],
  [
    'delete: both products at once',
    bad('/connections/acme?product=crm&product=marketing', { method: 'DELETE', who: 'admin' }),
  ],
  [
    'delete: product array',
    bad('/connections/acme?product[]=crm', { method: 'DELETE', who: 'admin' }),
  ],
  ['list: limit abc', bad('/connections?limit=abc', { who: 'admin' })],
  ['list: limit 0', bad('/connections?limit=0', { who: 'admin' })],
  ['list: limit 100000', bad('/connections?limit=100000', { who: 'admin' })],
  ['list: duplicated limit', bad('/connections?limit=1&limit=2', { who: 'admin' })],
  ['list: SQL in status', bad(`/connections?status=${enc("active' OR 1=1 --")}`, { who: 'admin' })],
  ['list: garbage cursor', bad('/connections?cursor=garbage!!', { who: 'admin' })],
  [
    'list: cursor for an unknown product',
    bad(`/connections?cursor=${b64url('["x","hubspot"]')}`, { who: 'admin' }),
  ],
  [
    'list: cursor with __proto__',
    bad(`/connections?cursor=${b64url('{"__proto__":{"a":1}}')}`, { who: 'admin' }),
  ],
  ['list: cursor of 500 chars', bad(`/connections?cursor=${'A'.repeat(500)}`, { who: 'admin' })],
  [
    'list: cursor holding a NUL',
    bad(`/connections?cursor=${b64url('["acme\\u0000","crm"]')}`, { who: 'admin' }),
  ],
  [
    'list: cursor holding an account that cannot exist',
    bad(`/connections?cursor=${b64url(`["${'a'.repeat(200)}","crm"]`)}`, { who: 'admin' }),
  ],

  ['get: emoji account', bad(`/connections/${enc('😀')}`, { who: 'admin' })],
  ['get: 129-char account', bad(`/connections/${'b'.repeat(129)}`, { who: 'admin' })],
];

interface CallbackCase {
  /** Builds the query string; `live()` mints a fresh, unused state for the account given. */
  query: (tools: CallbackTools) => Promise<string>;
  reason: CallbackFailure;
  /** Accounts whose pending state this case legitimately consumes (single use). */
  consumes?: string[];
}

interface CallbackTools {
  live(account: string, product?: 'crm' | 'marketing'): Promise<string>;
  used(): Promise<string>;
  codeFor(product: 'crm' | 'marketing'): Promise<string>;
}

const SCRIPT = '<script>alert(1)</script>';
const q = (params: Array<[string, string]>) => new URLSearchParams(params).toString();

const CALLBACK_CASES: Array<[string, CallbackCase]> = [
  ['no parameters at all', { query: async () => '', reason: 'invalid_state' }],
  [
    'a forged state',
    {
      query: async () =>
        q([
          ['state', 'f'.repeat(43)],
          ['code', 'c'],
        ]),
      reason: 'invalid_state',
    },
  ],
  [
    'a truncated state',
    {
      query: async (t) =>
        q([
          ['state', (await t.live('cb-truncated')).slice(0, -1)],
          ['code', 'c'],
        ]),
      reason: 'invalid_state',
    },
  ],
  [
    'a state with a character added',
    {
      query: async (t) =>
        q([
          ['state', `${await t.live('cb-longer')}A`],
          ['code', 'c'],
        ]),
      reason: 'invalid_state',
    },
  ],
  [
    'a duplicated state parameter',
    {
      query: async (t) => {
        const state = await t.live('cb-dup');
        return q([
          ['state', state],
          ['state', state],
          ['code', 'c'],
        ]);
      },
      reason: 'invalid_state',
    },
  ],
  [
    'a 3,000-character state',
    { query: async () => q([['state', 's'.repeat(3000)]]), reason: 'invalid_state' },
  ],
  [
    'markup as the state',
    {
      query: async () =>
        q([
          ['state', SCRIPT],
          ['code', SCRIPT],
        ]),
      reason: 'invalid_state',
    },
  ],
  [
    'CRLF in the state',
    { query: async () => 'state=x%0d%0aSet-Cookie:%20a=1&code=c', reason: 'invalid_state' },
  ],
  [
    'a provider error with markup and no state',
    {
      query: async () =>
        q([
          ['error', SCRIPT],
          ['error_description', SCRIPT],
        ]),
      reason: 'invalid_state',
    },
  ],
  ['a reused state', { query: async (t) => t.used(), reason: 'invalid_state' }],
  [
    'an expired state',
    {
      query: async (t) =>
        q([
          ['state', await t.live('cb-expired')],
          ['code', 'c'],
        ]),
      reason: 'invalid_state',
      consumes: ['cb-expired'],
    },
  ],
  [
    "a CRM state with a code issued by Marketing's server",
    {
      query: async (t) =>
        q([
          ['state', await t.live('cb-cross', 'crm')],
          ['code', await t.codeFor('marketing')],
        ]),
      reason: 'code_rejected',
      consumes: ['cb-cross'],
    },
  ],
  [
    'a code that is markup',
    {
      query: async (t) =>
        q([
          ['state', await t.live('cb-xss')],
          ['code', SCRIPT],
        ]),
      reason: 'code_rejected',
      consumes: ['cb-xss'],
    },
  ],
  [
    'a code with CRLF',
    {
      query: async (t) =>
        `${q([['state', await t.live('cb-crlf')]])}&code=abc%0d%0aX-Injected:%201`,
      reason: 'code_rejected',
      consumes: ['cb-crlf'],
    },
  ],
  [
    'a code with quotes and SQL',
    {
      query: async (t) =>
        q([
          ['state', await t.live('cb-sql')],
          ['code', `"'); DROP TABLE connections; --`],
        ]),
      reason: 'code_rejected',
      consumes: ['cb-sql'],
    },
  ],
  [
    'a 5,000-character code',
    {
      query: async (t) =>
        q([
          ['state', await t.live('cb-long')],
          ['code', 'c'.repeat(5000)],
        ]),
      reason: 'missing_code',
      consumes: ['cb-long'],
    },
  ],
  [
    'a duplicated code',
    {
      query: async (t) =>
        q([
          ['state', await t.live('cb-dupcode')],
          ['code', 'a'],
          ['code', 'b'],
        ]),
      reason: 'missing_code',
      consumes: ['cb-dupcode'],
    },
  ],
  [
    'no code',
    {
      query: async (t) => q([['state', await t.live('cb-nocode')]]),
      reason: 'missing_code',
      consumes: ['cb-nocode'],
    },
  ],
  [
    'a provider error carrying markup',
    {
      query: async (t) =>
        q([
          ['state', await t.live('cb-denied')],
          ['error', SCRIPT],
          ['error_description', `"><img src=x onerror=alert(1)>`],
        ]),
      // Not RD's access_denied: any other provider error code (its code is not reflected).
      reason: 'provider_error',
      consumes: ['cb-denied'],
    },
  ],
];

describe('hostile input', () => {
  let h: Harness;
  let client = 0;

  beforeAll(async () => {
    h = await createHarness({
      env: {
        OAUTH_RETURN_URL_ALLOWLIST: `${ALLOWED_RETURN},${ALLOWED_DEEP_RETURN}`,
        // The test client is the "proxy": each case claims its own address (see clientAddress).
        TRUSTED_PROXIES: '127.0.0.1',
      },
    });
    // Real data for the attacks to aim at.
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
    expect((await connect(h, 'acme', 'marketing')).status).toBe(200);
  });
  afterAll(() => h.close());

  /** Each case comes from its own client address, so the callback's per-address limit never interferes. */
  function clientAddress(): string {
    client++;
    return `203.0.113.${(client % 254) + 1}`;
  }

  function expectCleanJson(res: RawResponse, status: number, error: string) {
    expect({ status: res.status, body: res.text.slice(0, 300) }).toEqual({
      status,
      body: expect.any(String),
    });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(res.json as object).sort()).toEqual(['error', 'message', 'statusCode']);
    const body = res.json as { statusCode: number; error: string; message: string };
    expect(body.statusCode).toBe(status);
    expect(body.error).toBe(error);
    expect(STABLE_CODES).toContain(body.error);
    expect(body.message.length).toBeGreaterThan(0);
    expect(res.headers['set-cookie']).toBeUndefined();
  }

  it(`has at least 60 cases (${JSON_CASES.length + CALLBACK_CASES.length})`, () => {
    expect(JSON_CASES.length + CALLBACK_CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(JSON_CASES.map(([name]) => name)).size).toBe(JSON_CASES.length);
  });

  it.each(JSON_CASES)('%s → clear 4xx JSON, database unchanged', async (_name, c) => {
    const before = await snapshotDatabase(h.db.dataSource);
    const body = c.raw ?? (c.json === undefined ? undefined : JSON.stringify(c.json));
    const headers: Record<string, string> = {
      authorization: c.who === 'admin' ? auth.admin : auth.service,
      'x-forwarded-for': clientAddress(),
    };
    if (body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
    const res = await rawRequest(h.broker.url, {
      method: c.method ?? 'GET',
      path: c.path,
      headers,
      body,
    });
    expectCleanJson(res, c.status, c.error);
    expect(await snapshotDatabase(h.db.dataSource)).toEqual(before);
  });

  describe('GET /oauth/callback', () => {
    let used = '';

    const tools: CallbackTools = {
      live: async (account, product = 'crm') => {
        const res = await fetch(`${h.broker.url}/oauth/authorize-url`, {
          method: 'POST',
          headers: { authorization: auth.service, 'content-type': 'application/json' },
          body: JSON.stringify({ account, product }),
        });
        expect(res.status).toBe(201);
        const state = new URL(((await res.json()) as { url: string }).url).searchParams.get(
          'state',
        )!;
        if (account === 'cb-expired') {
          await h.db.dataSource.query(
            `UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE account = $1`,
            [account],
          );
        }
        return state;
      },
      used: async () => used,
      codeFor: async (product) => {
        const res = await fetch(`${h.broker.url}/oauth/authorize-url`, {
          method: 'POST',
          headers: { authorization: auth.service, 'content-type': 'application/json' },
          body: JSON.stringify({ account: 'cb-code-donor', product }),
        });
        const { url } = (await res.json()) as { url: string };
        const consent = await fetch(url, {
          method: 'POST',
          body: new URLSearchParams({ decision: 'approve' }),
          redirect: 'manual',
        });
        const back = new URL(consent.headers.get('location')!);
        // The donor's own state is left pending, and removed before the snapshot.
        await h.db.dataSource.query(`DELETE FROM oauth_states WHERE account = 'cb-code-donor'`);
        return back.searchParams.get('code')!;
      },
    };

    beforeAll(async () => {
      // A completed connect: its callback query string, replayed, is a reused state.
      const res = await fetch(`${h.broker.url}/oauth/authorize-url`, {
        method: 'POST',
        headers: { authorization: auth.service, 'content-type': 'application/json' },
        body: JSON.stringify({ account: 'cb-reused', product: 'crm' }),
      });
      const consent = await fetch(((await res.json()) as { url: string }).url, {
        method: 'POST',
        body: new URLSearchParams({ decision: 'approve' }),
        redirect: 'manual',
      });
      const back = new URL(consent.headers.get('location')!);
      expect((await fetch(back, { redirect: 'manual' })).status).toBe(200);
      used = back.search.slice(1);
    });

    it.each(CALLBACK_CASES)('%s → 400 HTML error page, nothing stored', async (_name, c) => {
      const query = await c.query(tools);
      const before = await snapshotDatabase(h.db.dataSource);
      const res = await rawRequest(h.broker.url, {
        path: `/oauth/callback${query ? `?${query}` : ''}`,
        headers: { 'x-forwarded-for': clientAddress() },
      });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      // No Accept-Language: the page is in Portuguese.
      expect(res.text).toContain(PAGE_TEXT['pt-BR'].failures[c.reason]);
      // Nothing reflected raw: no markup from the query, no injected header.
      expect(res.text.toLowerCase()).not.toMatch(/<script|<img|onerror=|javascript:/);
      expect(res.text).not.toContain(SCRIPT);
      expect(res.headers['x-injected']).toBeUndefined();
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['cache-control']).toBe('no-store');

      const after = await snapshotDatabase(h.db.dataSource);
      const consumed = (c.consumes ?? []).map((account) => `"account": "${account}"`);
      expect(after).toEqual({
        ...before,
        oauth_states: before.oauth_states.filter((row) => !consumed.some((m) => row.includes(m))),
      });
      // What the case consumed is gone for good: single use.
      for (const account of c.consumes ?? []) {
        const [{ n }] = await h.db.dataSource.query(
          `SELECT count(*)::int AS n FROM oauth_states WHERE account = $1`,
          [account],
        );
        expect(n).toBe(0);
      }
    });

    it('the pages show only fixed text, whatever the query carried', async () => {
      const res = await rawRequest(h.broker.url, {
        path: `/oauth/callback?${q([
          ['state', SCRIPT],
          ['error', SCRIPT],
          ['error_description', SCRIPT],
        ])}`,
        headers: { 'x-forwarded-for': clientAddress() },
      });
      expect(res.text).not.toContain('alert(1)');
    });
  });

  it('refuses a __proto__ query key without polluting any prototype', async () => {
    const res = await rawRequest(h.broker.url, {
      path: '/tokens/acme?product=crm&__proto__=x&__proto__[admin]=1&constructor[prototype][admin]=1',
      headers: { authorization: auth.service },
    });
    // Unknown query keys are refused by name; none of them reaches an object's prototype.
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({
      statusCode: 400,
      error: 'invalid_request',
      message: expect.stringMatching(/^property .+ should not exist$/),
    });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('admin');
  });

  it('answers malformed HTTP with a clean 400 JSON and closes the connection', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const { port } = new URL(h.broker.url);
      const socket = connectSocket(Number(port), '127.0.0.1', () =>
        socket.write('GET /tokens/acme HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<
      string,
      unknown
    >;
    expect(body).toEqual({
      statusCode: 400,
      error: 'invalid_request',
      message: expect.any(String),
    });
  });

  it('accepts a returnTo that stays inside the prefix once decoded', async () => {
    for (const value of [
      `${ALLOWED_DEEP_RETURN}/done`,
      `${ALLOWED_DEEP_RETURN}/caf%C3%A9?next=a%2Fb`,
      ALLOWED_DEEP_RETURN,
    ]) {
      const res = await rawRequest(h.broker.url, {
        method: 'POST',
        path: '/oauth/authorize-url',
        headers: { authorization: auth.service, 'content-type': 'application/json' },
        body: JSON.stringify({ account: 'return-ok', product: 'crm', returnTo: value }),
      });
      expect({ value, status: res.status }).toEqual({ value, status: 201 });
    }
    await h.db.dataSource.query(`DELETE FROM oauth_states WHERE account = 'return-ok'`);
  });

  it('counts only brackets outside strings when measuring JSON depth', () => {
    const deepInString = JSON.stringify({ account: '[{'.repeat(5000) });
    expect(nestsDeeperThan(Buffer.from(deepInString), MAX_JSON_DEPTH)).toBe(false);
    const escapedQuote = `{"a":"\\"${'['.repeat(100)}"}`;
    expect(nestsDeeperThan(Buffer.from(escapedQuote), MAX_JSON_DEPTH)).toBe(false);
    expect(nestsDeeperThan(Buffer.from(nested(MAX_JSON_DEPTH - 1)), MAX_JSON_DEPTH)).toBe(false);
    expect(nestsDeeperThan(Buffer.from(nested(MAX_JSON_DEPTH)), MAX_JSON_DEPTH)).toBe(true);
  });

  it('left the real connections intact and usable', async () => {
    for (const product of ['crm', 'marketing']) {
      const res = await fetch(`${h.broker.url}/tokens/acme?product=${product}`, {
        headers: { authorization: auth.service },
      });
      expect(res.status).toBe(200);
    }
  });
});
