/**
 * What an RD Station answer means, decided here and nowhere else. Every caller (the OAuth
 * callback, import, the admin refresh and the scheduler) acts on `RdStationError.kind` alone;
 * none of them re-reads a status or a body.
 *
 * Condemning a grant is irreversible for the customer (a new consent), so it needs positive
 * evidence: an answer that names the grant in a shape RD documents. Everything else that is a
 * 4xx is `suspect`: the grant is kept and retried with backoff, and the answer is logged loudly.
 *
 * Sources of the recognised shapes:
 *  - CRM v2 token endpoint (`/oauth2/token`): RD documents no error body (pages
 *    `crm-v2-authentication-step3`, `-step4`). It is an OAuth 2 server, so RFC 6749 §5.2 is the
 *    one published shape: `{"error":"invalid_grant"}` (the grant or refresh token is invalid,
 *    expired or revoked) and `invalid_client` / `unauthorized_client` (the app's credentials).
 *  - Marketing (`/auth/token`), RD's page `erros-autenticacao`: every authentication error is
 *    HTTP 401 `{"error_type","error_message"}`; `ACCESS_DENIED` "Wrong credentials provided."
 *    means client_id/client_secret are wrong (and also a bad redirect_uri); `UNAUTHORIZED`
 *    "Invalid token." is an invalid bearer token on an API call; `EXPIRED_CODE_GRANT` is an
 *    expired code.
 *  - RD's Ruby client `ResultadosDigitais/rdstation-ruby-client`:
 *    `lib/rdstation/error_handler/invalid_refresh_token.rb` raises InvalidRefreshToken on
 *    `error_type == "INVALID_REFRESH_TOKEN"`, which its CHANGELOG describes as "the refresh token
 *    is invalid or it was revoked … you can safely disconnect the user";
 *    `spec/lib/rdstation/authentication_spec.rb` shows an invalid CODE answered
 *    401 `ACCESS_DENIED` "Wrong credentials provided." (the same as wrong credentials), and an
 *    expired one 401 `EXPIRED_CODE_GRANT`; `lib/rdstation/error/formatter.rb` reads the
 *    error under `errors` as a flat object or an array of objects, so those wrappers count.
 *    The same client reads `x-amzn-remapped-www-authenticate` (error_handler/expired_access_token.rb):
 *    `api.rd.services` sits behind an API gateway that answers with its own bodies.
 *  - `EXPIRED_REFRESH_TOKEN`: no RD page or client spells it, but issue 11 names it and the code
 *    itself names the refresh token as dead, which is the evidence this module asks for.
 *  - RD's n8n Marketing node `ResultadosDigitais/n8n-nodes-rdsm`
 *    (`RdStationMarketingApi.credentials.ts`) uses the standard OAuth 2 token endpoint, so
 *    the RFC 6749 codes apply to Marketing in `RD_MARKETING_OAUTH=oauth2` mode too.
 *
 * Nothing else condemns: not a bare 400/401/403, a gateway `{"message":…}`, an HTML page, an
 * empty body, CRM's API error list `{"errors":[…]}`, `invalid_request`, a 404, or a known code
 * under an undocumented status.
 */

/**
 * - `transient`: RD failed or is busy (network, timeout, 5xx, 429, 408, an unusable 2xx):
 *   retry with backoff.
 * - `suspect`: a 4xx in a shape not listed above: keep the grant, retry with backoff, say so loudly.
 * - `grant_rejected`: RD named what was sent as dead, in a documented shape: the refresh token
 *   (refresh), the code (exchange) or the bearer token (API calls).
 * - `client_rejected`: RD named the app's client_id/client_secret as wrong: an operator problem;
 *   every grant is kept.
 */
export type RdStationErrorKind = 'transient' | 'suspect' | 'grant_rejected' | 'client_rejected';

/** Which call failed: the same answer means different things on different calls. */
export type RdCall = 'refresh' | 'exchange' | 'revoke' | 'api';

export interface RdStationErrorInit {
  kind: RdStationErrorKind;
  status: number | null;
  code: string;
  message: string;
  retryAfterSeconds?: number | null;
  bodyExcerpt?: string | null;
}

