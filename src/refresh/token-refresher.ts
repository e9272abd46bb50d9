import { Inject, Injectable, Logger } from '@nestjs/common';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { Semaphore } from 'async-mutex';
import type { EntityManager } from 'typeorm';
import { connectionId, type ConnectionKey } from '../common/connection-key';
import { backoffSeconds } from '../common/backoff';
import { NotConnectedError } from '../common/errors';
import { APP_CONFIG, type AppConfig } from '../config/config';
import type { Connection } from '../connections/connection.entity';
import { ConnectionsRepository } from '../connections/connections.repository';
import { EventsOutbox } from '../events/events.outbox';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { RdStationClient, type TokenSet } from '../rdstation/rdstation.client';
import { RdStationError } from '../rdstation/rdstation.errors';
import { accessTokenHash } from '../tokens/access-token-hash';
import { CondemnGuard } from './condemn-guard';
import { ConnectionLock, LeaseLostError, type Lease } from './connection-lock';
import {
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
/**
 * The `token refresh` span (README, "Tracing"): the lock wait, the call to RD (its own child span,
 * sending RD the `traceparent`) and the commit. Without tracing this is OpenTelemetry API's no-op.
 */
const tracer = trace.getTracer('rdstation-token-broker');

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
 *  2. Across replicas, the connection's lease (connection-lock.ts: a row, not a session lock, so
 *     it holds behind a transaction pooler). Waiters poll for it (up to longer than the RD
 *     timeout) and then read the row: if the holder refreshed meanwhile they use its result and
 *     never call RD.
 *  3. The RD call holds no transaction open. Just before it, `refresh_started_at` is committed in
 *     a transaction that proves the lease is still held, so a crash mid-call is visible to the
 *     next refresher and RD is never called by a holder that lost its lease.
 *  4. The outcome (new tokens, or the failure and its backoff, plus the event) is committed in
 *     one transaction that proves the lease again and ends it in the same commit: the next
 *     holder takes the lease only after that commit, so it reads the outcome.
 *
 * Four transactions per refresh: (1) take the lease, (2) read the row, (3) commit the mark, call
 * RD, (4) the outcome, which releases the lease.
 *
 * If the lease was lost while RD answered (a holder cut off from the database for longer than
 * the lease), new tokens are still stored when the row still holds the refresh token that was
 * sent: RD rotated it, the new one is the only live one. A failure is then not recorded.
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
  ) {
    this.rdSlots = new Semaphore(config.refresh.concurrency);
  }

  refresh(key: ConnectionKey, trigger: RefreshTrigger): Promise<RefreshResult> {
    const id = connectionId(key);
    let pending = this.inFlight.get(id);
    if (!pending) {
      pending = this.traced(key, trigger).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  private traced(key: ConnectionKey, trigger: RefreshTrigger): Promise<RefreshResult> {
    const attributes = {
      'broker.product': key.product,
      'broker.account': key.account,
      'broker.refresh.trigger': TRIGGER_NAMES[trigger.kind],
    };
    return tracer.startActiveSpan('token refresh', { attributes }, async (span) => {
      try {
        const result = await this.refreshUnderLock(key, trigger);
        span.setAttribute('broker.refresh.outcome', result.outcome);
        if (result.error) span.setAttribute('broker.refresh.rd_error', result.error.code);
        return result;
      } catch (error) {
        // The class only: a message may quote what RD answered.
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).name });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  private refreshUnderLock(key: ConnectionKey, trigger: RefreshTrigger): Promise<RefreshResult> {
    const busy = async (): Promise<RefreshResult> => ({
      outcome: 'busy',
      connection: await this.current(key),
    });
    return this.lock
      .withLock<RefreshResult>(
        key,
        async (lease) => {
          const connection = await lease.transaction(async (tx) =>
            this.found(key, await this.connections.findOne(key, tx)),
          );
          // Only the token that was refused is replaced: a report about an older one is stale.
          const stale =
            trigger.kind === 'rejected' &&
            connection.status !== 'reauthorization_required' &&
            accessTokenHash(this.connections.accessTokenOf(connection)) !== trigger.tokenHash;
          const skip = stale ? 'not_needed' : skipReason(connection, trigger);
          if (skip) return { outcome: skip, connection };
          return this.callRdAndCommit(lease, connection, trigger);
        },
        busy,
      )
      .catch((error: unknown) => {
        if (error instanceof LeaseLostError) return busy();
        throw error;
      });
  }

  private async current(key: ConnectionKey): Promise<Connection> {
    return this.found(key, await this.connections.findOne(key));
  }

  private found(key: ConnectionKey, connection: Connection | null): Connection {
    if (!connection) throw new NotConnectedError(key.account, key.product);
    return connection;
  }

  /** The outcome's last read: the row as this transaction leaves it. */
  private async settle(tx: EntityManager, key: ConnectionKey): Promise<Connection> {
    return this.found(key, await this.connections.findOne(key, tx));
  }

  /** Stores new tokens and what goes with them; returns the row as committed. */
  private async commitRefreshed(
    tx: EntityManager,
    connection: Connection,
    tokens: TokenSet,
    trigger: RefreshTrigger,
  ): Promise<Connection> {
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
    return this.settle(tx, connection);
  }

  /**
   * The lease was lost while RD answered: the rotated token is still stored when nobody changed
   * the grant meanwhile (the row still holds the refresh token that was sent), never otherwise.
   */
  private async commitRefreshedAfterLoss(
    connection: Connection,
    tokens: TokenSet,
    trigger: RefreshTrigger,
  ): Promise<Connection> {
    this.logger.error(
      { account: connection.account, product: connection.product },
      'the refresh lease was lost during the call to RD (database unreachable for longer than the lease); storing the new tokens only if the grant is unchanged',
    );
    return this.connections.transaction(async (tx) => {
      const now = await this.connections.findOneLocked(connection, tx);
      if (now && now.refreshTokenCiphertext === connection.refreshTokenCiphertext)
        return this.commitRefreshed(tx, connection, tokens, trigger);
      return this.found(connection, now);
    });
  }

  private async callRdAndCommit(
    lease: Lease,
    connection: Connection,
    trigger: RefreshTrigger,
  ): Promise<RefreshResult> {
    const interrupted = connection.refreshStartedAt !== null;
    const refreshToken = this.connections.refreshTokenOf(connection);
    // Proves the lease: RD is never called by a holder that lost it.
    await lease.transaction((tx) => this.connections.markRefreshStarted(tx, connection));

    let outcome: RefreshOutcome;
    let failure: RdStationError | undefined;
    let committed: Connection;
    try {
      const call = () => this.rd.refresh(connection.product, refreshToken);
      // A caller waiting on a read never queues behind the scheduler's REFRESH_CONCURRENCY slots.
      const waited = trigger.kind === 'read' || trigger.kind === 'rejected';
      const tokens = waited ? await call() : await this.rdSlots.runExclusive(call);
      outcome = 'refreshed';
      committed = await lease
        .transaction((tx) => this.commitRefreshed(tx, connection, tokens, trigger), {
          release: true,
        })
        .catch((error: unknown) => {
          if (!(error instanceof LeaseLostError)) throw error;
          return this.commitRefreshedAfterLoss(connection, tokens, trigger);
        });
      this.metrics.refreshes.inc({ product: connection.product, outcome: 'ok' });
    } catch (error) {
      if (!(error instanceof RdStationError)) throw error;
      failure = error;
      this.reportLoudly(connection, error);
      [outcome, committed] = await lease.transaction(
        async (tx) => [
          await this.commitFailure(tx, connection, error, interrupted),
          await this.settle(tx, connection),
        ],
        { release: true },
      );
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
    tx: EntityManager,
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
    tx: EntityManager,
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
    await this.events.record(tx, 'connection.reauthorization_required', connection, { reason });
  }

  private async commitTransientFailure(
    tx: EntityManager,
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
