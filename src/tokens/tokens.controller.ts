import { Controller, Get, Inject, Req } from '@nestjs/common';
import { RouteSchema } from '@nestjs/platform-fastify';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { RequireApiKey } from '../auth/api-key.guard';
import { assertScope } from '../auth/key-scope';
import type { AuthenticatedRequest } from '../logging/logger';
import { assertAccount, resolveProduct } from '../common/validation';
import type { ConfigType } from '@nestjs/config';
import { PRODUCTS } from '../config/config';
import { productsConfig } from '../config/slices';
import { ErrorResponse, ReauthorizationErrorResponse } from '../common/error.dto';
import {
  DEFAULT_MIN_VALIDITY,
  parseTokenQuery,
  TOKEN_RESPONSE_SCHEMA,
  TokenResponse,
} from './tokens.dto';
import { TokensService } from './tokens.service';

@ApiTags('tokens')
@Controller('tokens')
@RequireApiKey()
export class TokensController {
  constructor(
    @Inject(productsConfig.KEY) private readonly products: ConfigType<typeof productsConfig>,
    private readonly tokens: TokensService,
  ) {}

  @Get(':account')
  // fastify serializes the 200 answer with fast-json-stringify compiled from this schema
  // instead of JSON.stringify; errors keep the default serializer.
  @RouteSchema({ response: { 200: TOKEN_RESPONSE_SCHEMA } })
  @ApiOperation({
    summary: 'A valid access token for this account',
    description:
      'Answers with a token that has at least `minValidity` seconds left, refreshing it first when needed. ' +
      '`minValidity` is capped by the provider’s token lifetime: when even a fresh token cannot meet it, the ' +
      'freshest token is served with its real `expiresIn` (refreshed at half its lifetime), and a token refreshed ' +
      'in the last 10 seconds is never refreshed again by a read. ' +
      'Cache it until `expiresAt - 60 s`; on 503 retry after `Retry-After` seconds. ' +
      'When RD refuses the token (401), ask again with `rejected` set to its hash to get a replacement.',
  })
  @ApiOkResponse({ type: TokenResponse })
  @ApiBadRequestResponse({
    type: ErrorResponse,
    description: '`invalid_request`: bad account, product, minValidity or rejected',
  })
  @ApiForbiddenResponse({
    type: ErrorResponse,
    description: '`forbidden`: the key is scoped (API_KEY_SCOPES) and its rule does not match',
  })
  @ApiNotFoundResponse({
    type: ErrorResponse,
    description: '`not_connected`: no connection for this account and product',
  })
  @ApiConflictResponse({
    type: ReauthorizationErrorResponse,
    description:
      '`reauthorization_required`: RD rejected the refresh token; the user must connect again',
  })
  @ApiTooManyRequestsResponse({
    type: ErrorResponse,
    description:
      '`rate_limited`: `rejected` names the token a refresh asked for by a report produced less than ' +
      'REFRESH_MIN_INTERVAL_SECONDS ago, or too many failed attempts from this address; `Retry-After` is set',
  })
  @ApiServiceUnavailableResponse({
    type: ErrorResponse,
    description:
      '`provider_unavailable`: RD failed and the stored token is too short-lived; `Retry-After` is set',
  })
  @ApiQuery({
    name: 'product',
    required: false,
    enum: PRODUCTS,
    description: 'crm or marketing; may be left out when only one product is configured',
  })
  @ApiQuery({
    name: 'minValidity',
    required: false,
    schema: { type: 'integer', minimum: 0, maximum: 3600, default: DEFAULT_MIN_VALIDITY },
    description:
      'seconds the token must still be valid; capped by the provider’s token lifetime (see above)',
  })
  @ApiQuery({
    name: 'rejected',
    required: false,
    schema: { type: 'string', pattern: '^[0-9a-f]{16}$', example: '5e884898da280471' },
    description:
      'the first 16 lowercase hex characters of the SHA-256 of an access token RD refused (401). ' +
      'If it is still the stored token, the broker refreshes it (once, however many callers report it, ' +
      'and at most once per REFRESH_MIN_INTERVAL_SECONDS: 429 `rate_limited` with Retry-After before) ' +
      'and answers with the new one; if the token has already changed, the current one is answered ' +
      'without calling RD',
  })
  @ApiParam({
    name: 'account',
    type: String,
    description: "the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : -",
  })
  // The path parameter and the query are read from the request, not through @Param/@Query: the
  // global ValidationPipe would run on both for nothing (parseTokenQuery and assertAccount check
  // them), and this is the hot path. @ApiParam/@ApiQuery above document them.
  getToken(@Req() request: FastifyRequest): Promise<TokenResponse> {
    const { account } = request.params as { account: string };
    const { product, minValiditySeconds, rejected } = parseTokenQuery(
      request.query as Record<string, unknown>,
    );
    const key = {
      account: assertAccount(account),
      product: resolveProduct(this.products.enabled, product),
    };
    const caller = request.raw as AuthenticatedRequest;
    assertScope(caller, key, 'read');
    return this.tokens.getToken(key, minValiditySeconds, caller.apiKeyName!, rejected);
  }
}
