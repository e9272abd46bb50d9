import type { ErrorCode } from './error-codes';

/**
 * Domain errors, each with the stable machine code the README lists ("Errors"). They are mapped to HTTP once,
 * by BrokerErrorFilter; services never build HTTP answers themselves.
 */
export abstract class BrokerError extends Error {
  abstract readonly status: number;
  /** One of ERROR_CODES (error-codes.ts), whose status it answers with. */
  abstract readonly code: ErrorCode;
  /** Extra fields of the JSON answer (never a token or secret). */
  readonly details: Record<string, unknown> = {};
  /** Seconds, sent as Retry-After. */
  readonly retryAfter?: number;
}

export class InvalidRequestError extends BrokerError {
  readonly status = 400;
  readonly code = 'invalid_request';
}

export class NotConnectedError extends BrokerError {
  readonly status = 404;
  readonly code = 'not_connected';
  constructor(account: string, product: string) {
    super(`no ${product} connection for account "${account}"`);
  }
}

export class ReauthorizationRequiredError extends BrokerError {
  readonly status = 409;
  readonly code = 'reauthorization_required';
  constructor(
    message: string,
    override readonly details: { since: string | null; reason: string | null },
  ) {
    super(message);
  }
}

export class ProviderUnavailableError extends BrokerError {
  readonly status = 503;
  readonly code = 'provider_unavailable';
  constructor(
    message: string,
    override readonly retryAfter: number,
  ) {
    super(message);
  }
}

/** A budget of ours is spent (the proxy's per-account RD budget); `Retry-After` says when it refills. */
export class RateLimitedError extends BrokerError {
  readonly status = 429;
  readonly code = 'rate_limited';
  constructor(
    message: string,
    override readonly retryAfter: number,
  ) {
    super(message);
  }
}

/** RD answered something no HTTP client may be given (a status outside 200-599). */
export class BadGatewayError extends BrokerError {
  readonly status = 502;
  readonly code = 'bad_gateway';
}

/**
 * A reported token cannot be replaced yet: a refresh asked for by a report ran less than
 * REFRESH_MIN_INTERVAL_SECONDS ago and the token is still the one reported.
 */
export class RefreshTooSoonError extends RateLimitedError {}

export class ForbiddenError extends BrokerError {
  readonly status = 403;
  readonly code = 'forbidden';
}
