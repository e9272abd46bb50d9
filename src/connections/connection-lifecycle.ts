import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { backoffSeconds } from '../common/backoff';
import type { ConnectionKey } from '../common/connection-key';
import { NotConnectedError } from '../common/errors';
import type { Product } from '../config/config';
import { EventsOutbox } from '../events/events.outbox';
import { ReconnectLinks } from '../links/reconnect-links';
import type { TokenSet } from '../rdstation/rdstation.client';
import type { RdStationError } from '../rdstation/rdstation.errors';
import { CondemnGuard } from '../refresh/condemn-guard';
import { ConnectionLock, LeaseLostError, type Lease } from '../refresh/connection-lock';
import { failureBackoffBaseSeconds, type RefreshOutcome } from '../refresh/refresh-policy';
import type { Connection } from '../database/connection.entity';
import { DecryptionError } from '../crypto/token-cipher';
import { ConnectionsRepository } from './connections.repository';

/** What `rotate-key` did: rows rewritten under the current key, raced by a refresh, unreadable. */
export interface RotationSummary {
  reencrypted: number;
  skipped: number;
  unreadable: number;
}

const ROTATION_PAGE = 200;

/** A grant to store: what a consent, an import or its proving refresh produced. */
export interface Grant {
  accessToken: string;
  refreshToken: string;
  expiresAt: Date;
}

/** What happened to the grant at RD when a connection was deleted. */
export type Revocation = 'confirmed' | 'failed' | 'unsupported';

/** The outcome of a failed refresh as committed, with the row as the transaction left it. */
export interface RecordedFailure {
  outcome: Extract<RefreshOutcome, 'transient_failure' | 'permanent_failure' | 'held'>;
  connection: Connection;
}

/**
 * The one owner of every change to a connection. Each domain operation does, in one place, what
 * goes with the change: the connection's lock, one transaction, the row, the event (history and
 * webhook), the reconnect link and, for rejections, the blast-radius guard. The token cache is
 * invalidated by the lock when its holder is done (connection-lock.ts), so every operation here,
 * all run under it, is visible to this replica's readers at once.
 *
 * Reconnect-link invariants, kept only here: a connection has at most one live link (the table's
 * key); every condemnation mints a new one (replacing an older one); connect, import, recovery and
 * delete remove it.
 *
 * A refresh holds the lock across its call to RD (TokenRefresher), so its operations take the
 * holder's `Lease`; the others take the lock themselves.
 */
@Injectable()
export class ConnectionLifecycle {
  private readonly logger = new Logger(ConnectionLifecycle.name);

  constructor(
    private readonly connections: ConnectionsRepository,
    private readonly lock: ConnectionLock,
    private readonly events: EventsOutbox,
    private readonly guard: CondemnGuard,
    private readonly links: ReconnectLinks,
  ) {}

  /**
   * Key rotation (`rotate-key`): every connection still under an older key re-encrypted with the
   * current TOKEN_ENCRYPTION_KEY. The one operation run outside a broker (a command beside live
   * replicas, with no Nest application), hence static, over the repository alone. It takes no
   * lock and records no event, mints or kills no link: the grant, the status and the history do
   * not change, only the ciphertexts, and each row is rewritten by compare-and-set on the ones
   * read (a refresh that raced it has written under the current key already). So it is safe to
   * interrupt and to run again; when it reports nothing left under old keys,
   * TOKEN_ENCRYPTION_PREVIOUS_KEYS can be emptied.
   */
  static async reencryptAll(
    connections: ConnectionsRepository,
    log: (message: string) => void,
  ): Promise<RotationSummary> {
    const summary: RotationSummary = { reencrypted: 0, skipped: 0, unreadable: 0 };
    let after: ConnectionKey = { account: '', product: '' as Product };
    for (;;) {
      const page = await connections.storedCiphertextsAfter(after, ROTATION_PAGE);
      if (page.length === 0) return summary;
      after = page[page.length - 1];
      for (const stored of page) {
        try {
          const done = await connections.reencrypt(stored);
          if (done !== 'current') summary[done]++;
        } catch (error) {
          if (!(error instanceof DecryptionError)) throw error;
          summary.unreadable++;
          log(
            `rotate-key: ${stored.product}/${stored.account} cannot be decrypted (${error.message}); left as is`,
          );
        }
      }
      log(`rotate-key: ${summary.reencrypted} re-encrypted so far`);
    }
  }

  /** Runs `work` holding the connection's lock; `onBusy` answers when it stayed taken too long. */
  underLock<T>(
    key: ConnectionKey,
    work: (lease: Lease) => Promise<T>,
    onBusy: () => Promise<T>,
  ): Promise<T> {
    return this.lock.withLock(key, work, onBusy);
  }

