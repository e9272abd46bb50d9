import { Injectable, Logger } from '@nestjs/common';
import type { ConnectionKey } from '../common/connection-key';
import { InvalidRequestError, NotConnectedError, ProviderUnavailableError } from '../common/errors';
import { decodeCursor, encodeCursor, pageOf } from '../common/paging';
import { ACCOUNT_PATTERN } from '../common/validation';
import { PRODUCTS, type Product } from '../config/config';
import { ReconnectLinks, type ReconnectLink } from '../links/reconnect-links';
import { RdStationClient } from '../rdstation/rdstation.client';
import { RdStationError } from '../rdstation/rdstation.errors';
import { TokenRefresher } from './token-refresher';
import { ConnectionLifecycle, type Revocation } from './connection-lifecycle';
import type { Connection } from '../database/connection.entity';
import { reauthorizationRequired } from './connection.errors';
import { ConnectionsRepository, type ListFilter } from './connections.repository';
import {
  AccountConnections,
  ConfirmHeldResult,
  ConnectionPage,
  ConnectionView,
  RetryRejectedResult,
  type ImportConnectionBody,
  type ImportedConnectionView,
} from './connections.dto';

/** An imported access token must have at least this long left to be taken without a proving refresh. */
const IMPORT_MIN_VALIDITY_MS = 60_000;

function busy(): never {
  throw new ProviderUnavailableError('the connection is being refreshed; try again shortly', 5);
}

/**
 * A connections cursor is an [account, product] pair whose account obeys the account rule.
 * Anything else (a NUL, which PostgreSQL refuses in text, an account no connection can have) is
 * not one this broker encoded.
 */
function readConnectionCursor(account: unknown, product: unknown): ConnectionKey | undefined {
  return typeof account === 'string' &&
    ACCOUNT_PATTERN.test(account) &&
    PRODUCTS.includes(product as Product)
    ? { account, product: product as Product }
    : undefined;
}

/** The admin routes: list, inspect, import, force a refresh, delete. */
@Injectable()
export class ConnectionsService {
  private readonly logger = new Logger(ConnectionsService.name);

  constructor(
    private readonly connections: ConnectionsRepository,
    private readonly lifecycle: ConnectionLifecycle,
    private readonly refresher: TokenRefresher,
    private readonly rd: RdStationClient,
    private readonly reconnectLinks: ReconnectLinks,
  ) {}

