/**
 * panva's oidc-provider (a certified OpenID/OAuth 2.0 server) set up like RD Station's CRM OAuth
 * server as RD documents it: consent at /oauth/authorize, tokens at /oauth2/token,
 * client_secret_post, a refresh token on every code exchange, rotating refresh tokens with reuse
 * detection (a consumed refresh token presented again revokes the whole grant), 120 s access
 * tokens. oidc-provider is ESM-only, so test/interop/oidc-provider.ts runs this file as a child
 * process. Settings come as JSON in OIDC_INTEROP_SETTINGS; it prints `READY <issuer>` when it
 * listens.
 *
 * Besides the provider's own routes it serves, for the test only:
 *   /interaction/:uid (GET details, POST …/login, …/consent, …/abort): login and consent scripted
 *     over HTTP, in place of the provider's HTML forms;
 *   GET /__test/records: the provider's own records (token calls, rotations, reuse detections,
 *     grant revocations, refresh tokens with their consumed flag);
 *   POST /__test/policy {pkceRequired}: toggles the PKCE policy;
 *   POST /__test/revoke {accountId}: revokes the account's grants, as a user would in RD's UI.
 */
import { createServer } from 'node:http';
import { URL, URLSearchParams } from 'node:url';
import Provider from 'oidc-provider';

const settings = JSON.parse(process.env.OIDC_INTEROP_SETTINGS ?? '{}');
const policy = { pkceRequired: false };

// ---- the provider's storage, kept whole so the test can read it ------------------------------

/** model → id → payload. Nothing is evicted: a test run is short. */
const store = new Map();
const records = {
  /** Every POST to the token endpoint: grant type and outcome. */
  tokenCalls: [],
  /** `refresh_token.consumed` events: one per rotation. */
  rotations: 0,
  /** Consumed refresh tokens presented again (oidc-provider then revokes the grant). */
  reuseDetected: 0,
  /** Grant ids revoked, and why. */
  revokedGrants: [],
  /** Refresh token value → { grantId, consumed }; the value is the stored id (opaque format). */
  refreshTokens: {},
  /** `authorization.error` events: the error codes sent back to the redirect_uri. */
  authorizationErrors: [],
};

function table(model) {
  if (!store.has(model)) store.set(model, new Map());
  return store.get(model);
}

class RecordingAdapter {
  constructor(model) {
    this.model = model;
    this.rows = table(model);
  }

  async upsert(id, payload) {
    this.rows.set(id, { ...payload });
    if (this.model === 'RefreshToken') {
      records.refreshTokens[id] ??= { grantId: payload.grantId, consumed: false };
    }
  }

  async find(id) {
    return this.rows.get(id);
  }

  async findByUid(uid) {
    return [...this.rows.values()].find((payload) => payload.uid === uid);
  }

  async findByUserCode(userCode) {
    return [...this.rows.values()].find((payload) => payload.userCode === userCode);
  }

  async consume(id) {
    const payload = this.rows.get(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    if (records.refreshTokens[id]) records.refreshTokens[id].consumed = true;
  }

  async destroy(id) {
    this.rows.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [id, payload] of this.rows) if (payload.grantId === grantId) this.rows.delete(id);
  }
}

// ---- the provider ------------------------------------------------------------------------------

const server = createServer((req, res) => route(req, res));
await new Promise((resolve) => server.listen(settings.port ?? 0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  adapter: RecordingAdapter,
  clients: settings.clients.map((client) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    ...client,
  })),
  routes: { authorization: '/oauth/authorize', token: '/oauth2/token' },
  // Like RD: every code exchange gives a refresh token, whatever the scope.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  pkce: { required: () => policy.pkceRequired },
  ttl: { AccessToken: settings.accessTokenTtl ?? 120 },
  findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['interop-cookie-key-not-a-secret'] },
});

provider.on('refresh_token.consumed', () => records.rotations++);
provider.on('grant.revoked', (_ctx, grantId) =>
  records.revokedGrants.push({ grantId, by: 'provider' }),
);
provider.on('grant.success', (ctx) =>
  records.tokenCalls.push({ grantType: ctx.oidc.params.grant_type, ok: true }),
);
provider.on('grant.error', (ctx, error) => {
  if (error.error_detail === 'refresh token already used') records.reuseDetected++;
  records.tokenCalls.push({
    grantType: ctx.oidc.params?.grant_type,
    ok: false,
    error: error.error,
    detail: error.error_detail,
  });
});
provider.on('authorization.error', (_ctx, error) =>
  records.authorizationErrors.push({ error: error.error, detail: error.error_detail }),
);

const providerCallback = provider.callback();

// ---- test routes -------------------------------------------------------------------------------

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  const type = req.headers['content-type'] ?? '';
  return type.includes('json')
    ? JSON.parse(body || '{}')
    : Object.fromEntries(new URLSearchParams(body));
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return json(res, 400, { error: 'interaction mismatch' });
  const { prompt, params, session } = details;
  if (req.method === 'GET' && action === undefined) {
    return json(res, 200, { uid, prompt: prompt.name, details: prompt.details, params });
  }
  if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
  const form = await readForm(req);
  if (action === 'login') {
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: String(form.login) } },
      { mergeWithLastSubmission: false },
    );
  }
  if (action === 'consent') {
    const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {}))
      grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    return provider.interactionFinished(
      req,
      res,
      { consent: { grantId } },
      { mergeWithLastSubmission: true },
    );
  }
  if (action === 'abort') {
    return provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
  }
  return json(res, 404, { error: 'unknown interaction action' });
}

async function revokeAccount(accountId) {
  const grants = [...table('Grant').entries()].filter(([, g]) => g.accountId === accountId);
  for (const [grantId] of grants) {
    for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode'])
      await provider[model].revokeByGrantId(grantId);
    await provider.Grant.adapter.destroy(grantId);
    records.revokedGrants.push({ grantId, by: 'user' });
  }
  return grants.length;
}

async function route(req, res) {
  const url = new URL(req.url, issuer);
  try {
    const match = url.pathname.match(/^\/interaction\/([\w-]+)(?:\/(login|consent|abort))?$/);
    if (match) return await interaction(req, res, match[1], match[2]);
    if (url.pathname === '/__test/records') return json(res, 200, records);
    if (url.pathname === '/__test/policy' && req.method === 'POST') {
      Object.assign(policy, await readForm(req));
      return json(res, 200, policy);
    }
    if (url.pathname === '/__test/revoke' && req.method === 'POST') {
      const { accountId } = await readForm(req);
      return json(res, 200, { revoked: await revokeAccount(accountId) });
    }
    return providerCallback(req, res);
  } catch (error) {
    return json(res, 500, { error: String(error?.message ?? error) });
  }
}

process.stdout.write(`READY ${issuer}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
