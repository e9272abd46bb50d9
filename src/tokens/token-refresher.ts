import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Semaphore } from 'async-mutex';
import { DataSource, type QueryRunner } from 'typeorm';
import { NotConnectedError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { EventsOutbox } from '../events/events.outbox';
import { RdStationClient } from '../rdstation/rdstation.client';
import { RdStationError } from '../rdstation/rdstation.errors';
import type { Connection } from './connection.entity';
import { TokenCache } from './token-cache';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { ConnectionsRepository, type ConnectionKey } from './connections.repository';

/** Why a refresh is asked for; decides, under the lock, whether it is still needed. */
export type RefreshTrigger =
  | { kind: 'read'; minValiditySeconds: number }
  | { kind: 'due' }
  | { kind: 'forced'; requestedAt: Date };

export type RefreshOutcome =
  | 'refreshed'
  | 'not_needed' // someone else refreshed meanwhile, or nothing was due
  | 'backing_off' // refresh_failing and its next attempt is not due yet
  | 'busy' // another replica held the connection longer than the lock wait
  | 'transient_failure'
  | 'permanent_failure';

export interface RefreshResult {
  outcome: RefreshOutcome;
  /** The row as committed when the refresh ended. */
  connection: Connection;
}

const BACKOFF_BASE_SECONDS = 2;
const BACKOFF_CAP_SECONDS = 300;

/** Exponential backoff with jitter (50-100% of the step), capped, never before RD's Retry-After. */
export function backoffSeconds(
  failures: number,
  retryAfter: number | null,
  random = Math.random,
): number {
  const step = Math.min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** Math.max(0, failures - 1));
  return Math.max(Math.ceil(step * (0.5 + random() / 2)), retryAfter ?? 0);
}

const LOCK_NOT_AVAILABLE = '55P03';

function lockId({ product, account }: ConnectionKey): string {
  return `${product}:${account}`;
}

const OUTCOME_LABELS: Partial<Record<RefreshOutcome, string>> = {
  refreshed: 'ok',
  transient_failure: 'transient',
  permanent_failure: 'permanent',
};

/**
 * The refresh algorithm, single-flight at two levels. RD's CRM rotates refresh tokens: two
 * concurrent refreshes of one connection kill it, so:
 *
 *  1. In this process, concurrent callers for one connection share one promise.
 *  2. Across replicas, a PostgreSQL session advisory lock keyed by the connection. Waiters block
 *     on it (up to `lockWaitMs`, longer than the RD timeout) and then re-read the row: if the
 *     holder refreshed meanwhile they use its result and never call RD.
 *  3. The RD call holds no transaction open. Just before it, `refresh_started_at` is committed,
 *     so a crash mid-call is visible to the next refresher; the RD timeout bounds the call.
 *  4. The outcome (new tokens, or the failure and its backoff, plus the event) is committed in
 *     one transaction BEFORE the lock is released, so the next holder reads the live token.
 *
 * If the process dies between RD rotating the token and step 4, the new refresh token is lost:
 * the one unavoidable window. The next refresher then gets `invalid_grant`, sees the mark of step
 * 3, and sets `reauthorization_required` saying so, instead of retrying a dead token.
 */
