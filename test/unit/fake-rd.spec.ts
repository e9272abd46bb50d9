import { FakeRdStation, type Product } from '../fake-rd/fake-rd';

const CALLBACK = 'http://127.0.0.1:3999/oauth/callback';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

let clock = Date.UTC(2026, 0, 1);
const fake = new FakeRdStation({
  clients: {
    crm: { clientId: 'crm-id', clientSecrets: ['crm-new', 'crm-old'], redirectUris: [CALLBACK] },
    marketing: { clientId: 'mkt-id', clientSecrets: ['mkt-secret'], redirectUris: [CALLBACK] },
  },
  now: () => clock,
});
const CRM_AUTH = { client_id: 'crm-id', client_secret: 'crm-new' };
const MKT_AUTH = { client_id: 'mkt-id', client_secret: 'mkt-secret' };

async function reply(response: Response): Promise<Reply> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // HTML or empty
  }
  return { status: response.status, headers: response.headers, body, text };
}

function consentUrl(product: Product, params: Record<string, string>): string {
  const path = product === 'crm' ? '/oauth/authorize' : '/auth/dialog';
  return `${fake.url}${path}?${new URLSearchParams(params)}`;
}

const crmConsent = (extra: Record<string, string> = {}) =>
  consentUrl('crm', {
    response_type: 'code',
    client_id: 'crm-id',
    redirect_uri: CALLBACK,
    ...extra,
  });
const mktConsent = (extra: Record<string, string> = {}) =>
  consentUrl('marketing', { client_id: 'mkt-id', redirect_uri: CALLBACK, ...extra });

/** Loads the consent page and presses a button; returns the redirect target. */
async function pressButton(url: string, decision: 'approve' | 'deny'): Promise<URL> {
  const page = await fetch(url);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('>Authorize</button>');
  expect(html).toContain('>Deny</button>');
  const action = /action="([^"]+)"/.exec(html)![1].replace(/&amp;/g, '&');
  const response = await fetch(new URL(action, fake.url), {
    method: 'POST',
    body: new URLSearchParams({ decision }),
    redirect: 'manual',
  });
  expect(response.status).toBe(302);
  return new URL(response.headers.get('location')!);
}

async function codeFor(product: Product): Promise<string> {
  const target = await pressButton(product === 'crm' ? crmConsent() : mktConsent(), 'approve');
  return target.searchParams.get('code')!;
}

const crmToken = async (fields: Record<string, string>) =>
  reply(
    await fetch(`${fake.url}/oauth2/token`, { method: 'POST', body: new URLSearchParams(fields) }),
  );

