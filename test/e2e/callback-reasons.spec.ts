import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { auth, connectionRow, createHarness, type Harness } from '../support/harness';

/**
 * The callback's failure reasons (README, "Callback failure reasons") and the consent options (scope, PKCE, issuer),
 * against the fake RD. The same paths against a real OAuth server: test/interop/.
 */
const RETURN_TO = 'https://app.example.com/rd/done';

async function startConsent(h: Harness, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${h.broker.url}/oauth/authorize-url`, {
    method: 'POST',
    headers: { authorization: auth.service, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { url: string }).url;
}

/** Approves at the fake RD's consent page; returns the callback URL RD sent the browser to. */
async function approve(url: string): Promise<URL> {
  const res = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams({ decision: 'approve' }),
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location')!);
}

/** An English-speaking user's browser (without Accept-Language the pages are in Portuguese). */
function callback(url: URL) {
  return fetch(url, { redirect: 'manual', headers: { 'accept-language': 'en' } });
}

function outcomeOf(res: Response): Record<string, string> {
  expect(res.status).toBe(302);
  return Object.fromEntries(new URL(res.headers.get('location')!).searchParams);
}

async function connectionCount(h: Harness): Promise<number> {
  const [{ n }] = await h.db.dataSource.query(`SELECT count(*)::int AS n FROM connections`);
  return n;
}

describe('OAuth callback reasons (e2e, fake RD)', () => {
  let h: Harness;
  let warn: jest.SpyInstance;
  let error: jest.SpyInstance;

  beforeAll(async () => {
    h = await createHarness({ env: { OAUTH_RETURN_URL_ALLOWLIST: 'https://app.example.com/rd' } });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query('TRUNCATE connections, oauth_states, connection_events');
    h.rd.reset();
    warn = jest.spyOn(Logger.prototype, 'warn');
    error = jest.spyOn(Logger.prototype, 'error');
  });
  afterEach(() => jest.restoreAllMocks());

  /** The log lines of OAuthService, whatever their level. */
  function oauthLogLines(): unknown[][] {
    return [...warn.mock.calls, ...error.mock.calls].filter((call) =>
      JSON.stringify(call).match(/consent|callback|code exchange/),
    );
  }

  it('reports a provider error other than access_denied as provider_error with its code', async () => {
    const back = await approve(await startConsent(h, { account: 'acme', product: 'crm' }));
    back.searchParams.delete('code');
    back.searchParams.set('error', 'invalid_request');
    back.searchParams.set('error_description', 'policy requires PKCE');
    const res = await callback(back);
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('RD Station returned an error instead of an authorization');
    expect(page).toContain('(error: invalid_request)');
    expect(page).not.toContain('declined');
    expect(await connectionCount(h)).toBe(0);
    expect(h.rd.tokenCalls()).toHaveLength(0);
    const lines = oauthLogLines();
    expect(lines).toHaveLength(1);
    expect(lines[0][0]).toMatchObject({ account: 'acme', providerError: 'invalid_request' });
  });

  it('hands the provider error code to returnTo', async () => {
    const url = await startConsent(h, { account: 'acme', product: 'crm', returnTo: RETURN_TO });
    const back = await approve(url);
    back.searchParams.delete('code');
    back.searchParams.set('error', 'server_error');
    expect(outcomeOf(await callback(back))).toEqual({
      account: 'acme',
      product: 'crm',
      status: 'error',
      reason: 'provider_error',
      providerError: 'server_error',
    });
  });

  it.each([['<script>alert(1)</script>'], ['x'.repeat(65)], ['a b']])(
    'never repeats an unsafe provider error code %j',
    async (code) => {
      const url = await startConsent(h, { account: 'acme', product: 'crm', returnTo: RETURN_TO });
      const back = await approve(url);
      back.searchParams.delete('code');
      back.searchParams.set('error', code);
      const outcome = outcomeOf(await callback(back));
      expect(outcome).toMatchObject({ status: 'error', reason: 'provider_error' });
      expect(outcome.providerError).toBeUndefined();
      expect(JSON.stringify(oauthLogLines())).not.toContain(code);
    },
  );

  it('keeps access_denied for the user declining', async () => {
    const url = await startConsent(h, { account: 'acme', product: 'crm', returnTo: RETURN_TO });
    const res = await fetch(url, {
      method: 'POST',
      body: new URLSearchParams({ decision: 'deny' }),
      redirect: 'manual',
    });
    const outcome = outcomeOf(await callback(new URL(res.headers.get('location')!)));
    expect(outcome).toMatchObject({ status: 'error', reason: 'access_denied' });
    expect(outcome.providerError).toBeUndefined();
  });

  it('reports client credentials refused at the exchange as app_misconfigured, naming the variables in the log', async () => {
    const back = await approve(await startConsent(h, { account: 'acme', product: 'crm' }));
    const clients = h.rd.clients.crm!;
    h.rd.clients.crm = { ...clients, clientSecrets: ['rotated-at-rd'] };
    try {
      const res = await callback(back);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('refused this broker&#39;s RD app settings');
    } finally {
      h.rd.clients.crm = clients;
    }
    expect(await connectionCount(h)).toBe(0);
    const lines = oauthLogLines();
    expect(lines).toHaveLength(1);
    expect(lines[0][1]).toContain('RD_CRM_CLIENT_ID and RD_CRM_CLIENT_SECRET');
  });

  it('hands app_misconfigured to returnTo when RD refuses the client credentials at the exchange', async () => {
    const url = await startConsent(h, { account: 'acme', product: 'crm', returnTo: RETURN_TO });
    const back = await approve(url);
    const clients = h.rd.clients.crm!;
    h.rd.clients.crm = { ...clients, clientSecrets: ['rotated-at-rd'] };
    try {
      const res = await callback(back);
      expect(res.headers.get('location')).toMatch(/^https:\/\/app\.example\.com\/rd\/done\?/);
      expect(outcomeOf(res)).toEqual({
        account: 'acme',
        product: 'crm',
        status: 'error',
        reason: 'app_misconfigured',
      });
    } finally {
      h.rd.clients.crm = clients;
    }
    expect(h.rd.tokenCalls({ grantType: 'authorization_code' })).toEqual([
      expect.objectContaining({ clientSecret: 'crm-secret' }),
    ]);
    expect(await connectionCount(h)).toBe(0);
  });

  it('keeps code_rejected for a code RD refuses', async () => {
    const url = await startConsent(h, { account: 'acme', product: 'crm', returnTo: RETURN_TO });
    const back = await approve(url);
    back.searchParams.set('code', 'forged-code');
    expect(outcomeOf(await callback(back))).toMatchObject({ reason: 'code_rejected' });
  });

  it('accepts a callback carrying iss while no issuer is configured', async () => {
    const back = await approve(await startConsent(h, { account: 'acme', product: 'crm' }));
    back.searchParams.set('iss', 'https://somewhere.example');
    expect((await callback(back)).status).toBe(200);
  });
});

describe('OAuth consent options: scope, PKCE, issuer (e2e, fake RD)', () => {
  const ISSUER = 'https://accounts.rdstation.com';
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({
      env: {
        OAUTH_RETURN_URL_ALLOWLIST: 'https://app.example.com/rd',
        RD_CRM_SCOPE: 'crm offline',
        RD_CRM_PKCE: 'true',
        RD_CRM_ISSUER: ISSUER,
      },
    });
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    await h.db.dataSource.query('TRUNCATE connections, oauth_states, connection_events');
    h.rd.reset();
  });

  it('puts scope and an S256 challenge on the consent URL, and keeps the verifier encrypted', async () => {
    const consent = new URL(await startConsent(h, { account: 'acme', product: 'crm' }));
    expect(consent.searchParams.get('scope')).toBe('crm offline');
    expect(consent.searchParams.get('code_challenge_method')).toBe('S256');
    const challenge = consent.searchParams.get('code_challenge')!;
    expect(challenge).toMatch(/^[\w-]{43}$/);
    const [row] = await h.db.dataSource.query(`SELECT code_verifier FROM oauth_states`);
    expect(row.code_verifier).toMatch(/^v1\./);
    expect(row.code_verifier).not.toContain(challenge);
  });

  it('sends no PKCE, scope or issuer rule for a product without them', async () => {
    const consent = new URL(await startConsent(h, { account: 'acme', product: 'marketing' }));
    expect(consent.searchParams.has('scope')).toBe(false);
    expect(consent.searchParams.has('code_challenge')).toBe(false);
    const res = await callback(await approve(consent.toString()));
    expect(res.status).toBe(200);
    const [row] = await h.db.dataSource.query(`SELECT count(*)::int AS n FROM oauth_states`);
    expect(row.n).toBe(0);
  });

  it('asks to start again when the stored verifier cannot be decrypted (key dropped since)', async () => {
    const url = await startConsent(h, { account: 'acme', product: 'crm', returnTo: RETURN_TO });
    const back = await approve(url);
    back.searchParams.set('iss', ISSUER);
    await h.db.dataSource.query(
      `UPDATE oauth_states SET code_verifier = 'v1.00000000.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA'`,
    );
    const res = await callback(back);
    expect(res.status).toBe(400); // no pending row to redirect with: the state is gone
    expect(await res.text()).toContain('Start the connection again');
    expect(h.rd.tokenCalls()).toHaveLength(0);
    expect(await connectionCount(h)).toBe(0);
  });

  it('connects when iss equals the configured issuer', async () => {
    const back = await approve(await startConsent(h, { account: 'acme', product: 'crm' }));
    back.searchParams.set('iss', ISSUER);
    expect((await callback(back)).status).toBe(200);
    expect(await connectionRow(h.db, 'acme', 'crm')).toMatchObject({ status: 'active' });
  });

  it.each([
    ['a different iss', 'https://evil.example'],
    ['iss with a trailing slash', `${ISSUER}/`],
    ['no iss', null],
  ])('refuses %s with invalid_issuer, before exchanging the code', async (_, iss) => {
    const url = await startConsent(h, { account: 'acme', product: 'crm', returnTo: RETURN_TO });
    const back = await approve(url);
    if (iss !== null) back.searchParams.set('iss', iss);
    expect(outcomeOf(await callback(back))).toMatchObject({
      status: 'error',
      reason: 'invalid_issuer',
    });
    expect(h.rd.tokenCalls()).toHaveLength(0);
    expect(await connectionCount(h)).toBe(0);
  });

  it('shows the issuer failure on the page when there is no returnTo', async () => {
    const back = await approve(await startConsent(h, { account: 'acme', product: 'crm' }));
    back.searchParams.set('iss', 'https://evil.example');
    const res = await callback(back);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('did not come from the expected RD Station server');
  });

  it('derives the challenge from a verifier that only the broker holds', async () => {
    const consent = new URL(await startConsent(h, { account: 'acme', product: 'crm' }));
    const challenge = consent.searchParams.get('code_challenge')!;
    // The browser sees the challenge, never the verifier: nothing in the URL hashes to it.
    for (const value of consent.searchParams.values()) {
      expect(createHash('sha256').update(value).digest('base64url')).not.toBe(challenge);
    }
  });
});
