import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConnectionKey } from '../common/connection-key';
import { InvalidRequestError } from '../common/errors';
import type { ConfigType } from '@nestjs/config';
import type { Product } from '../config/config';
import { oauthConfig } from '../config/slices';
import { RdStationClient, type TokenSet } from '../rdstation/rdstation.client';
import { RdStationError } from '../rdstation/rdstation.errors';
import { ConnectionLifecycle } from '../connections/connection-lifecycle';
import type { AuthorizeUrlResponse, CallbackQuery } from './oauth.dto';
import { OAuthStatesRepository, type PendingAuthorization } from './oauth-states.repository';
import { ConnectLinks } from '../links/connect-links';
import { ReconnectLinks } from '../links/reconnect-links';
import { isAllowedReturnUrl } from './return-url';

/** Why a callback failed: the `reason` handed to `returnTo`, and the sentence shown to the user. */
export const CALLBACK_FAILURES = {
  invalid_state:
    'This authorization link is unknown, was already used, or has expired. Start the connection again.',
  access_denied: 'The authorization was declined at RD Station. Nothing was connected.',
  provider_error:
    'RD Station returned an error instead of an authorization. Nothing was connected.',
  missing_code:
    'RD Station sent the browser back without an authorization code. Start the connection again.',
  code_rejected:
    'RD Station rejected the authorization code (it may have expired). Start the connection again.',
  app_misconfigured:
    "RD Station refused this broker's RD app settings (client id or secret) while finishing the connection. " +
    "Nothing was connected; the broker's operator must correct them.",
  invalid_issuer:
    'The authorization answer did not come from the expected RD Station server. Nothing was connected.',
  provider_unavailable:
    'RD Station could not be reached to finish the connection. Please try again in a moment.',
} as const;

export type CallbackFailure = keyof typeof CALLBACK_FAILURES;

export type CallbackOutcome =
  | { ok: true; pending: PendingAuthorization }
  | {
      ok: false;
      reason: CallbackFailure;
      pending: PendingAuthorization | null;
      /** With `provider_error`: the provider's `error` code, when it is a safe token. */
      providerError?: string;
    };

/** A connect link (POST /connect-links) or a condemned connection's reconnect link. */
export type LinkKind = 'connect' | 'reconnect';

const MAX_PARAM_LENGTH = 2048;

/** OAuth error codes are short ASCII tokens; anything else is not repeated to the user or the log. */
const SAFE_PROVIDER_ERROR = /^[A-Za-z0-9_.:-]{1,64}$/;

function param(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_PARAM_LENGTH
    ? value
    : undefined;
}

/** RFC 9207: with an issuer configured, `iss` must equal it; without one, any (or no) `iss` passes. */
function issuerMatches(expected: string | null, iss: unknown): boolean {
  return expected === null || (typeof iss === 'string' && iss === expected);
}

/** A PKCE pair (RFC 7636, S256): 32 random bytes as the verifier, its SHA-256 as the challenge. */
function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

@Injectable()
export class OAuthService {
  private readonly logger = new Logger(OAuthService.name);

  constructor(
    @Inject(oauthConfig.KEY) private readonly config: ConfigType<typeof oauthConfig>,
    private readonly states: OAuthStatesRepository,
    private readonly lifecycle: ConnectionLifecycle,
    private readonly rd: RdStationClient,
    private readonly reconnectLinks: ReconnectLinks,
    private readonly connectLinks: ConnectLinks,
  ) {}

  /** A consent URL for `requestedBy` (an API key's name, or the link the consent came through). */
  async authorizeUrl(
    account: string,
    product: Product,
    returnTo: string | undefined,
    requestedBy: string,
  ): Promise<AuthorizeUrlResponse> {
    this.assertReturnTo(returnTo);
    const pkce = this.config.consent[product]?.pkce ? pkcePair() : null;
    const { state, expiresAt } = await this.states.create({
      account,
      product,
      returnTo: returnTo ?? null,
      codeVerifier: pkce?.verifier ?? null,
      requestedBy,
    });
    return {
      url: this.rd.authorizeUrl(product, state, pkce?.challenge),
      expiresAt: expiresAt.toISOString(),
    };
  }

  /** POST /connect-links: a link that starts the consent when the customer opens it. */
  async connectLink(
    key: ConnectionKey,
    returnTo: string | undefined,
    requestedBy: string,
  ): Promise<AuthorizeUrlResponse> {
    this.assertReturnTo(returnTo);
    const { url, expiresAt } = await this.connectLinks.create(
      { ...key, returnTo: returnTo ?? null },
      requestedBy,
    );
    return { url, expiresAt: expiresAt.toISOString() };
  }

  /** What a usable link is for, consuming nothing (GET/HEAD of the link); null if unusable. */
  linkTarget(kind: LinkKind, token: string): Promise<ConnectionKey | null> {
    return kind === 'connect' ? this.connectLinks.peek(token) : this.reconnectLinks.peek(token);
  }