const mktToken = async (body: Record<string, string>, path = '/auth/token') =>
  reply(
    await fetch(`${fake.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );

const crmRefresh = (refreshToken: string) =>
  crmToken({ grant_type: 'refresh_token', refresh_token: refreshToken, ...CRM_AUTH });
const mktRefresh = (refreshToken: string) => mktToken({ ...MKT_AUTH, refresh_token: refreshToken });

async function crmGrant(): Promise<{ access_token: string; refresh_token: string }> {
  const code = await codeFor('crm');
  const result = await crmToken({
    grant_type: 'authorization_code',
    code,
    redirect_uri: CALLBACK,
    ...CRM_AUTH,
  });
  expect(result.status).toBe(200);
  return result.body as { access_token: string; refresh_token: string };
}

const bearer = (path: string, token: string) =>
  fetch(`${fake.url}${path}`, { headers: { authorization: `Bearer ${token}` } }).then(reply);

beforeAll(() => fake.start());
afterAll(() => fake.stop());
beforeEach(() => {
  fake.reset();
  Object.assign(fake, {
    latencyMs: 0,
    consent: 'page',
    crmErrorShape: 'oauth',
    marketingErrorWrapped: true,
    marketingRotatesRefreshToken: false,
  });
});

describe('consent', () => {
  it('shows a page whose Authorize button redirects with a code and the exact state', async () => {
    const state = 'a b&c=d/é?';
    const target = await pressButton(crmConsent({ state }), 'approve');
    expect(`${target.origin}${target.pathname}`).toBe(CALLBACK);
    expect(target.searchParams.get('code')).toMatch(/^[0-9a-f]{32}$/);
    expect(target.searchParams.get('state')).toBe(state);
  });

  it('accepts the legacy redirect_url on Marketing and omits a missing state', async () => {
    const url = consentUrl('marketing', { client_id: 'mkt-id', redirect_url: CALLBACK });
    const target = await pressButton(url, 'approve');
    expect(target.searchParams.get('code')).toBeTruthy();
    expect(target.searchParams.has('state')).toBe(false);
  });

  it('redirects with access_denied when the user presses Deny', async () => {
    const target = await pressButton(mktConsent({ state: 's1' }), 'deny');
    expect(target.searchParams.get('error')).toBe('access_denied');
    expect(target.searchParams.get('error_description')).toBeTruthy();
    expect(target.searchParams.get('state')).toBe('s1');
    expect(target.searchParams.has('code')).toBe(false);
  });

  it('approves or denies at once when told to', async () => {
    fake.consent = 'approve';
    let response = await fetch(crmConsent({ state: 'x' }), { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get('location')!).searchParams.get('code')).toBeTruthy();
    fake.consent = 'deny';
    response = await fetch(mktConsent({ state: 'x' }), { redirect: 'manual' });
    expect(new URL(response.headers.get('location')!).searchParams.get('error')).toBe(
      'access_denied',
    );
  });

  it.each<[string, () => string]>([
    [
      'a redirect_uri that is not registered exactly',
      () => crmConsent({ redirect_uri: `${CALLBACK}/` }),
    ],
    [
      'a Marketing redirect_uri with another port',
      () => mktConsent({ redirect_uri: CALLBACK.replace('3999', '3998') }),
    ],
    ['an unknown client_id', () => crmConsent({ client_id: 'nope' })],
    ['a client_id of the other product', () => mktConsent({ client_id: 'crm-id' })],
    ['a CRM request without response_type=code', () => crmConsent({ response_type: 'token' })],
  ])('refuses %s with an HTML error page and no redirect', async (_what, url) => {
    fake.consent = 'approve';
    const response = await fetch(url(), { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(response.headers.get('content-type')).toContain('text/html');
  });
});

describe('CRM token endpoint', () => {
  it('exchanges a code once, with the documented response', async () => {
    const code = await codeFor('crm');
    const exchange = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CALLBACK,
      ...CRM_AUTH,
    };
    const first = await crmToken(exchange);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_in: 7200,
      token_type: 'Bearer',
    });
    expect(fake.isLiveAccessToken(first.body.access_token as string)).toBe(true);
    expect(fake.isLiveRefreshToken(first.body.refresh_token as string)).toBe(true);
    const second = await crmToken(exchange);
    expect(second.status).toBe(400);
    expect(second.body).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    expect(fake.tokenCalls({ grantType: 'authorization_code' }).map((c) => c.outcome)).toEqual([
      'ok',
      'invalid_grant',
    ]);
  });

  it('binds the code to the redirect_uri used at consent', async () => {
    const code = await codeFor('crm');
    const result = await crmToken({
      grant_type: 'authorization_code',
      code,
      redirect_uri: 'http://127.0.0.1:3999/other',
      ...CRM_AUTH,
    });
    expect(result.body.error).toBe('invalid_grant');
  });

  it('refuses a JSON body and an unknown grant_type', async () => {
    const json = await fetch(`${fake.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'x', ...CRM_AUTH }),
    }).then(reply);
    expect(json.status).toBe(400);
    expect(json.body.error).toBe('invalid_request');
    const unknown = await crmToken({ grant_type: 'password', ...CRM_AUTH });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toBe('unsupported_grant_type');
  });

  it('accepts every listed client secret and refuses others with invalid_client', async () => {
    const { refresh_token } = await crmGrant();
    const wrong = await crmToken({
      ...CRM_AUTH,
      client_secret: 'bad',
      grant_type: 'refresh_token',
      refresh_token,
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    expect(fake.isLiveRefreshToken(refresh_token)).toBe(true);
    const old = await crmToken({
      ...CRM_AUTH,
      client_secret: 'crm-old',
      grant_type: 'refresh_token',
      refresh_token,
    });
    expect(old.status).toBe(200);
    expect(fake.tokenCalls({ grantType: 'refresh_token' }).map((c) => c.clientSecret)).toEqual([
      'bad',
      'crm-old',
    ]);
  });

  it('rolls refresh tokens: each refresh kills the old one at once', async () => {
    const first = await crmGrant();
    clock += MINUTE;
    const second = await crmRefresh(first.refresh_token);
    expect(second.status).toBe(200);
    const next = second.body as { access_token: string; refresh_token: string };
    expect(next.refresh_token).not.toBe(first.refresh_token);
    expect(fake.isLiveRefreshToken(first.refresh_token)).toBe(false);
    expect(fake.isLiveRefreshToken(next.refresh_token)).toBe(true);
    expect(fake.isLiveAccessToken(first.access_token)).toBe(true); // until it expires
    expect(fake.grantOf(first.refresh_token)).toMatchObject({
      product: 'crm',
      refreshToken: next.refresh_token,
      accessToken: next.access_token,
      accessExpiresAt: clock + 7200_000,
      revoked: false,
    });
    const replay = await crmRefresh(first.refresh_token);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect(fake.isLiveRefreshToken(next.refresh_token)).toBe(true);
    expect(fake.tokenCalls({ product: 'crm', grantType: 'refresh_token' })).toEqual([
      expect.objectContaining({ refreshToken: first.refresh_token, status: 200, outcome: 'ok' }),
      expect.objectContaining({
        refreshToken: first.refresh_token,
        status: 400,
        outcome: 'invalid_grant',
      }),
    ]);
  });

  it('lets only one of two concurrent refreshes of one token win', async () => {
    const { refreshToken } = fake.issueGrant('crm');
    fake.latencyMs = 50;
    const results = await Promise.all([crmRefresh(refreshToken), crmRefresh(refreshToken)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    const winner = results.find((r) => r.status === 200)!.body.refresh_token as string;
    expect(fake.grantOf(refreshToken)?.refreshToken).toBe(winner);
    expect(fake.isLiveRefreshToken(winner)).toBe(true);
  });

  it('expires a refresh token unused for 14 days', async () => {
    const { refresh_token } = await crmGrant();
    clock += 14 * DAY - 1;
    const kept = await crmRefresh(refresh_token);
    expect(kept.status).toBe(200);
    const next = kept.body.refresh_token as string;
    clock += 14 * DAY;
    expect(fake.isLiveRefreshToken(next)).toBe(false);
    const expired = await crmRefresh(next);
    expect(expired.status).toBe(400);
    expect(expired.body.error).toBe('invalid_grant');
  });

  it('expires codes after 5 minutes', async () => {
    const [early, late] = [await codeFor('crm'), await codeFor('crm')];
    clock += 5 * MINUTE - 1;
    const exchange = (code: string) =>
      crmToken({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, ...CRM_AUTH });
    expect((await exchange(early)).status).toBe(200);
    clock += 1;
    expect((await exchange(late)).body.error).toBe('invalid_grant');
  });

  it("answers in RD's own error shape when told to", async () => {
    fake.crmErrorShape = 'rd';
    const refresh = await crmRefresh('unknown');
    expect(refresh.status).toBe(401);
    expect(refresh.body).toEqual({
      errors: { error_type: 'INVALID_REFRESH_TOKEN', error_message: expect.any(String) },
    });
    const code = await crmToken({
      grant_type: 'authorization_code',
      code: 'nope',
      redirect_uri: CALLBACK,
      ...CRM_AUTH,
    });
    expect(code.body).toMatchObject({ errors: { error_type: 'ACCESS_DENIED' } });
  });
});

describe("Marketing on RD's OAuth 2 server", () => {
  it('consents at /oauth/authorize, exchanges and refreshes a form at /oauth2/token', async () => {
    const consent = `${fake.url}/oauth/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: 'mkt-id',
      redirect_uri: CALLBACK,
      state: 's1',
    })}`;
    const target = await pressButton(consent, 'approve');
    expect(target.searchParams.get('state')).toBe('s1');
    const code = target.searchParams.get('code')!;
    const exchange = await crmToken({
      grant_type: 'authorization_code',
      code,
      redirect_uri: CALLBACK,
      ...MKT_AUTH,
    });
    expect(exchange.status).toBe(200);
    expect(exchange.body).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      expires_in: 86400,
      token_type: 'Bearer',
    });
    const refreshToken = exchange.body.refresh_token as string;
    expect(fake.grantOf(refreshToken)?.product).toBe('marketing');
    const refreshed = await crmToken({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      ...MKT_AUTH,
    });
    expect(refreshed.status).toBe(200);
    expect(
      (await bearer('/marketing/account_info', refreshed.body.access_token as string)).status,
    ).toBe(200);
    // Errors there are OAuth 2's.
    const bad = await crmToken({ grant_type: 'refresh_token', refresh_token: 'nope', ...MKT_AUTH });
    expect(bad).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const json = await mktToken({ ...MKT_AUTH, refresh_token: refreshToken }, '/oauth2/token');
    expect(json).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(fake.tokenCalls({ product: 'marketing' }).map((c) => c.grantType)).toEqual([
      'authorization_code',
      'refresh_token',
      'refresh_token',
      undefined,
    ]);
  });

  it('refuses a consent without response_type=code', async () => {
    const res = await fetch(
      `${fake.url}/oauth/authorize?${new URLSearchParams({ client_id: 'mkt-id', redirect_uri: CALLBACK })}`,
    );
    expect(res.status).toBe(400);
  });
});