/** Every failed call to RD Station. The message never contains a token, code or secret. */
export class RdStationError extends Error {
  override readonly name = 'RdStationError';
  readonly kind: RdStationErrorKind;
  /** HTTP status; null for network errors and timeouts. */
  readonly status: number | null;
  /** RD's own error code when it sent a recognised one, else ours: timeout, network, http_503… */
  readonly code: string;
  /** From Retry-After (or RD's retry-after-quotas) on a transient HTTP answer. */
  readonly retryAfterSeconds: number | null;
  /** A short, secret-free excerpt of RD's body, kept for answers this module did not recognise. */
  readonly bodyExcerpt: string | null;

  constructor(init: RdStationErrorInit) {
    super(init.message);
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code;
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
    this.bodyExcerpt = init.bodyExcerpt ?? null;
  }

  /** Shorthand for `kind === 'client_rejected'`. */
  get clientCredentialsRejected(): boolean {
    return this.kind === 'client_rejected';
  }
}

/** What the classifier needs to know about the call that failed. */
export interface CallContext {
  /** e.g. "crm refresh", prefixed to every message. */
  label: string;
  call: RdCall;
  /** Every secret value sent (token, code, client secret): scrubbed from messages. */
  secrets: string[];
}

/** An HTTP answer that is not 2xx, as received. */
export interface RdAnswer {
  status: number;
  body: string;
  headers?: Record<string, string | string[] | undefined>;
}

export interface Classification {
  kind: RdStationErrorKind;
  /** The recognised RD/OAuth code, or `http_<status>` / `rate_limited`. */
  code: string;
}

/**
 * The table: documented codes → what they mean on each call. A code absent for a call, or
 * under a status not listed, is not recognised there.
 */
const OAUTH_CODES: Record<string, Partial<Record<RdCall, RdStationErrorKind>>> = {
  invalid_grant: { refresh: 'grant_rejected', exchange: 'grant_rejected' },
  invalid_client: { refresh: 'client_rejected', exchange: 'client_rejected' },
  unauthorized_client: { refresh: 'client_rejected', exchange: 'client_rejected' },
};
const RD_CODES: Record<string, Partial<Record<RdCall, RdStationErrorKind>>> = {
  INVALID_REFRESH_TOKEN: { refresh: 'grant_rejected' },
  EXPIRED_REFRESH_TOKEN: { refresh: 'grant_rejected' },
  EXPIRED_CODE_GRANT: { exchange: 'grant_rejected' },
  // On a refresh RD names a dead refresh token INVALID_REFRESH_TOKEN, so ACCESS_DENIED there is
  // the app's credentials. On an exchange it also means "invalid code" (authentication_spec.rb):
  // the callback reports the code, which is what a user can act on, and does not try every secret.
  ACCESS_DENIED: { refresh: 'client_rejected', exchange: 'grant_rejected' },
  UNAUTHORIZED: { revoke: 'grant_rejected', api: 'grant_rejected' },
};
/** RD documents its authentication errors as 401; RFC 6749 §5.2 answers 400 (401 for clients). */
const DOCUMENTED_STATUSES = new Set([400, 401]);

const MAX_DESCRIPTION = 200;
const MAX_EXCERPT = 160;
const SAFE_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Anything long and token-like in a body we did not recognise is dropped from the excerpt. */
const TOKEN_LIKE = /[A-Za-z0-9._~+/=-]{32,}/g;

