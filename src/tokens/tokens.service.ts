import { Injectable } from '@nestjs/common';
import { BrokerError, NotConnectedError, ProviderUnavailableError } from '../common/errors';
import { BrokerMetrics } from '../metrics/broker-metrics';
import type { ConnectionKey } from '../common/connection-key';
import type { Connection } from '../connections/connection.entity';
import { reauthorizationRequired } from '../connections/connection.errors';
import { ConnectionsRepository } from '../connections/connections.repository';
import { TokenRefresher } from '../refresh/token-refresher';
import { TokenCache, type CachedToken } from './token-cache';
import type { TokenResponse } from './tokens.dto';

type ReadOutcome = 'cache_hit' | 'db' | 'refreshed';

/** `GET /tokens/:account`: a token with at least `minValidity` seconds left, refreshing first if needed. */
@Injectable()
export class TokensService {
  constructor(
    private readonly connections: ConnectionsRepository,
    private readonly refresher: TokenRefresher,
    private readonly cache: TokenCache,
    private readonly metrics: BrokerMetrics,
  ) {}

  async getToken(key: ConnectionKey, minValiditySeconds: number): Promise<TokenResponse> {
    try {
      const { token, outcome } = await this.readToken(key, minValiditySeconds);
      this.metrics.tokenReads.inc({ product: key.product, outcome });
      return toResponse(key, token);
    } catch (error) {
      const outcome = error instanceof BrokerError ? error.code : 'internal_error';
      this.metrics.tokenReads.inc({ product: key.product, outcome });
      throw error;
    }
  }

  private async readToken(
    key: ConnectionKey,
    minValiditySeconds: number,
  ): Promise<{ token: CachedToken; outcome: ReadOutcome }> {
    // Fastest path: a decrypted token in memory, kept current by LISTEN/NOTIFY.
    const cached = this.cache.get(key);
    if (cached && validFor(cached.expiresAt, minValiditySeconds))
      return { token: cached, outcome: 'cache_hit' };

    // Fast path: one primary-key read, no write.
    const ticket = this.cache.ticket();
    let connection = await this.connections.findOne(key);
    if (!connection) throw new NotConnectedError(key.account, key.product);
    let outcome: ReadOutcome = 'db';
    if (
      connection.status !== 'reauthorization_required' &&
      !validFor(connection.expiresAt, minValiditySeconds)
    ) {
      ({ connection } = await this.refresher.refresh(key, { kind: 'read', minValiditySeconds }));
      outcome = 'refreshed';
    }
    if (connection.status === 'reauthorization_required') throw reauthorizationRequired(connection);
    if (!validFor(connection.expiresAt, minValiditySeconds)) throw providerUnavailable(connection);
    const token = {
      accessToken: this.connections.accessTokenOf(connection),
      expiresAt: connection.expiresAt,
    };
    this.cache.set(key, token, ticket);
    return { token, outcome };
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
    expiresAt: token.expiresAt.toISOString(),
    expiresIn: Math.max(0, Math.floor((token.expiresAt.getTime() - Date.now()) / 1000)),
  };
}

function providerUnavailable(connection: Connection): ProviderUnavailableError {
  const retryAt = connection.nextRefreshAt?.getTime() ?? Date.now();
  const retryAfter = Math.min(300, Math.max(1, Math.ceil((retryAt - Date.now()) / 1000)));
  return new ProviderUnavailableError(
    `RD Station could not refresh the token and the stored one has too little validity left` +
      (connection.lastError ? ` (${connection.lastError})` : ''),
    retryAfter,
  );
}
