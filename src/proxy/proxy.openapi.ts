import type { OpenAPIObject } from '@nestjs/swagger';
import type { ErrorCode } from '../common/error-codes';
import { PROXY_BODY_LIMIT, PROXY_METHODS } from './proxy.route';

type Operation = OpenAPIObject['paths'][string]['get'];

const RETRY_AFTER = {
  description: 'seconds to wait before calling again',
  schema: { type: 'integer', minimum: 1 },
};

/**
 * One of the broker's own refusals: the usual JSON error plus `X-Broker-Error: <code>`. Its body
 * and example come from the table of error codes (common/error-responses.openapi.ts).
 */
function brokerError(codes: ErrorCode | ErrorCode[], description: string, retryAfter = false) {
  const all = ([] as ErrorCode[]).concat(codes);
  return {
    description: `${all.map((code) => `\`${code}\``).join(' or ')}: ${description}. Carries \`X-Broker-Error\` with the code`,
    headers: {
      'X-Broker-Error': {
        description: "set on the broker's own answers only, never on RD's",
        schema: { type: 'string', enum: all },
      },
      ...(retryAfter ? { 'Retry-After': RETRY_AFTER } : {}),
    },
  };
}

function operation(method: (typeof PROXY_METHODS)[number]): Operation {
  const withBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
  return {
    operationId: `proxy_${method.toLowerCase()}`,
    tags: ['proxy'],
    summary: `${method} on RD Station's API with the account's token`,
    description:
      "Forwards to `RD_API_URL/<rdPath>?<query>` (the path and query as sent) with the connection's " +
      "`Authorization: Bearer <access token>` replacing the caller's, and streams RD's answer back: " +
      'status, body, `content-type`, `retry-after` and its other headers (never `set-cookie` or ' +
      "hop-by-hop headers). The caller's `Authorization`, cookies, hop-by-hop, `Host`, `X-Forwarded-*`, " +
      "`X-Account` and `X-Product` headers never reach RD. On RD's 401 the token is refreshed " +
      "(once across replicas) and the call retried once; a second 401 is RD's answer. Each product × " +
      'account may make `RD_RATE_LIMIT_PER_MINUTE` calls a minute through the proxy (or its own budget, ' +
      'set by `PATCH /connections/{account}`), shared by every ' +
      "replica, and after RD's 429 every replica holds the account until RD's `Retry-After`. " +
      'Swagger UI encodes the slashes of `rdPath`, which the broker refuses: call it with curl or a ' +
      'service (`/proxy/crm/v2/contacts?page=2`).',
    security: [{ bearer: [] }],
    parameters: [
      {
        name: 'rdPath',
        in: 'path',
        required: true,
        description:
          "RD's API path, slashes included (`crm/v2/contacts`, `platform/contacts/email:x@y.com`). " +
          'Absolute URLs, `//`, `.` and `..` segments (also encoded), encoded slashes or backslashes, ' +
          'and CR/LF anywhere are refused with 400 before any call',
        schema: { type: 'string' },
      },
      {
        name: 'X-Account',
        in: 'header',
        required: true,
        description: "the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : -",
        schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
      },
      {
        name: 'X-Product',
        in: 'header',
        required: false,
        description: 'crm or marketing; may be left out when only one product is configured',
        schema: { type: 'string', enum: ['crm', 'marketing'] },
      },
    ],
    ...(withBody
      ? {
          requestBody: {
            required: false,
            description: `forwarded byte for byte, any content type, up to ${PROXY_BODY_LIMIT / 1024 / 1024} MiB (buffered so a retry can resend it)`,
            content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
          },
        }
      : {}),
    responses: {
      default: {
        description:
          "RD's own answer, passed through as it came (no `X-Broker-Error`; RD's request id as " +
          "`X-RD-Request-Id`), including RD's 401 after the one retry (or when it does not say the " +
          'token is dead, or within REFRESH_MIN_INTERVAL_SECONDS of the last replacement) and its ' +
          '429 with `Retry-After`',
      },
      '400': brokerError('invalid_request', 'a refused RD path, or a bad X-Account or X-Product'),
      '401': brokerError(
        'unauthorized',
        'missing or unknown API key (checked from the headers, before any body byte is read)',
      ),
      '403': brokerError('forbidden', 'this API key may not reach this account'),
      '404': brokerError('not_connected', 'no connection for this account and product'),
      '405': brokerError(
        'method_not_allowed',
        `only ${PROXY_METHODS.join(', ')} are forwarded (HEAD, OPTIONS… are refused, with \`Allow\`)`,
      ),
      '409': brokerError(
        'reauthorization_required',
        'RD rejected the refresh token; the user must connect again',
      ),
      '413': brokerError('payload_too_large', `the request body is over ${PROXY_BODY_LIMIT} bytes`),
      '429': brokerError(
        'rate_limited',
        "this account's budget (its own, or RD_RATE_LIMIT_PER_MINUTE) is spent, or RD answered 429 and its " +
          'Retry-After has not passed; RD was not called',
        true,
      ),
      '502': brokerError('bad_gateway', 'RD answered a status outside 200-599'),
      '503': brokerError(
        ['provider_unavailable', 'service_unavailable'],
        'RD could not be reached or did not answer within RD_TIMEOUT_MS, or the token could not be ' +
          'refreshed; or the database is unreachable',
        true,
      ),
    },
  };
}

/**
 * The /proxy route is a fastify route (proxy.route.ts), which Nest's Swagger scanner does not
 * see: its operations, one per method, are added to the document here.
 */
export function addProxyOperations(document: OpenAPIObject): OpenAPIObject {
  const item: Record<string, Operation> = {};
  for (const method of PROXY_METHODS) item[method.toLowerCase()] = operation(method);
  document.paths['/proxy/{rdPath}'] = item;
  document.tags = [
    ...(document.tags ?? []),
    {
      name: 'proxy',
      description: "RD Station's API through the broker: token, retry and rate budget included",
    },
  ];
  return document;
}