  /**
   * A consent completed: stores the grant, replacing whatever the key held. False when the
   * connection stayed locked by a hung refresh for longer than the lock wait. A replacement is
   * recorded with who started it and both RD accounts as far as RD names them (Marketing's
   * account name; RD gives no stable account id, RDSTATION.md), so a connection re-pointed to
   * another RD account is visible in its history and the webhook.
   */
  connect(
    key: ConnectionKey,
    grant: Grant,
    { label, requestedBy }: { label: string | null; requestedBy: string | null },
  ): Promise<boolean> {
    // Under the connection's lock: a reconnect never interleaves with a refresh of the old grant.
    return this.lock.withLock(
      key,
      (lease) =>
        lease.transaction(async (tx) => {
          const previous = await this.connections.findOneLocked(key, tx);
          await this.store(tx, key, grant, label);
          await this.events.record(tx, 'connection.created', key, {
            via: 'consent',
            replaced: previous !== null,
            requestedBy,
            // Both RD accounts on a replacement (null where RD names none); the new one otherwise.
            ...(previous
              ? {
                  previousStatus: previous.status,
                  previousRdAccount: previous.label,
                  rdAccount: label,
                }
              : label !== null
                ? { rdAccount: label }
                : {}),
          });
          return true;
        }),
      async () => false,
    );
  }

  /**
   * Takes over a grant from another system: `obtain` (run under the lock, so a proving refresh
   * never races a refresh of the old grant) gives the grant to store. True if the key was new.
   */
  import<T extends Grant>(
    key: ConnectionKey,
    obtain: () => Promise<T>,
    onBusy: () => never,
  ): Promise<{ created: boolean; grant: T }> {
    return this.lock.withLock(
      key,
      async (lease) => {
        const grant = await obtain();
        const created = await lease.transaction(async (tx) => {
          const isNew = await this.store(tx, key, grant, null);
          await this.events.record(tx, 'connection.created', key, {
            via: 'import',
            replaced: !isNew,
          });
          return isNew;
        });
        return { created, grant };
      },
      async () => onBusy(),
    );
  }

  /**
   * Deletes a connection. `revoke` (run under the lock, with the row as the previous holder left
   * it) tells what became of the grant at RD; it is recorded in `connection.deleted`.
   */
  delete(
    key: ConnectionKey,
    revoke: (connection: Connection) => Promise<{ revocation: Revocation; revokeError?: string }>,
    onBusy: () => never,
  ): Promise<Revocation> {
    return this.lock.withLock(
      key,
      async (lease) => {
        // The lease is taken after the previous holder's outcome committed: this read sees it.
        const connection = await this.connections.findOne(key);
        if (!connection) throw new NotConnectedError(key.account, key.product);
        const { revocation, revokeError } = await revoke(connection);
        await lease.transaction(async (tx) => {
          await this.connections.delete(tx, key);
          await this.links.revoke(tx, key);
          await this.events.record(tx, 'connection.deleted', key, {
            revokedAtRd: revocation === 'confirmed',
            revocation,
            ...(revokeError ? { revokeError } : {}),
          });
        });
        return revocation;
      },
      async () => onBusy(),
    );
  }

  /**
   * An admin says the held rejections of `product` are real: each held connection is condemned
   * under its lock (one busy being refreshed right now is skipped: it will be held or recover by
   * itself), and the product's hold ends. The accounts condemned.
   */
  async confirmHeld(product: Product): Promise<string[]> {
    const confirmed: string[] = [];
    for (const key of await this.connections.findHeld(product)) {
      await this.lock.withLock(
        key,
        (lease) =>
          lease.transaction(async (tx) => {
            const reason = await this.connections.confirmHeld(tx, key);
            if (reason === null) return; // recovered or changed meanwhile
            await this.links.mint(tx, key);
            await this.events.record(tx, 'connection.reauthorization_required', key, {
              reason,
              confirmedHold: true,
            });
            confirmed.push(key.account);
          }),
        async () => undefined,
      );
    }
    await this.connections.transaction((tx) => this.guard.release(tx, product));
    return confirmed;
  }

  /**
   * Committed on its own under the refresh's lease, before the call to RD: it proves the lease
   * (RD is never called by a holder that lost it), and if the process dies mid-call the next
   * refresher finds the mark and knows RD may already have rotated the stored refresh token.
   */
  markRefreshStarted(lease: Lease, key: ConnectionKey): Promise<void> {
    return lease.transaction((tx) => this.connections.markRefreshStarted(tx, key));
  }

