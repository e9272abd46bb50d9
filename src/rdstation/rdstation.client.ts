import { Inject, Injectable, Optional, type OnModuleDestroy } from '@nestjs/common';
import { isRecord } from '../common/is-record';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { request, type Agent } from 'undici';
import type { ConfigType } from '@nestjs/config';
import type { Product, ProductCredentials } from '../config/config';
import { rdstationConfig } from '../config/slices';
import {
  httpError,
  invalidResponse,
  RdStationError,
  safeJson,
  transportError,
  type CallContext,
} from './rdstation.errors';
import { rdAgent } from './rdstation.agent';
import { productSpecs, type ProductSpec, type TokenCall } from './rdstation.products';

export interface TokenSet {
  accessToken: string;
  /** null only when RD sent none (a Marketing refresh may omit it): keep the previous one. */
  refreshToken: string | null;
  /** Seconds from the moment RD answered. */
  expiresIn: number;
}

interface Outgoing {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

function encode(encoding: TokenCall['encoding'], fields: Record<string, string>) {
  return encoding === 'json'
    ? { headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(fields) }
    : { headers: { 'content-type': FORM }, body: new URLSearchParams(fields).toString() };
}

/**
 * The only code that talks to RD Station's OAuth servers: one method per call, product
 * differences read from PRODUCT_SPECS. Every answer is a TokenSet or an RdStationError; nothing
 * is logged here (callers log, and only what RdStationError exposes).
 */
@Injectable()
export class RdStationClient implements OnModuleDestroy {
  private readonly agent: Agent;
  private readonly specs: Readonly<Record<Product, ProductSpec>>;

  constructor(
    @Inject(rdstationConfig.KEY) private readonly config: ConfigType<typeof rdstationConfig>,
    @Optional() private readonly metrics?: BrokerMetrics,
  ) {
    this.specs = productSpecs(config.marketingOAuth);
    this.agent = rdAgent(config.timeoutMs);
  }

  /** Idempotent: closing twice (tests, a manual shutdown) must not throw. */
  async onModuleDestroy(): Promise<void> {
    if (this.agent.closed || this.agent.destroyed) return;
    await this.agent.close();
  }

  supportsRevocation(product: Product): boolean {
    return this.specs[product]?.revokePath != null;
  }

  /**
   * The consent URL the user's browser is sent to, with the product's `scope` when one is
   * configured and the PKCE challenge (S256) when the caller made one.
   */
  authorizeUrl(product: Product, state: string, codeChallenge?: string): string {
    const { clientId, scope } = this.credentials(product);
    const { consent } = this.specs[product];
    const params = new URLSearchParams({
      ...consent.params,
      client_id: clientId,
      redirect_uri: this.config.redirectUri,
      state,
    });
    if (scope !== null) params.set('scope', scope);
    if (codeChallenge !== undefined) {
      params.set('code_challenge', codeChallenge);
      params.set('code_challenge_method', 'S256');
    }
    return `${this.config[consent.host]}${consent.path}?${params.toString()}`;
  }

  /** Trades the callback's code for tokens. A missing refresh token is a permanent error. */
  exchangeCode(product: Product, code: string, codeVerifier?: string): Promise<TokenSet> {
    const extra: Record<string, string> =
      codeVerifier === undefined ? {} : { code_verifier: codeVerifier };
    return this.tokenCall(product, 'exchange', code, extra);
  }

  /** CRM refresh tokens roll: the one passed here is dead once RD answers. */
  refresh(product: Product, refreshToken: string): Promise<TokenSet> {
    return this.tokenCall(product, 'refresh', refreshToken);
  }

  /**
   * Revokes the grant at RD with its refresh token (`token_type_hint=refresh_token`): that works
   * even when the stored access token has expired, and it is the token that keeps the grant
   * alive (Marketing refresh tokens never expire). True when RD confirmed; false when the
   * product has no revocation endpoint; an RdStationError when RD refused or failed.
   */
  async revoke(
    product: Product,
    tokens: { refreshToken: string; accessToken: string },
  ): Promise<boolean> {
    this.credentials(product);
    const path = this.specs[product].revokePath;
    if (path === null) return false;
    await this.send(
      {
        method: 'POST',
        path,
        headers: { authorization: `Bearer ${tokens.accessToken}`, 'content-type': FORM },
        body: new URLSearchParams({
          token: tokens.refreshToken,
          token_type_hint: 'refresh_token',
        }).toString(),
      },
      {
        label: `${product} revoke`,
        call: 'revoke',
        secrets: [tokens.refreshToken, tokens.accessToken],
      },
    );
    return true;
  }

