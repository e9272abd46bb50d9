/**
 * A fake RD Station: both OAuth servers (CRM and Marketing), the two cheap API calls the broker
 * makes, and a few RD API endpoints for /proxy that echo what they receive and enforce RD's
 * per-account rate limit (`echoRoute`), in memory, following RD's documentation. One base URL serves the "accounts" and
 * the "api" hosts (their paths do not collide). Used in-process by the tests and as a separate
 * process (main.ts) by the benchmark and the demo, which drive it through `/_fake/*`.
 *
 * Tokens are never logged; tests can read them back through `calls`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

export type Product = 'crm' | 'marketing';
export type GrantType = 'authorization_code' | 'refresh_token';
export type ConsentMode = 'page' | 'approve' | 'deny';
export type CrmErrorShape = 'oauth' | 'rd';

export interface FakeClient {
  clientId: string;
  /** Every listed secret is accepted (secret rotation). */
  clientSecrets: string[];
  /** Callback URLs registered for the app; a redirect_uri must equal one exactly. */
  redirectUris: string[];
}

/**
 * Injected failures. Besides RD's documented answers, the shapes nobody documents for the token
 * endpoint (src/rdstation/rdstation.errors.ts): the API gateway's own `{"message":…}` (with
 * `x-amzn-remapped-www-authenticate` on a 401), HTML pages, empty bodies, and the CRM API's
 * `{"errors":[…]}` list; `raw` answers anything else.
 */
export type Failure =
  | { kind: 'status'; status: 500 | 502 | 503 }
  | { kind: 'rate_limited'; retryAfter: number; quotas?: number }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'lost_response' }
  | { kind: 'truncated' }
  | { kind: 'invalid_grant' }
  | { kind: 'gateway'; status: 401 | 403 }
  | { kind: 'html'; status: number }
  | { kind: 'empty'; status: number }
  | { kind: 'crm_errors'; status: number }
  | { kind: 'raw'; status: number; body: string; contentType?: string }
  /** RD's gateway naming the bearer as expired: a 401 whose only evidence is its challenge. */
  | { kind: 'expired_token' }
  /** A 200 of unannounced length, `chunks` pieces of 1 KB, one every `intervalMs`. */
  | { kind: 'slow_stream'; chunks: number; intervalMs: number }
  /** A status line no HTTP library would write (e.g. 600), straight onto the socket. */
  | { kind: 'odd_status'; status: number };

/** The unknown shapes, one of each, as the never-lose tests cycle through them. */
export const UNKNOWN_SHAPES: readonly Failure[] = [
  { kind: 'gateway', status: 401 },
  { kind: 'gateway', status: 403 },
  { kind: 'html', status: 400 },
  { kind: 'html', status: 403 },
  { kind: 'html', status: 502 },
  { kind: 'empty', status: 400 },
  { kind: 'empty', status: 401 },
  { kind: 'crm_errors', status: 401 },
  {
    kind: 'raw',
    status: 400,
    body: '{"error":"invalid_request"}',
    contentType: 'application/json',
  },
];

export interface FailureFilter {
  product?: Product;
  grantType?: GrantType;
}

export interface FakeCall {
  /** The fake clock (`now`) when the request arrived. */
  at: number;
  method: string;
  path: string;
  product?: Product;
  grantType?: GrantType;
  refreshToken?: string;
  code?: string;
  clientSecret?: string;
  /** 0 while unanswered, and for hung or reset requests. */
  status: number;
  outcome?: string;
  /** The W3C trace context the caller sent (a traced broker's child of its own span). */
  traceparent?: string;
}

export interface FakeGrant {
  id: string;
  product: Product;
  label: string;
  refreshToken: string;
  accessToken: string;
  accessExpiresAt: number;
  revoked: boolean;
}

