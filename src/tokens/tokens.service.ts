import { Inject, Injectable } from '@nestjs/common';
import {
  NotConnectedError,
  ProviderUnavailableError,
  ReauthorizationRequiredError,
} from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { Connection } from './connection.entity';
import { ConnectionsRepository, type ConnectionKey } from './connections.repository';
import { TokenRefresher } from './token-refresher';
import type { TokenResponse } from './tokens.dto';

/** `GET /tokens/:account`: a token with at least `minValidity` seconds left, refreshing first if needed. */
@Injectable()
export class TokensService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly connections: ConnectionsRepository,
    private readonly refresher: TokenRefresher,
  ) {}

  async getToken(key: ConnectionKey, minValiditySeconds: number): Promise<TokenResponse> {
    // Fast path: one primary-key read, no write.
    let connection = await this.connections.findOne(key);
    if (!connection) throw new NotConnectedError(key.account, key.product);
    if (
      !this.validFor(connection, minValiditySeconds) &&
      connection.status !== 'reauthorization_required'
    ) {
      ({ connection } = await this.refresher.refresh(key, { kind: 'read', minValiditySeconds }));
    }
    if (connection.status === 'reauthorization_required') throw reauthorizationRequired(connection);
    if (!this.validFor(connection, minValiditySeconds)) throw providerUnavailable(connection);
    return this.toResponse(connection);
  }

  private validFor(connection: Connection, seconds: number): boolean {
    return connection.expiresAt.getTime() - Date.now() >= seconds * 1000;
  }

  private toResponse(connection: Connection): TokenResponse {
    return {
      account: connection.account,
      product: connection.product,
      accessToken: this.connections.accessTokenOf(connection),
      tokenType: 'Bearer',
      expiresAt: connection.expiresAt.toISOString(),
      expiresIn: Math.max(0, Math.floor((connection.expiresAt.getTime() - Date.now()) / 1000)),
    };
  }
}

export function reauthorizationRequired(connection: Connection): ReauthorizationRequiredError {
  return new ReauthorizationRequiredError(
    `the ${connection.product} connection of "${connection.account}" must be authorized again`,
    { since: connection.lastErrorAt?.toISOString() ?? null, reason: connection.lastError },
  );
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
