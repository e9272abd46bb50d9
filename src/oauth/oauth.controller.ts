import {
  Body,
  Controller,
  Get,
  Headers,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequireApiKey } from '../auth/api-key.guard';
import { assertScope } from '../auth/key-scope';
import type { AuthenticatedRequest } from '../logging/logger';
import { assertAccount, resolveProduct } from '../common/validation';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { ErrorResponse } from '../common/error.dto';
import { failurePage, PAGE_HEADERS, pickLanguage, successPage } from './callback-page';
import { AuthorizeUrlBody, AuthorizeUrlResponse, type CallbackQuery } from './oauth.dto';
import { OAuthService } from './oauth.service';
import { withOutcome } from './return-url';

@ApiTags('oauth')
@Controller('oauth')
export class OAuthController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly oauth: OAuthService,
  ) {}

  @Post('authorize-url')
  @RequireApiKey()
  @ApiOperation({
    summary: 'An RD Station consent URL for this account',
    description:
      'Send the user’s browser to `url`. Its state is random, single-use and expires in 10 minutes. ' +
      'After consent, RD sends the browser to /oauth/callback, which stores the connection and then redirects ' +
      'to `returnTo?account=…&product=…&status=connected` (or `status=error&reason=…`), or shows a small page.',
  })
  @ApiCreatedResponse({ type: AuthorizeUrlResponse })
  @ApiBadRequestResponse({
    type: ErrorResponse,
    description: '`invalid_request`: bad account/product, or returnTo not allowed',
  })
  @ApiForbiddenResponse({
    type: ErrorResponse,
    description: '`forbidden`: the key is scoped (API_KEY_SCOPES) and its rule does not match',
  })
  authorizeUrl(
    @Body() body: AuthorizeUrlBody,
    @Req() request: FastifyRequest,
  ): Promise<AuthorizeUrlResponse> {
    const key = {
      account: assertAccount(body.account),
      product: resolveProduct(this.config, body.product),
    };
    const caller = request.raw as AuthenticatedRequest;
    assertScope(caller, key);
    return this.oauth.authorizeUrl(key.account, key.product, body.returnTo);
  }

  @Get('callback')
  @UseGuards(ThrottlerGuard)
  @ApiOperation({
    summary: 'Where RD Station sends the browser back (not for API callers)',
    description:
      'Exchanges the code and stores the connection, then 302 to returnTo or a small HTML page. A bad, used or ' +
      'expired state, an `iss` other than the configured issuer, a provider error or a failed exchange stores ' +
      'nothing: 400 page or returnTo with status=error&reason=….',
  })
  @ApiQuery({ name: 'code', required: false, description: 'the authorization code RD sends' })
  @ApiQuery({ name: 'state', required: false, description: 'the state of the consent URL' })
  @ApiQuery({
    name: 'error',
    required: false,
    description:
      'set by RD instead of `code`: `access_denied` when the user declined, another OAuth error code otherwise',
  })
  @ApiQuery({
    name: 'iss',
    required: false,
    description:
      'the issuer of the answer (RFC 9207); must equal RD_<PRODUCT>_ISSUER when that is set',
  })
  @ApiOkResponse({ description: 'HTML page: connected', content: { 'text/html': {} } })
  @ApiFoundResponse({
    description:
      'redirect to returnTo with account, product and status=connected, or status=error&reason=… ' +
      '(plus providerError=<RD error code> when reason=provider_error)',
  })
  @ApiBadRequestResponse({
    description:
      'HTML page naming the failure, nothing stored. Reasons: invalid_state, access_denied (the user declined), ' +
      'provider_error (any other RD `error`, its code shown), missing_code, code_rejected, app_misconfigured ' +
      '(RD refused the client id/secret), invalid_issuer, provider_unavailable',
    content: { 'text/html': {} },
  })
  @ApiTooManyRequestsResponse({
    description: '`rate_limited`: more than 60 callbacks a minute from one address',
  })
  async callback(
    @Query() query: CallbackQuery,
    @Headers('accept-language') acceptLanguage: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const outcome = await this.oauth.completeAuthorization(query);
    const language = pickLanguage(acceptLanguage);
    void reply.headers(PAGE_HEADERS).header('Content-Language', language);
    const returnTo = outcome.pending?.returnTo;
    if (outcome.ok) {
      const { account, product } = outcome.pending;
      if (returnTo)
        return void reply.redirect(
          withOutcome(returnTo, { account, product, status: 'connected' }),
          302,
        );
      return void reply.status(200).send(successPage(language, product, account));
    }
    const { reason, providerError } = outcome;
    if (returnTo) {
      const { account, product } = outcome.pending!;
      return void reply.redirect(
        withOutcome(returnTo, {
          account,
          product,
          status: 'error',
          reason,
          ...(providerError ? { providerError } : {}),
        }),
        302,
      );
    }
    void reply.status(400).send(failurePage(language, reason, providerError));
  }

  @Get('reconnect/:token')
  @UseGuards(ThrottlerGuard)
  @ApiOperation({
    summary: 'A reconnect link sent to a customer (not for API callers)',
    description:
      'Opens the consent for the account and product the link was made for, with a fresh 10-minute state: 302 to ' +
      'RD Station, then the usual callback and pages. Single use, valid RECONNECT_LINK_TTL, and only while the ' +
      'connection is `reauthorization_required`. The link is in the `connection.reauthorization_required` event ' +
      'and in GET /connections/:account.',
  })
  @ApiParam({ name: 'token', description: 'the token of the link' })
  @ApiFoundResponse({ description: 'redirect to the RD Station consent' })
  @ApiBadRequestResponse({
    description:
      'HTML page: the link is unknown, used, expired, or the connection no longer needs it',
    content: { 'text/html': {} },
  })
  @ApiTooManyRequestsResponse({
    description: '`rate_limited`: more than 60 requests a minute from one address',
  })
  async reconnect(
    @Param('token') token: string,
    @Headers('accept-language') acceptLanguage: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const url = await this.oauth.startReconnect(token);
    // The page URL holds the link's token: the same no-store, no-referrer headers as the callback.
    void reply.headers(PAGE_HEADERS);
    if (url) return void reply.redirect(url, 302);
    const language = pickLanguage(acceptLanguage);
    void reply
      .header('Content-Language', language)
      .status(400)
      .send(failurePage(language, 'reconnect_link_invalid'));
  }
}