export interface IssuedGrant {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export interface FakeRdStationOptions {
  clients?: Partial<Record<Product, FakeClient>>;
  now?: () => number;
  latencyMs?: number;
  consent?: ConsentMode;
  crmErrorShape?: CrmErrorShape;
  marketingErrorWrapped?: boolean;
  marketingRotatesRefreshToken?: boolean;
  accessTokenTtlSeconds?: Partial<Record<Product, number>>;
  /** RD API calls (not token calls) allowed per grant per clock minute; 429 past it. Default 120. */
  apiRateLimitPerMinute?: number;
  /** Delay of every RD API answer (the OAuth routes use `latencyMs`). */
  apiLatencyMs?: number;
  /**
   * A JSON file that keeps the grants (refresh and access tokens) across restarts, as RD keeps
   * them: read at start, written after every answer that may have changed them. The demo keeps
   * it in its data directory, beside the broker's embedded database that holds the same grants.
   */
  stateFile?: string;
}

/** What `stateFile` holds. */
interface SavedGrants {
  grantSeq: number;
  grants: Grant[];
  accessTokens: { token: string; grantId: string; expiresAt: number; invalidated?: boolean }[];
}

/** One call to an RD API endpoint, as the fake received it (tests read these back). */
export interface FakeApiRequest {
  at: number;
  method: string;
  path: string;
  /** The raw query string, without `?`. */
  query: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body as UTF-8 text (what the echo shows). */
  body: string;
  /** The body byte for byte, for binary bodies that UTF-8 text would mangle. */
  bytes: Buffer;
  /** The grant whose token was presented, when it was live. */
  grantId?: string;
  status: number;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** What differs between RD's two OAuth servers. */
const PRODUCTS = {
  crm: {
    name: 'RD Station CRM',
    consentPath: '/oauth/authorize',
    tokenPath: '/oauth2/token',
    tokenBody: 'form',
    redirectParams: ['redirect_uri'],
    requiresResponseTypeCode: true,
    codeTtlMs: 5 * MINUTE,
    accessTtlSeconds: 7200,
    refreshIdleMs: 14 * DAY,
    issuer: 'https://accounts.rdstation.com',
  },
  marketing: {
    name: 'RD Station Marketing',
    consentPath: '/auth/dialog',
    tokenPath: '/auth/token',
    tokenBody: 'json',
    redirectParams: ['redirect_uri', 'redirect_url'],
    requiresResponseTypeCode: false,
    codeTtlMs: 60 * MINUTE,
    accessTtlSeconds: 86_400,
    refreshIdleMs: Infinity,
    issuer: 'https://api.rd.services',
  },
} as const;

const DEFAULT_CLIENTS: Record<Product, FakeClient> = {
  crm: {
    clientId: 'crm-client',
    clientSecrets: ['crm-secret'],
    redirectUris: ['http://127.0.0.1/oauth/callback'],
  },
  marketing: {
    clientId: 'mkt-client',
    clientSecrets: ['mkt-secret'],
    redirectUris: ['http://127.0.0.1/oauth/callback'],
  },
};

/** Error kinds, and how each error style spells them: [HTTP status, error code]. */
type ErrorKind =
  'request' | 'client' | 'code' | 'bad_code' | 'refresh' | 'grant_type' | 'bearer' | 'rate';
const OAUTH_ERRORS: Record<ErrorKind, [number, string]> = {
  request: [400, 'invalid_request'],
  client: [401, 'invalid_client'],
  code: [400, 'invalid_grant'],
  bad_code: [400, 'invalid_grant'],
  refresh: [400, 'invalid_grant'],
  grant_type: [400, 'unsupported_grant_type'],
  bearer: [401, 'invalid_token'],
  rate: [429, 'rate_limited'],
};
const RD_ERRORS: Record<ErrorKind, [number, string]> = {
  request: [400, 'BAD_REQUEST'],
  client: [401, 'ACCESS_DENIED'],
  code: [401, 'EXPIRED_CODE_GRANT'],
  // An unknown or used code: RD's Ruby client spec (authentication_spec.rb) shows ACCESS_DENIED
  // "Wrong credentials provided.", the same answer as wrong client credentials.
  bad_code: [401, 'ACCESS_DENIED'],
  refresh: [401, 'INVALID_REFRESH_TOKEN'],
  grant_type: [400, 'BAD_REQUEST'],
  bearer: [401, 'UNAUTHORIZED'],
  rate: [429, 'RATE_LIMIT_EXCEDDED'],
};
const OUTCOMES: Record<ErrorKind, string> = {
  request: 'invalid_request',
  client: 'invalid_client',
  code: 'invalid_grant',
  bad_code: 'invalid_grant',
  refresh: 'invalid_grant',
  grant_type: 'unsupported_grant_type',
  bearer: 'unauthorized',
  rate: 'rate_limited',
};
type ErrorStyle = 'oauth' | 'rd' | 'rd-bare';
/** RD's OAuth 2 server (CRM; Marketing's newer flow) or Marketing's legacy `/auth` endpoints. */
type Flavour = 'oauth2' | 'legacy';

interface Answer {
  status: number;
  body: unknown;
  outcome: string;
  headers?: Record<string, string>;
}

interface Grant {
  id: string;
  product: Product;
  clientId: string;
  label: string;
  accessToken: string;
  accessExpiresAt: number;
  refreshToken: string;
  refreshIssuedAt: number;
  revoked: boolean;
}

interface AuthCode {
  product: Product;
  clientId: string;
  redirectUri: string;
  expiresAt: number;
  used: boolean;
}

interface FailureRule {
  remaining: number;
  failure: Failure;
  filter: FailureFilter;
}

interface ParsedBody {
  type: 'form' | 'json' | 'other' | 'none';
  /** String-valued fields (form fields, or the string members of a JSON object). */
  fields: Record<string, string>;
  json?: unknown;
  invalid?: boolean;
}

export class FakeRdStation {
  readonly calls: FakeCall[] = [];
  clients: Record<Product, FakeClient>;
  latencyMs: number;
  consent: ConsentMode;
  crmErrorShape: CrmErrorShape;
  marketingErrorWrapped: boolean;
  marketingRotatesRefreshToken: boolean;
  accessTokenTtlSeconds: Record<Product, number>;
  apiRateLimitPerMinute: number;
  apiLatencyMs: number;
  readonly apiRequests: FakeApiRequest[] = [];
  private readonly rawBodies = new WeakMap<FastifyRequest, Buffer>();

  private readonly now: () => number;
  private app?: FastifyInstance;
  private baseUrl?: string;
  private grantSeq = 0;
  private readonly codes = new Map<string, AuthCode>();
  private readonly byAccess = new Map<
    string,
    { grant: Grant; expiresAt: number; invalidated?: boolean }
  >();
  private readonly byRefresh = new Map<string, Grant>();
  private failNextRules: FailureRule[] = [];
  private failAlwaysRule?: FailureRule;
  private apiFailNextRules: { remaining: number; failure: Failure }[] = [];
  /** API calls per grant in the current clock minute. */
  private readonly apiWindows = new Map<string, { windowStart: number; used: number }>();
  private readonly callOfRequest = new WeakMap<FastifyRequest, FakeCall>();
  /** Wakes every pending latency sleep and hung request (on stop). */
  private readonly wakers = new Set<() => void>();

  private readonly stateFile?: string;

