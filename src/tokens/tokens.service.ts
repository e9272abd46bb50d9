import { Inject, Injectable } from '@nestjs/common';
import {
  BrokerError,
  NotConnectedError,
  ProviderUnavailableError,
  RefreshTooSoonError,
} from '../common/errors';
import type { ConfigType } from '@nestjs/config';
import { tokensConfig } from '../config/slices';
import { BrokerMetrics } from '../metrics/broker-metrics';
import type { ConnectionKey } from '../common/connection-key';
import type { Connection } from '../database/connection.entity';
import { reauthorizationRequired } from '../connections/connection.errors';
import { ConnectionsRepository } from '../connections/connections.repository';
import { ReadCounter } from '../history/read-counter';
import { accessTokenHash } from '../connections/access-token-hash';
import { reportRefreshWaitSeconds, servesRead } from '../refresh/refresh-policy';
import { TokenRefresher, type RefreshResult } from '../connections/token-refresher';
import { TokenCache, type CachedToken } from './token-cache';
import type { TokenResponse } from './tokens.dto';

type ReadOutcome = 'cache_hit' | 'db' | 'refreshed';

/**
 * `GET /tokens/:account`: a token with at least `minValidity` seconds left (capped by the
 * provider's token lifetime), refreshing first if needed.
 */
@Injectable()
export class TokensService {
  private readonly minIntervalSeconds: number;

  constructor(
    @Inject(tokensConfig.KEY) config: ConfigType<typeof tokensConfig>,
    private readonly connections: ConnectionsRepository,
    private readonly refresher: TokenRefresher,
    private readonly cache: TokenCache,
    private readonly metrics: BrokerMetrics,
    private readonly reads: ReadCounter,
  ) {
    this.minIntervalSeconds = config.reportRefreshIntervalSeconds;
  }

  /**
   * `caller`: the API key's name, counted (in memory) as having read this connection's token;
   * null counts nothing (the proxy's retry of a call already counted).
   * `rejected`: the hash of an access token RD refused; replaced first if it is still stored.
   */
  async getToken(
    key: ConnectionKey,
    minValiditySeconds: number,
    caller: string | null,
    rejected?: string,
  ): Promise<TokenResponse> {
    try {
      const { token, outcome } = await this.readToken(key, minValiditySeconds, rejected);
      this.metrics.countTokenRead(key.product, outcome);
      if (caller !== null) this.reads.count(caller, key);
      return toResponse(key, token);
    } catch (error) {
      const outcome = error instanceof BrokerError ? error.code : 'internal_error';
      this.metrics.countTokenRead(key.product, outcome);
      throw error;
    }
  }

  /**
   * getToken's answer when the token is in memory, has `minValiditySeconds` left and nothing is
   * `rejected` (counted as getToken counts it), else undefined and the caller asks getToken.
   * GET /tokens' path for most reads: no promise (getToken's two, the route's await) for a token
   * already in memory.
   */
  cachedToken(
    key: ConnectionKey,
    minValiditySeconds: number,
    caller: string,
    rejected?: string,
  ): TokenResponse | undefined {
    const cached = this.servableFromCache(key, minValiditySeconds, rejected);
    if (!cached) return undefined;
    this.metrics.countTokenRead(key.product, 'cache_hit');
    this.reads.count(caller, key);
    return toResponse(key, cached);
  }

  /**
   * The cached access token of `key` when it has `minValiditySeconds` left (counted as a cache
   * hit, as getToken counts it), else undefined and the caller asks getToken. /proxy's path:
   * no response object and no promise for a token already in memory.
   */
  cachedAccessToken(key: ConnectionKey, minValiditySeconds: number): string | undefined {
    const cached = this.cache.get(key);
    if (!cached || !validFor(cached.expiresAt, minValiditySeconds)) return undefined;
    this.metrics.countTokenRead(key.product, 'cache_hit');
    return cached.accessToken;
  }