/** Replaces every secret (raw or URL-encoded) with [redacted]. */
export function scrub(text: string, secrets: readonly string[]): string {
  const needles = secrets
    .filter((secret) => secret.length > 0)
    .flatMap((secret) => [secret, encodeURIComponent(secret)])
    .sort((a, b) => b.length - a.length);
  return needles.reduce((out, needle) => out.split(needle).join('[redacted]'), text);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function header(headers: RdAnswer['headers'], name: string): string | undefined {
  const value = headers?.[name];
  return (Array.isArray(value) ? value[0] : value)?.trim() || undefined;
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The error code of a body, only where a documented shape puts it: OAuth's top-level `error`,
 * or RD's `error_type` at the top level, under `errors` as an object, or as the first element
 * of an `errors` array carrying one. `family` says which table the code is looked up in.
 */
export function documentedCode(
  body: unknown,
): { family: 'oauth' | 'rd'; code: string; description?: string } | undefined {
  if (!isRecord(body)) return undefined;
  const oauth = str(body.error);
  if (oauth) return { family: 'oauth', code: oauth, description: str(body.error_description) };
  const wrapped = body.errors;
  const candidates = [body, ...(Array.isArray(wrapped) ? wrapped : [wrapped])];
  for (const candidate of candidates) {
    if (!isRecord(candidate)) continue;
    const code = str(candidate.error_type);
    if (code) return { family: 'rd', code, description: str(candidate.error_message) };
  }
  return undefined;
}

/**
 * The pure classifier: what a non-2xx answer to `call` means. Table-driven test:
 * test/unit/rdstation-errors.spec.ts.
 */
export function classifyAnswer(call: RdCall, answer: RdAnswer): Classification {
  const { status } = answer;
  if (status === 429) return { kind: 'transient', code: 'rate_limited' };
  if (status >= 500 || status === 408 || status === 425)
    return { kind: 'transient', code: `http_${status}` };
  const found = documentedCode(safeJson(answer.body));
  if (found && DOCUMENTED_STATUSES.has(status)) {
    const table = found.family === 'oauth' ? OAUTH_CODES : RD_CODES;
    const kind = Object.hasOwn(table, found.code) ? table[found.code][call] : undefined;
    if (kind) return { kind, code: found.code };
  }
  return { kind: 'suspect', code: `http_${status}` };
}

/** `error="invalid_token"` / `"expired_token"` in a Bearer challenge (RFC 6750 §3). */
const DEAD_TOKEN_CHALLENGE = /\berror\s*=\s*"?(?:invalid_token|expired_token)"?/i;
/** CRM v2 API errors (`{"errors":[{"code":…}]}`) naming the bearer as unauthorized. */
const CRM_UNAUTHORIZED = /^unauthori[sz]ed$/i;

/**
 * Whether RD's answer to an API call says the access token itself is dead, the only 401 after
 * which the proxy replaces the token: a Bearer challenge with `error="invalid_token"` or
 * `"expired_token"` in `WWW-Authenticate` or the gateway's `x-amzn-remapped-www-authenticate`
 * (RD's Ruby client, error_handler/expired_access_token.rb), Marketing's documented
 * `UNAUTHORIZED` "Invalid token." body (flat or under `errors`), OAuth's `invalid_token`, or
 * CRM v2's error list with an unauthorized code. A 401 in any other shape (the gateway's bare
 * `{"message":"Unauthorized"}`, a wrong path or product, a permission RD withholds) is no
 * evidence that the token is dead (shared/RDSTATION.md), and refreshing on it would only rotate
 * the grant.
 */
export function refusesAccessToken(answer: RdAnswer): boolean {
  if (answer.status !== 401) return false;
  for (const name of ['www-authenticate', 'x-amzn-remapped-www-authenticate']) {
    const value = answer.headers?.[name];
    const text = Array.isArray(value) ? value.join(', ') : value;
    if (text && DEAD_TOKEN_CHALLENGE.test(text)) return true;
  }
  const body = safeJson(answer.body);
  const found = documentedCode(body);
  if (found?.family === 'rd') return found.code === 'UNAUTHORIZED';
  if (found?.family === 'oauth')
    return found.code === 'invalid_token' || found.code === 'expired_token';
  const errors = isRecord(body) ? body.errors : undefined;
  return (
    Array.isArray(errors) &&
    errors.some((item) => isRecord(item) && CRM_UNAUTHORIZED.test(str(item.code) ?? ''))
  );
}

/**
 * Seconds to wait from Retry-After (delta-seconds or an HTTP-date) and RD's gateway header
 * `retry-after-quotas` (Ruby client error/formatter.rb; its format is not published, so any
 * number in it is read as seconds): the longer of the two, capped at an hour; null when neither.
 */
export function parseRetryAfter(
  headers: RdAnswer['headers'] | string | string[] | undefined,
  now = Date.now(),
): number | null {
  const source =
    typeof headers === 'string' || Array.isArray(headers) ? { 'retry-after': headers } : headers;
  const waits: number[] = [];
  const retryAfter = header(source, 'retry-after');
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) waits.push(Number(retryAfter));
    else {
      const date = Date.parse(retryAfter);
      if (!Number.isNaN(date)) waits.push(Math.max(0, Math.ceil((date - now) / 1000)));
    }
  }
  const quotas = header(source, 'retry-after-quotas');
  if (quotas) {
    const date = /[A-Za-z]{3},/.test(quotas) ? Date.parse(quotas) : NaN;
    if (!Number.isNaN(date)) waits.push(Math.max(0, Math.ceil((date - now) / 1000)));
    else waits.push(...(quotas.match(/\d+/g) ?? []).map(Number));
  }
  return waits.length === 0 ? null : Math.min(3600, Math.max(...waits));
}

