/**
 * Secret hygiene, end to end. A broker PROCESS at LOG_LEVEL=debug (its whole stdout and stderr
 * captured) goes through connect → read → forced refresh → delete for both products, imports,
 * secret rotation and a set of error paths. Then every log line, every answer that is not a
 * token, every webhook event, and the OpenAPI document are searched for every secret in play:
 * access and refresh tokens (current and previous), codes, states, client secrets, API keys,
 * the webhook secret and the encryption key. Zero hits allowed.
 */
import { randomBytes } from 'node:crypto';
import { FakeRdStation } from '../fake-rd/fake-rd';
import { startBrokerProcess } from '../support/broker-process';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, waitFor, type BrokerProcess } from '../support/process';
import { startTinyServer, type TinyServer } from '../support/tiny-server';

jest.setTimeout(120_000);

const random = (label: string) => `${label}-${randomBytes(24).toString('base64url')}`;
const RETURN_TO = 'https://app.example.com/rd/done';
type Product = 'crm' | 'marketing';

interface Exchange {
  what: string;
  status: number;
  /** Headers and body as text, as the caller received them. */
  text: string;
}

describe('secret hygiene (broker process, LOG_LEVEL=debug)', () => {
  const serviceKey = random('svc-key');
  const adminKey = random('admin-key');
  const encryptionKey = randomBytes(32);
  const crmSecret = random('crm-secret');
  const marketingOldSecret = random('mkt-old-secret');
  const marketingSecret = random('mkt-secret');
  const webhookSecret = random('hook-secret');
  const wrongKey = random('wrong-key');
  const forgedRefresh = random('forged-refresh');
  const forgedCode = random('forged-code');

  let db: TestDatabase;
  let rd: FakeRdStation;
  let broker: BrokerProcess;
  let hook: TinyServer | undefined;
  const events: string[] = [];
  /** Everything a caller received that must hold no secret (token answers are kept apart). */
  const exchanges: Exchange[] = [];
  const tokenAnswers: Exchange[] = [];
  const states: string[] = [];
  const accessTokens = new Set<string>();
  const refreshTokens = new Set<string>();

  beforeAll(async () => {
    const port = String(await freePort());
    const redirectUris = [`http://127.0.0.1:${port}/oauth/callback`];
    rd = new FakeRdStation({
      clients: {
        crm: { clientId: 'crm-client', clientSecrets: [crmSecret], redirectUris },
        // The broker still lists an old Marketing secret (second: a Marketing code exchange uses
        // only the first, since RD answers ACCESS_DENIED for a bad code and a bad secret alike).
        marketing: { clientId: 'mkt-client', clientSecrets: [marketingSecret], redirectUris },
      },
    });
    await rd.start();
    hook = await startTinyServer((request, res) => {
      events.push(`${JSON.stringify(request.headers)}\n${request.body}`);
      res.end();
    });
    db = await createTestDatabase();
    broker = await startBrokerProcess({
      PORT: port,
      DATABASE_URL: db.url,
      LOG_LEVEL: 'debug',
      API_KEYS: `svc:${serviceKey}`,
      ADMIN_API_KEYS: `ops:${adminKey}`,
      TOKEN_ENCRYPTION_KEY: encryptionKey.toString('base64'),
      RD_CRM_CLIENT_SECRET: crmSecret,
      RD_MARKETING_CLIENT_SECRET: `${marketingSecret},${marketingOldSecret}`,
      RD_API_URL: rd.url,
      RD_ACCOUNTS_URL: rd.url,
      OAUTH_RETURN_URL_ALLOWLIST: 'https://app.example.com/rd',
      SCHEDULER_ENABLED: 'true',
      REFRESH_CRON: '*/1 * * * * *',
      EVENTS_WEBHOOK_URL: `${hook.url}/hook`,
      EVENTS_WEBHOOK_SECRET: webhookSecret,
    });
  });

  afterAll(async () => {
    broker?.child.kill('SIGKILL');
    await rd?.stop();
    await hook?.close();
    await db?.drop();
  });

  async function call(
    what: string,
    method: string,
    path: string,
    options: { key?: string; body?: unknown; kind?: 'token' } = {},
  ): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${broker.url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      redirect: 'manual',
    });
    const text = await res.text();
    const exchange = {
      what,
      status: res.status,
      text: `${JSON.stringify([...res.headers])}\n${text}`,
    };
    (options.kind === 'token' && res.status === 200 ? tokenAnswers : exchanges).push(exchange);
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // an HTML page or an empty 204
    }
    return { status: res.status, json, headers: res.headers };
  }

  async function readToken(account: string, product: Product): Promise<string> {
    const res = await call('token', 'GET', `/tokens/${account}?product=${product}`, {
      key: serviceKey,
      kind: 'token',
    });
    expect(res.status).toBe(200);
    const token = res.json.accessToken as string;
    accessTokens.add(token);
    return token;
  }

  /** authorize-url → the fake's consent (approve) → the callback URL RD sends the browser to. */
  async function consent(account: string, product: Product, returnTo?: string): Promise<URL> {
    const started = await call('authorize-url', 'POST', '/oauth/authorize-url', {
      key: serviceKey,
      body: { account, product, ...(returnTo ? { returnTo } : {}) },
    });
    expect(started.status).toBe(201);
    // This answer carries its own state by design: the caller sends the browser there.
    exchanges.pop();
    const url = started.json.url as string;
    states.push(new URL(url).searchParams.get('state')!);
    const decided = await fetch(url, {
      method: 'POST',
      body: new URLSearchParams({ decision: 'approve' }),
      redirect: 'manual',
    });
    return new URL(decided.headers.get('location')!);
  }

  async function callback(what: string, back: URL) {
    return call(what, 'GET', `${back.pathname}${back.search}`);
  }

  it('goes through the whole life of a connection, both products, plus error paths', async () => {
    for (const product of ['crm', 'marketing'] as const) {
      const back = await consent('acme', product, product === 'marketing' ? RETURN_TO : undefined);
      const done = await callback(`${product} callback`, back);
      expect(done.status).toBe(product === 'marketing' ? 302 : 200);

      const first = await readToken('acme', product);
      const refreshed = await call(
        `${product} forced refresh`,
        'POST',
        `/connections/acme/refresh?product=${product}`,
        { key: adminKey },
      );
      expect(refreshed.json.status).toBe('active');
      expect(await readToken('acme', product)).not.toBe(first);
      expect((await call('status', 'GET', '/connections/acme', { key: adminKey })).status).toBe(
        200,
      );
      expect((await call('list', 'GET', '/connections', { key: adminKey })).status).toBe(200);
    }

    // Error paths: a wrong key, an access token passed in a URL, a forged and a rejected code,
    // a provider error, a forged import, a transient failure and a rejected refresh token.
    expect(
      (await call('wrong key', 'GET', '/tokens/acme?product=crm', { key: wrongKey })).status,
    ).toBe(401);
    expect(
      (
        await call(
          'token in a URL',
          'GET',
          `/tokens/acme?product=crm&access_token=${[...accessTokens][0]}`,
          {
            key: serviceKey,
          },
        )
      ).status,
    ).toBe(400);
    const forged = await consent('acme', 'crm');
    forged.searchParams.set('code', forgedCode);
    expect((await callback('forged code', forged)).status).toBe(400);
    rd.failNext(1, { kind: 'invalid_grant' }, { grantType: 'authorization_code' });
    expect((await callback('rejected code', await consent('acme', 'crm'))).status).toBe(400);
    rd.failNext(1, { kind: 'status', status: 503 }, { grantType: 'authorization_code' });
    expect(
      (await callback('RD down at the exchange', await consent('acme', 'marketing', RETURN_TO)))
        .status,
    ).toBe(302);
    const denied = await consent('acme', 'crm');
    denied.searchParams.delete('code');
    denied.searchParams.set('error', 'access_denied');
    expect((await callback('denied', denied)).status).toBe(400);
    expect(
      (
        await call('forged import', 'PUT', '/connections/imported', {
          key: adminKey,
          body: { product: 'crm', refreshToken: forgedRefresh },
        })
      ).status,
    ).toBe(400);
    const grant = rd.issueGrant('crm');
    accessTokens.add(grant.accessToken);
    expect(
      (
        await call('import', 'PUT', '/connections/imported', {
          key: adminKey,
          body: {
            product: 'crm',
            refreshToken: grant.refreshToken,
            accessToken: grant.accessToken,
            expiresAt: new Date(Date.now() + 3600_000).toISOString(),
          },
        })
      ).status,
    ).toBe(201);
    await readToken('imported', 'crm');
    rd.failNext(1, { kind: 'status', status: 503 }, { grantType: 'refresh_token' });
    const failing = await call(
      'transient refresh failure',
      'POST',
      '/connections/imported/refresh?product=crm',
      {
        key: adminKey,
      },
    );
    expect(failing.json.status).toBe('refresh_failing');
    rd.failNext(1, { kind: 'invalid_grant' }, { grantType: 'refresh_token' });
    await call('rejected refresh', 'POST', '/connections/imported/refresh?product=crm', {
      key: adminKey,
    });
    const rejected = await call('reauthorization', 'GET', '/tokens/imported?product=crm', {
      key: serviceKey,
    });
    expect(rejected.status).toBe(409);

    for (const product of ['crm', 'marketing']) {
      expect(
        (await call('delete', 'DELETE', `/connections/acme?product=${product}`, { key: adminKey }))
          .status,
      ).toBe(204);
    }
    expect(rd.calls.some((c) => c.path === '/auth/revoke' && c.status === 200)).toBe(true);

    for (const path of ['/docs-json', '/docs-yaml', '/docs', '/health/ready', '/metrics']) {
      await call(path, 'GET', path);
    }
    expect(exchanges.find((e) => e.what === '/docs-json')?.status).toBe(200);

    // The scheduler (every second) delivers the outbox; wait for the last events.
    await waitFor(
      async () =>
        events.filter((e) => e.includes('connection.deleted')).length >= 2 ? true : undefined,
      {
        timeoutMs: 15_000,
        what: 'the webhook events',
      },
    );
  });

  it('leaks no secret into logs, answers, events or the OpenAPI document', () => {
    // Every token and code RD handed out or was sent, current and previous.
    for (const c of rd.calls) {
      if (c.refreshToken) refreshTokens.add(c.refreshToken);
    }
    for (const token of accessTokens) {
      const grant = rd.grantOf(token);
      if (grant) {
        refreshTokens.add(grant.refreshToken);
        accessTokens.add(grant.accessToken);
      }
    }
    const codes = rd.calls.filter((c) => c.code).map((c) => c.code!);
    expect(accessTokens.size).toBeGreaterThanOrEqual(5);
    expect(refreshTokens.size).toBeGreaterThanOrEqual(5);
    expect(codes.length).toBeGreaterThanOrEqual(5);
    expect(states.length).toBeGreaterThanOrEqual(6);

    const secrets: Array<[string, string]> = [
      ...[...accessTokens].flatMap((t): Array<[string, string]> => [
        ['access token', t],
        // The random signature alone: a truncated or re-encoded token still matches.
        ['access token signature', t.split('.').pop()!],
      ]),
      ...[...refreshTokens].map((t): [string, string] => ['refresh token', t]),
      ...codes.map((c): [string, string] => ['authorization code', c]),
      ...states.map((s): [string, string] => ['state', s]),
      ['forged code', forgedCode],
      ['forged refresh token', forgedRefresh],
      ['CRM client secret', crmSecret],
      ['Marketing client secret', marketingSecret],
      ['old Marketing client secret', marketingOldSecret],
      ['service API key', serviceKey],
      ['admin API key', adminKey],
      ['presented wrong key', wrongKey],
      ['webhook secret', webhookSecret],
      ['encryption key (base64)', encryptionKey.toString('base64')],
      ['encryption key (base64url)', encryptionKey.toString('base64url')],
      ['encryption key (hex)', encryptionKey.toString('hex')],
    ];

    const logs = broker.output();
    const logLines = logs.split('\n').filter(Boolean);
    expect(logLines.length).toBeGreaterThan(30);
    // The log really covered the flows searched: an access line per request, the callbacks with
    // their code and state masked, and the URL that carried an access token.
    expect(logs).toMatch(/"url":"\/oauth\/callback\?code=\[Redacted\]&state=\[Redacted\]"/);
    expect(logs).toContain('/connections/acme/refresh?product=marketing');
    expect(logs).toContain('access_token=[Redacted]');
    expect(logs).toMatch(/"status":401/);
    // Request lines carry the request id and the calling key's name (never its secret).
    expect(logs).toMatch(
      /"requestId":"[^"]+","method":"GET","url":"\/tokens\/acme\?product=crm".*"caller":"svc"/,
    );

    const places: Array<[string, string]> = [
      ...logLines.map((line, i): [string, string] => [`log line ${i + 1}`, line]),
      ...exchanges.map((e): [string, string] => [`answer to ${e.what} (${e.status})`, e.text]),
      ...events.map((e, i): [string, string] => [`webhook event ${i + 1}`, e]),
    ];
    expect(events.length).toBeGreaterThanOrEqual(6);

    const hits: string[] = [];
    for (const [where, text] of places) {
      for (const [what, secret] of secrets) {
        if (text.includes(secret)) hits.push(`${what} in ${where}: ${text.slice(0, 300)}`);
      }
    }
    expect(hits).toEqual([]);

    // The scan can see: the token answers (kept apart) do carry the tokens.
    const tokenText = tokenAnswers.map((e) => e.text).join('\n');
    expect([...accessTokens].filter((t) => tokenText.includes(t)).length).toBeGreaterThanOrEqual(4);
    // …and no token answer carries a refresh token, or may be cached on the way.
    expect([...refreshTokens].filter((t) => tokenText.includes(t))).toEqual([]);
    for (const answer of tokenAnswers)
      expect(answer.text).toContain('["cache-control","no-store"]');
  });
});