  constructor(options: FakeRdStationOptions = {}) {
    this.stateFile = options.stateFile;
    this.clients = { ...DEFAULT_CLIENTS, ...options.clients };
    this.now = options.now ?? Date.now;
    this.latencyMs = options.latencyMs ?? 0;
    this.consent = options.consent ?? 'page';
    this.crmErrorShape = options.crmErrorShape ?? 'oauth';
    this.marketingErrorWrapped = options.marketingErrorWrapped ?? true;
    this.marketingRotatesRefreshToken = options.marketingRotatesRefreshToken ?? false;
    this.accessTokenTtlSeconds = {
      crm: options.accessTokenTtlSeconds?.crm ?? PRODUCTS.crm.accessTtlSeconds,
      marketing: options.accessTokenTtlSeconds?.marketing ?? PRODUCTS.marketing.accessTtlSeconds,
    };
    this.apiRateLimitPerMinute = options.apiRateLimitPerMinute ?? 120;
    this.apiLatencyMs = options.apiLatencyMs ?? 0;
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('FakeRdStation is not started');
    return this.baseUrl;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.app) throw new Error('FakeRdStation is already started');
    const app = Fastify({
      logger: false,
      forceCloseConnections: true,
      // Tokens in /_fake/*-tokens/:token paths are JWT-sized, past fastify's default of 100.
      routerOptions: { maxParamLength: 4096 },
    });
    app.removeAllContentTypeParsers();
    // Bodies reach the routes as UTF-8 text; the bytes are kept too, for FakeApiRequest.bytes.
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
      this.rawBodies.set(request, body as Buffer);
      done(null, (body as Buffer).toString('utf8'));
    });
    app.addHook('onRequest', async (request) => this.record(request));
    app.addHook('onSend', async (request, reply) => {
      const call = this.callOfRequest.get(request);
      if (call) call.status = reply.statusCode;
    });
    if (this.stateFile) {
      this.loadGrants(this.stateFile);
      const file = this.stateFile;
      app.addHook('onResponse', async (request) => {
        if (request.method !== 'GET' || request.url.startsWith('/_fake/')) this.saveGrants(file);
      });
    }
    // RD's OAuth 2 server (`/oauth/authorize`, `/oauth2/token`) serves CRM and, in its newer
    // flow, Marketing too (RD's n8n Marketing node): the client_id tells which app it is.
    const byClient = (request: FastifyRequest): Product =>
      stringFields(request.query).client_id === this.clients.marketing.clientId ||
      parseBody(request).fields.client_id === this.clients.marketing.clientId
        ? 'marketing'
        : 'crm';
    for (const method of ['GET', 'POST'] as const) {
      app.route({
        method,
        url: PRODUCTS.crm.consentPath,
        handler: (request, reply) => this.consentRoute(byClient(request), request, reply, 'oauth2'),
      });
      app.route({
        method,
        url: PRODUCTS.marketing.consentPath,
        handler: (request, reply) => this.consentRoute('marketing', request, reply, 'legacy'),
      });
    }
    app.post(PRODUCTS.crm.tokenPath, (request, reply) =>
      this.tokenRoute(byClient(request), request, reply, 'oauth2'),
    );
    app.post(PRODUCTS.marketing.tokenPath, (request, reply) =>
      this.tokenRoute('marketing', request, reply, 'legacy'),
    );
    app.post('/auth/revoke', (request, reply) => this.revokeRoute(request, reply));
    app.get('/marketing/account_info', (request, reply) =>
      this.apiRoute('marketing', request, reply, (grant) => ({ name: grant.label })),
    );
    app.get('/crm/v2/users', (request, reply) =>
      this.apiRoute('crm', request, reply, (grant) => ({
        data: [
          { id: grant.id, name: `${grant.label} Owner`, email: `owner-${grant.id}@example.com` },
        ],
      })),
    );
    // RD API endpoints for the /proxy route: they echo what they received.
    app.get('/crm/v2/contacts', (request, reply) => this.echoRoute('crm', request, reply));
    app.post('/crm/v2/contacts', (request, reply) => this.echoRoute('crm', request, reply));
    app.route({
      method: ['GET', 'PUT', 'PATCH', 'DELETE'],
      url: '/platform/contacts/:id',
      handler: (request, reply) => this.echoRoute('marketing', request, reply),
    });
    this.controlRoutes(app);
    const address = await app.listen({ port, host });
    this.app = app;
    this.baseUrl = address;
    return address;
  }

  async stop(): Promise<void> {
    const app = this.app;
    if (!app) return;
    this.app = undefined;
    for (const wake of [...this.wakers]) wake();
    await app.close();
  }

  failNext(count: number, failure: Failure, filter: FailureFilter = {}): void {
    if (count > 0) this.failNextRules.push({ remaining: count, failure, filter });
  }

  failAlways(failure: Failure | null, filter: FailureFilter = {}): void {
    this.failAlwaysRule = failure ? { remaining: Infinity, failure, filter } : undefined;
  }

  tokenCalls(filter: FailureFilter = {}): FakeCall[] {
    const paths: string[] = [PRODUCTS.crm.tokenPath, PRODUCTS.marketing.tokenPath];
    return this.calls.filter((call) => paths.includes(call.path) && matches(filter, call));
  }

  isLiveRefreshToken(token: string): boolean {
    const grant = this.byRefresh.get(token);
    return !!grant && this.refreshIsLive(grant, token);
  }

  isLiveAccessToken(token: string): boolean {
    const entry = this.byAccess.get(token);
    return !!entry && !entry.grant.revoked && !entry.invalidated && this.now() < entry.expiresAt;
  }

  /**
   * RD stops accepting this access token before it expires (as RD does when it invalidates a
   * token on its side); the grant and its refresh token stay valid. False for an unknown token.
   */
  invalidateAccessToken(token: string): boolean {
    const entry = this.byAccess.get(token);
    if (entry) entry.invalidated = true;
    return !!entry;
  }

  /** The current state of the grant a token (current or old, access or refresh) belongs to. */
  grantOf(token: string): FakeGrant | undefined {
    const grant = this.byRefresh.get(token) ?? this.byAccess.get(token)?.grant;
    if (!grant) return undefined;
    const { id, product, label, refreshToken, accessToken, accessExpiresAt, revoked } = grant;
    return { id, product, label, refreshToken, accessToken, accessExpiresAt, revoked };
  }

  /** How many grants were read back from `stateFile` at start. */
  loadedGrants = 0;

  private loadGrants(file: string): void {
    if (!existsSync(file)) return;
    const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedGrants;
    const grants = new Map(saved.grants.map((grant) => [grant.id, grant]));
    this.grantSeq = saved.grantSeq;
    for (const grant of grants.values()) this.byRefresh.set(grant.refreshToken, grant);
    for (const { token, grantId, expiresAt, invalidated } of saved.accessTokens) {
      const grant = grants.get(grantId);
      if (grant) this.byAccess.set(token, { grant, expiresAt, invalidated });
    }
    this.loadedGrants = grants.size;
  }

  private saveGrants(file: string): void {
    const grants = new Map<string, Grant>();
    for (const grant of this.byRefresh.values()) grants.set(grant.id, grant);
    const now = this.now();
    const saved: SavedGrants = {
      grantSeq: this.grantSeq,
      grants: [...grants.values()],
      // Expired access tokens are of no use after a restart.
      accessTokens: [...this.byAccess.entries()]
        .filter(([, entry]) => entry.expiresAt > now)
        .map(([token, { grant, expiresAt, invalidated }]) => ({
          token,
          grantId: grant.id,
          expiresAt,
          invalidated,
        })),
    };
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify(saved), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** Seeds a grant as if a user had consented; `accessTtlSeconds` applies to this first token. */
  issueGrant(
    product: Product,
    options: { accessTtlSeconds?: number; label?: string } = {},
  ): IssuedGrant {
    const grant = this.createGrant(product, this.clients[product].clientId, options.label);
    const expiresIn = options.accessTtlSeconds ?? this.accessTokenTtlSeconds[product];
    this.issueAccessToken(grant, expiresIn);
    return { accessToken: grant.accessToken, refreshToken: grant.refreshToken, expiresIn };
  }

  /** The next `count` RD API calls (not token calls) fail so; tokens are not checked for them. */
  failNextApi(count: number, failure: Failure): void {
    if (count > 0) this.apiFailNextRules.push({ remaining: count, failure });
  }

  /** RD API calls that reached the fake, optionally only those of one path. */
  apiCalls(path?: string): FakeApiRequest[] {
    return path ? this.apiRequests.filter((r) => r.path === path) : this.apiRequests;
  }

  /** Forgets calls, API rate windows and injected failures; keeps grants, codes and settings. */
  reset(): void {
    this.calls.length = 0;
    this.apiRequests.length = 0;
    this.apiWindows.clear();
    this.failNextRules = [];
    this.apiFailNextRules = [];
    this.failAlwaysRule = undefined;
  }

  // ---- consent ------------------------------------------------------------------------------

  private consentRoute(
    product: Product,
    request: FastifyRequest,
    reply: FastifyReply,
    flavour: Flavour,
  ) {
    const call = this.callOf(request);
    call.product = product;
    const rules =
      flavour === 'oauth2'
        ? { ...PRODUCTS[product], requiresResponseTypeCode: true, redirectParams: ['redirect_uri'] }
        : PRODUCTS[product];
    const query = stringFields(request.query);
    const client = this.clients[product];
    const redirectUri = rules.redirectParams.map((name) => query[name]).find((v) => v);
    let problem: string | undefined;
    if (rules.requiresResponseTypeCode && query.response_type !== 'code') {
      problem = 'response_type must be "code".';
    } else if (!query.client_id || query.client_id !== client.clientId) {
      problem = 'Unknown client_id.';
    } else if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
      problem = 'The redirect_uri does not match any callback URL registered for this app.';
    }
    if (problem || !redirectUri) {
      call.outcome = 'bad_consent_request';
      return reply
        .code(400)
        .type('text/html; charset=utf-8')
        .send(errorPage(problem ?? ''));
    }
    const decision =
      request.method === 'POST'
        ? parseBody(request).fields.decision
        : this.consent === 'page'
          ? undefined
          : this.consent;
    if (decision === undefined) {
      call.outcome = 'consent_page';
      const page = consentPage(rules.name, client.clientId, request.url);
      return reply.type('text/html; charset=utf-8').send(page);
    }
    const target = new URL(redirectUri);
    if (decision === 'approve') {
      const code = randomBytes(16).toString('hex');
      this.codes.set(code, {
        product,
        clientId: client.clientId,
        redirectUri,
        expiresAt: this.now() + rules.codeTtlMs,
        used: false,
      });
      target.searchParams.set('code', code);
      call.code = code;
      call.outcome = 'approved';
    } else if (decision === 'deny') {
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('error_description', 'The user denied access to the application.');
      call.outcome = 'denied';
    } else {
      call.outcome = 'bad_consent_request';
      return reply.code(400).type('text/html; charset=utf-8').send(errorPage('Bad decision.'));
    }
    if (query.state !== undefined) target.searchParams.set('state', query.state);
    return reply.redirect(target.toString(), 302);
  }

  // ---- token endpoints ----------------------------------------------------------------------

  private async tokenRoute(
    product: Product,
    request: FastifyRequest,
    reply: FastifyReply,
    flavour: Flavour,
  ) {
    const call = this.callOf(request);
    const body = parseBody(request);
    const params = body.fields;
    call.product = product;
    const seen = {
      grantType: grantTypeOf(flavour, params),
      code: params.code,
      refreshToken: params.refresh_token,
      clientSecret: params.client_secret,
    };
    for (const [key, value] of Object.entries(seen))
      if (value) Object.assign(call, { [key]: value });
    await this.sleep(this.latencyMs);
    const failure = this.takeFailure(product, call.grantType);
    if (failure && failure.kind !== 'lost_response') {
      const kind = call.grantType === 'authorization_code' ? 'code' : 'refresh';
      return this.inject(
        failure,
        request,
        reply,
        this.tokenError(product, kind, 'Invalid grant.', flavour),
      );
    }
    const expectedBody = flavour === 'oauth2' ? 'form' : 'json';
    const answer =
      body.type === expectedBody && !body.invalid
        ? flavour === 'oauth2'
          ? this.oauth2Token(product, params)
          : this.marketingToken(params)
        : this.tokenError(product, 'request', wrongBodyMessage(flavour), flavour);
    if (failure) return this.inject(failure, request, reply, answer);
    return this.send(reply, answer, { 'cache-control': 'no-store', pragma: 'no-cache' });
  }

  /** RD's OAuth 2 token endpoint: CRM, or Marketing in its newer flow. */
  private oauth2Token(product: Product, params: Record<string, string>): Answer {
    const error = (kind: ErrorKind, message: string) =>
      this.tokenError(product, kind, message, 'oauth2');
    if (!params.grant_type) return error('request', 'Missing grant_type.');
    if (params.grant_type !== 'authorization_code' && params.grant_type !== 'refresh_token') {
      return error('grant_type', `Unsupported grant_type ${params.grant_type}.`);
    }
    if (!this.authenticate(product, params))
      return error('client', 'Client authentication failed.');
    if (params.grant_type === 'authorization_code') {
      if (!params.code || !params.redirect_uri)
        return error('request', 'Missing code/redirect_uri.');
      return this.exchangeCode(
        product,
        params.client_id,
        params.code,
        params.redirect_uri,
        'oauth2',
      );
    }
    if (!params.refresh_token) return error('request', 'Missing refresh_token.');
    return this.refresh(product, params.client_id, params.refresh_token, 'oauth2');
  }

  private marketingToken(params: Record<string, string>): Answer {
    const error = (kind: ErrorKind, message: string) => this.tokenError('marketing', kind, message);
    if (!this.authenticate('marketing', params)) return error('client', 'Invalid credentials.');
    if (params.code)
      return this.exchangeCode('marketing', params.client_id, params.code, undefined, 'legacy');
    if (params.refresh_token)
      return this.refresh('marketing', params.client_id, params.refresh_token, 'legacy');
    return error('request', 'Either code or refresh_token is required.');
  }

  private authenticate(product: Product, params: Record<string, string>): boolean {
    const client = this.clients[product];
    return (
      params.client_id === client.clientId &&
      !!params.client_secret &&
      client.clientSecrets.includes(params.client_secret)
    );
  }

  private exchangeCode(
    product: Product,
    clientId: string,
    code: string,
    redirectUri: string | undefined,
    flavour: Flavour,
  ): Answer {
    const entry = this.codes.get(code);
    const usable =
      entry &&
      !entry.used &&
      entry.product === product &&
      entry.clientId === clientId &&
      this.now() < entry.expiresAt &&
      (redirectUri === undefined || redirectUri === entry.redirectUri);
    if (entry && !entry.used && this.now() >= entry.expiresAt) {
      return this.tokenError(product, 'code', 'The authorization code grant has expired.', flavour);
    }
    if (!entry || !usable) {
      const message =
        flavour === 'oauth2' ? 'The authorization code is invalid.' : 'Wrong credentials provided.';
      return this.tokenError(product, 'bad_code', message, flavour);
    }
    entry.used = true;
    const grant = this.createGrant(product, clientId);
    return this.tokenAnswer(grant, this.issueAccessToken(grant), flavour);
  }

  private refresh(product: Product, clientId: string, token: string, flavour: Flavour): Answer {
    const grant = this.byRefresh.get(token);
    if (!grant || grant.product !== product || grant.clientId !== clientId) {
      return this.tokenError(product, 'refresh', 'The refresh token is invalid.', flavour);
    }
    if (!this.refreshIsLive(grant, token)) {
      return this.tokenError(
        product,
        'refresh',
        'The refresh token is invalid or expired.',
        flavour,
      );
    }
    if (product === 'crm' || this.marketingRotatesRefreshToken) this.rotateRefreshToken(grant);
    else grant.refreshIssuedAt = this.now();
    return this.tokenAnswer(grant, this.issueAccessToken(grant), flavour);
  }

  private tokenAnswer(grant: Grant, expiresIn: number, flavour: Flavour): Answer {
    const tokens = { access_token: grant.accessToken, refresh_token: grant.refreshToken };
    const body =
      flavour === 'oauth2'
        ? { ...tokens, expires_in: expiresIn, token_type: 'Bearer' }
        : {
            access_token: tokens.access_token,
            expires_in: expiresIn,
            refresh_token: tokens.refresh_token,
          };
    return { status: 200, body, outcome: 'ok' };
  }

  /**
   * An error in the product's shape: CRM's configured one, Marketing's RD shape on the legacy
   * endpoint, and standard OAuth 2 for Marketing on the OAuth 2 server (its shape there is not
   * published).
   */
  private tokenError(
    product: Product,
    kind: ErrorKind,
    message: string,
    flavour: Flavour = product === 'crm' ? 'oauth2' : 'legacy',
  ): Answer {
    const style: ErrorStyle =
      product === 'crm'
        ? this.crmErrorShape
        : flavour === 'oauth2'
          ? 'oauth'
          : this.marketingErrorWrapped
            ? 'rd'
            : 'rd-bare';
    return errorAnswer(style, kind, message);
  }

  // ---- revoke and API calls -----------------------------------------------------------------

  private async revokeRoute(request: FastifyRequest, reply: FastifyReply) {
    const call = this.callOf(request);
    call.product = 'marketing';
    const body = parseBody(request);
    await this.sleep(this.latencyMs);
    const failure = this.takeFailure('marketing', undefined);
    const unauthorized = this.tokenError('marketing', 'bearer', 'Invalid access token.');
    if (failure && failure.kind !== 'lost_response') {
      return this.inject(failure, request, reply, unauthorized);
    }
    let answer: Answer;
    if (!this.bearerGrant(request, 'marketing') && !this.expiredBearerOfRefresh(request, body))
      answer = unauthorized;
    else if (body.type !== 'form' || !body.fields.token) {
      answer = this.tokenError('marketing', 'request', 'A form with "token" is required.');
    } else {
      const grant =
        this.byRefresh.get(body.fields.token) ?? this.byAccess.get(body.fields.token)?.grant;
      if (grant?.product === 'marketing') grant.revoked = true;
      answer = { status: 200, body: {}, outcome: grant ? 'revoked' : 'unknown_token' };
    }
    if (failure) return this.inject(failure, request, reply, answer);
    return this.send(reply, answer);
  }

  private apiRoute(
    product: Product,
    request: FastifyRequest,
    reply: FastifyReply,
    respond: (grant: Grant) => unknown,
  ) {
    const call = this.callOf(request);
    call.product = product;
    const grant = this.bearerGrant(request, product);
    const answer = grant
      ? { status: 200, body: respond(grant), outcome: 'ok' }
      : errorAnswer('rd', 'bearer', 'Invalid or expired access token.');
    return this.send(reply, answer);
  }

  /**
   * An RD API endpoint: the bearer must be the grant's current access token (one refreshed away,
   * revoked or expired answers 401, RD's `UNAUTHORIZED`), each grant has
   * `apiRateLimitPerMinute` calls per clock minute (then 429 `RATE_LIMIT_EXCEDDED` with
   * Retry-After), and the answer echoes the request. The echoed `authorization` names the grant
   * instead of showing the token.
   */
  private async echoRoute(product: Product, request: FastifyRequest, reply: FastifyReply) {
    const call = this.callOf(request);
    call.product = product;
    const url = request.url;
    const queryAt = url.indexOf('?');
    const seen: FakeApiRequest = {
      at: this.now(),
      method: request.method,
      path: queryAt < 0 ? url : url.slice(0, queryAt),
      query: queryAt < 0 ? '' : url.slice(queryAt + 1),
      headers: { ...request.headers },
      body: typeof request.body === 'string' ? request.body : '',
      bytes: this.rawBodies.get(request) ?? Buffer.alloc(0),
      status: 0,
    };
    this.apiRequests.push(seen);
    await this.sleep(this.apiLatencyMs);
    const rule = this.apiFailNextRules[0];
    if (rule) {
      if (--rule.remaining <= 0) this.apiFailNextRules.shift();
      const unauthorized = errorAnswer('rd', 'bearer', 'Invalid or expired access token.');
      await this.inject(rule.failure, request, reply, unauthorized);
      seen.status = reply.statusCode;
      return reply;
    }
    const grant = this.bearerGrant(request, product);
    let answer: Answer;
    let headers: Record<string, string> = {};
    if (!grant || grant.accessToken !== bearerOf(request)) {
      answer = errorAnswer('rd', 'bearer', 'Invalid or expired access token.');
    } else {
      seen.grantId = grant.id;
      const retryAfter = this.spendApiCall(grant);
      if (retryAfter !== null) {
        answer = errorAnswer('rd', 'rate', 'Rate limit exceeded, retry later.');
        headers = { 'retry-after': String(retryAfter) };
      } else {
        const { authorization: _token, ...others } = seen.headers;
        const echo = {
          method: seen.method,
          path: seen.path,
          query: seen.query,
          headers: { ...others, authorization: `Bearer <access token of ${grant.id}>` },
          body: seen.body,
        };
        const status = request.method === 'POST' ? 201 : 200;
        answer = { status, body: { account: grant.label, echo }, outcome: 'ok' };
        headers = { 'x-request-id': randomUUID(), 'set-cookie': 'rd_session=fake; Path=/' };
      }
    }
    seen.status = answer.status;
    return this.send(reply, answer, headers);
  }

  /** Seconds until the grant's next API call fits, or null after counting this one. */
  private spendApiCall(grant: Grant): number | null {
    const now = this.now();
    const windowStart = Math.floor(now / MINUTE) * MINUTE;
    let window = this.apiWindows.get(grant.id);
    if (!window || window.windowStart !== windowStart) {
      window = { windowStart, used: 0 };
      this.apiWindows.set(grant.id, window);
    }
    if (window.used >= this.apiRateLimitPerMinute)
      return Math.max(1, Math.ceil((windowStart + MINUTE - now) / 1000));
    window.used += 1;
    return null;
  }

  /**
   * Revoking with the refresh token (`token_type_hint=refresh_token`) works even when the bearer
   * access token has expired, as long as both belong to one live grant.
   */
  private expiredBearerOfRefresh(request: FastifyRequest, body: ParsedBody): boolean {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    const token = body.fields.token;
    if (!match || body.fields.token_type_hint !== 'refresh_token' || !token) return false;
    const grant = this.byRefresh.get(token);
    return (
      grant?.product === 'marketing' &&
      this.refreshIsLive(grant, token) &&
      this.byAccess.get(match[1])?.grant === grant
    );
  }

  private bearerGrant(request: FastifyRequest, product: Product): Grant | undefined {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match || !this.isLiveAccessToken(match[1])) return undefined;
    const grant = this.byAccess.get(match[1])?.grant;
    return grant?.product === product ? grant : undefined;
  }

  // ---- grants -------------------------------------------------------------------------------

  private createGrant(product: Product, clientId: string, label?: string): Grant {
    const seq = ++this.grantSeq;
    const grant: Grant = {
      id: `grant-${seq}`,
      product,
      clientId,
      label: label ?? `Fake ${product === 'crm' ? 'CRM' : 'Marketing'} Account ${seq}`,
      accessToken: '',
      accessExpiresAt: 0,
      refreshToken: '',
      refreshIssuedAt: 0,
      revoked: false,
    };
    this.rotateRefreshToken(grant);
    return grant;
  }

  private rotateRefreshToken(grant: Grant): void {
    grant.refreshToken = randomBytes(32).toString('base64url');
    grant.refreshIssuedAt = this.now();
    this.byRefresh.set(grant.refreshToken, grant);
  }

  /** Issues a new access token; the previous ones stay valid until they expire. */
  private issueAccessToken(grant: Grant, ttlSeconds = this.accessTokenTtlSeconds[grant.product]) {
    const now = this.now();
    grant.accessExpiresAt = now + ttlSeconds * 1000;
    grant.accessToken = jwtLike({
      iss: PRODUCTS[grant.product].issuer,
      client_id: grant.clientId,
      iat: Math.floor(now / 1000),
      exp: Math.floor(grant.accessExpiresAt / 1000),
      jti: randomUUID(),
    });
    this.byAccess.set(grant.accessToken, { grant, expiresAt: grant.accessExpiresAt });
    return ttlSeconds;
  }

  private refreshIsLive(grant: Grant, token: string): boolean {
    const idleLimit = PRODUCTS[grant.product].refreshIdleMs;
    return (
      !grant.revoked &&
      grant.refreshToken === token &&
      this.now() < grant.refreshIssuedAt + idleLimit
    );
  }

  // ---- failure injection, recording, plumbing ----------------------------------------------

  private takeFailure(product: Product, grantType: GrantType | undefined): Failure | undefined {
    const call = { product, grantType };
    const rule = this.failNextRules.find((r) => matches(r.filter, call));
    if (rule) {
      rule.remaining -= 1;
      if (rule.remaining <= 0) this.failNextRules.splice(this.failNextRules.indexOf(rule), 1);
      return rule.failure;
    }
    const always = this.failAlwaysRule;
    return always && matches(always.filter, call) ? always.failure : undefined;
  }

  /** Answers with an injected failure; `processed` is the real answer (sent for invalid_grant). */
  private async inject(
    failure: Failure,
    request: FastifyRequest,
    reply: FastifyReply,
    processed: Answer,
  ) {
    const call = this.callOf(request);
    call.outcome = `injected:${failure.kind}`;
    switch (failure.kind) {
      case 'status':
        call.outcome = `injected:status_${failure.status}`;
        return reply
          .code(failure.status)
          .type('text/html; charset=utf-8')
          .send(gatewayPage(failure.status));
      case 'lost_response':
        return reply.code(502).type('text/html; charset=utf-8').send(gatewayPage(502));
      case 'rate_limited': {
        reply.header('retry-after', String(failure.retryAfter));
        if (failure.quotas !== undefined) {
          // The gateway's quota answer (RD's Ruby client, error/formatter.rb).
          reply.header('retry-after-quotas', String(failure.quotas));
          return reply
            .code(429)
            .type('application/json')
            .send({ message: 'API rate limit exceeded' });
        }
        const answer = errorAnswer('rd', 'rate', 'Rate limit exceeded, retry later.');
        return this.send(reply, { ...answer, outcome: call.outcome });
      }
      case 'invalid_grant':
        return this.send(reply, { ...processed, outcome: call.outcome });
      case 'gateway': {
        // The API gateway's own answer: its body and, on a 401, the challenge header it remaps.
        const message = failure.status === 401 ? 'Unauthorized' : 'Forbidden';
        if (failure.status === 401)
          reply.header('x-amzn-remapped-www-authenticate', 'Bearer realm="api.rd.services"');
        reply.header(
          'x-amzn-errortype',
          failure.status === 401 ? 'UnauthorizedException' : 'AccessDeniedException',
        );
        return reply.code(failure.status).type('application/json').send({ message });
      }
      case 'html':
        return reply
          .code(failure.status)
          .type('text/html; charset=utf-8')
          .send(gatewayPage(failure.status));
      case 'empty':
        return reply.code(failure.status).send('');
      case 'crm_errors':
        return reply
          .code(failure.status)
          .type('application/json')
          .send({
            errors: [
              {
                code: 'unauthorized',
                detail: 'Invalid credentials',
                status: String(failure.status),
              },
            ],
          });
      case 'expired_token':
        // RD's Ruby client (error_handler/expired_access_token.rb) reads exactly this.
        reply.header(
          'x-amzn-remapped-www-authenticate',
          'Bearer realm="api.rd.services", error="expired_token", error_description="The access token expired"',
        );
        return reply.code(401).type('application/json').send({ message: 'Unauthorized' });
      case 'slow_stream': {
        reply.hijack();
        reply.raw.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < failure.chunks && !reply.raw.destroyed; i++) {
          reply.raw.write(`${i === 0 ? '[' : ','}"${'x'.repeat(1024)}"`);
          await this.sleep(failure.intervalMs);
        }
        if (!reply.raw.destroyed) reply.raw.end(']');
        return reply;
      }
      case 'odd_status':
        reply.hijack();
        request.raw.socket.end(
          `HTTP/1.1 ${failure.status} Odd\r\ncontent-type: application/json\r\n` +
            `content-length: 2\r\nconnection: close\r\n\r\n{}`,
        );
        return reply;
      case 'raw':
        return reply
          .code(failure.status)
          .type(failure.contentType ?? 'text/plain')
          .send(failure.body);
      case 'reset':
        reply.hijack();
        request.raw.socket.resetAndDestroy();
        return reply;
      case 'truncated': {
        // The headers announce the whole body; a part of it arrives, then the connection drops.
        reply.hijack();
        const body = JSON.stringify({ contacts: [], padding: 'x'.repeat(200) });
        reply.raw.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(body.length),
        });
        reply.raw.write(body.slice(0, 50), () => request.raw.socket.destroy());
        return reply;
      }
      case 'hang': {
        reply.hijack();
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.wakers.delete(wake);
            request.raw.socket.destroy();
            resolve();
          };
          this.wakers.add(wake);
          reply.raw.once('close', wake);
        });
        return reply;
      }
    }
  }

  private send(reply: FastifyReply, answer: Answer, headers: Record<string, string> = {}) {
    const call = this.callOf(reply.request);
    call.outcome ??= answer.outcome;
    return reply.code(answer.status).headers(headers).send(answer.body);
  }

  private record(request: FastifyRequest): void {
    const path = request.url.split('?')[0];
    if (path.startsWith('/_fake/')) return;
    const call: FakeCall = { at: this.now(), method: request.method, path, status: 0 };
    const traceparent = request.headers.traceparent;
    if (typeof traceparent === 'string') call.traceparent = traceparent;
    this.calls.push(call);
    this.callOfRequest.set(request, call);
  }

  private callOf(request: FastifyRequest): FakeCall {
    return this.callOfRequest.get(request) ?? { at: 0, method: '', path: '', status: 0 };
  }

  private sleep(ms: number): Promise<void> {
    if (!(ms > 0) || !this.app) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  // ---- control endpoints (out-of-process use) ----------------------------------------------

  private controlRoutes(app: FastifyInstance): void {
    const json = (request: FastifyRequest): Record<string, unknown> => {
      const body = parseBody(request);
      if (body.type === 'none') return {};
      if (body.type !== 'json' || !isObject(body.json))
        throw new ControlError('JSON object expected');
      return body.json;
    };
    app.setErrorHandler((error, _request, reply) => {
      const status = error instanceof ControlError ? 400 : 500;
      const message = error instanceof Error ? error.message : String(error);
      return reply.code(status).send({ error: message });
    });
    app.get('/_fake/calls', async (request) => {
      const query = stringFields(request.query);
      return this.calls.filter((call) => matches(parseFilter(query), call));
    });
    app.post('/_fake/config', async (request) => {
      this.configure(json(request));
      return this.settings();
    });
    app.post('/_fake/grants', async (request) => {
      const body = json(request);
      if (body.product !== 'crm' && body.product !== 'marketing') {
        throw new ControlError('product must be "crm" or "marketing"');
      }
      const ttl = optionalNumber(body.accessTtlSeconds, 'accessTtlSeconds');
      const label = typeof body.label === 'string' ? body.label : undefined;
      return this.issueGrant(body.product, { accessTtlSeconds: ttl, label });
    });
    app.get('/_fake/refresh-tokens/:token', async (request) => ({
      live: this.isLiveRefreshToken((request.params as { token: string }).token),
    }));
    app.get('/_fake/access-tokens/:token', async (request) => ({
      live: this.isLiveAccessToken((request.params as { token: string }).token),
    }));
    app.post('/_fake/access-tokens/:token/invalidate', async (request) => ({
      invalidated: this.invalidateAccessToken((request.params as { token: string }).token),
    }));
    app.post('/_fake/reset', async () => {
      this.reset();
      return {};
    });
  }

  private configure(body: Record<string, unknown>): void {
    const latency = optionalNumber(body.latencyMs, 'latencyMs');
    if (latency !== undefined) this.latencyMs = latency;
    const apiLatency = optionalNumber(body.apiLatencyMs, 'apiLatencyMs');
    if (apiLatency !== undefined) this.apiLatencyMs = apiLatency;
    const apiLimit = optionalNumber(body.apiRateLimitPerMinute, 'apiRateLimitPerMinute');
    if (apiLimit !== undefined) this.apiRateLimitPerMinute = apiLimit;
    if (body.consent !== undefined) {
      if (!['page', 'approve', 'deny'].includes(body.consent as string)) {
        throw new ControlError('consent must be page, approve or deny');
      }
      this.consent = body.consent as ConsentMode;
    }
    if (body.crmErrorShape !== undefined) {
      if (body.crmErrorShape !== 'oauth' && body.crmErrorShape !== 'rd') {
        throw new ControlError('crmErrorShape must be oauth or rd');
      }
      this.crmErrorShape = body.crmErrorShape;
    }
    for (const key of ['marketingErrorWrapped', 'marketingRotatesRefreshToken'] as const) {
      if (body[key] === undefined) continue;
      if (typeof body[key] !== 'boolean') throw new ControlError(`${key} must be a boolean`);
      this[key] = body[key];
    }
    if (body.failNext !== undefined) {
      const spec = isObject(body.failNext) ? body.failNext : {};
      const count = optionalNumber(spec.count, 'failNext.count') ?? 1;
      this.failNext(count, parseFailure(spec.failure), parseFilter(spec.filter));
    }
    if (body.failAlways !== undefined) {
      const failure = body.failAlways === null ? null : parseFailure(body.failAlways);
      this.failAlways(failure, parseFilter(body.failAlwaysFilter));
    }
  }

  private settings() {
    const { latencyMs, consent, crmErrorShape, marketingErrorWrapped } = this;
    return {
      latencyMs,
      apiLatencyMs: this.apiLatencyMs,
      apiRateLimitPerMinute: this.apiRateLimitPerMinute,
      consent,
      crmErrorShape,
      marketingErrorWrapped,
      marketingRotatesRefreshToken: this.marketingRotatesRefreshToken,
      pendingFailures: this.failNextRules.map(({ remaining, failure, filter }) => ({
        remaining,
        failure,
        filter,
      })),
      failAlways: this.failAlwaysRule
        ? { failure: this.failAlwaysRule.failure, filter: this.failAlwaysRule.filter }
        : null,
    };
  }
}

