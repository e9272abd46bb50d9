import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConfigType } from '@nestjs/config';
import { ApiKeyAuthenticator } from '../auth/api-key.authenticator';
import { assertScope } from '../auth/key-scope';
import { assertAccount, resolveProduct } from '../common/validation';
import { productsConfig } from '../config/slices';
import type { AuthenticatedRequest } from '../logging/logger';
import { parseTokenQuery, TOKEN_RESPONSE_SCHEMA, type TokenResponse } from './tokens.dto';
import { TokensService } from './tokens.service';

/** How an error becomes the answer (app.ts gives the one every route uses, http/error.filter.ts). */
export type ErrorResponder = (error: unknown, request: FastifyRequest, reply: FastifyReply) => void;

/**
 * `GET /tokens/:account` as a plain fastify route, not a Nest controller: it is the hot path, and
 * Nest's per-request plumbing (router proxy, guard consumer and execution context, param
 * factories, response controller) cost more CPU per answer than the route's own code (issue 24,
 * `compare-reads --profile=1`: ~1.7 µs of a 28 µs cached read, against ~1.0 µs for the route).
 *
 * It does what the controller's pipeline did, in the same order: the API key (the same
 * ApiKeyAuthenticator as ApiKeyGuard and /proxy, failed-key limiter included), the query and
 * account (validated by hand already: the ValidationPipe never ran here), the key's scope, then
 * TokensService. Errors go to `answerError`, the same answer BrokerErrorFilter gives
 * every Nest route. Documented by tokens.openapi.ts, since Nest's scanner does not see it.
 */
export function registerTokensRoute(
  app: NestFastifyApplication,
  answerError: ErrorResponder,
): void {
  const tokens = app.get(TokensService);
  const authenticator = app.get(ApiKeyAuthenticator);
  const products = app.get<ConfigType<typeof productsConfig>>(productsConfig.KEY);

  /** The answer itself when the token is in memory (most reads), else its promise. */
  function read(
    request: FastifyRequest<{ Params: { account: string } }>,
  ): TokenResponse | Promise<TokenResponse> {
    const caller = request.raw as AuthenticatedRequest;
    authenticator.authenticate(request.headers.authorization, request.ip, caller);
    const { product, minValiditySeconds, rejected } = parseTokenQuery(
      request.query as Record<string, unknown>,
    );
    const key = {
      account: assertAccount(request.params.account),
      product: resolveProduct(products.enabled, product),
    };
    assertScope(caller, key, 'read');
    const name = caller.apiKeyName!;
    return (
      tokens.cachedToken(key, minValiditySeconds, name, rejected) ??
      tokens.getToken(key, minValiditySeconds, name, rejected)
    );
  }

  app
    .getHttpAdapter()
    .getInstance()
    .route<{ Params: { account: string } }>({
      method: 'GET',
      url: '/tokens/:account',
      // The 200 answer is serialized by fast-json-stringify compiled from this schema instead of
      // JSON.stringify; errors keep the default serializer.
      schema: { response: { 200: TOKEN_RESPONSE_SCHEMA } },
      // A sync throw and a rejected promise of the handler both land here. The handler returns
      // the answer (fastify sends it) or its promise (fastify sends what it resolves to).
      errorHandler: answerError,
      handler: (request, reply) => {
        // `/tokens/` is a 404, as every Nest route with an empty path parameter (Nest's fastify
        // adapter hands those to the not-found handler), before the key is even looked at.
        if (request.params.account === '') {
          reply.callNotFound();
          return;
        }
        return read(request);
      },
    });
}