describe('Marketing token endpoint', () => {
  it('exchanges a JSON code and refreshes keeping the same refresh token', async () => {
    const code = await codeFor('marketing');
    const exchange = await mktToken({ ...MKT_AUTH, code }, '/auth/token?token_by=code');
    expect(exchange.status).toBe(200);
    expect(exchange.body).toEqual({
      access_token: expect.any(String),
      expires_in: 86400,
      refresh_token: expect.any(String),
    });
    const { access_token, refresh_token } = exchange.body as Record<string, string>;
    const refreshed = await mktRefresh(refresh_token);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).toBe(refresh_token);
    expect(refreshed.body.access_token).not.toBe(access_token);
    expect(fake.isLiveRefreshToken(refresh_token)).toBe(true);
    expect(fake.isLiveAccessToken(access_token)).toBe(true);
    expect(fake.tokenCalls({ product: 'marketing' }).map((c) => c.grantType)).toEqual([
      'authorization_code',
      'refresh_token',
    ]);
  });

  it('rotates the refresh token when told to', async () => {
    fake.marketingRotatesRefreshToken = true;
    const { refreshToken } = fake.issueGrant('marketing');
    const refreshed = await mktRefresh(refreshToken);
    expect(refreshed.body.refresh_token).not.toBe(refreshToken);
    expect(fake.isLiveRefreshToken(refreshToken)).toBe(false);
    expect((await mktRefresh(refreshToken)).body).toMatchObject({
      errors: { error_type: 'INVALID_REFRESH_TOKEN' },
    });
  });

  it('answers errors as 401 {errors: {error_type, error_message}}', async () => {
    const code = await codeFor('marketing');
    const denied = await mktToken({ ...MKT_AUTH, client_secret: 'wrong', code });
    expect(denied.status).toBe(401);
    expect(denied.body).toEqual({
      errors: { error_type: 'ACCESS_DENIED', error_message: expect.any(String) },
    });
    expect((await mktToken({ ...MKT_AUTH, code })).status).toBe(200);
    // A used or unknown code: ACCESS_DENIED "Wrong credentials provided." (authentication_spec.rb).
    const reused = await mktToken({ ...MKT_AUTH, code });
    expect(reused.status).toBe(401);
    expect(reused.body).toEqual({
      errors: { error_type: 'ACCESS_DENIED', error_message: 'Wrong credentials provided.' },
    });
    const bad = await mktRefresh('unknown');
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ errors: { error_type: 'INVALID_REFRESH_TOKEN' } });
    fake.marketingErrorWrapped = false;
    expect((await mktRefresh('unknown')).body).toEqual({
      error_type: 'INVALID_REFRESH_TOKEN',
      error_message: expect.any(String),
    });
  });

  it('expires codes after 60 minutes', async () => {
    const [early, late] = [await codeFor('marketing'), await codeFor('marketing')];
    clock += 60 * MINUTE - 1;
    expect((await mktToken({ ...MKT_AUTH, code: early })).status).toBe(200);
    clock += 1;
    expect((await mktToken({ ...MKT_AUTH, code: late })).body).toMatchObject({
      errors: { error_type: 'EXPIRED_CODE_GRANT' },
    });
  });

  it('refuses a form body', async () => {
    const { refreshToken } = fake.issueGrant('marketing');
    const form = await fetch(`${fake.url}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ ...MKT_AUTH, refresh_token: refreshToken }),
    }).then(reply);
    expect(form.status).toBe(400);
    expect(form.body).toMatchObject({ errors: { error_type: 'BAD_REQUEST' } });
  });

  it('revokes with the refresh token even when the bearer access token has expired', async () => {
    const grant = fake.issueGrant('marketing', { accessTtlSeconds: 60 });
    const other = fake.issueGrant('marketing', { accessTtlSeconds: 60 });
    clock += 2 * MINUTE;
    const revoke = (bearer: string, token: string, hint: string) =>
      fetch(`${fake.url}/auth/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}` },
        body: new URLSearchParams({ token, token_type_hint: hint }),
      }).then(reply);
    expect((await revoke(grant.accessToken, grant.accessToken, 'access_token')).status).toBe(401);
    expect((await revoke(other.accessToken, grant.refreshToken, 'refresh_token')).status).toBe(401);
    expect(fake.isLiveRefreshToken(grant.refreshToken)).toBe(true);
    const ok = await revoke(grant.accessToken, grant.refreshToken, 'refresh_token');
    expect(ok.status).toBe(200);
    expect(fake.isLiveRefreshToken(grant.refreshToken)).toBe(false);
  });

  it('revokes both tokens of a grant with the bearer', async () => {
    const grant = fake.issueGrant('marketing');
    const revoke = (token: string) =>
      fetch(`${fake.url}/auth/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: new URLSearchParams({ token: grant.refreshToken, token_type_hint: 'refresh_token' }),
      }).then(reply);
    const unauthorized = await revoke('not-a-token');
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.body).toMatchObject({ errors: { error_type: 'UNAUTHORIZED' } });
    const ok = await revoke(grant.accessToken);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({});
    expect(fake.isLiveAccessToken(grant.accessToken)).toBe(false);
    expect(fake.isLiveRefreshToken(grant.refreshToken)).toBe(false);
    expect(fake.grantOf(grant.accessToken)?.revoked).toBe(true);
    expect((await mktRefresh(grant.refreshToken)).body).toMatchObject({
      errors: { error_type: 'INVALID_REFRESH_TOKEN' },
    });
    expect((await bearer('/marketing/account_info', grant.accessToken)).status).toBe(401);
  });
});