  private async readToken(
    key: ConnectionKey,
    minValiditySeconds: number,
    rejected: string | undefined,
  ): Promise<{ token: CachedToken; outcome: ReadOutcome }> {
    // Fastest path: a decrypted token in memory, kept current by NOTIFY or poll (no report).
    const cached = this.servableFromCache(key, minValiditySeconds, rejected);
    if (cached) return { token: cached, outcome: 'cache_hit' };

    // Fast path: one primary-key read, no write.
    const ticket = this.cache.ticket();
    let connection = await this.connections.findOne(key);
    if (!connection) throw new NotConnectedError(key.account, key.product);
    let accessToken = this.connections.accessTokenOf(connection);
    let outcome: ReadOutcome = 'db';
    const refused = () => rejected !== undefined && accessTokenHash(accessToken) === rejected;
    if (connection.status !== 'reauthorization_required') {
      if (refused()) {
        // Without the lock when the row already says "too soon": 200 reports cost 200 reads,
        // not 200 lock waits. The refresher decides again under the lock.
        this.assertReportMayRefresh(connection);
        const result = await this.replaceRefused(key, rejected as string);
        connection = result.connection;
        outcome = 'refreshed';
        if (result.outcome === 'too_soon') {
          // Another report's refresh won the lock: its token is served, if it is a new one.
          outcome = 'db';
          accessToken = this.connections.accessTokenOf(connection);
          if (refused()) this.assertReportMayRefresh(connection);
        }
      } else if (!servesRead(connection, minValiditySeconds)) {
        // servesRead caps minValidity by the provider's token lifetime and never refreshes a
        // token refreshed seconds ago (refresh-policy.ts): asking more than RD gives is no storm.
        ({ connection } = await this.refresher.refresh(key, { kind: 'read', minValiditySeconds }));
        outcome = 'refreshed';
      }
      if (outcome === 'refreshed') accessToken = this.connections.accessTokenOf(connection);
    }
    if (connection.status === 'reauthorization_required') throw reauthorizationRequired(connection);
    // RD refused the stored token and it could not be replaced (RD failing, backing off, busy).
    if (refused())
      throw providerUnavailable(
        connection,
        'RD refused the stored token and it could not be refreshed',
      );
    if (!servesRead(connection, minValiditySeconds))
      throw providerUnavailable(
        connection,
        'RD Station could not refresh the token and the stored one has too little validity left',
      );
    const token = {
      accessToken,
      expiresAt: connection.expiresAt,
      expiresAtIso: connection.expiresAt.toISOString(),
    };
    this.cache.set(key, token, ticket);
    return { token, outcome };
  }

  /**
   * The token in memory, if it has `minValiditySeconds` left and nothing is `rejected`. A report
   * always consults the stored row: this replica's memory may still hold the token another
   * replica replaced milliseconds ago (it hears of the change by NOTIFY or poll), and answering
   * that older token to a caller who reports the newer one would be wrong. Reports are rare (after
   * RD's 401): one primary-key read each.
   */
  private servableFromCache(
    key: ConnectionKey,
    minValiditySeconds: number,
    rejected: string | undefined,
  ): CachedToken | undefined {
    if (rejected !== undefined) return undefined;
    const cached = this.cache.get(key);
    return cached && validFor(cached.expiresAt, minValiditySeconds) ? cached : undefined;
  }

  /** 429 while a refresh asked for by a report ran less than REFRESH_MIN_INTERVAL_SECONDS ago. */
  private assertReportMayRefresh(connection: Connection): void {
    const wait = reportRefreshWaitSeconds(connection, this.minIntervalSeconds);
    if (wait === null) return;
    throw new RefreshTooSoonError(
      `this token was reported refused and replaced less than REFRESH_MIN_INTERVAL_SECONDS ` +
        `(${this.minIntervalSeconds} s) ago; it is not replaced again before Retry-After`,
      wait,
    );
  }

  /**
   * Refreshes because RD refused the token with hash `rejected`: the refresher re-checks under
   * the cross-replica lock, so of many callers reporting one token only the first calls RD. A
   * refresh already in flight in this replica for another reason may have been joined instead;
   * if that one left the refused token in place, ask once more.
   */
  private async replaceRefused(key: ConnectionKey, rejected: string): Promise<RefreshResult> {
    const trigger = {
      kind: 'rejected',
      tokenHash: rejected,
      minIntervalSeconds: this.minIntervalSeconds,
    } as const;
    const result = await this.refresher.refresh(key, trigger);
    const unchanged =
      result.outcome === 'not_needed' &&
      result.connection.status !== 'reauthorization_required' &&
      accessTokenHash(this.connections.accessTokenOf(result.connection)) === rejected;
    return unchanged ? this.refresher.refresh(key, trigger) : result;
  }
}

function validFor(expiresAt: Date, seconds: number): boolean {
  return expiresAt.getTime() - Date.now() >= seconds * 1000;
}

function toResponse(key: ConnectionKey, token: CachedToken): TokenResponse {
  return {
    account: key.account,
    product: key.product,
    accessToken: token.accessToken,
    tokenType: 'Bearer',
    expiresAt: token.expiresAtIso,
    expiresIn: Math.max(0, Math.floor((token.expiresAt.getTime() - Date.now()) / 1000)),
  };
}

function providerUnavailable(connection: Connection, what: string): ProviderUnavailableError {
  const retryAt = connection.nextRefreshAt?.getTime() ?? Date.now();
  const retryAfter = Math.min(300, Math.max(1, Math.ceil((retryAt - Date.now()) / 1000)));
  return new ProviderUnavailableError(
    what + (connection.lastError ? ` (${connection.lastError})` : ''),
    retryAfter,
  );
}
