import { Inject, Injectable, Logger } from '@nestjs/common';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { Semaphore } from 'async-mutex';
import { connectionId, type ConnectionKey } from '../common/connection-key';
import { NotConnectedError } from '../common/errors';
import type { ConfigType } from '@nestjs/config';
import { refreshConfig } from '../config/slices';
import { accessTokenHash } from './access-token-hash';
import type { Connection } from '../database/connection.entity';
import { ConnectionLifecycle } from './connection-lifecycle';
import { ConnectionsRepository } from './connections.repository';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { RdStationClient, type TokenSet } from '../rdstation/rdstation.client';
import { RdStationError } from '../rdstation/rdstation.errors';
import { LeaseLostError, type Lease } from '../refresh/connection-lock';
import { skipReason, type RefreshOutcome, type RefreshTrigger } from '../refresh/refresh-policy';

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

/**
 * The `token refresh` span (README, "Tracing"): the lock wait, the call to RD (its own child span,
 * sending RD the `traceparent`) and the commit. Without tracing this is OpenTelemetry API's no-op.
 */
const tracer = trace.getTracer('rdstation-token-broker');

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
 *  2. Across replicas, the connection's lease (refresh/connection-lock.ts: a row, not a session lock, so
 *     it holds behind a transaction pooler). Waiters poll for it (up to longer than the RD
 *     timeout) and then read the row: if the holder refreshed meanwhile they use its result and
 *     never call RD.
 *  3. The RD call holds no transaction open. Just before it, `refresh_started_at` is committed in
 *     a transaction that proves the lease is still held, so a crash mid-call is visible to the
 *     next refresher and RD is never called by a holder that lost its lease.
 *  4. The outcome (new tokens, or the failure and its backoff, plus the event) is committed by
 *     ConnectionLifecycle in one transaction that proves the lease again and ends it in the same
 *     commit: the next holder takes the lease only after that commit, so it reads the outcome.
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
    @Inject(refreshConfig.KEY) config: ConfigType<typeof refreshConfig>,
    private readonly lifecycle: ConnectionLifecycle,
    private readonly connections: ConnectionsRepository,
    private readonly rd: RdStationClient,
    private readonly metrics: BrokerMetrics,
  ) {
    this.rdSlots = new Semaphore(config.concurrency);
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
    return this.lifecycle
      .underLock<RefreshResult>(
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

  private async callRdAndCommit(
    lease: Lease,
    connection: Connection,
    trigger: RefreshTrigger,
  ): Promise<RefreshResult> {
    const interrupted = connection.refreshStartedAt !== null;
    const refreshToken = this.connections.refreshTokenOf(connection);
    // Proves the lease: RD is never called by a holder that lost it.
    await this.lifecycle.markRefreshStarted(lease, connection);

    let tokens: TokenSet;
    try {
      const call = () => this.rd.refresh(connection.product, refreshToken);
      // A caller waiting on a read never queues behind the scheduler's REFRESH_CONCURRENCY slots.
      const waited = trigger.kind === 'read' || trigger.kind === 'rejected';
      tokens = waited ? await call() : await this.rdSlots.runExclusive(call);
    } catch (error) {
      if (!(error instanceof RdStationError)) throw error;
      this.reportLoudly(connection, error);
      const failed = await this.lifecycle.recordFailure(lease, connection, error, interrupted);
      this.metrics.refreshes.inc({
        product: connection.product,
        outcome: failed.outcome === 'held' ? 'held' : FAILURE_LABELS[error.kind],
      });
      if (failed.outcome === 'held')
        this.metrics.refreshesHeld.inc({ product: connection.product });
      return { ...failed, error };
    }
    const committed = await this.lifecycle.recordRefresh(lease, connection, tokens, {
      trigger: TRIGGER_NAMES[trigger.kind],
      byReport: trigger.kind === 'rejected',
    });
    this.metrics.refreshes.inc({ product: connection.product, outcome: 'ok' });
    return { outcome: 'refreshed', connection: committed };
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
}