@Injectable()
export class TokenRefresher {
  private readonly logger = new Logger(TokenRefresher.name);
  private readonly inFlight = new Map<string, Promise<RefreshResult>>();
  /** REFRESH_CONCURRENCY: scheduled and forced refresh calls to RD in flight in this replica. */
  private readonly rdSlots: Semaphore;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly connections: ConnectionsRepository,
    private readonly rd: RdStationClient,
    private readonly events: EventsOutbox,
    private readonly cache: TokenCache,
    private readonly metrics: BrokerMetrics,
  ) {
    this.rdSlots = new Semaphore(config.refresh.concurrency);
  }

  refresh(key: ConnectionKey, trigger: RefreshTrigger): Promise<RefreshResult> {
    const id = lockId(key);
    let pending = this.inFlight.get(id);
    if (!pending) {
      pending = this.refreshUnderLock(key, trigger).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  /**
   * Runs `work` holding this connection's cross-replica lock (step 2). Every write to a
   * connection's grant goes through here (refresh, reconnect, import, delete), so they never
   * interleave; `onBusy` answers when the lock wait times out.
   */
  async withLock<T>(
    key: ConnectionKey,
    work: (session: QueryRunner) => Promise<T>,
    onBusy: () => Promise<T>,
  ): Promise<T> {
    const session = this.dataSource.createQueryRunner();
    await session.connect();
    let locked = false;
    let unlockFailed: Error | undefined;
    try {
      // Every pooled session has lock_timeout = RD_TIMEOUT_MS + 5 s (data-source-options.ts):
      // a holder is never slower than that, so a longer wait means something is wrong.
      try {
        await session.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockId(key)]);
        locked = true;
      } catch (error) {
        if ((error as { driverError?: { code?: string } }).driverError?.code !== LOCK_NOT_AVAILABLE)
          throw error;
        return await onBusy();
      }
      return await work(session);
    } finally {
      if (locked) {
        this.cache.invalidate(key); // whatever `work` changed is visible to this replica's readers at once
        await session
          .query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockId(key)])
          .catch((error: Error) => (unlockFailed = error));
      }
      // A session that could not unlock must not go back to the pool still holding the lock.
      await (
        session as QueryRunner & { releasePostgresConnection(err?: Error): Promise<void> }
      ).releasePostgresConnection(unlockFailed);
    }
  }

  private refreshUnderLock(key: ConnectionKey, trigger: RefreshTrigger): Promise<RefreshResult> {
    return this.withLock(
      key,
      async (session) => {
        const connection = await this.current(key, session);
        const skip = this.skipReason(connection, trigger);
        if (skip) return { outcome: skip, connection };
        return this.callRdAndCommit(session, connection, trigger);
      },
      async () => ({ outcome: 'busy', connection: await this.current(key) }),
    );
  }

  private async current(key: ConnectionKey, session?: QueryRunner): Promise<Connection> {
    const connection = await this.connections.findOne(key, session?.manager);
    if (!connection) throw new NotConnectedError(key.account, key.product);
    return connection;
  }

  private skipReason(connection: Connection, trigger: RefreshTrigger): RefreshOutcome | null {
    // RD is not called again for a rejected grant until a new connect or import.
    if (connection.status === 'reauthorization_required') return 'not_needed';
    const now = Date.now();
    switch (trigger.kind) {
      case 'read':
        if (connection.expiresAt.getTime() - now >= trigger.minValiditySeconds * 1000)
          return 'not_needed';
        break;
      case 'due':
        if (!connection.nextRefreshAt || connection.nextRefreshAt.getTime() > now)
          return 'not_needed';
        break;
      case 'forced':
        // An admin's "refresh now" is satisfied by any refresh committed after the request.
        if (connection.lastRefreshedAt && connection.lastRefreshedAt >= trigger.requestedAt)
          return 'not_needed';
        return null;
    }
    const backingOff =
      connection.status === 'refresh_failing' &&
      connection.nextRefreshAt &&
      connection.nextRefreshAt.getTime() > now;
    return backingOff ? 'backing_off' : null;
  }

  private async callRdAndCommit(
    session: QueryRunner,
    connection: Connection,
    trigger: RefreshTrigger,
  ): Promise<RefreshResult> {
    const interrupted = connection.refreshStartedAt !== null;
    const refreshToken = this.connections.refreshTokenOf(connection);
    await this.connections.markRefreshStarted(session.manager, connection);

    let outcome: RefreshOutcome;
    try {
      const call = () => this.rd.refresh(connection.product, refreshToken);
      // A caller waiting on a read never queues behind the scheduler's REFRESH_CONCURRENCY slots.
      const tokens = trigger.kind === 'read' ? await call() : await this.rdSlots.runExclusive(call);
      outcome = 'refreshed';
      await session.manager.transaction(async (tx) => {
        await this.connections.saveRefreshed(tx, connection, tokens);
        if (connection.status === 'refresh_failing') {
          await this.events.record(
            tx,
            'connection.recovered',
            connection.account,
            connection.product,
            {
              failuresBefore: connection.consecutiveFailures,
            },
          );
        }
      });
    } catch (error) {
      if (!(error instanceof RdStationError)) throw error;
      // Rejected client credentials condemn the app's configuration, not this grant: keep the
      // grant and retry with backoff, so fixing the secret brings every connection back.
      const grantRejected = error.kind === 'permanent' && !error.clientCredentialsRejected;
      if (error.clientCredentialsRejected) {
        this.logger.error(
          { product: connection.product, errorCode: error.code },
          `RD rejected the client credentials of the ${connection.product} app: check RD_${connection.product.toUpperCase()}_CLIENT_ID/SECRET`,
        );
      }
      outcome = grantRejected ? 'permanent_failure' : 'transient_failure';
      await session.manager.transaction((tx) =>
        grantRejected
          ? this.commitPermanentFailure(tx, connection, error, interrupted)
          : this.commitTransientFailure(tx, connection, error),
      );
    }
    this.metrics.refreshes.inc({ product: connection.product, outcome: OUTCOME_LABELS[outcome] });
    return { outcome, connection: await this.current(connection, session) };
  }

  private async commitPermanentFailure(
    tx: QueryRunner['manager'],
    connection: Connection,
    error: RdStationError,
    interrupted: boolean,
  ): Promise<void> {
    // The mark of an unanswered earlier attempt is the likely cause, not a certain one (the user
    // may also have revoked access): say both.
    const reason =
      `RD rejected the refresh token (${error.code}): ${error.message}` +
      (interrupted
        ? `; an earlier refresh ended without an answer (process crash, timeout or lost response), ` +
          `so RD most likely rotated the token then and the new one never reached the broker`
        : '') +
      '; reconnect the account';
    this.logger.warn(
      { account: connection.account, product: connection.product, errorCode: error.code },
      'refresh token rejected; reauthorization required',
    );
    await this.connections.saveReauthorizationRequired(tx, connection, reason);
    await this.events.record(
      tx,
      'connection.reauthorization_required',
      connection.account,
      connection.product,
      {
        reason,
      },
    );
  }

  private async commitTransientFailure(
    tx: QueryRunner['manager'],
    connection: Connection,
    error: RdStationError,
  ): Promise<void> {
    const failures = connection.consecutiveFailures + 1;
    const retryAt = new Date(Date.now() + backoffSeconds(failures, error.retryAfterSeconds) * 1000);
    const message = `RD refresh failed (${error.code}): ${error.message}`;
    this.logger.warn(
      { account: connection.account, product: connection.product, errorCode: error.code, failures },
      'refresh failed; backing off',
    );
    // No status: the request may have reached RD (timeout, reset); 5xx: RD may have processed it.
    const uncertain = error.status === null || error.status >= 500;
    await this.connections.saveTransientFailure(tx, connection, {
      error: message,
      retryAt,
      uncertain,
    });
    if (connection.status === 'active') {
      await this.events.record(
        tx,
        'connection.refresh_failed',
        connection.account,
        connection.product,
        {
          error: message,
          retryAt: retryAt.toISOString(),
        },
      );
    }
  }
}
