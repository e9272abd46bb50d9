import { ConnectionsRepository } from '../../src/connections/connections.repository';
import { TokenCache } from '../../src/tokens/token-cache';
import { startBroker, type TestBroker } from '../support/broker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { auth, connectionRow } from '../support/harness';
import { freePort, waitFor } from '../support/process';
import { authorizeAtProvider, OidcProviderProcess, type ProviderRecords } from './oidc-provider';

/** The broker's pages follow Accept-Language (Portuguese without it); these tests read English. */
const ENGLISH = { 'accept-language': 'en' };

/**
 * The broker against a certified OAuth server (panva's oidc-provider) set up like RD's CRM:
 * a second test bed, independent of the fake RD written from RD's docs by the same hands as the
 * client. Assertions read the provider's own records (token calls, rotations, consumed refresh
 * tokens, reuse detections, grant revocations), not only the broker's answers.
 *
 * Two replicas share one database; a third port is kept for brokers with other settings (wrong
 * secret, secret rotation, PKCE, no scope), started and stopped by the tests that need them.
 */
const RETURN_TO = 'https://app.example.com/rd/done';
const TOKEN_LIFETIME = 120;

describe('interop: the broker against oidc-provider configured like RD CRM', () => {
  let provider: OidcProviderProcess;
  let db: TestDatabase;
  let replicas: TestBroker[];
  let sparePort: number;
  let env: Record<string, string>;

  beforeAll(async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    sparePort = ports[2];
    provider = await OidcProviderProcess.start({
      clients: [
        {
          client_id: 'crm-client',
          client_secret: 'crm-secret',
          redirect_uris: ports.map((port) => `http://127.0.0.1:${port}/oauth/callback`),
        },
      ],
      accessTokenTtl: TOKEN_LIFETIME,
    });
    db = await createTestDatabase();
    env = {
      RD_API_URL: provider.issuer,
      RD_ACCOUNTS_URL: provider.issuer,
      RD_CRM_SCOPE: 'openid',
      RD_CRM_ISSUER: provider.issuer,
      RD_TIMEOUT_MS: '5000',
      OAUTH_RETURN_URL_ALLOWLIST: 'https://app.example.com/rd',
    };
    replicas = [];
    for (const port of ports.slice(0, 2)) replicas.push(await start(port));
  });

  afterAll(async () => {
    await Promise.all((replicas ?? []).map((broker) => broker.close()));
    await db?.drop();
    await provider?.stop();
  });

  function start(port: number, overrides: Record<string, string> = {}): Promise<TestBroker> {
    return startBroker(db.url, {
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      ...env,
      ...overrides,
    });
  }

  /** Runs `body` with a broker on the spare port, configured with `overrides`. */
  async function withSpareBroker(
    overrides: Record<string, string>,
    body: (broker: TestBroker) => Promise<void>,
  ): Promise<void> {
    const broker = await start(sparePort, overrides);
    try {
      await body(broker);
    } finally {
      await broker.close();
    }
  }

  async function consentUrl(broker: TestBroker, account: string, returnTo?: string) {
    const res = await fetch(`${broker.url}/oauth/authorize-url`, {
      method: 'POST',
      headers: { authorization: auth.service, 'content-type': 'application/json' },
      body: JSON.stringify({ account, product: 'crm', returnTo }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { url: string }).url;
  }

  /** authorize-url → the provider's login and consent → the callback URL (not yet followed). */
  async function authorize(
    broker: TestBroker,
    account: string,
    options: { decision?: 'approve' | 'deny'; returnTo?: string } = {},
  ): Promise<URL> {
    return authorizeAtProvider(
      await consentUrl(broker, account, options.returnTo),
      `${broker.url}/oauth/callback`,
      { login: `user-of-${account}`, decision: options.decision },
    );
  }

  async function connect(account: string, broker = replicas[0]): Promise<void> {
    const res = await fetch(await authorize(broker, account), {
      redirect: 'manual',
      headers: ENGLISH,
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(`now connected for account ${account}`);
  }

  async function readToken(account: string, minValidity?: number, broker = replicas[0]) {
    const query = minValidity === undefined ? '' : `&minValidity=${minValidity}`;
    const res = await fetch(`${broker.url}/tokens/${account}?product=crm${query}`, {
      headers: { authorization: auth.service },
    });
    return {
      status: res.status,
      body: (await res.json()) as { accessToken: string; expiresIn: number; error?: string },
    };
  }

  async function forceRefresh(account: string, broker = replicas[0]) {
    const res = await fetch(`${broker.url}/connections/${account}/refresh?product=crm`, {
      method: 'POST',
      headers: { authorization: auth.admin },
    });
    return { status: res.status, body: (await res.json()) as { status?: string; error?: string } };
  }

  async function storedRefreshToken(account: string): Promise<string> {
    const row = await replicas[0].app.get(ConnectionsRepository).findOne({
      account,
      product: 'crm',
    });
    return replicas[0].app.get(ConnectionsRepository).refreshTokenOf(row!);
  }

  /** The provider's grant id behind the broker's stored refresh token for `account`. */
  async function grantOf(account: string): Promise<string> {
    return (await provider.records()).refreshTokens[await storedRefreshToken(account)].grantId;
  }

  function refreshCalls(records: ProviderRecords) {
    return records.tokenCalls.filter((call) => call.grantType === 'refresh_token');
  }

  function consumedOf(records: ProviderRecords, grantId: string): number {
    return Object.values(records.refreshTokens).filter((t) => t.grantId === grantId && t.consumed)
      .length;
  }

  function outcomeOf(res: Response): Record<string, string> {
    expect(res.status).toBe(302);
    return Object.fromEntries(new URL(res.headers.get('location')!).searchParams);
  }

  it('connects through the provider’s login and consent; reads serve a token the provider honours', async () => {
    const before = await provider.records();
    const callback = await authorize(replicas[0], 'acme');
    expect(callback.searchParams.get('iss')).toBe(provider.issuer);
    const res = await fetch(callback, { redirect: 'manual', headers: ENGLISH });
    expect(res.status).toBe(200);

    const after = await provider.records();
    const exchanges = after.tokenCalls.slice(before.tokenCalls.length);
    expect(exchanges).toEqual([{ grantType: 'authorization_code', ok: true }]);
    expect(after.refreshTokens[await storedRefreshToken('acme')]).toMatchObject({
      consumed: false,
    });

    const read = await readToken('acme');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ tokenType: 'Bearer', account: 'acme', product: 'crm' });
    expect(read.body.expiresIn).toBeLessThanOrEqual(TOKEN_LIFETIME);
    expect(await provider.userinfo(read.body.accessToken)).toEqual({
      status: 200,
      sub: 'user-of-acme',
    });
    // Reads of a valid token never reach the provider.
    for (let i = 0; i < 20; i++) expect((await readToken('acme', 30)).status).toBe(200);
    expect((await provider.records()).tokenCalls).toHaveLength(after.tokenCalls.length);
  });

  it('rotates the refresh token on every forced refresh; the broker always holds the live one', async () => {
    await connect('rotor');
    const grantId = await grantOf('rotor');
    const held: string[] = [await storedRefreshToken('rotor')];
    for (let i = 1; i <= 7; i++) {
      const refreshed = await forceRefresh('rotor');
      expect(refreshed).toMatchObject({ status: 200, body: { status: 'active' } });
      held.push(await storedRefreshToken('rotor'));
      const records = await provider.records();
      expect(consumedOf(records, grantId)).toBe(i);
      // Every token the broker held before is consumed at the provider; the one it holds is live.
      for (const token of held.slice(0, -1))
        expect(records.refreshTokens[token].consumed).toBe(true);
      expect(records.refreshTokens[held.at(-1)!]).toEqual({ grantId, consumed: false });
    }
    expect(new Set(held).size).toBe(8);
    const read = await readToken('rotor');
    expect((await provider.userinfo(read.body.accessToken)).status).toBe(200);
    expect((await provider.records()).reuseDetected).toBe(0);
  });

  it('rotates a token that comes due through the scheduler', async () => {
    await connect('sched');
    const grantId = await grantOf('sched');
    const before = await storedRefreshToken('sched');
    await db.dataSource.query(
      `UPDATE connections SET next_refresh_at = now() WHERE account = 'sched'`,
    );
    await withSpareBroker(
      { SCHEDULER_ENABLED: 'true', REFRESH_CRON: '*/1 * * * * *' },
      async () => {
        await waitFor(
          async () => ((await storedRefreshToken('sched')) !== before ? true : undefined),
          { timeoutMs: 20_000, what: 'a scheduled refresh' },
        );
      },
    );
    const records = await provider.records();
    expect(consumedOf(records, grantId)).toBe(1);
    expect(records.refreshTokens[before].consumed).toBe(true);
    expect(records.refreshTokens[await storedRefreshToken('sched')].consumed).toBe(false);
    expect(await connectionRow(db, 'sched', 'crm')).toMatchObject({ status: 'active' });
  });

  it('makes one refresh per stampede of reads over two replicas', async () => {
    const herd = { account: 'herd', product: 'crm' as const };
    await connect('herd');
    const grantId = await grantOf('herd');
    for (let stampede = 1; stampede <= 3; stampede++) {
      await db.dataSource.query(
        `UPDATE connections SET expires_at = now() - interval '1 second', last_refreshed_at = now() - interval '2 minutes'
          WHERE account = 'herd'`,
      );
      // The replicas drop their cached copy of the last stampede's token on the NOTIFY.
      await waitFor(
        async () =>
          replicas.every((broker) => broker.app.get(TokenCache).get(herd) === undefined)
            ? true
            : undefined,
        { what: 'both replicas to drop the cached token' },
      );
      const before = refreshCalls(await provider.records()).length;
      const reads = await Promise.all(
        Array.from({ length: 100 }, (_, i) => readToken('herd', undefined, replicas[i % 2])),
      );
      expect(reads.filter((r) => r.status !== 200)).toEqual([]);
      expect(new Set(reads.map((r) => r.body.accessToken)).size).toBe(1);
      const records = await provider.records();
      expect(refreshCalls(records).length - before).toBe(1);
      expect(consumedOf(records, grantId)).toBe(stampede);
      expect((await provider.userinfo(reads[0].body.accessToken)).status).toBe(200);
    }
    expect((await provider.records()).reuseDetected).toBe(0);
  });

  it('answers 10 waves of 50 reads asking more than the token lifetime with at most one refresh', async () => {
    await connect('storm');
    // A token near its end, last refreshed long enough ago that a read may refresh it.
    await db.dataSource.query(
      `UPDATE connections SET expires_at = now() + interval '30 seconds', last_refreshed_at = now() - interval '90 seconds'
        WHERE account = 'storm'`,
    );
    const before = refreshCalls(await provider.records()).length;
    const reads: Array<Awaited<ReturnType<typeof readToken>>> = [];
    for (let wave = 0; wave < 10; wave++) {
      reads.push(
        ...(await Promise.all(
          Array.from({ length: 50 }, (_, i) => readToken('storm', 600, replicas[i % 2])),
        )),
      );
    }
    const refreshes = refreshCalls(await provider.records()).length - before;
    expect({ refreshes, failed: reads.filter((read) => read.status !== 200).length }).toEqual({
      refreshes: 1,
      failed: 0,
    });
    // The real lifetime left, not the minValidity asked for.
    for (const read of reads) expect(read.body.expiresIn).toBeLessThanOrEqual(TOKEN_LIFETIME);
    expect((await provider.userinfo(reads.at(-1)!.body.accessToken)).status).toBe(200);
  });

  it('condemns a grant the user revoked at the provider with one call', async () => {
    await connect('revoked');
    expect(await provider.revokeAccount('user-of-revoked')).toBe(1);
    const before = refreshCalls(await provider.records()).length;
    const refreshed = await forceRefresh('revoked');
    expect(refreshed.body.status).toBe('reauthorization_required');
    const calls = refreshCalls(await provider.records()).slice(before);
    expect(calls).toEqual([
      { grantType: 'refresh_token', ok: false, error: 'invalid_grant', detail: expect.any(String) },
    ]);
    // The broker does not ask again: reads answer 409, the provider sees nothing more.
    await db.dataSource.query(
      `UPDATE connections SET expires_at = now() - interval '1 second' WHERE account = 'revoked'`,
    );
    expect((await readToken('revoked')).body.error).toBe('reauthorization_required');
    expect(refreshCalls(await provider.records()).length).toBe(before + 1);
  });

  it('sees the provider detect a reused refresh token (replayed by the test, never by the broker)', async () => {
    expect((await provider.records()).reuseDetected).toBe(0);
    await connect('replayed');
    const grantId = await grantOf('replayed');
    const first = await storedRefreshToken('replayed');
    expect((await forceRefresh('replayed')).body.status).toBe('active');

    // An attacker (or a buggy second broker) replays the consumed token: the provider refuses it
    // and revokes the whole grant, including the token the broker now holds.
    const replay = await provider.refreshDirectly(first);
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const records = await provider.records();
    expect(records.reuseDetected).toBe(1);
    expect(records.revokedGrants).toContainEqual({ grantId, by: 'provider' });

    expect((await forceRefresh('replayed')).body.status).toBe('reauthorization_required');
    expect((await provider.records()).reuseDetected).toBe(1);
  });

  it('reports a wrong client secret as app_misconfigured and keeps existing grants', async () => {
    await connect('kept');
    const held = await storedRefreshToken('kept');
    await withSpareBroker({ RD_CRM_CLIENT_SECRET: 'wrong-secret' }, async (broker) => {
      const before = await provider.records();
      const res = await fetch(await authorize(broker, 'misconfigured'), {
        redirect: 'manual',
        headers: ENGLISH,
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('refused this broker&#39;s RD app settings');
      expect(await connectionRow(db, 'misconfigured', 'crm')).toBeUndefined();

      // A refresh with the wrong secret keeps the grant: retried later, not condemned.
      expect((await forceRefresh('kept', broker)).body.status).toBe('refresh_failing');
      const after = await provider.records();
      expect(after.tokenCalls.slice(before.tokenCalls.length)).toEqual([
        expect.objectContaining({ grantType: 'authorization_code', error: 'invalid_client' }),
        expect.objectContaining({ grantType: 'refresh_token', error: 'invalid_client' }),
      ]);
      expect(after.refreshTokens[held].consumed).toBe(false);
      expect(after.revokedGrants).toHaveLength(before.revokedGrants.length);
    });
    expect(await storedRefreshToken('kept')).toBe(held);
    // Fixed configuration (the replicas): the same grant refreshes again.
    expect((await forceRefresh('kept')).body.status).toBe('active');
  });

  it('connects and refreshes with a rotated secret list (old secret first, then the current one)', async () => {
    await withSpareBroker({ RD_CRM_CLIENT_SECRET: 'retired-secret,crm-secret' }, async (broker) => {
      const before = await provider.records();
      const res = await fetch(await authorize(broker, 'rotated'), {
        redirect: 'manual',
        headers: ENGLISH,
      });
      expect(res.status).toBe(200);
      expect((await forceRefresh('rotated', broker)).body.status).toBe('active');
      expect((await provider.records()).tokenCalls.slice(before.tokenCalls.length)).toEqual([
        expect.objectContaining({ grantType: 'authorization_code', error: 'invalid_client' }),
        { grantType: 'authorization_code', ok: true },
        expect.objectContaining({ grantType: 'refresh_token', error: 'invalid_client' }),
        { grantType: 'refresh_token', ok: true },
      ]);
    });
  });

  it('reports a denied consent as access_denied, on the page and to returnTo', async () => {
    const page = await fetch(await authorize(replicas[0], 'denier', { decision: 'deny' }), {
      redirect: 'manual',
      headers: ENGLISH,
    });
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('declined at RD Station');

    const callback = await authorize(replicas[1], 'denier', {
      decision: 'deny',
      returnTo: RETURN_TO,
    });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(outcomeOf(await fetch(callback, { redirect: 'manual', headers: ENGLISH }))).toEqual({
      account: 'denier',
      product: 'crm',
      status: 'error',
      reason: 'access_denied',
    });
    expect(await connectionRow(db, 'denier', 'crm')).toBeUndefined();
  });

  it('reports a provider that requires PKCE as provider_error, and connects with RD_CRM_PKCE=true', async () => {
    await provider.setPolicy({ pkceRequired: true });
    try {
      const page = await fetch(await authorize(replicas[0], 'pkce'), {
        redirect: 'manual',
        headers: ENGLISH,
      });
      expect(page.status).toBe(400);
      const text = await page.text();
      expect(text).toContain('RD Station returned an error');
      expect(text).toContain('(error: invalid_request)');
      expect(text).not.toContain('declined');

      const callback = await authorize(replicas[0], 'pkce', { returnTo: RETURN_TO });
      expect(
        outcomeOf(await fetch(callback, { redirect: 'manual', headers: ENGLISH })),
      ).toMatchObject({
        status: 'error',
        reason: 'provider_error',
        providerError: 'invalid_request',
      });
      expect((await provider.records()).authorizationErrors.at(-1)).toMatchObject({
        error: 'invalid_request',
      });

      await withSpareBroker({ RD_CRM_PKCE: 'true' }, async (broker) => {
        const res = await fetch(await authorize(broker, 'pkce'), {
          redirect: 'manual',
          headers: ENGLISH,
        });
        expect(res.status).toBe(200);
      });
      expect(await connectionRow(db, 'pkce', 'crm')).toMatchObject({ status: 'active' });
    } finally {
      await provider.setPolicy({ pkceRequired: false });
    }
  });

  it('needs RD_CRM_SCOPE for a provider that grants nothing without a scope', async () => {
    await withSpareBroker({ RD_CRM_SCOPE: '' }, async (broker) => {
      const consent = new URL(await consentUrl(broker, 'unscoped'));
      expect(consent.searchParams.has('scope')).toBe(false);
      const callback = await authorizeAtProvider(
        consent.toString(),
        `${broker.url}/oauth/callback`,
      );
      expect(callback.searchParams.get('error')).toBe('access_denied');
      expect((await provider.records()).authorizationErrors.at(-1)?.detail).toContain(
        'no scope was granted',
      );
      expect((await fetch(callback, { redirect: 'manual', headers: ENGLISH })).status).toBe(400);
    });
    expect(await connectionRow(db, 'unscoped', 'crm')).toBeUndefined();
  });

  it.each([
    ['another issuer', 'https://evil.example'],
    ['no issuer', null],
  ])('refuses a callback carrying %s (RFC 9207) without exchanging the code', async (_, iss) => {
    const callback = await authorize(replicas[0], 'issuer', { returnTo: RETURN_TO });
    if (iss === null) callback.searchParams.delete('iss');
    else callback.searchParams.set('iss', iss);
    const before = (await provider.records()).tokenCalls.length;
    expect(
      outcomeOf(await fetch(callback, { redirect: 'manual', headers: ENGLISH })),
    ).toMatchObject({
      status: 'error',
      reason: 'invalid_issuer',
    });
    expect((await provider.records()).tokenCalls).toHaveLength(before);
    expect(await connectionRow(db, 'issuer', 'crm')).toBeUndefined();
  });

  it('never presented a consumed refresh token: the only reuse the provider saw was the test’s', async () => {
    const records = await provider.records();
    expect(records.reuseDetected).toBe(1);
    const active: Array<{ account: string }> = await db.dataSource.query(
      `SELECT account FROM connections WHERE status = 'active'`,
    );
    expect(active.length).toBeGreaterThanOrEqual(6);
    for (const { account } of active) {
      expect(records.refreshTokens[await storedRefreshToken(account)].consumed).toBe(false);
    }
  });
});