describe('API calls', () => {
  it('answers account_info and CRM users for a live bearer of the right product', async () => {
    const mkt = fake.issueGrant('marketing', { label: 'Acme' });
    const crm = fake.issueGrant('crm', { accessTtlSeconds: 60 });
    expect(crm.expiresIn).toBe(60);
    expect(await bearer('/marketing/account_info', mkt.accessToken)).toMatchObject({
      status: 200,
      body: { name: 'Acme' },
    });
    expect((await bearer('/marketing/account_info', crm.accessToken)).body).toMatchObject({
      errors: { error_type: 'UNAUTHORIZED' },
    });
    const users = await bearer('/crm/v2/users', crm.accessToken);
    expect(users.status).toBe(200);
    expect(users.body.data).toEqual([expect.objectContaining({ id: expect.any(String) })]);
    clock += 60_000;
    expect((await bearer('/crm/v2/users', crm.accessToken)).status).toBe(401);
    const unnamed = fake.issueGrant('marketing');
    expect((await bearer('/marketing/account_info', unnamed.accessToken)).body.name).toMatch(
      /^Fake Marketing Account \d+$/,
    );
  });
});

describe('invalidated access tokens', () => {
  it('refuses an invalidated access token before it expires, and keeps the grant alive', async () => {
    const grant = fake.issueGrant('crm');
    const other = fake.issueGrant('crm');
    expect((await bearer('/crm/v2/users', grant.accessToken)).status).toBe(200);
    const hook = await fetch(
      `${fake.url}/_fake/access-tokens/${encodeURIComponent(grant.accessToken)}/invalidate`,
      { method: 'POST' },
    ).then(reply);
    expect(hook.body).toEqual({ invalidated: true });
    expect(fake.isLiveAccessToken(grant.accessToken)).toBe(false);
    expect((await bearer('/crm/v2/users', grant.accessToken)).body).toMatchObject({
      errors: { error_type: 'UNAUTHORIZED' },
    });
    expect((await bearer('/crm/v2/users', other.accessToken)).status).toBe(200);
    // The refresh token still works and its new access token is accepted.
    const refreshed = await crmRefresh(grant.refreshToken);
    expect(refreshed.status).toBe(200);
    expect((await bearer('/crm/v2/users', refreshed.body.access_token as string)).status).toBe(200);
    expect(fake.invalidateAccessToken('not-a-token')).toBe(false);
  });
});

