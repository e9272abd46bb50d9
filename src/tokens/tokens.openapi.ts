import type { OpenAPIObject } from '@nestjs/swagger';
import { PRODUCTS } from '../config/config';
import { DEFAULT_MIN_VALIDITY, TokenResponse } from './tokens.dto';

type Operation = NonNullable<OpenAPIObject['paths'][string]['get']>;

/** The schemas the operation refers to, for SwaggerModule.createDocument's `extraModels`. */
export const TOKENS_MODELS = [TokenResponse];

/**
 * `GET /tokens/{account}` as Nest's scanner documented the controller it was (tokens.route.ts
 * says why it is a plain fastify route now): the same operation id, parameters and responses.
 * Error responses are given their bodies and examples from their codes by
 * common/error-responses.openapi.ts, like every route's.
 */
const GET_TOKEN: Operation = {
  // The id Nest gave it: the TypeScript client (client/src/broker-client.ts) names it so.
  operationId: 'TokensController_getToken',
  tags: ['tokens'],
  summary: 'A valid access token for this account',
  description:
    'Answers with a token that has at least `minValidity` seconds left, refreshing it first when needed. ' +
    '`minValidity` is capped by the provider’s token lifetime: when even a fresh token cannot meet it, the ' +
    'freshest token is served with its real `expiresIn` (refreshed at half its lifetime), and a token refreshed ' +
    'in the last 10 seconds is never refreshed again by a read. ' +
    'Cache it until `expiresAt - 60 s`; on 503 retry after `Retry-After` seconds. ' +
    'When RD refuses the token (401), ask again with `rejected` set to its hash to get a replacement.',
  security: [{ bearer: [] }],
  parameters: [
    {
      name: 'account',
      in: 'path',
      required: true,
      description: "the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : -",
      schema: { type: 'string' },
    },
    {
      name: 'rejected',
      in: 'query',
      required: false,
      description:
        'the first 16 lowercase hex characters of the SHA-256 of an access token RD refused (401). ' +
        'If it is still the stored token, the broker refreshes it (once, however many callers report it, ' +
        'and at most once per REFRESH_MIN_INTERVAL_SECONDS: 429 `rate_limited` with Retry-After before) ' +
        'and answers with the new one; if the token has already changed, the current one is answered ' +
        'without calling RD',
      schema: { type: 'string', pattern: '^[0-9a-f]{16}$', example: '5e884898da280471' },
    },
    {
      name: 'minValidity',
      in: 'query',
      required: false,
      description:
        'seconds the token must still be valid; capped by the provider’s token lifetime (see above)',
      schema: { type: 'integer', minimum: 0, maximum: 3600, default: DEFAULT_MIN_VALIDITY },
    },
    {
      name: 'product',
      in: 'query',
      required: false,
      description: 'crm or marketing; may be left out when only one product is configured',
      schema: { type: 'string', enum: [...PRODUCTS] },
    },
  ],
  responses: {
    '200': {
      description: '',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/TokenResponse' } } },
    },
    '400': { description: '`invalid_request`: bad account, product, minValidity or rejected' },
    '401': { description: '`unauthorized`: missing or unknown API key' },
    '403': {
      description: '`forbidden`: the key is scoped (API_KEY_SCOPES) and its rule does not match',
    },
    '404': { description: '`not_connected`: no connection for this account and product' },
    '409': {
      description:
        '`reauthorization_required`: RD rejected the refresh token; the user must connect again',
    },
    '429': {
      description:
        '`rate_limited`: `rejected` names the token a refresh asked for by a report produced less than ' +
        'REFRESH_MIN_INTERVAL_SECONDS ago, or too many failed attempts from this address; `Retry-After` is set',
    },
    '503': {
      description:
        '`provider_unavailable`: RD failed and the stored token is too short-lived; `Retry-After` is set',
    },
  },
};

export function addTokensOperation(document: OpenAPIObject): OpenAPIObject {
  document.paths['/tokens/{account}'] = { get: GET_TOKEN };
  return document;
}