/**
 * A short excerpt of a body nobody recognised, for `lastError` and the log: what was sent
 * scrubbed, anything long and token-like dropped, markup and whitespace collapsed.
 */
export function bodyExcerpt(answer: RdAnswer, secrets: readonly string[]): string {
  const text = scrub(answer.body, secrets)
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(TOKEN_LIKE, '[redacted]')
    .replace(/\s+/g, ' ')
    .trim();
  const gateway = header(answer.headers, 'x-amzn-remapped-www-authenticate');
  const parts = [text === '' ? '(empty body)' : truncate(text, MAX_EXCERPT)];
  if (gateway)
    parts.push(
      `x-amzn-remapped-www-authenticate: ${truncate(scrub(gateway, secrets).replace(TOKEN_LIKE, '[redacted]'), 80)}`,
    );
  return parts.join('; ');
}

/** Turns a non-2xx answer into an RdStationError. */
export function httpError(answer: RdAnswer, context: CallContext): RdStationError {
  const { status } = answer;
  const { kind, code } = classifyAnswer(context.call, answer);
  const found = documentedCode(safeJson(answer.body));
  const description = found?.description
    ? `: ${truncate(scrub(found.description, context.secrets), MAX_DESCRIPTION)}`
    : '';
  const shownCode = code.startsWith('http_') || !SAFE_CODE.test(code) ? '' : ` ${code}`;
  let message = `RD Station ${context.label} failed: HTTP ${status}${shownCode}`;
  let excerpt: string | null = null;
  if (kind === 'suspect') {
    excerpt = bodyExcerpt(answer, context.secrets);
    message += ` in a shape the broker does not recognise: ${excerpt}`;
  } else {
    message += description;
    if (kind === 'grant_rejected' && code === 'ACCESS_DENIED')
      message +=
        ' (RD answers ACCESS_DENIED both for an invalid code and for wrong client credentials)';
    if (kind === 'client_rejected')
      message += ' (client credentials rejected: check the app settings)';
  }
  return new RdStationError({
    kind,
    status,
    code,
    message: scrub(message, context.secrets),
    retryAfterSeconds: kind === 'transient' ? parseRetryAfter(answer.headers) : null,
    bodyExcerpt: excerpt,
  });
}

const TIMEOUT_ERROR_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** Turns a failure before a complete answer (refused, reset, timed out) into an RdStationError. */
export function transportError(
  error: unknown,
  timedOut: boolean,
  timeoutMs: number,
  context: CallContext,
): RdStationError {
  const errno = (error as { code?: unknown } | null)?.code;
  const safeErrno = typeof errno === 'string' && /^[A-Z0-9_]{1,40}$/.test(errno) ? errno : null;
  const name = (error as { name?: unknown } | null)?.name;
  const timeout =
    timedOut ||
    name === 'TimeoutError' ||
    (safeErrno !== null && TIMEOUT_ERROR_CODES.has(safeErrno));
  // The original error is deliberately not kept as `cause`: nothing RD-bound may reach a log.
  return new RdStationError({
    kind: 'transient',
    status: null,
    code: timeout ? 'timeout' : 'network',
    message: timeout
      ? `RD Station ${context.label} failed: no complete answer within ${timeoutMs} ms`
      : `RD Station ${context.label} failed: network error${safeErrno ? ` (${safeErrno})` : ''}`,
  });
}

/** A 2xx answer the client cannot use: RD misbehaving, so transient unless said otherwise. */
export function invalidResponse(
  context: CallContext,
  status: number,
  reason: string,
  kind: RdStationErrorKind = 'transient',
  code = 'invalid_response',
): RdStationError {
  return new RdStationError({
    kind,
    status,
    code,
    message: scrub(`RD Station ${context.label} failed: ${reason}`, context.secrets),
  });
}
