import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import type { ConfigType } from '@nestjs/config';
import type { Product } from '../config/config';
import { refreshConfig } from '../config/slices';
import { TokenCipher } from '../crypto/token-cipher';
import type { TokenSet } from '../rdstation/rdstation.client';
import { nextRefreshAt } from '../refresh/refresh-policy';
import { CLAIM_DUE_SQL } from './claim-due.sql';
import { Connection, type ConnectionStatus } from '../database/connection.entity';

/** A connection's tokens as stored (ciphertexts): what key rotation reads and compares. */
export interface StoredCiphertexts {
  account: string;
  product: Product;
  access_token: string;
  refresh_token: string;
}

export interface ListFilter {
  product?: Product;
  status?: ConnectionStatus;
  limit: number;
  after?: ConnectionKey;
}

const BY_KEY = `SELECT * FROM connections WHERE account = $1 AND product = $2`;

/**
 * Every query on `connections`, one method per question. Tokens go in and out through the
 * cipher here, so no caller ever handles a ciphertext or writes a plaintext. Only
 * ConnectionLifecycle writes through it (test seeding aside): it adds what goes with each change
 * (the lock, the event, the reconnect link).
 */
@Injectable()
export class ConnectionsRepository {
  private readonly aheadMs: number;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(refreshConfig.KEY) config: ConfigType<typeof refreshConfig>,
    private readonly cipher: TokenCipher,
  ) {
    this.aheadMs = config.aheadSeconds * 1000;
  }

  /**
   * Raw SQL and the same hydration as TypeORM's finds: `findOneBy` builds a query per call, and
   * on GET /tokens' cache miss that was twice the CPU of this (bench/README.md, issue 17).
   */
  async findOne(
    { account, product }: ConnectionKey,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<Connection | null> {
    const rows: Record<string, unknown>[] = await manager.query(BY_KEY, [account, product]);
    return rows.length ? this.hydrate(rows[0]) : null;
  }

  /** Key rotation's page: the stored tokens of up to `limit` connections after `after`, by key. */
  storedCiphertextsAfter(after: ConnectionKey, limit: number): Promise<StoredCiphertexts[]> {
    return this.dataSource.query(
      `SELECT account, product, access_token, refresh_token FROM connections
        WHERE (account, product) > ($1, $2) ORDER BY account, product LIMIT $3`,
      [after.account, after.product, limit],
    );
  }

  /**
   * Key rotation: `stored`'s tokens under the current key. 'current' when neither was under an
   * older key; 'skipped' when the row changed since it was read (a refresh has written under the
   * current key already: compare-and-set on both ciphertexts). Throws DecryptionError when a
   * token cannot be read with any configured key.
   */
  async reencrypt(stored: StoredCiphertexts): Promise<'reencrypted' | 'skipped' | 'current'> {
    const { cipher } = this;
    if (!cipher.isStale(stored.access_token) && !cipher.isStale(stored.refresh_token)) {
      return 'current';
    }
    const access = cipher.decrypt(stored.access_token, stored);
    const refresh = cipher.decrypt(stored.refresh_token, stored);
    const [, affected] = await this.dataSource.query(
      `UPDATE connections SET access_token = $3, refresh_token = $4
        WHERE account = $1 AND product = $2 AND access_token = $5 AND refresh_token = $6`,
      [
        stored.account,
        stored.product,
        cipher.encrypt(access, stored),
        cipher.encrypt(refresh, stored),
        stored.access_token,
        stored.refresh_token,
      ],
    );
    return affected === 1 ? 'reencrypted' : 'skipped';
  }

  /** One transaction on the main pool. */
  transaction<T>(fn: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(fn);
  }

  /**
   * The row, locked FOR NO KEY UPDATE until `manager`'s transaction ends: a compare-and-set of
   * the grant (TokenRefresher after a lost lease) sees no concurrent change in between.
   */
  async findOneLocked(
    { account, product }: ConnectionKey,
    manager: EntityManager,
  ): Promise<Connection | null> {
    // Raw SQL, as findOne: TypeORM's find builds a query per call.
    const rows: Record<string, unknown>[] = await manager.query(`${BY_KEY} FOR NO KEY UPDATE`, [
      account,
      product,
    ]);
    return rows.length ? this.hydrate(rows[0]) : null;
  }

  /** A raw `connections` row as the entity, the way TypeORM's own finds build it. */
  private hydrate(raw: Record<string, unknown>): Connection {
    const metadata = this.dataSource.getMetadata(Connection);
    const connection = metadata.create() as Connection;
    for (const column of metadata.columns)
      column.setEntityValue(
        connection,
        this.dataSource.driver.prepareHydratedValue(raw[column.databaseName], column),
      );
    return connection;
  }

  findForAccount(account: string): Promise<Connection[]> {
    return this.dataSource.manager.find(Connection, {
      where: { account },
      order: { product: 'ASC' },
    });
  }

  /** Keyset pagination in (account, product) order. */
  listPage({ product, status, limit, after }: ListFilter): Promise<Connection[]> {
    const query = this.dataSource.manager
      .createQueryBuilder(Connection, 'c')
      .orderBy('c.account', 'ASC')
      .addOrderBy('c.product', 'ASC')
      .limit(limit);
    if (product) query.andWhere('c.product = :product', { product });
    if (status) query.andWhere('c.status = :status', { status });
    if (after)
      query.andWhere('(c.account, c.product) > (:account, :afterProduct)', {
        account: after.account,
        afterProduct: after.product,
      });
    return query.getMany();
  }

  /** Sets this connection's `/proxy` budget (null = the default); null if there is no connection. */
  async setRateLimit(
    { account, product }: ConnectionKey,
    rateLimitPerMinute: number | null,
  ): Promise<Connection | null> {
    const [rows]: [Record<string, unknown>[], number] = await this.dataSource.manager.query(
      `UPDATE connections SET rate_limit_per_minute = $3, updated_at = now()
        WHERE account = $1 AND product = $2 RETURNING *`,
      [account, product, rateLimitPerMinute],
    );
    return rows.length ? this.hydrate(rows[0]) : null;
  }

  accessTokenOf(connection: Connection): string {
    return this.cipher.decrypt(connection.accessTokenCiphertext, connection);
  }

  refreshTokenOf(connection: Connection): string {
    return this.cipher.decrypt(connection.refreshTokenCiphertext, connection);
  }

  private nextRefreshAt(product: Product, expiresAt: Date): Date {
    return nextRefreshAt(product, expiresAt, this.aheadMs);
  }

  /** Stores a grant (new connect or import), replacing whatever the key held. True if new. */
  async saveConnected(
    manager: EntityManager,
    key: ConnectionKey,
    tokens: { accessToken: string; refreshToken: string; expiresAt: Date },
    label: string | null,
  ): Promise<boolean> {
    const rows: Array<{ created: boolean }> = await manager.query(
      `INSERT INTO connections AS c (account, product, status, access_token, refresh_token, expires_at,
                                     label, last_refreshed_at, next_refresh_at)
       VALUES ($1, $2, 'active', $3, $4, $5, $6, now(), $7)
       ON CONFLICT (account, product) DO UPDATE SET
         status = 'active', access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token,
         expires_at = EXCLUDED.expires_at, label = COALESCE(EXCLUDED.label, c.label),
         last_refreshed_at = now(), next_refresh_at = EXCLUDED.next_refresh_at, updated_at = now(),
         last_error = NULL, last_error_at = NULL, consecutive_failures = 0, claimed_until = NULL,
         refresh_started_at = NULL, rejected_at = NULL, held_at = NULL, report_refreshed_at = NULL
       RETURNING (xmax = 0) AS created`,
      [
        key.account,
        key.product,
        this.cipher.encrypt(tokens.accessToken, key),
        this.cipher.encrypt(tokens.refreshToken, key),
        tokens.expiresAt,
        label,
        this.nextRefreshAt(key.product, tokens.expiresAt),
      ],
    );
    return rows[0].created;
  }

  /**
   * Committed on its own, before the call to RD: if the process dies mid-call, the next refresher
   * finds the mark and knows RD may already have rotated the stored refresh token.
   */
  async markRefreshStarted(manager: EntityManager, key: ConnectionKey): Promise<void> {
    await manager.query(
      `UPDATE connections SET refresh_started_at = now() WHERE account = $1 AND product = $2`,
      [key.account, key.product],
    );
  }

  /** `byReport`: asked for by a report of a refused token (REFRESH_MIN_INTERVAL_SECONDS). */
  async saveRefreshed(
    manager: EntityManager,
    connection: Connection,
    tokens: TokenSet,
    byReport = false,
  ): Promise<void> {
    const expiresAt = new Date(Date.now() + tokens.expiresIn * 1000);
    await manager.query(
      `UPDATE connections SET status = 'active', access_token = $3, refresh_token = $4, expires_at = $5,
              next_refresh_at = $6, last_refreshed_at = now(), updated_at = now(), last_error = NULL,
              last_error_at = NULL, consecutive_failures = 0, claimed_until = NULL, refresh_started_at = NULL,
              rejected_at = NULL, held_at = NULL,
              report_refreshed_at = CASE WHEN $7 THEN now() ELSE report_refreshed_at END
        WHERE account = $1 AND product = $2`,
      [
        connection.account,
        connection.product,
        this.cipher.encrypt(tokens.accessToken, connection),
        // RD may send no new refresh token (Marketing): the one we hold stays valid then.
        tokens.refreshToken === null
          ? connection.refreshTokenCiphertext
          : this.cipher.encrypt(tokens.refreshToken, connection),
        expiresAt,
        this.nextRefreshAt(connection.product, expiresAt),
        byReport,
      ],
    );
  }

  /**
   * `uncertain`: the request may have reached RD (timeout, reset, 5xx), so RD may have rotated
   * the refresh token; the refresh_started_at mark is kept as evidence for the next attempt.
   */
  async saveTransientFailure(
    manager: EntityManager,
    key: ConnectionKey,
    failure: { error: string; retryAt: Date; uncertain: boolean },
  ): Promise<void> {
    await manager.query(
      `UPDATE connections SET status = 'refresh_failing', last_error = $3, last_error_at = now(),
              consecutive_failures = consecutive_failures + 1, next_refresh_at = $4, updated_at = now(),
              claimed_until = NULL, refresh_started_at = CASE WHEN $5 THEN refresh_started_at END
        WHERE account = $1 AND product = $2`,
      [key.account, key.product, failure.error, failure.retryAt, failure.uncertain],
    );
  }

  async saveReauthorizationRequired(
    manager: EntityManager,
    key: ConnectionKey,
    reason: string,
  ): Promise<void> {
    await manager.query(
      `UPDATE connections SET status = 'reauthorization_required', last_error = $3, last_error_at = now(),
              next_refresh_at = NULL, updated_at = now(), claimed_until = NULL, refresh_started_at = NULL,
              rejected_at = now(), held_at = NULL
        WHERE account = $1 AND product = $2`,
      [key.account, key.product, reason],
    );
  }

  /**
   * A rejection the blast-radius guard held: the grant is kept, `refresh_failing`, and retried at
   * the product's shared retry time. `rejected_at` keeps it counted by the guard.
   */
  async saveHeld(
    manager: EntityManager,
    key: ConnectionKey,
    held: { error: string; retryAt: Date },
  ): Promise<void> {
    await manager.query(
      `UPDATE connections SET status = 'refresh_failing', last_error = $3, last_error_at = now(),
              consecutive_failures = consecutive_failures + 1, next_refresh_at = $4, updated_at = now(),
              claimed_until = NULL, refresh_started_at = NULL, rejected_at = now(),
              held_at = COALESCE(held_at, now())
        WHERE account = $1 AND product = $2`,
      [key.account, key.product, held.error, held.retryAt],
    );
  }

  /**
   * An admin's retry of a condemned grant failed: the status stays. A new rejection replaces the
   * reason (`error`); an answer that is not one (null) leaves the row as it was, with the
   * refresh_started_at mark kept as evidence in case RD did rotate the token.
   */
  async saveRetryFailed(
    manager: EntityManager,
    key: ConnectionKey,
    error: string | null,
  ): Promise<void> {
    if (error === null) return;
    await manager.query(
      `UPDATE connections SET last_error = $3, last_error_at = now(), updated_at = now(),
              refresh_started_at = NULL
        WHERE account = $1 AND product = $2`,
      [key.account, key.product, error],
    );
  }

  /** Held connections of a product, for an admin's confirmation. */
  async findHeld(product: Product): Promise<ConnectionKey[]> {
    return this.dataSource.query(
      `SELECT account, product FROM connections
        WHERE product = $1 AND held_at IS NOT NULL AND status = 'refresh_failing'
        ORDER BY account`,
      [product],
    );
  }

  /** Condemns a connection still held (an admin confirmed the rejection): its reason, or null if it no longer is held. */
  async confirmHeld(manager: EntityManager, key: ConnectionKey): Promise<string | null> {
    const [rows]: [Array<{ last_error: string }>] = await manager.query(
      `UPDATE connections SET status = 'reauthorization_required',
              last_error = 'rejection confirmed by an admin: ' || COALESCE(last_error, ''),
              last_error_at = now(), next_refresh_at = NULL, updated_at = now(), claimed_until = NULL,
              held_at = NULL
        WHERE account = $1 AND product = $2 AND held_at IS NOT NULL AND status = 'refresh_failing'
        RETURNING last_error`,
      [key.account, key.product],
    );
    return rows.length === 0 ? null : rows[0].last_error;
  }

  /** Condemned grants of a product rejected within [since, until], oldest first. */
  async findRejected(
    product: Product,
    since: Date,
    until: Date,
    limit: number,
  ): Promise<ConnectionKey[]> {
    return this.dataSource.query(
      `SELECT account, product FROM connections
        WHERE product = $1 AND status = 'reauthorization_required'
          AND COALESCE(rejected_at, last_error_at) BETWEEN $2 AND $3
        ORDER BY COALESCE(rejected_at, last_error_at), account
        LIMIT $4`,
      [product, since, until, limit],
    );
  }

  /** Frees a scheduler claim that turned out to need no refresh. */
  async releaseClaim(key: ConnectionKey): Promise<void> {
    await this.dataSource.query(
      `UPDATE connections SET claimed_until = NULL WHERE account = $1 AND product = $2`,
      [key.account, key.product],
    );
  }

  async delete(manager: EntityManager, key: ConnectionKey): Promise<boolean> {
    const [, affected] = await manager.query(
      `DELETE FROM connections WHERE account = $1 AND product = $2`,
      [key.account, key.product],
    );
    return affected > 0;
  }

  /** The scheduler's due queue (claim-due.sql.ts): leases up to `limit` due connections. */
  async claimDueForRefresh(limit: number, leaseSeconds: number): Promise<ConnectionKey[]> {
    // TypeORM answers an UPDATE with [rows, rowCount].
    const [rows]: [ConnectionKey[]] = await this.dataSource.query(CLAIM_DUE_SQL, [
      limit,
      leaseSeconds,
    ]);
    return rows;
  }
}