// ---- helpers ----------------------------------------------------------------------------------

class ControlError extends Error {}

function matches(filter: FailureFilter, call: FailureFilter): boolean {
  return (
    (!filter.product || filter.product === call.product) &&
    (!filter.grantType || filter.grantType === call.grantType)
  );
}

function bearerOf(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
}

function grantTypeOf(flavour: Flavour, params: Record<string, string>): GrantType | undefined {
  if (flavour === 'oauth2') {
    const type = params.grant_type;
    return type === 'authorization_code' || type === 'refresh_token' ? type : undefined;
  }
  if (params.code) return 'authorization_code';
  return params.refresh_token ? 'refresh_token' : undefined;
}

function errorAnswer(style: ErrorStyle, kind: ErrorKind, message: string): Answer {
  if (style === 'oauth') {
    const [status, error] = OAUTH_ERRORS[kind];
    return { status, body: { error, error_description: message }, outcome: OUTCOMES[kind] };
  }
  const [status, errorType] = RD_ERRORS[kind];
  const inner = { error_type: errorType, error_message: message };
  return { status, body: style === 'rd' ? { errors: inner } : inner, outcome: OUTCOMES[kind] };
}

function wrongBodyMessage(flavour: Flavour): string {
  return flavour === 'oauth2'
    ? 'The request body must be application/x-www-form-urlencoded.'
    : 'The request body must be a JSON object (application/json).';
}

