import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { RequireAdminKey } from '../auth/api-key.guard';
import { InvalidRequestError } from '../common/errors';
import { assertAccount, resolveProduct } from '../common/validation';
import type { ConfigType } from '@nestjs/config';
import { productsConfig } from '../config/slices';
import {
  AccountConnections,
  ConfirmHeldResult,
  ConnectionPage,
  ConnectionView,
  ImportConnectionBody,
  ImportedConnectionView,
  ListConnectionsQuery,
  ProductQuery,
  RateLimitBody,
  RefreshQuery,
  RequiredProductQuery,
  RetryRejectedBody,
  RetryRejectedResult,
} from './connections.dto';
import { ConnectionsService } from './connections.service';
import { ErrorResponse, ReauthorizationErrorResponse } from '../common/error.dto';

const ACCOUNT_PARAM = {
  name: 'account',
  description: "the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : -",
};

@ApiTags('connections (admin)')
@Controller('connections')
@RequireAdminKey()
@ApiBadRequestResponse({ type: ErrorResponse, description: '`invalid_request`' })
export class ConnectionsController {
  constructor(
    @Inject(productsConfig.KEY) private readonly products: ConfigType<typeof productsConfig>,
    private readonly service: ConnectionsService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'A page of connections (no token material)' })
  @ApiOkResponse({ type: ConnectionPage })
  list(@Query() query: ListConnectionsQuery): Promise<ConnectionPage> {
    return this.service.list(
      { product: query.product, status: query.status, limit: query.limit ?? 100 },
      query.cursor,
    );
  }

  @Post('held/confirm')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Confirm the held rejections of a product: condemn its held connections',
    description:
      'When RD rejects more grants of one product than REFRESH_CONDEMN_GUARD_MAX within REFRESH_CONDEMN_GUARD_WINDOW_SECONDS, ' +
      'further rejections are held (status `refresh_failing`, `heldSince` set, grant kept) and the product backs off. ' +
      'Held connections recover by themselves once RD accepts their refresh tokens again; when the rejections are real, ' +
      'this condemns them (`reauthorization_required`, `connection.reauthorization_required` each) and ends the hold.',
  })
  @ApiOkResponse({ type: ConfirmHeldResult })
  confirmHeld(@Query() query: RequiredProductQuery): Promise<ConfirmHeldResult> {
    return this.service.confirmHeld(resolveProduct(this.products.enabled, query.product));
  }

  @Post('retry-rejected')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Try every condemned grant of a product rejected in a time range once more',
    description:
      'The way back after a fault (a wrong client secret, an RD incident) condemned grants: each `reauthorization_required` ' +
      'connection of `product` whose rejection falls in [since, until] is refreshed once with its stored refresh token. ' +
      'Those RD accepts are active again and fire `connection.recovered`.',
  })
  @ApiOkResponse({ type: RetryRejectedResult })
  retryRejected(@Body() body: RetryRejectedBody): Promise<RetryRejectedResult> {
    const until = body.until ? new Date(body.until) : new Date();
    const since = body.since ? new Date(body.since) : new Date(until.getTime() - 24 * 3600 * 1000);
    if (since > until) throw new InvalidRequestError('since must not be after until');
    return this.service.retryRejected(
      resolveProduct(this.products.enabled, body.product),
      since,
      until,
      body.limit ?? 500,
    );
  }

  @Get(':account')
  @ApiOperation({
    summary: "This account's connections per product: status, expiry, last refresh, last error",
  })
  @ApiParam(ACCOUNT_PARAM)
  @ApiOkResponse({ type: AccountConnections })
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`not_connected`' })
  get(@Param('account') account: string): Promise<AccountConnections> {
    return this.service.forAccount(assertAccount(account));
  }

  @Patch(':account')
  @ApiOperation({
    summary: "Set this connection's /proxy budget per minute (null: RD_RATE_LIMIT_PER_MINUTE)",
    description:
      "RD's rate limit depends on the customer's plan (Marketing: 120 calls/min on Light, Basic and Pro, 500/min on " +
      'Advanced; CRM v2: 120/min). The budget is shared by every replica as the default one is, and a change holds ' +
      "from every replica's next call. `null` returns the connection to RD_RATE_LIMIT_PER_MINUTE.",
  })
  @ApiParam(ACCOUNT_PARAM)
  @ApiOkResponse({ type: ConnectionView })
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`not_connected`' })
  setRateLimit(
    @Param('account') account: string,
    @Query() query: ProductQuery,
    @Body() body: RateLimitBody,
  ): Promise<ConnectionView> {
    return this.service.setRateLimit(
      {
        account: assertAccount(account),
        product: resolveProduct(this.products.enabled, query.product),
      },
      body.rateLimitPerMinute,
    );
  }

  @Put(':account')
  @ApiOperation({
    summary: 'Import an existing grant (migration from another system)',
    description:
      'Stores the refresh token encrypted. Unless an access token valid for more than a minute comes with it, ' +
      'the grant is proven by one refresh first; a grant RD rejects is refused and nothing is stored. ' +
      'The answer says whether RD was called (`refreshed`) and whether that rotated the refresh token (`rotated`): ' +
      'for RD CRM it does, and the copy the old system holds stops working at that moment.',
  })
  @ApiParam(ACCOUNT_PARAM)
  @ApiCreatedResponse({ type: ImportedConnectionView, description: 'a new connection' })
  @ApiOkResponse({ type: ImportedConnectionView, description: 'an existing connection replaced' })
  @ApiServiceUnavailableResponse({
    type: ErrorResponse,
    description: '`provider_unavailable`: RD could not be reached',
  })
  async import(
    @Param('account') account: string,
    @Body() body: ImportConnectionBody,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ImportedConnectionView> {
    const key = {
      account: assertAccount(account),
      product: resolveProduct(this.products.enabled, body.product),
    };
    const { created, view } = await this.service.import(key, body);
    reply.status(created ? 201 : 200);
    return view;
  }

  @Post(':account/refresh')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Refresh now; answers with the new status',
    description:
      'A `reauthorization_required` connection answers 409, unless `retryRejected=true`: then its stored refresh token ' +
      'is tried once more (200 with the new status; 503 when RD neither accepts nor refuses it).',
  })
  @ApiParam(ACCOUNT_PARAM)
  @ApiOkResponse({ type: ConnectionView })
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`not_connected`' })
  @ApiConflictResponse({
    type: ReauthorizationErrorResponse,
    description: '`reauthorization_required`',
  })
  @ApiServiceUnavailableResponse({
    type: ErrorResponse,
    description:
      '`provider_unavailable`: RD did not answer a retry clearly, or the connection is busy',
  })
  refresh(
    @Param('account') account: string,
    @Query() query: RefreshQuery,
  ): Promise<ConnectionView> {
    return this.service.refreshNow(
      {
        account: assertAccount(account),
        product: resolveProduct(this.products.enabled, query.product),
      },
      query.retryRejected === 'true',
    );
  }

  @Delete(':account')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Revoke at RD (Marketing; CRM has no revocation endpoint) and delete',
    description:
      'Marketing grants are revoked with their refresh token (`token_type_hint=refresh_token`), which works even ' +
      'when the access token has expired. A revocation RD refuses or cannot answer does not block the delete; it is ' +
      'logged as an error, recorded in the `connection.deleted` event (`revocation: "failed"`), and `X-Revoked` says so.',
  })
  @ApiParam(ACCOUNT_PARAM)
  @ApiNoContentResponse({
    description: 'deleted',
    headers: {
      'X-Revoked': {
        description:
          '`true` when RD confirmed the revocation; `false` when it failed (the grant may still be live at RD) or the product has no revocation endpoint (CRM)',
        schema: { type: 'string', enum: ['true', 'false'] },
      },
      'X-Revocation': {
        description: '`confirmed`, `failed` or `unsupported` (CRM)',
        schema: { type: 'string', enum: ['confirmed', 'failed', 'unsupported'] },
      },
    },
  })
  @ApiNotFoundResponse({ type: ErrorResponse, description: '`not_connected`' })
  async delete(
    @Param('account') account: string,
    @Query() query: ProductQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    const revocation = await this.service.delete({
      account: assertAccount(account),
      product: resolveProduct(this.products.enabled, query.product),
    });
    reply.header('X-Revoked', String(revocation === 'confirmed'));
    reply.header('X-Revocation', revocation);
  }
}