describe('RD API endpoints for /proxy', () => {
  async function api(path: string, token: string, init: RequestInit = {}) {
    return reply(
      await fetch(`${fake.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
      }),
    );
  }

  it('echo what they received, with the token named by its grant, and record it', async () => {
    fake.reset();
    const crm = fake.issueGrant('crm');
    const created = await api('/crm/v2/contacts?page=2&q=a%20b', crm.accessToken, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-trace': 't1' },
      body: '{"name":"Ana"}',
    });
    expect(created.status).toBe(201);
    expect(created.body.echo).toMatchObject({
      method: 'POST',
      path: '/crm/v2/contacts',
      query: 'page=2&q=a%20b',
      body: '{"name":"Ana"}',
      headers: {
        'x-trace': 't1',
        authorization: expect.stringMatching(/^Bearer <access token of grant-\d+>$/),
      },
    });
    expect(created.text).not.toContain(crm.accessToken);
    expect(fake.apiCalls('/crm/v2/contacts')).toEqual([
      expect.objectContaining({
        method: 'POST',
        status: 201,
        headers: expect.objectContaining({ authorization: `Bearer ${crm.accessToken}` }),
      }),
    ]);
    const mkt = fake.issueGrant('marketing');
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      const answer = await api('/platform/contacts/email:a@b.c', mkt.accessToken, { method });
      expect(answer.status).toBe(200);
      expect(answer.body.echo).toMatchObject({ method, path: '/platform/contacts/email:a@b.c' });
    }
    // A token of the other product is refused.
    expect((await api('/platform/contacts/1', crm.accessToken)).status).toBe(401);
  });

  it('refuse a token refreshed away, invalidated or revoked with 401 UNAUTHORIZED', async () => {
    const crm = fake.issueGrant('crm');
    const refreshed = await fetch(`${fake.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: crm.refreshToken,
        ...CRM_AUTH,
      }),
    }).then(reply);
    expect(refreshed.status).toBe(200);
    const old = await api('/crm/v2/contacts', crm.accessToken);
    expect(old.status).toBe(401);
    expect(old.body).toMatchObject({ errors: { error_type: 'UNAUTHORIZED' } });
    const current = refreshed.body.access_token as string;
    expect((await api('/crm/v2/contacts', current)).status).toBe(200);
    fake.invalidateAccessToken(current);
    expect((await api('/crm/v2/contacts', current)).status).toBe(401);
  });

  it('allow apiRateLimitPerMinute calls per grant per minute, then 429 RATE_LIMIT_EXCEDDED with Retry-After', async () => {
    fake.reset();
    clock = Math.floor(clock / MINUTE) * MINUTE + 15_000;
    fake.apiRateLimitPerMinute = 3;
    try {
      const a = fake.issueGrant('crm');
      const b = fake.issueGrant('crm');
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await api('/crm/v2/contacts', a.accessToken)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = await api('/crm/v2/contacts', a.accessToken);
      expect(limited.headers.get('retry-after')).toBe('45');
      expect(limited.body).toMatchObject({ errors: { error_type: 'RATE_LIMIT_EXCEDDED' } });
      expect((await api('/crm/v2/contacts', b.accessToken)).status).toBe(200);
      clock += 45_000;
      expect((await api('/crm/v2/contacts', a.accessToken)).status).toBe(200);
    } finally {
      fake.apiRateLimitPerMinute = 120;
    }
  });

  it('answer injected failures to the next API calls', async () => {
    const crm = fake.issueGrant('crm');
    fake.failNextApi(1, { kind: 'rate_limited', retryAfter: 7 });
    const limited = await api('/crm/v2/contacts', crm.accessToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect((await api('/crm/v2/contacts', crm.accessToken)).status).toBe(200);
  });
});

