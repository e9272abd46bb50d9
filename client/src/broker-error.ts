import type { components } from './openapi';

/** The broker's error answer (the 409's carries `since` and `reason`). */
type ErrorBody = Partial<components['schemas']['ReauthorizationErrorResponse']>;

/**
 * Every failure of a broker call: the broker's own error code (`not_connected`,
 * `reauthorization_required`, `provider_unavailable`, `rate_limited`, `unauthorized`,
 * `forbidden`, `invalid_request`, `internal_error`, ...), or `network_error` (status 0) when no
 * HTTP answer arrived (refused, reset, timed out).
 */
export class BrokerError extends Error {
  override readonly name = 'BrokerError';
  /** The broker's stable machine code (the `error` field of its JSON answer). */
  readonly code: string;
  /** HTTP status of the broker's answer; 0 when none arrived. */
  readonly status: number;
  /** The request id the broker logged this call under (quote it when asking for help). */
  readonly requestId: string;
  /** Seconds to wait before trying again (`Retry-After`), on 503 and 429. */
  readonly retryAfter?: number;
  /** `reauthorization_required`: when RD rejected the grant, if known. */
  readonly since?: Date;
  /** `reauthorization_required`: why RD rejected the grant, if known. */
  readonly reason?: string;

  constructor(fields: {
    code: string;
    status: number;
    message: string;
    requestId: string;
    retryAfter?: number;
    since?: Date;
    reason?: string;
    cause?: unknown;
  }) {
    super(fields.message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = fields.code;
    this.status = fields.status;
    this.requestId = fields.requestId;
    if (fields.retryAfter !== undefined) this.retryAfter = fields.retryAfter;
    if (fields.since !== undefined) this.since = fields.since;
    if (fields.reason !== undefined) this.reason = fields.reason;
  }
}

/** The code for an answer without the broker's JSON error body (a proxy in between, say). */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  429: 'rate_limited',
  500: 'internal_error',
  503: 'service_unavailable',
};

/** `Retry-After` in seconds (delta-seconds or an HTTP date), or undefined when absent or bad. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(header)) return Number(header);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Builds the BrokerError of a broker answer that is not a success; reads (and so ends) its body. */
export async function brokerErrorOf(
  response: Response,
  sentRequestId: string,
): Promise<BrokerError> {
  const text = await response.text().catch(() => '');
  // Read field by field with typeof checks: the body may be anything (a proxy's page, say).
  let body: Record<keyof ErrorBody, unknown> | Record<string, never> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      body = parsed as Record<keyof ErrorBody, unknown>;
  } catch {
    // not the broker's JSON (a load balancer's page, say): the status decides the code
  }
  const code =
    typeof body.error === 'string' && body.error
      ? body.error
      : (response.headers.get('x-broker-error') ??
        CODE_BY_STATUS[response.status] ??
        `http_${response.status}`);
  const since = typeof body.since === 'string' ? new Date(body.since) : undefined;
  return new BrokerError({
    code,
    status: response.status,
    message:
      typeof body.message === 'string' && body.message
        ? body.message
        : `the broker answered ${response.status}`,
    requestId: response.headers.get('x-request-id') ?? sentRequestId,
    retryAfter: parseRetryAfter(response.headers.get('retry-after')),
    since: since && !Number.isNaN(since.getTime()) ? since : undefined,
    reason: typeof body.reason === 'string' ? body.reason : undefined,
  });
}