function parseBody(request: FastifyRequest): ParsedBody {
  const raw = typeof request.body === 'string' ? request.body : '';
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!mediaType && !raw) return { type: 'none', fields: {} };
  if (mediaType === 'application/x-www-form-urlencoded') {
    return { type: 'form', fields: Object.fromEntries(new URLSearchParams(raw)) };
  }
  if (mediaType !== 'application/json' && !mediaType.endsWith('+json')) {
    return { type: 'other', fields: {} };
  }
  try {
    const json: unknown = JSON.parse(raw);
    return isObject(json)
      ? { type: 'json', fields: stringFields(json), json }
      : { type: 'json', fields: {}, json, invalid: true };
  } catch {
    return { type: 'json', fields: {}, invalid: true };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringFields(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
}

function optionalNumber(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ControlError(`${name} must be a non-negative number`);
  }
  return value;
}

function parseFilter(value: unknown): FailureFilter {
  const fields = stringFields(value);
  const filter: FailureFilter = {};
  if (fields.product) {
    if (fields.product !== 'crm' && fields.product !== 'marketing') {
      throw new ControlError('filter.product must be crm or marketing');
    }
    filter.product = fields.product;
  }
  if (fields.grantType) {
    if (fields.grantType !== 'authorization_code' && fields.grantType !== 'refresh_token') {
      throw new ControlError('filter.grantType must be authorization_code or refresh_token');
    }
    filter.grantType = fields.grantType;
  }
  return filter;
}