  async list(filter: Omit<ListFilter, 'after'>, cursor?: string): Promise<ConnectionPage> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor, readConnectionCursor);
    const rows = await this.connections.listPage({ ...filter, limit: filter.limit + 1, after });
    const page = pageOf(rows, filter.limit, (last) => encodeCursor([last.account, last.product]));
    return { items: page.items.map(ConnectionView.of), nextCursor: page.nextCursor };
  }

  async forAccount(account: string): Promise<AccountConnections> {
    const rows = await this.connections.findForAccount(account);
    if (rows.length === 0) throw new NotConnectedError(account, 'any');
    const links = rows.some((row) => row.status === 'reauthorization_required')
      ? await this.reconnectLinks.liveFor(account)
      : new Map<Product, ReconnectLink>();
    return {
      account,
      connections: rows.map((row) => {
        const link = row.status === 'reauthorization_required' ? links.get(row.product) : undefined;
        return {
          ...ConnectionView.of(row),
          reconnectUrl: link?.url ?? null,
          reconnectUrlExpiresAt: link?.expiresAt.toISOString() ?? null,
        };
      }),
    };
  }

  /**
   * This connection's `/proxy` budget. Nothing is cached: the budget statement reads the column
   * on every call (src/proxy/rate-budget.sql.ts), so every replica applies it from the next call.
   */
  async setRateLimit(
    key: ConnectionKey,
    rateLimitPerMinute: number | null,
  ): Promise<ConnectionView> {
    const connection = await this.connections.setRateLimit(key, rateLimitPerMinute);
    if (!connection) throw new NotConnectedError(key.account, key.product);
    this.logger.log({ ...key, rateLimitPerMinute }, 'proxy budget of the connection set');
    return ConnectionView.of(connection);
  }

  /**
   * Refreshes now, whatever the backoff. A condemned grant is tried once more with its stored
   * refresh token only when `retryRejected`; RD answering that retry with anything but a verdict
   * (an outage, an unknown shape) is a 503, the connection unchanged.
   */
  async refreshNow(key: ConnectionKey, retryRejected = false): Promise<ConnectionView> {
    const existing = await this.connections.findOne(key);
    if (!existing) throw new NotConnectedError(key.account, key.product);
    if (existing.status === 'reauthorization_required' && !retryRejected)
      throw reauthorizationRequired(existing);
    const { connection, outcome, error } = await this.refresher.refresh(key, {
      kind: 'forced',
      requestedAt: new Date(),
      retryRejected,
    });
    if (
      existing.status === 'reauthorization_required' &&
      outcome === 'transient_failure' &&
      error
    ) {
      throw new ProviderUnavailableError(
        `RD did not accept or refuse the stored refresh token (${error.code}); the connection stays reauthorization_required: ${error.message}`,
        error.retryAfterSeconds ?? 30,
      );
    }
    return ConnectionView.of(connection);
  }

  /**
   * The way back after a fault (a wrong secret, an RD incident) condemned grants: every
   * `reauthorization_required` grant of `product` rejected within [since, until] is tried once
   * more with its stored refresh token, through the same single-flight refresher.
   */
  async retryRejected(
    product: Product,
    since: Date,
    until: Date,
    limit: number,
  ): Promise<RetryRejectedResult> {
    const keys = await this.connections.findRejected(product, since, until, limit);
    const result: RetryRejectedResult = {
      tried: keys.length,
      recovered: [],
      stillRejected: [],
      failed: [],
    };
    const requestedAt = new Date();
    const queue = [...keys];
    const worker = async () => {
      for (let key = queue.shift(); key; key = queue.shift()) {
        const { outcome } = await this.refresher.refresh(key, {
          kind: 'forced',
          requestedAt,
          retryRejected: true,
        });
        if (outcome === 'refreshed') result.recovered.push(key.account);
        else if (outcome === 'permanent_failure') result.stillRejected.push(key.account);
        else result.failed.push(key.account);
      }
    };
    // The refresher's REFRESH_CONCURRENCY slots bound the calls to RD; this bounds the sessions.
    await Promise.all(Array.from({ length: 4 }, worker));
    this.logger.log(
      {
        product,
        tried: result.tried,
        recovered: result.recovered.length,
        stillRejected: result.stillRejected.length,
        failed: result.failed.length,
      },
      'retried rejected grants',
    );
    return result;
  }

  /**
   * An admin says the held rejections of `product` are real: each held connection is condemned
   * (`reauthorization_required`, the event), under its lock, and the product's hold ends.
   */
  async confirmHeld(product: Product): Promise<ConfirmHeldResult> {
    const confirmed = await this.lifecycle.confirmHeld(product);
    this.logger.warn(
      { product, confirmed: confirmed.length },
      'held rejections confirmed by an admin',
    );
    return { product, confirmed };
  }

  /**
   * Takes over a grant from another system. Unless a still-valid access token comes with it, the
   * refresh token is proven by one refresh first, so a dead grant is refused and nothing stored.
   */
  async import(
    key: ConnectionKey,
    body: ImportConnectionBody,
  ): Promise<{ created: boolean; view: ImportedConnectionView }> {
    if (body.accessToken && !body.expiresAt)
      throw new InvalidRequestError('expiresAt is required with accessToken');
    const given = body.expiresAt ? new Date(body.expiresAt) : null;
    const asGiven =
      body.accessToken && given
        ? { accessToken: body.accessToken, refreshToken: body.refreshToken, expiresAt: given }
        : undefined;
    const { created, grant } = await this.lifecycle.import(
      key,
      // Decided under the lock, when the import is about to be stored.
      async () =>
        asGiven && asGiven.expiresAt.getTime() - Date.now() > IMPORT_MIN_VALIDITY_MS
          ? { ...asGiven, proven: false }
          : { ...(await this.proveByRefresh(key, body.refreshToken)), proven: true },
      busy,
    );
    const connection = await this.connections.findOne(key);
    return {
      created,
      view: {
        ...ConnectionView.of(connection!),
        refreshed: grant.proven,
        // The old system's copy dies exactly when RD hands out a different refresh token.
        rotated: grant.refreshToken !== body.refreshToken,
      },
    };
  }

  private async proveByRefresh(key: ConnectionKey, refreshToken: string) {
    try {
      const tokens = await this.rd.refresh(key.product, refreshToken);
      return {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken ?? refreshToken,
        expiresAt: new Date(Date.now() + tokens.expiresIn * 1000),
      };
    } catch (error) {
      if (!(error instanceof RdStationError)) throw error;
      // What each class means is decided in rdstation.errors.ts; here only how to answer it.
      switch (error.kind) {
        case 'grant_rejected':
          throw new InvalidRequestError(
            `RD rejected the refresh token (${error.code}); nothing was stored`,
          );
        case 'client_rejected':
          throw new ProviderUnavailableError(
            `RD rejected the ${key.product} app's client credentials (${error.code}); fix RD_${key.product.toUpperCase()}_CLIENT_ID/SECRET and import again; nothing was stored`,
            60,
          );
        case 'suspect':
          this.logger.error(
            { ...key, status: error.status, body: error.bodyExcerpt },
            'RD answered an import proof in an unknown shape; nothing stored',
          );
          throw new ProviderUnavailableError(
            `RD answered HTTP ${error.status} in a shape the broker does not recognise, so the refresh token was neither proven nor refused; nothing was stored`,
            error.retryAfterSeconds ?? 30,
          );
        case 'transient':
          throw new ProviderUnavailableError(
            `RD could not be reached to prove the refresh token (${error.code})`,
            error.retryAfterSeconds ?? 5,
          );
      }
    }
  }

  /**
   * Revokes at RD where RD supports it (Marketing), with the refresh token, then deletes. A
   * failed revoke does not block the delete, but it is never silent: an error log line, the
   * `connection.deleted` event's detail, and the answer (`revocation`).
   */
  delete(key: ConnectionKey): Promise<Revocation> {
    return this.lifecycle.delete(key, (connection) => this.revoke(connection), busy);
  }

  private async revoke(
    connection: Connection,
  ): Promise<{ revocation: Revocation; revokeError?: string }> {
    if (!this.rd.supportsRevocation(connection.product)) return { revocation: 'unsupported' };
    try {
      await this.rd.revoke(connection.product, {
        refreshToken: this.connections.refreshTokenOf(connection),
        accessToken: this.connections.accessTokenOf(connection),
      });
      return { revocation: 'confirmed' };
    } catch (error) {
      if (!(error instanceof RdStationError)) throw error;
      this.logger.error(
        {
          account: connection.account,
          product: connection.product,
          errorCode: error.code,
          status: error.status,
        },
        'revocation at RD failed: the grant may still be live at RD; deleting the connection anyway',
      );
      return { revocation: 'failed', revokeError: error.message };
    }
  }
}