  /** The Marketing account's display name, a label for the connection. */
  async accountInfo(accessToken: string): Promise<{ name: string }> {
    const context: CallContext = {
      label: 'marketing account_info',
      call: 'api',
      secrets: [accessToken],
    };
    const { status, text } = await this.send(
      {
        method: 'GET',
        path: '/marketing/account_info',
        headers: { authorization: `Bearer ${accessToken}` },
      },
      context,
    );
    const body = safeJson(text);
    if (!isRecord(body) || typeof body.name !== 'string') {
      throw invalidResponse(context, status, 'the answer has no account name');
    }
    return { name: body.name };
  }

  private credentials(product: Product): ProductCredentials {
    const credentials = this.specs[product] ? this.config.credentials[product] : undefined;
    if (!credentials || credentials.clientSecrets.length === 0) {
      const prefix = `RD_${String(product).toUpperCase()}`;
      throw new Error(
        `RD Station product "${product}" is not configured: set ${prefix}_CLIENT_ID and ${prefix}_CLIENT_SECRET`,
      );
    }
    return credentials;
  }

  /**
   * Tries each client secret in turn, moving on only when RD names the client credentials as
   * wrong (`client_rejected`): an answer that may mean the grant is not retried with another secret.
   */
  private async tokenCall(
    product: Product,
    operation: 'exchange' | 'refresh',
    grant: string,
    extra: Record<string, string> = {},
  ): Promise<TokenSet> {
    const { clientId, clientSecrets } = this.credentials(product);
    const spec = this.specs[product];
    const call = spec[operation];
    const context: CallContext = {
      label: `${product} ${operation}`,
      call: operation,
      secrets: [grant, ...Object.values(extra), ...clientSecrets],
    };
    let rejected: RdStationError | undefined;
    for (const clientSecret of clientSecrets) {
      const fields = {
        ...call.fields(grant, this.config.redirectUri),
        ...extra,
        client_id: clientId,
        client_secret: clientSecret,
      };
      try {
        const { status, text } = await this.send(
          { method: 'POST', path: call.path, ...encode(call.encoding, fields) },
          context,
        );
        return this.toTokenSet(text, status, spec.defaultExpiresIn, context, operation);
      } catch (error) {
        if (!(error instanceof RdStationError) || error.kind !== 'client_rejected') throw error;
        rejected = error;
      }
    }
    throw rejected as RdStationError;
  }

  private toTokenSet(
    text: string,
    status: number,
    defaultExpiresIn: number,
    context: CallContext,
    operation: 'exchange' | 'refresh',
  ): TokenSet {
    const body = safeJson(text);
    if (!isRecord(body)) throw invalidResponse(context, status, 'the answer is not a JSON object');
    const { access_token: access, refresh_token: refresh, expires_in: expires } = body;
    if (typeof access !== 'string' || access === '') {
      throw invalidResponse(context, status, 'the answer has no access_token');
    }
    // The broker hands tokens out as Bearer: any other type (DPoP, MAC…) would not work as one.
    if (body.token_type != null && String(body.token_type).toLowerCase() !== 'bearer') {
      throw invalidResponse(context, status, 'token_type is not Bearer');
    }
    if (refresh != null && typeof refresh !== 'string') {
      throw invalidResponse(context, status, 'refresh_token is not a string');
    }
    const expiresIn =
      expires == null
        ? defaultExpiresIn
        : typeof expires === 'number' ||
            (typeof expires === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(expires))
          ? Math.floor(Number(expires))
          : NaN;
    if (!Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw invalidResponse(context, status, 'expires_in is not a positive number');
    }
    const refreshToken = refresh ? refresh : null;
    if (refreshToken === null && operation === 'exchange') {
      // Nothing to store; the code is spent, so the user must start again.
      throw invalidResponse(
        context,
        status,
        'the code exchange returned no refresh_token',
        'suspect',
        'missing_refresh_token',
      );
    }
    return { accessToken: access, refreshToken, expiresIn };
  }

  /** One request under a hard deadline covering connect, headers and body; 2xx or a throw. */
  private async send(
    outgoing: Outgoing,
    context: CallContext,
  ): Promise<{ status: number; text: string }> {
    const timeoutMs = this.config.timeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    let status: number;
    let text: string;
    let headers: Record<string, string | string[] | undefined>;
    const started = performance.now();
    const observe = (outcome: string) =>
      this.metrics?.rdDuration.observe(
        { call: context.label, outcome },
        (performance.now() - started) / 1000,
      );
    try {
      const response = await request(`${this.config.apiUrl}${outgoing.path}`, {
        method: outgoing.method,
        headers: { accept: JSON_TYPE, ...outgoing.headers },
        body: outgoing.body,
        signal,
        dispatcher: this.agent,
      });
      status = response.statusCode;
      headers = response.headers;
      text = await response.body.text();
    } catch (error) {
      observe(signal.aborted ? 'timeout' : 'network');
      throw transportError(error, signal.aborted, timeoutMs, context);
    }
    observe(String(status));
    if (status < 200 || status >= 300) throw httpError({ status, body: text, headers }, context);
    return { status, text };
  }
}
