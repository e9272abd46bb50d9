export type RdStationErrorKind = 'transient' | 'permanent';

export interface RdStationErrorInit {
  kind: RdStationErrorKind;
  status: number | null;
  code: string;
  message: string;
  retryAfterSeconds?: number | null;
  clientCredentialsRejected?: boolean;
}

/**
 * Every failed call to RD Station. `transient`: try again later (network, timeout, 5xx, 429, a
 * malformed success). `permanent`: RD refused the grant or the app; retrying cannot help.
 * The message never contains a token, code or secret.
 */
export class RdStationError extends Error {
  override readonly name = 'RdStationError';
  readonly kind: RdStationErrorKind;
  /** HTTP status; null for network errors and timeouts. */
  readonly status: number | null;
  /** RD's own error code when it sent one, else ours: timeout, network, http_503, rate_limited… */
  readonly code: string;
  /** From Retry-After on a transient HTTP answer. */
  readonly retryAfterSeconds: number | null;
  /** RD rejected the app's client_id/client_secret (or redirect_uri): an operator problem. */
  readonly clientCredentialsRejected: boolean;

  constructor(init: RdStationErrorInit) {
    super(init.message);
    this.kind = init.kind;
    this.status = init.status;
    this.code = init.code;
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
    this.clientCredentialsRejected = init.clientCredentialsRejected ?? false;
  }
}

/** What the classifier needs to know about the call that failed. */
export interface CallContext {
  /** e.g. "crm refresh", prefixed to every message. */
  label: string;
  /** Every secret value sent (token, code, client secret): scrubbed from messages. */
  secrets: string[];
  /** Whether client credentials were sent, so a rejection of them means the app is wrong. */
  sentClientCredentials: boolean;
}

/** Error codes meaning the grant, token or app is bad whatever the HTTP status says. */
const PERMANENT_CODES = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
  'invalid_request',
  'unsupported_grant_type',
  'INVALID_REFRESH_TOKEN',
  'EXPIRED_CODE_GRANT',
  'ACCESS_DENIED',
  'UNAUTHORIZED',
]);

/** RD says the client credentials (or redirect_uri) are wrong: try the next secret. */
const CREDENTIAL_CODES = new Set(['invalid_client', 'unauthorized_client', 'ACCESS_DENIED']);

const MAX_DESCRIPTION = 200;
const SAFE_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

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

/**
 * Reads both error shapes RD uses: OAuth `{error, error_description}` and RD's
 * `{error_type, error_message}`, bare, in a top-level array, or under `errors` (an object or an
 * array of them).
 */
export function parseErrorBody(body: unknown): { code?: string; description?: string } {
  const candidates: unknown[] = Array.isArray(body) ? body : [body];
  if (isRecord(body)) {
    const wrapped = body.errors ?? (isRecord(body.error) ? body.error : undefined);
    candidates.push(...(Array.isArray(wrapped) ? wrapped : [wrapped]));
  }
  let description: string | undefined;
  for (const candidate of candidates) {
    if (!isRecord(candidate)) continue;
    const code = str(candidate.error) ?? str(candidate.error_type);
    const text =
      str(candidate.error_description) ?? str(candidate.error_message) ?? str(candidate.message);
    if (code) return { code, description: text };
    description ??= text;
  }
  return { description };
}

/** Retry-After as seconds from now: delta-seconds or an HTTP-date; null when absent or bad. */
export function parseRetryAfter(
  header: string | string[] | undefined,
  now = Date.now(),
): number | null {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Turns a non-2xx answer into an RdStationError. */
export function httpError(
  status: number,
  bodyText: string,
  retryAfterHeader: string | string[] | undefined,
  context: CallContext,
): RdStationError {
  const parsed = parseErrorBody(safeJson(bodyText));
  const rdCode = parsed.code === undefined ? undefined : scrub(parsed.code, context.secrets);
  const safeCode = rdCode && SAFE_CODE.test(rdCode) ? rdCode : undefined;
  const detail = parsed.description
    ? `: ${truncate(scrub(parsed.description, context.secrets), MAX_DESCRIPTION)}`
    : '';

  let kind: RdStationErrorKind;
  let code: string;
  if (status === 429) {
    kind = 'transient';
    code = 'rate_limited';
  } else if (status >= 500 || status === 408 || status === 425) {
    kind = 'transient';
    code = `http_${status}`;
  } else {
    // 400/401/403 (or a known code) say the grant or the app is bad. Anything else (404, a
    // redirect) is RD or the network misbehaving, and must not cost the user their connection.
    const permanent =
      status === 400 ||
      status === 401 ||
      status === 403 ||
      (safeCode !== undefined && PERMANENT_CODES.has(safeCode));
    kind = permanent ? 'permanent' : 'transient';
    code = safeCode ?? `http_${status}`;
  }
  const clientCredentialsRejected =
    kind === 'permanent' && context.sentClientCredentials && CREDENTIAL_CODES.has(code);
  const shownCode = code === `http_${status}` ? '' : ` ${code}`;
  const message = scrub(
    `RD Station ${context.label} failed: HTTP ${status}${shownCode}${detail}` +
      (clientCredentialsRejected ? ' (client credentials rejected: check the app settings)' : ''),
    context.secrets,
  );
  return new RdStationError({
    kind,
    status,
    code,
    message,
    retryAfterSeconds: kind === 'transient' ? parseRetryAfter(retryAfterHeader) : null,
    clientCredentialsRejected,
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