function parseFailure(value: unknown): Failure {
  if (!isObject(value)) throw new ControlError('failure must be an object with a kind');
  switch (value.kind) {
    case 'status':
      if (value.status !== 500 && value.status !== 502 && value.status !== 503) {
        throw new ControlError('failure.status must be 500, 502 or 503');
      }
      return { kind: 'status', status: value.status };
    case 'rate_limited': {
      const quotas = optionalNumber(value.quotas, 'quotas');
      return {
        kind: 'rate_limited',
        retryAfter: optionalNumber(value.retryAfter, 'retryAfter') ?? 1,
        ...(quotas === undefined ? {} : { quotas }),
      };
    }
    case 'gateway':
      if (value.status !== 401 && value.status !== 403)
        throw new ControlError('failure.status must be 401 or 403');
      return { kind: 'gateway', status: value.status };
    case 'html':
    case 'empty':
    case 'crm_errors': {
      const status = optionalNumber(value.status, 'failure.status');
      if (status === undefined || status < 400 || status > 599 || !Number.isInteger(status))
        throw new ControlError('failure.status must be an HTTP error status (400-599)');
      return { kind: value.kind, status };
    }
    case 'hang':
    case 'reset':
    case 'lost_response':
    case 'invalid_grant':
      return { kind: value.kind };
    default:
      throw new ControlError(`unknown failure kind ${String(value.kind)}`);
  }
}

function jwtLike(payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signature = randomBytes(32).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(payload)}.${signature}`;
}

function escapeHtml(text: string): string {
  const entities: Record<string, string> = {
    '&': '&amp;',
    '<': '&lt;',
    '>': '&gt;',
    '"': '&quot;',
    "'": '&#39;',
  };
  return text.replace(/[&<>"']/g, (char) => entities[char]);
}

function consentPage(productName: string, clientId: string, action: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(productName)} – Authorize</title></head>
<body>
<h1>${escapeHtml(productName)} (fake)</h1>
<p>The application <strong>${escapeHtml(clientId)}</strong> wants to access your account.</p>
<form method="post" action="${escapeHtml(action)}">
<button type="submit" name="decision" value="approve">Authorize</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>
`;
}

function errorPage(message: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Error</title></head>
<body><h1>Invalid authorization request</h1><p>${escapeHtml(message)}</p></body></html>
`;
}

function gatewayPage(status: number): string {
  const titles: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
  };
  return `<html><head><title>${status} ${titles[status]}</title></head><body><center><h1>${status} ${titles[status]}</h1></center></body></html>\n`;
}
