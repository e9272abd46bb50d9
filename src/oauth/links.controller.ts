import {
  Body,
  Controller,
  Get,
  Headers,
  Inject,
  Param,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiSeeOtherResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequireApiKey } from '../auth/api-key.guard';
import { ApiConnectRefusals, authorizeConnect } from './connect-authorization';
import type { ConfigType } from '@nestjs/config';
import { oauthConfig, productsConfig } from '../config/slices';
import {
  failurePage,
  linkPage,
  linkPageHeaders,
  PAGE_HEADERS,
  pickLanguage,
} from './callback-page';
import { ConnectLinkBody, ConnectLinkResponse } from './oauth.dto';
import { OAuthService, type LinkKind } from './oauth.service';

const TOKEN_PARAM = { name: 'token', description: 'the token of the link' };
const THROTTLED = {
  description: '`rate_limited`: more than 60 requests a minute from one address',
};

/**
 * Links a customer is sent: connect links (POST /connect-links) and the reconnect links of
 * condemned connections. Opening one (GET, or HEAD from a link preview) shows a page and uses
 * nothing up; only its Connect button (a POST to the link) consumes it and starts the consent.
 */
@ApiTags('oauth')
@Controller()
export class LinksController {
  private readonly pageHeaders: Record<string, string>;

  constructor(
    @Inject(productsConfig.KEY) private readonly products: ConfigType<typeof productsConfig>,
    @Inject(oauthConfig.KEY) config: ConfigType<typeof oauthConfig>,
    private readonly oauth: OAuthService,
  ) {
    this.pageHeaders = linkPageHeaders(config.consentOrigins);
  }

  @Post('connect-links')
  @RequireApiKey()
  @ApiOperation({
    summary: 'A link to send a customer, which starts the RD Station consent for this account',
    description:
      'The link (`$PUBLIC_URL/connect/<token>`) may be sent by any channel. GET/HEAD of it shows a page naming ' +
      'the product with a Connect button and uses nothing up; the button (a POST to the link) uses it (single use) ' +
      'and 303s to the RD consent. The result then goes to `returnTo` (or the broker’s page) as for ' +
      '/oauth/authorize-url. Valid CONNECT_LINK_TTL; only its hash is stored, so it is shown only here. ' +
      'A scoped key needs the `connect` action (API_KEY_SCOPES).',
  })
  @ApiCreatedResponse({ type: ConnectLinkResponse })
  @ApiConnectRefusals()
  createConnectLink(
    @Body() body: ConnectLinkBody,
    @Req() request: FastifyRequest,
  ): Promise<ConnectLinkResponse> {
    const { key, caller } = authorizeConnect(this.products.enabled, body, request);
    return this.oauth.connectLink(key, body.returnTo, caller);
  }

  @Get('connect/:token')
  @UseGuards(ThrottlerGuard)
  @ApiOperation({
    summary: 'A connect link: the page with the Connect button (not for API callers)',
    description:
      'Uses nothing up (HEAD too): a link preview or a second look leaves the link usable.',
  })
  @ApiParam(TOKEN_PARAM)
  @ApiOkResponse({
    description: 'HTML page naming the product and account',
    content: { 'text/html': {} },
  })
  @ApiBadRequestResponse({
    description: 'HTML page: the link is unknown, used or expired',
    content: { 'text/html': {} },
  })
  @ApiTooManyRequestsResponse(THROTTLED)
  showConnect(
    @Param('token') token: string,
    @Headers('accept-language') acceptLanguage: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.show('connect', token, acceptLanguage, reply);
  }

  @Post('connect/:token')
  @UseGuards(ThrottlerGuard)
  @ApiOperation({
    summary: 'A connect link’s Connect button (not for API callers)',
    description:
      'Uses the link up (single use) and 303s to the RD Station consent, with a fresh 10-minute state.',
  })
  @ApiParam(TOKEN_PARAM)
  @ApiSeeOtherResponse({ description: 'redirect to the RD Station consent' })
  @ApiBadRequestResponse({
    description: 'HTML page: the link is unknown, used or expired',
    content: { 'text/html': {} },
  })
  @ApiTooManyRequestsResponse(THROTTLED)
  openConnect(
    @Param('token') token: string,
    @Headers('accept-language') acceptLanguage: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.open('connect', token, acceptLanguage, reply);
  }

  @Get('oauth/reconnect/:token')
  @UseGuards(ThrottlerGuard)
  @ApiOperation({
    summary:
      'A reconnect link sent to a customer: the page with the Connect button (not for API callers)',
    description:
      'The link of a `reauthorization_required` connection, in the `connection.reauthorization_required` event and ' +
      'in GET /connections/:account. Viewing it (GET or HEAD) uses nothing up. Valid RECONNECT_LINK_TTL, and only ' +
      'while the connection is `reauthorization_required`.',
  })
  @ApiParam(TOKEN_PARAM)
  @ApiOkResponse({
    description: 'HTML page naming the product and account',
    content: { 'text/html': {} },
  })
  @ApiBadRequestResponse({
    description:
      'HTML page: the link is unknown, used, expired, or the connection no longer needs it',
    content: { 'text/html': {} },
  })
  @ApiTooManyRequestsResponse(THROTTLED)
  showReconnect(
    @Param('token') token: string,
    @Headers('accept-language') acceptLanguage: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.show('reconnect', token, acceptLanguage, reply);
  }

  @Post('oauth/reconnect/:token')
  @UseGuards(ThrottlerGuard)
  @ApiOperation({
    summary: 'A reconnect link’s Connect button (not for API callers)',
    description:
      'Uses the link up (single use) and 303s to the RD Station consent for the account and product it was made ' +
      'for, with a fresh 10-minute state; then the usual callback and pages.',
  })
  @ApiParam(TOKEN_PARAM)
  @ApiSeeOtherResponse({ description: 'redirect to the RD Station consent' })
  @ApiBadRequestResponse({
    description:
      'HTML page: the link is unknown, used, expired, or the connection no longer needs it',
    content: { 'text/html': {} },
  })
  @ApiTooManyRequestsResponse(THROTTLED)
  openReconnect(
    @Param('token') token: string,
    @Headers('accept-language') acceptLanguage: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.open('reconnect', token, acceptLanguage, reply);
  }

  private async show(
    kind: LinkKind,
    token: string,
    acceptLanguage: string | undefined,
    reply: FastifyReply,
  ): Promise<void> {
    const target = await this.oauth.linkTarget(kind, token);
    const language = pickLanguage(acceptLanguage);
    if (!target) return this.refuse(kind, language, reply);
    // The page URL holds the link's token: no-store, no-referrer, as the callback pages.
    void reply
      .headers(this.pageHeaders)
      .header('Content-Language', language)
      .status(200)
      .send(linkPage(language, kind, target.product, target.account));
  }

  private async open(
    kind: LinkKind,
    token: string,
    acceptLanguage: string | undefined,
    reply: FastifyReply,
  ): Promise<void> {
    const url = await this.oauth.openLink(kind, token);
    if (!url) return this.refuse(kind, pickLanguage(acceptLanguage), reply);
    // 303: the browser follows a POST's answer with a GET.
    void reply.headers(PAGE_HEADERS).redirect(url, 303);
  }

  private refuse(kind: LinkKind, language: ReturnType<typeof pickLanguage>, reply: FastifyReply) {
    void reply
      .headers(PAGE_HEADERS)
      .header('Content-Language', language)
      .status(400)
      .send(failurePage(language, `${kind}_link_invalid`));
  }
}
