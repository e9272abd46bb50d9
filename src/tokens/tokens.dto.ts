import { ApiProperty } from '@nestjs/swagger';
import { InvalidRequestError } from '../common/errors';

export const DEFAULT_MIN_VALIDITY = 60;
import { PRODUCTS, type Product } from '../config/config';

/** `rejected`: the first 16 lowercase hex characters of the SHA-256 of an access token. */
export const REJECTED_TOKEN_HASH = /^[0-9a-f]{16}$/;

export interface TokenQuery {
  product: unknown;
  minValiditySeconds: number;
  /** The hash prefix of an access token RD refused (not a secret; may be logged). */
  rejected?: string;
}

/**
 * The query of `GET /tokens/:account` (`product`, `minValidity`, `rejected`), parsed by hand
 * rather than by the global ValidationPipe: this is the hot path, and class-transformer +
 * class-validator cost ~13% of its CPU. Documented by the controller's @ApiQuery decorators.
 */
export function parseTokenQuery(query: Record<string, unknown>): TokenQuery {
  for (const name of Object.keys(query)) {
    if (name !== 'product' && name !== 'minValidity' && name !== 'rejected')
      throw new InvalidRequestError(`property ${name} should not exist`);
  }
  const parsed: TokenQuery = {
    product: query.product,
    minValiditySeconds: parseMinValidity(query.minValidity),
  };
  if (query.rejected !== undefined) {
    if (typeof query.rejected !== 'string' || !REJECTED_TOKEN_HASH.test(query.rejected)) {
      throw new InvalidRequestError(
        'rejected must be the first 16 lowercase hex characters of the SHA-256 of the refused access token',
      );
    }
    parsed.rejected = query.rejected;
  }
  return parsed;
}

function parseMinValidity(raw: unknown): number {
  if (raw === undefined) return DEFAULT_MIN_VALIDITY;
  if (typeof raw !== 'string' || !/^\d{1,4}$/.test(raw) || Number(raw) > 3600) {
    throw new InvalidRequestError(
      'minValidity must be an integer number of seconds between 0 and 3600',
    );
  }
  return Number(raw);
}

export class TokenResponse {
  @ApiProperty({ example: 'acme-42' })
  account: string;

  @ApiProperty({ enum: PRODUCTS, example: 'crm' })
  product: Product;

  @ApiProperty({
    example: 'example-access-token-not-real',
    description: 'send as `Authorization: Bearer` to RD',
  })
  accessToken: string;

  @ApiProperty({ enum: ['Bearer'], example: 'Bearer' })
  tokenType: 'Bearer';

  @ApiProperty({ format: 'date-time', example: '2026-11-26T12:00:00.000Z' })
  expiresAt: string;

  @ApiProperty({
    example: 7140,
    description: 'seconds left; cache the token until expiresAt - 60 s',
  })
  expiresIn: number;
}

/**
 * The 200 answer's JSON schema, for fastify's compiled serializer (the controller's @RouteSchema):
 * the same fields as TokenResponse, which documents them. test/unit/token-response-schema.spec.ts
 * checks that the two agree.
 */
export const TOKEN_RESPONSE_SCHEMA = {
  type: 'object',
  properties: {
    account: { type: 'string' },
    product: { type: 'string' },
    accessToken: { type: 'string' },
    tokenType: { type: 'string' },
    expiresAt: { type: 'string' },
    expiresIn: { type: 'integer' },
  },
  required: ['account', 'product', 'accessToken', 'tokenType', 'expiresAt', 'expiresIn'],
  additionalProperties: false,
} as const;