describe('failure injection', () => {
  it('answers injected 5xx to matching calls only, without processing them', async () => {
    const crm = fake.issueGrant('crm');
    const mkt = fake.issueGrant('marketing');
    fake.failNext(
      2,
      { kind: 'status', status: 503 },
      { product: 'crm', grantType: 'refresh_token' },
    );
    expect((await mktRefresh(mkt.refreshToken)).status).toBe(200);
    const failed = await crmRefresh(crm.refreshToken);
    expect(failed.status).toBe(503);
    expect(failed.headers.get('content-type')).toContain('text/html');
    expect((await crmRefresh(crm.refreshToken)).status).toBe(503);
    expect(fake.isLiveRefreshToken(crm.refreshToken)).toBe(true);
    expect((await crmRefresh(crm.refreshToken)).status).toBe(200);
    expect(fake.tokenCalls({ product: 'crm' }).map((c) => [c.status, c.outcome])).toEqual([
      [503, 'injected:status_503'],
      [503, 'injected:status_503'],
      [200, 'ok'],
    ]);
  });

  it.each([
    [{ kind: 'gateway', status: 401 }, 401, 'application/json', '{"message":"Unauthorized"}'],
    [{ kind: 'gateway', status: 403 }, 403, 'application/json', '{"message":"Forbidden"}'],
    [{ kind: 'html', status: 403 }, 403, 'text/html', '403 Forbidden'],
    [{ kind: 'html', status: 502 }, 502, 'text/html', '502 Bad Gateway'],
    [{ kind: 'empty', status: 401 }, 401, null, ''],
    [{ kind: 'crm_errors', status: 400 }, 400, 'application/json', '{"errors":[{'],
    [
      { kind: 'raw', status: 418, body: 'teapot', contentType: 'text/plain' },
      418,
      'text/plain',
      'teapot',
    ],
  ] as const)(
    'answers the unknown shape %j without processing the call',
    async (failure, status, type, text) => {
      const { refreshToken } = fake.issueGrant('crm');
      fake.failNext(1, failure);
      const answer = await crmRefresh(refreshToken);
      expect(answer.status).toBe(status);
      if (type) expect(answer.headers.get('content-type')).toContain(type);
      if (text === '') expect(answer.text).toBe('');
      else expect(answer.text).toContain(text);
      expect(answer.headers.get('x-amzn-remapped-www-authenticate') !== null).toBe(
        failure.kind === 'gateway' && failure.status === 401,
      );
      expect(fake.isLiveRefreshToken(refreshToken)).toBe(true);
    },
  );

  it('rate limits like the gateway, with retry-after-quotas', async () => {
    const { refreshToken } = fake.issueGrant('marketing');
    fake.failNext(1, { kind: 'rate_limited', retryAfter: 2, quotas: 40 });
    const limited = await mktRefresh(refreshToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after-quotas')).toBe('40');
    expect(limited.body).toEqual({ message: 'API rate limit exceeded' });
  });

  it('rate limits with Retry-After', async () => {
    const { refreshToken } = fake.issueGrant('marketing');
    fake.failNext(1, { kind: 'rate_limited', retryAfter: 7 });
    const limited = await mktRefresh(refreshToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(limited.body).toMatchObject({ errors: { error_type: 'RATE_LIMIT_EXCEDDED' } });
  });

  it('hangs until the client gives up', async () => {
    const { refreshToken } = fake.issueGrant('crm');
    fake.failNext(1, { kind: 'hang' });
    await expect(
      fetch(`${fake.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          ...CRM_AUTH,
        }),
        signal: AbortSignal.timeout(300),
      }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(fake.tokenCalls()).toEqual([
      expect.objectContaining({ status: 0, outcome: 'injected:hang' }),
    ]);
    expect((await crmRefresh(refreshToken)).status).toBe(200);
  });

  it('releases hung requests on stop', async () => {
    const other = new FakeRdStation();
    const url = await other.start();
    other.failAlways({ kind: 'hang' });
    const pending = fetch(`${url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const settled = pending.then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await other.stop();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await settled).toBe('failed');
  });

  it('resets the connection', async () => {
    const { refreshToken } = fake.issueGrant('crm');
    fake.failNext(1, { kind: 'reset' }, { product: 'crm' });
    await expect(crmRefresh(refreshToken)).rejects.toThrow();
    expect(fake.tokenCalls()[0]).toMatchObject({ status: 0, outcome: 'injected:reset' });
    expect(fake.isLiveRefreshToken(refreshToken)).toBe(true);
  });

  it('loses the response of a processed refresh and of a processed exchange', async () => {
    const { refreshToken } = fake.issueGrant('crm');
    fake.failNext(1, { kind: 'lost_response' }, { product: 'crm' });
    const lost = await crmRefresh(refreshToken);
    expect(lost.status).toBe(502);
    expect(fake.isLiveRefreshToken(refreshToken)).toBe(false);
    const rotated = fake.grantOf(refreshToken)!.refreshToken;
    expect(rotated).not.toBe(refreshToken);
    expect(fake.isLiveRefreshToken(rotated)).toBe(true);
    expect((await crmRefresh(refreshToken)).body.error).toBe('invalid_grant');

    const code = await codeFor('marketing');
    fake.failNext(1, { kind: 'lost_response' }, { grantType: 'authorization_code' });
    expect((await mktToken({ ...MKT_AUTH, code })).status).toBe(502);
    expect((await mktToken({ ...MKT_AUTH, code })).body).toMatchObject({
      errors: { error_type: 'ACCESS_DENIED' },
    });
  });

  it('rejects a grant on demand without killing it, in the product shape', async () => {
    const crm = fake.issueGrant('crm');
    const mkt = fake.issueGrant('marketing');
    fake.failNext(2, { kind: 'invalid_grant' });
    expect((await crmRefresh(crm.refreshToken)).body.error).toBe('invalid_grant');
    expect((await mktRefresh(mkt.refreshToken)).body).toMatchObject({
      errors: { error_type: 'INVALID_REFRESH_TOKEN' },
    });
    expect(fake.isLiveRefreshToken(crm.refreshToken)).toBe(true);
    expect(fake.tokenCalls().map((c) => c.outcome)).toEqual([
      'injected:invalid_grant',
      'injected:invalid_grant',
    ]);
  });

  it('fails always until cleared', async () => {
    const { refreshToken } = fake.issueGrant('marketing');
    fake.failAlways({ kind: 'status', status: 500 }, { product: 'marketing' });
    for (let i = 0; i < 3; i++) expect((await mktRefresh(refreshToken)).status).toBe(500);
    fake.failAlways(null);
    expect((await mktRefresh(refreshToken)).status).toBe(200);
  });

  it('delays token calls by latencyMs', async () => {
    const { refreshToken } = fake.issueGrant('marketing');
    fake.latencyMs = 300;
    const started = performance.now();
    expect((await mktRefresh(refreshToken)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });
});

describe('control endpoints', () => {
  const control = (path: string, body?: unknown) =>
    fetch(`${fake.url}/_fake${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(reply);

  it('seed grants, inject failures, list calls and reset', async () => {
    const seeded = await control('/grants', { product: 'crm', accessTtlSeconds: 30 });
    expect(seeded.body).toEqual({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      expiresIn: 30,
    });
    const refreshToken = seeded.body.refreshToken as string;
    expect((await control(`/refresh-tokens/${refreshToken}`)).body).toEqual({ live: true });
    expect((await control('/refresh-tokens/nope')).body).toEqual({ live: false });

    const config = await control('/config', {
      latencyMs: 5,
      consent: 'approve',
      failNext: { count: 1, failure: { kind: 'status', status: 502 }, filter: { product: 'crm' } },
    });
    expect(config.body).toMatchObject({ latencyMs: 5, consent: 'approve' });
    expect(fake.consent).toBe('approve');
    expect((await crmRefresh(refreshToken)).status).toBe(502);
    expect((await crmRefresh(refreshToken)).status).toBe(200);
    expect((await control(`/refresh-tokens/${refreshToken}`)).body).toEqual({ live: false });

    await control('/config', { failAlways: { kind: 'rate_limited', retryAfter: 2 } });
    expect((await mktRefresh('x')).status).toBe(429);
    await control('/config', { failAlways: null });
    expect((await mktRefresh('x')).status).toBe(401);

    const calls = await fetch(`${fake.url}/_fake/calls?product=crm&grantType=refresh_token`);
    const listed = (await calls.json()) as Array<{ status: number; path: string }>;
    expect(listed.map((c) => c.status)).toEqual([502, 200]);
    expect(fake.calls.some((c) => c.path.startsWith('/_fake'))).toBe(false);

    expect((await control('/config', { failNext: { failure: { kind: 'boom' } } })).status).toBe(
      400,
    );
    expect((await control('/config', { latencyMs: -1 })).status).toBe(400);
    expect((await control('/reset', {})).status).toBe(200);
    expect(fake.calls).toEqual([]);
  });
});
