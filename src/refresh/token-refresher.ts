import { Inject, Injectable, Logger } from '@nestjs/common';
import { Semaphore } from 'async-mutex';
import type { QueryRunner } from 'typeorm';
import { connectionId, type ConnectionKey } from '../common/connection-key';
import { NotConnectedError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { Connection } from '../connections/connection.entity';
import { ConnectionsRepository } from '../connections/connections.repository';
import { EventsOutbox } from '../events/events.outbox';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { ReconnectLinks } from '../oauth/reconnect-links';
import { RdStationClient } from '../rdstation/rdstation.client';
import { RdStationError } from '../rdstation/rdstation.errors';
import { CondemnGuard } from './condemn-guard';
import { ConnectionLock, type UnlockWithin } from './connection-lock';
import {
  accessTokenHash,
  backoffSeconds,
  failureBackoffBaseSeconds,
  skipReason,
  type RefreshOutcome,
  type RefreshTrigger,
} from './refresh-policy';

export interface RefreshResult {
  outcome: RefreshOutcome;
  /** The row as committed when the refresh ended. */
  connection: Connection;
  /** What RD answered, when the call to RD failed. */
  error?: RdStationError;
}

/** How the history names what asked for a refresh. */
const TRIGGER_NAMES: Record<RefreshTrigger['kind'], string> = {
  due: 'scheduled',
  read: 'on_read',
  forced: 'forced',
  rejected: 'rejected_by_rd',
};

/** broker_refreshes_total's outcome label of each kind of RD failure. */
const FAILURE_LABELS: Record<RdStationError['kind'], string> = {
  transient: 'transient',
  suspect: 'suspect',
  client_rejected: 'client_rejected',
  grant_rejected: 'permanent',
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
 *     one transaction, and no later holder can read the row as it was before it: see below.
 *
 * Four transactions per refresh: (1) take the lock, (2) read the row, (3) commit the mark, call
 * RD, (4) the outcome, which also re-reads the row and releases the lock before its COMMIT.
 * Each of the first three must be its own: under READ COMMITTED a statement's snapshot is taken
 * when it starts, so a read in the lock's statement could predate a holder it waited for; the
 * mark must be durable before RD is called. Releasing the lock inside (4) keeps guarantee 4:
 *  - (4) holds the connection row's lock when it unlocks: it UPDATEs the row, and its re-read is
 *    `findOneLocked` (FOR NO KEY UPDATE), which locks the row even on the one path that writes
 *    nothing to it (a failed admin retry that is no rejection).
 *  - Every read under the lock is `findOneLocked` (here and in the delete), and every write
 *    under it is an UPDATE or upsert of the row: each waits for (4)'s row lock to end, and then
 *    reads or changes the newest committed version (READ COMMITTED re-checks a row that changed
 *    while it waited). So the next holder sees (4)'s outcome once it commits, or, if (4) rolls
 *    back or the process dies before COMMIT, the row with the mark of (3): the same as a crash
 *    before (4) in the old order, which the mark already covers.
 *  - Reads outside the lock (GET /tokens, the cache) never decide anything about the grant.
 * This process's cache is invalidated after (4) commits (connection-lock.ts).
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
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly lock: ConnectionLock,
    private readonly connections: ConnectionsRepository,
    private readonly rd: RdStationClient,
    private readonly events: EventsOutbox,
    private readonly metrics: BrokerMetrics,
    private readonly guard: CondemnGuard,
    private readonly reconnectLinks: ReconnectLinks,
  ) {
    this.rdSlots = new Semaphore(config.refresh.concurrency);
  }

  refresh(key: ConnectionKey, trigger: RefreshTrigger): Promise<RefreshResult> {
    const id = connectionId(key);
    let pending = this.inFlight.get(id);
    if (!pending) {
      pending = this.refreshUnderLock(key, trigger).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  private refreshUnderLock(key: ConnectionKey, trigger: RefreshTrigger): Promise<RefreshResult> {
    return this.lock.withLock<RefreshResult>(
      key,
      async (session, unlockWithin) => {
        const connection = await this.locked(key, session.manager);
        // Only the token that was refused is replaced: a report about an older one is stale.
        const stale =
          trigger.kind === 'rejected' &&
          connection.status !== 'reauthorization_required' &&
          accessTokenHash(this.connections.accessTokenOf(connection)) !== trigger.tokenHash;
        const skip = stale ? 'not_needed' : skipReason(connection, trigger);
        if (skip) return { outcome: skip, connection };
        return this.callRdAndCommit(session, unlockWithin, connection, trigger);
      },
      async () => ({ outcome: 'busy', connection: await this.current(key) }),
    );
  }

  private async current(key: ConnectionKey): Promise<Connection> {
    return this.found(key, await this.connections.findOne(key));
  }

  /** The row as the lock's holder reads it: never older than the last holder's outcome. */
  private async locked(key: ConnectionKey, manager: QueryRunner['manager']) {
    return this.found(key, await this.connections.findOneLocked(key, manager));
  }

  private found(key: ConnectionKey, connection: Connection | null): Connection {
    if (!connection) throw new NotConnectedError(key.account, key.product);
    return connection;
  }

  /** The outcome transaction's end: its row, read back, then the lock released before COMMIT. */
  private async settle(
    tx: QueryRunner['manager'],
    unlockWithin: UnlockWithin,
    key: ConnectionKey,
  ): Promise<Connection> {
    const committed = await this.locked(key, tx);
    await unlockWithin(tx);
    return committed;
  }

  private async callRdAndCommit(
    session: QueryRunner,
    unlockWithin: UnlockWithin,
    connection: Connection,
    trigger: RefreshTrigger,
  ): Promise<RefreshResult> {
    const interrupted = connection.refreshStartedAt !== null;
    const refreshToken = this.connections.refreshTokenOf(connection);
    await this.connections.markRefreshStarted(session.manager, connection);

    let outcome: RefreshOutcome;
    let failure: RdStationError | undefined;
    let committed: Connection;
    try {
      const call = () => this.rd.refresh(connection.product, refreshToken);
      // A caller waiting on a read never queues behind the scheduler's REFRESH_CONCURRENCY slots.
      const waited = trigger.kind === 'read' || trigger.kind === 'rejected';
      const tokens = waited ? await call() : await this.rdSlots.runExclusive(call);
      outcome = 'refreshed';
      committed = await session.manager.transaction(async (tx) => {
        await this.connections.saveRefreshed(tx, connection, tokens, trigger.kind === 'rejected');
        // RD accepts this product's refresh tokens: its refreshes no longer wait together.
        await this.guard.release(tx, connection.product);
        await this.events.record(tx, 'connection.refreshed', connection, {
          trigger: TRIGGER_NAMES[trigger.kind],
        });
        if (connection.status !== 'active') {
          await this.events.record(tx, 'connection.recovered', connection, {
            failuresBefore: connection.consecutiveFailures,
            from: connection.status,
          });
        }
        return this.settle(tx, unlockWithin, connection);
      });
      this.metrics.refreshes.inc({ product: connection.product, outcome: 'ok' });
    } catch (error) {
      if (!(error instanceof RdStationError)) throw error;
      failure = error;
      this.reportLoudly(connection, error);
      [outcome, committed] = await session.manager.transaction(async (tx) => [
        await this.commitFailure(tx, connection, error, interrupted),
        await this.settle(tx, unlockWithin, connection),
      ]);
      this.metrics.refreshes.inc({
        product: connection.product,
        outcome: outcome === 'held' ? 'held' : FAILURE_LABELS[error.kind],
      });
    }
    return { outcome, connection: committed, error: failure };
  }

  /**
   * Records a failed refresh. Only an answer that names the grant (`grant_rejected`, decided in
   * rdstation.errors.ts) may condemn it, and only while the blast-radius guard allows; rejected
   * client credentials, unknown shapes and outages keep the grant and retry with backoff. A
   * condemned grant an admin retried stays condemned whatever RD answers, unless RD accepts it.
   */
  private async commitFailure(
    tx: QueryRunner['manager'],
    connection: Connection,
    error: RdStationError,
    interrupted: boolean,
  ): Promise<RefreshOutcome> {
    if (connection.status === 'reauthorization_required') {
      await this.connections.saveRetryFailed(
        tx,
        connection,
        error.kind === 'grant_rejected'
          ? `RD rejected the stored refresh token again on an admin retry (${error.code}): ${error.message}`
          : null,
      );
      return error.kind === 'grant_rejected' ? 'permanent_failure' : 'transient_failure';
    }
    if (error.kind !== 'grant_rejected') {
      await this.commitTransientFailure(tx, connection, error);
      return 'transient_failure';
    }
    const decision = await this.guard.decide(tx, connection);
    if (decision.verdict === 'condemn') {
      await this.commitPermanentFailure(tx, connection, error, interrupted);
      return 'permanent_failure';
    }
    const message = `${decision.message} (RD answered ${error.code}: ${error.message})`;
    this.logger.error(
      {
        account: connection.account,
        product: connection.product,
        errorCode: error.code,
        rejectedInWindow: decision.rejectedInWindow,
        retryAt: decision.retryAt.toISOString(),
      },
      `RD rejected more ${connection.product} grants than REFRESH_CONDEMN_GUARD_MAX within the window: rejection held, grant kept; confirm with POST /connections/held/confirm if it is real`,
    );
    await this.connections.saveHeld(tx, connection, { error: message, retryAt: decision.retryAt });
    // Held rejections are history every time; the webhook hears of the first failure only.
    await this.events.record(
      tx,
      'connection.refresh_failed',
      connection,
      { error: message, retryAt: decision.retryAt.toISOString(), held: true },
      { notify: connection.status === 'active' },
    );
    if (decision.started) {
      await this.events.record(tx, 'product.refresh_held', connection, {
        rejectedInWindow: decision.rejectedInWindow,
        windowSeconds: this.guard.windowSeconds,
        retryAt: decision.retryAt.toISOString(),
        message: decision.message,
      });
    }
    this.metrics.refreshesHeld.inc({ product: connection.product });
    return 'held';
  }

  /** Operator-facing problems get an error line of their own, never only a warning. */
  private reportLoudly(connection: Connection, error: RdStationError): void {
    const who = { product: connection.product, account: connection.account };
    if (error.kind === 'client_rejected') {
      this.logger.error(
        { ...who, errorCode: error.code, status: error.status },
        `RD rejected the client credentials of the ${connection.product} app: check RD_${connection.product.toUpperCase()}_CLIENT_ID/SECRET; the grant is kept`,
      );
    } else if (error.kind === 'suspect') {
      this.metrics.rdUnknownShapes.inc({
        product: connection.product,
        status: String(error.status ?? 'none'),
      });
      this.logger.error(
        { ...who, status: error.status, body: error.bodyExcerpt },
        'RD answered a refresh in an unknown shape: the grant is kept and retried with backoff; if this persists, check the RD app and RD status',
      );
    }
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
    await this.reconnectLinks.mint(tx, connection);
    await this.events.record(tx, 'connection.reauthorization_required', connection, { reason });
  }

  private async commitTransientFailure(
    tx: QueryRunner['manager'],
    connection: Connection,
    error: RdStationError,
  ): Promise<void> {
    const failures = connection.consecutiveFailures + 1;
    const retryAt = new Date(
      Date.now() +
        backoffSeconds(failures, {
          baseSeconds: failureBackoffBaseSeconds(error.kind),
          retryAfter: error.retryAfterSeconds,
        }) *
          1000,
    );
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
    // Every failure is history; the webhook hears of the first one only.
    await this.events.record(
      tx,
      'connection.refresh_failed',
      connection,
      { error: message, retryAt: retryAt.toISOString(), failures },
      { notify: connection.status === 'active' },
    );
  }
}