  /**
   * RD refreshed the grant: the new tokens, the product's hold ended, `connection.refreshed`, and
   * for a connection that was failing or condemned its recovery. The lease ends in the same
   * commit. If the lease was lost while RD answered, the tokens are still stored when nobody
   * changed the grant meanwhile (the row still holds the refresh token that was sent): RD
   * rotated it, the new one is the only live one. `byReport`: asked for by a report of a refused
   * token (REFRESH_MIN_INTERVAL_SECONDS counts from it).
   */
  async recordRefresh(
    lease: Lease,
    connection: Connection,
    tokens: TokenSet,
    { trigger, byReport }: { trigger: string; byReport: boolean },
  ): Promise<Connection> {
    try {
      return await lease.transaction(
        (tx) => this.refreshed(tx, connection, tokens, trigger, byReport),
        {
          release: true,
        },
      );
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
      this.logger.error(
        { account: connection.account, product: connection.product },
        'the refresh lease was lost during the call to RD (database unreachable for longer than the lease); storing the new tokens only if the grant is unchanged',
      );
      return this.connections.transaction(async (tx) => {
        const now = await this.connections.findOneLocked(connection, tx);
        if (now && now.refreshTokenCiphertext === connection.refreshTokenCiphertext)
          return this.refreshed(tx, connection, tokens, trigger, byReport);
        return this.found(connection, now);
      });
    }
  }

  /**
   * Records a failed refresh; the lease ends in the same commit. Only an answer that names the
   * grant (`grant_rejected`, decided in rdstation.errors.ts) may condemn it, and only while the
   * blast-radius guard allows (else it is held); rejected client credentials, unknown shapes and
   * outages keep the grant and retry with backoff. A condemned grant an admin retried stays
   * condemned whatever RD answers. `interrupted`: an earlier refresh left its mark unanswered.
   */
  recordFailure(
    lease: Lease,
    connection: Connection,
    error: RdStationError,
    interrupted: boolean,
  ): Promise<RecordedFailure> {
    return lease.transaction(
      async (tx) => {
        const outcome = await this.failed(tx, connection, error, interrupted);
        return { outcome, connection: await this.settle(tx, connection) };
      },
      { release: true },
    );
  }

  /** Stores a grant (consent or import) and kills the connection's reconnect link. */
  private async store(
    tx: EntityManager,
    key: ConnectionKey,
    grant: Grant,
    label: string | null,
  ): Promise<boolean> {
    const isNew = await this.connections.saveConnected(tx, key, grant, label);
    await this.links.revoke(tx, key);
    return isNew;
  }

  private async refreshed(
    tx: EntityManager,
    connection: Connection,
    tokens: TokenSet,
    trigger: string,
    byReport: boolean,
  ): Promise<Connection> {
    await this.connections.saveRefreshed(tx, connection, tokens, byReport);
    // RD accepts this product's refresh tokens: its refreshes no longer wait together.
    await this.guard.release(tx, connection.product);
    await this.events.record(tx, 'connection.refreshed', connection, { trigger });
    if (connection.status !== 'active') await this.recover(tx, connection);
    return this.settle(tx, connection);
  }

  /** A failing or condemned connection works again: its reconnect link dies. */
  private async recover(tx: EntityManager, connection: Connection): Promise<void> {
    // Only a condemned connection has a link: the hot path of refreshes costs no query.
    if (connection.status === 'reauthorization_required') await this.links.revoke(tx, connection);
    await this.events.record(tx, 'connection.recovered', connection, {
      failuresBefore: connection.consecutiveFailures,
      from: connection.status,
    });
  }

  private async failed(
    tx: EntityManager,
    connection: Connection,
    error: RdStationError,
    interrupted: boolean,
  ): Promise<RecordedFailure['outcome']> {
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
      await this.backOff(tx, connection, error);
      return 'transient_failure';
    }
    const decision = await this.guard.decide(tx, connection);
    if (decision.verdict === 'condemn') {
      await this.condemn(tx, connection, error, interrupted);
      return 'permanent_failure';
    }
    await this.hold(tx, connection, error, decision);
    return 'held';
  }

  /** The grant is dead: `reauthorization_required`, its event and a new reconnect link. */
  private async condemn(
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
    await this.links.mint(tx, connection);
    await this.events.record(tx, 'connection.reauthorization_required', connection, { reason });
  }

  /** A rejection the blast-radius guard held: the grant is kept and retried with its product. */
  private async hold(
    tx: EntityManager,
    connection: Connection,
    error: RdStationError,
    decision: Extract<Awaited<ReturnType<CondemnGuard['decide']>>, { verdict: 'hold' }>,
  ): Promise<void> {
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
  }

  /** An outage, an unknown shape or rejected client credentials: the grant is kept, retried later. */
  private async backOff(
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

  /** The row as this transaction leaves it. */
  private async settle(tx: EntityManager, key: ConnectionKey): Promise<Connection> {
    return this.found(key, await this.connections.findOne(key, tx));
  }

  private found(key: ConnectionKey, connection: Connection | null): Connection {
    if (!connection) throw new NotConnectedError(key.account, key.product);
    return connection;
  }
}
