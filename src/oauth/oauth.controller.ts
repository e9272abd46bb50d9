import {
  Body,
  Controller,
  Get,
  Headers,
  Inject,
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
  ApiFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequireApiKey } from '../auth/api-key.guard';
import { ApiConnectRefusals, authorizeConnect } from './connect-authorization';
import type { ConfigType } from '@nestjs/config';
import { productsConfig } from '../config/slices';
import { failurePage, PAGE_HEADERS, pickLanguage, successPage } from './callback-page';
import { AuthorizeUrlBody, AuthorizeUrlResponse, type CallbackQuery } from './oauth.dto';
import { OAuthService } from './oauth.service';
import { withOutcome } from './return-url';

@ApiTags('oauth')
@Controller('oauth')
export class OAuthController {
  constructor(
    @Inject(productsConfig.KEY) private readonly products: ConfigType<typeof productsConfig>,
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
  @ApiConnectRefusals()
  authorizeUrl(
    @Body() body: AuthorizeUrlBody,
    @Req() request: FastifyRequest,
  ): Promise<AuthorizeUrlResponse> {
    const { key, caller } = authorizeConnect(this.products.enabled, body, request);
    return this.oauth.authorizeUrl(key.account, key.product, body.returnTo, caller);
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
}
