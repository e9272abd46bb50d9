import { applyDecorators } from '@nestjs/common';
import { ApiBadRequestResponse, ApiForbiddenResponse } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { assertScope } from '../auth/key-scope';
import type { ConnectionKey } from '../common/connection-key';
import { ErrorResponse } from '../common/error.dto';
import { assertAccount, resolveProduct } from '../common/validation';
import type { Product } from '../config/config';
import type { AuthenticatedRequest } from '../logging/logger';

/**
 * The one check of the routes that start a consent (POST /oauth/authorize-url and
 * POST /connect-links): a valid account and product, and a key whose scope allows `connect`
 * for them. Returns the connection and the calling key's name.
 */
export function authorizeConnect(
  enabled: readonly Product[],
  body: { account: string; product?: string },
  request: FastifyRequest,
): { key: ConnectionKey; caller: string } {
  const key = {
    account: assertAccount(body.account),
    product: resolveProduct(enabled, body.product),
  };
  const caller = request.raw as AuthenticatedRequest;
  assertScope(caller, key, 'connect');
  return { key, caller: caller.apiKeyName! };
}

/** What `authorizeConnect` refuses, for the routes' OpenAPI documentation. */
export const ApiConnectRefusals = () =>
  applyDecorators(
    ApiBadRequestResponse({
      type: ErrorResponse,
      description: '`invalid_request`: bad account/product, or returnTo not allowed',
    }),
    ApiForbiddenResponse({
      type: ErrorResponse,
      description:
        '`forbidden`: the key is scoped (API_KEY_SCOPES) and its rule does not match or lacks the `connect` action',
    }),
  );
