/**
 * Every stable `error` code the broker answers with, its HTTP status and a typical message: the
 * one table behind BrokerError's codes, the error filter's codes for framework errors, and the
 * bodies and examples of every error response in the OpenAPI document (error-responses.openapi.ts).
 */
export const ERROR_CODES = {
  invalid_request: {
    status: 400,
    message: 'account must be 1-128 characters of A-Z a-z 0-9 . _ : -',
  },
  unauthorized: {
    status: 401,
    message: 'a valid API key is required: Authorization: Bearer <secret>',
  },
  forbidden: { status: 403, message: 'this API key may not reach crm account "acme-42"' },
  not_found: { status: 404, message: 'Cannot GET /tokenz/acme-42' },
  not_connected: { status: 404, message: 'no crm connection for account "acme-42"' },
  method_not_allowed: { status: 405, message: 'the proxy forwards GET, POST, PUT, PATCH, DELETE' },
  request_timeout: { status: 408, message: 'the request did not arrive in time' },
  reauthorization_required: {
    status: 409,
    message: 'the crm connection of account "acme-42" must be authorized again',
  },
  payload_too_large: { status: 413, message: 'Request body is too large' },
  unsupported_media_type: { status: 415, message: 'Unsupported Media Type: text/plain' },
  rate_limited: {
    status: 429,
    message: 'too many failed authentication attempts from this address; try again later',
  },
  request_too_large: { status: 431, message: 'the request line or headers are too large' },
  internal_error: { status: 500, message: 'internal error; quote request id 4f1c2a9e' },
  bad_gateway: { status: 502, message: 'RD answered a status outside 200-599' },
  provider_unavailable: {
    status: 503,
    message: 'RD Station did not answer the refresh; retry after Retry-After seconds',
  },
  service_unavailable: { status: 503, message: 'the database is unavailable; retry shortly' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** The codes an answer with this status may carry. */
export function codesOfStatus(status: number): ErrorCode[] {
  return (Object.keys(ERROR_CODES) as ErrorCode[]).filter(
    (code) => ERROR_CODES[code].status === status,
  );
}