  /**
   * Opens a link (its POST): uses it up and starts a fresh consent (new state) for the account
   * and product it was made for. Null when the link cannot be used.
   */
  async openLink(kind: LinkKind, token: string): Promise<string | null> {
    let target: { account: string; product: Product; returnTo: string | null } | null;
    let requestedBy = 'reconnect-link';
    if (kind === 'connect') {
      const link = await this.connectLinks.consume(token);
      target = link;
      if (link) requestedBy = `connect-link of ${link.createdBy}`;
    } else {
      const key = await this.reconnectLinks.consume(token);
      target = key && { ...key, returnTo: null };
    }
    if (!target) return null;
    const { account, product } = target;
    this.logger.log({ account, product, link: kind }, `${kind} link opened; consent started`);
    let returnTo = target.returnTo ?? undefined;
    if (returnTo !== undefined && !isAllowedReturnUrl(returnTo, this.config.returnUrlAllowlist)) {
      // OAUTH_RETURN_URL_ALLOWLIST changed since the link was made: the broker's own page instead.
      this.logger.warn({ account, product }, 'connect link returnTo no longer allowed; dropped');
      returnTo = undefined;
    }
    return (await this.authorizeUrl(account, product, returnTo, requestedBy)).url;
  }

  private assertReturnTo(returnTo: string | undefined): void {
    const allowlist = this.config.returnUrlAllowlist;
    if (returnTo !== undefined && allowlist.length === 0) {
      throw new InvalidRequestError(
        "returnTo is refused: OAUTH_RETURN_URL_ALLOWLIST is empty; set it to the URL prefixes your application may be sent back to (e.g. https://app.example.com/rd/), or leave returnTo out to get the broker's own page",
      );
    }
    if (returnTo !== undefined && !isAllowedReturnUrl(returnTo, allowlist)) {
      throw new InvalidRequestError(
        'returnTo must be an http(s) URL starting with a prefix of OAUTH_RETURN_URL_ALLOWLIST',
      );
    }
  }

  /** Consumes the state, exchanges the code and stores the connection; on any failure stores nothing. */
  async completeAuthorization(query: CallbackQuery): Promise<CallbackOutcome> {
    const state = param(query.state);
    const pending = state ? await this.states.consume(state) : null;
    if (!pending) return { ok: false, reason: 'invalid_state', pending: null };
    const who = { account: pending.account, product: pending.product };
    // Checked before anything else the answer says: a mismatched issuer means it is not RD's.
    if (!issuerMatches(this.config.consent[pending.product]?.issuer ?? null, query.iss)) {
      this.logger.warn(who, 'callback refused: its iss is not the configured issuer');
      return { ok: false, reason: 'invalid_issuer', pending };
    }
    if (query.error !== undefined) return this.providerError(pending, query.error);
    const code = param(query.code);
    if (!code) return { ok: false, reason: 'missing_code', pending };

    let tokens: TokenSet;
    try {
      tokens = await this.rd.exchangeCode(pending.product, code, pending.codeVerifier ?? undefined);
    } catch (error) {
      if (!(error instanceof RdStationError)) throw error;
      // What the answer means is decided in rdstation.errors.ts; here only how to report it.
      if (error.kind === 'client_rejected') {
        const prefix = `RD_${pending.product.toUpperCase()}`;
        this.logger.error(
          { ...who, errorCode: error.code },
          `code exchange refused the client credentials: check ${prefix}_CLIENT_ID and ${prefix}_CLIENT_SECRET`,
        );
        return { ok: false, reason: 'app_misconfigured', pending };
      }
      if (error.kind === 'suspect')
        this.logger.error(
          { ...who, status: error.status, body: error.bodyExcerpt },
          'RD answered a code exchange in an unknown shape; nothing stored',
        );
      else this.logger.warn({ ...who, errorCode: error.code }, 'code exchange failed');
      return {
        ok: false,
        reason: error.kind === 'grant_rejected' ? 'code_rejected' : 'provider_unavailable',
        pending,
      };
    }
    const stored = await this.store(
      pending,
      tokens,
      await this.labelFor(pending.product, tokens.accessToken),
    );
    return stored ? { ok: true, pending } : { ok: false, reason: 'provider_unavailable', pending };
  }

  /** `access_denied` is the user declining; any other `error` is the provider's, shown with its code. */
  private providerError(pending: PendingAuthorization, error: unknown): CallbackOutcome {
    if (error === 'access_denied') return { ok: false, reason: 'access_denied', pending };
    const providerError =
      typeof error === 'string' && SAFE_PROVIDER_ERROR.test(error) ? error : undefined;
    this.logger.warn(
      {
        account: pending.account,
        product: pending.product,
        providerError: providerError ?? '(not a valid error code)',
      },
      'RD Station answered the consent with an error',
    );
    return { ok: false, reason: 'provider_error', pending, providerError };
  }

  /** Marketing has an account name worth showing to operators; failing to read it is not fatal. */
  private async labelFor(product: Product, accessToken: string): Promise<string | null> {
    if (product !== 'marketing') return null;
    try {
      return (await this.rd.accountInfo(accessToken)).name;
    } catch (error) {
      this.logger.warn(
        { errorCode: (error as RdStationError).code },
        'could not read the Marketing account name',
      );
      return null;
    }
  }

  /** False when the connection stayed locked by a hung refresh for longer than the lock wait. */
  private store(
    pending: PendingAuthorization,
    tokens: TokenSet,
    label: string | null,
  ): Promise<boolean> {
    return this.lifecycle.connect(
      { account: pending.account, product: pending.product },
      {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken!,
        expiresAt: new Date(Date.now() + tokens.expiresIn * 1000),
      },
      { label, requestedBy: pending.requestedBy },
    );
  }
}
