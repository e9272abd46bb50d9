import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { connectionId, type ConnectionKey } from '../common/connection-key';
import { BrokerError } from '../common/errors';
import type { ConfigType } from '@nestjs/config';
import { refreshConfig } from '../config/slices';

/** How long a lease lives without renewal: how long a crashed holder blocks its connection. */
export const LEASE_SECONDS = 10;
/** The holder renews well before expiry, so a slow statement or a short stall never loses it. */
const RENEW_EVERY_MS = 2_000;
const POLL_FIRST_MS = 10;
const POLL_MAX_MS = 200;

const ACQUIRE = `
  INSERT INTO connection_leases AS l (id, owner, expires_at)
  VALUES ($1, $2, now() + make_interval(secs => $3))
  ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
    WHERE l.expires_at < now()
  RETURNING (xmax <> 0) AS took_over`;
const FENCE = `SELECT 1 FROM connection_leases WHERE id = $1 AND owner = $2 FOR UPDATE`;
const RENEW = `UPDATE connection_leases SET expires_at = now() + make_interval(secs => $3)
                WHERE id = $1 AND owner = $2`;
const RELEASE = `DELETE FROM connection_leases WHERE id = $1 AND owner = $2`;

/**
 * The lease ran out and another holder may have taken it: nothing more may be written under it.
 * Where it reaches a caller (an admin write cut off from the database for longer than the lease),
 * it is a condition to retry: 503 service_unavailable.
 */
export class LeaseLostError extends BrokerError {
  readonly status = 503;
  readonly code = 'service_unavailable';
  override readonly retryAfter = 5;

  constructor(id: string) {
    super(
      `the lock of connection ${id} was lost (the database was unreachable for too long); retry`,
    );
  }
}

/** What a holder of a connection's lock works with. */
export interface Lease {
  /**
   * One transaction that first proves the lease is still this holder's (the fencing check: its
   * row is locked, so it cannot be taken over until this commits) and then runs `fn`. With
   * `release`, the lease ends in the same commit: the next holder's read sees `fn`'s writes.
   * Throws LeaseLostError, writing nothing, if the lease is no longer this holder's.
   */
  transaction<T>(
    fn: (tx: EntityManager) => Promise<T>,
    options?: { release?: boolean },
  ): Promise<T>;
}

/**
 * The cross-replica lock of one connection: a lease row in `connection_leases` (owner, expiry),
 * renewed by its holder every 2 s, fenced at every commit made under it. Every write to a
 * connection's grant runs under it (refresh, reconnect, import, delete), so they never
 * interleave, on one replica or many.
 *
 * Why a lease and not a PostgreSQL lock: behind a transaction pooler (PgBouncer
 * `pool_mode = transaction`) a session advisory lock is taken on whichever server connection the
 * statement landed on and stays there, held for good by a session nobody owns any more. A
 * transaction-scoped lock held open across the RD call would work, but it pins a server
 * connection for the whole call (and every waiter pins one more while it blocks): a burst of
 * refreshes exhausts the pooler's small server pool, and the holders, which need a second
 * connection for the mark and the outcome, deadlock against their own waiters. The lease needs
 * no connection between statements; each of its statements is a short transaction of its own.
 *
 * The price: a holder killed with SIGKILL blocks the connection until its lease expires
 * (LEASE_SECONDS) instead of at once; waiters wait longer than that (`lockWaitMs`). A holder
 * that cannot renew (its database link lost for longer than the lease) loses the lease: its
 * next transaction under it fails (LeaseLostError) and writes nothing, and TokenRefresher never
 * calls RD without having proven the lease in the transaction just before (the mark).
 */
@Injectable()
export class ConnectionLock {
  private readonly logger = new Logger(ConnectionLock.name);
  /** A holder is never slower than one RD call, and a crashed holder's lease must run out. */
  private readonly lockWaitMs: number;

  private readonly releaseListeners: Array<(key: ConnectionKey) => void> = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(refreshConfig.KEY) config: ConfigType<typeof refreshConfig>,
  ) {
    this.lockWaitMs = Math.max(config.rdTimeoutMs, LEASE_SECONDS * 1000) + 5_000;
  }

  /** `listener` hears of every connection a holder is done with (the token cache forgets it). */
  onReleased(listener: (key: ConnectionKey) => void): void {
    this.releaseListeners.push(listener);
  }

  /** Runs `work` holding the lease of `key`; `onBusy` answers when it stayed taken too long. */
  async withLock<T>(
    key: ConnectionKey,
    work: (lease: Lease) => Promise<T>,
    onBusy: () => Promise<T>,
  ): Promise<T> {
    const id = connectionId(key);
    const owner = randomUUID();
    if (!(await this.acquire(id, owner))) return onBusy();
    let released = false;
    let lost = false;
    const renewal = setInterval(() => {
      this.dataSource.query(RENEW, [id, owner, LEASE_SECONDS]).then(
        (result: [unknown, number]) => {
          if (result[1] === 0 && !released) lost = true;
        },
        () => undefined, // unreachable database: the next fenced transaction decides
      );
    }, RENEW_EVERY_MS);
    renewal.unref();
    const lease: Lease = {
      transaction: (fn, options) =>
        this.dataSource.transaction(async (tx) => {
          // Bounds any lock wait inside (a row another outcome is writing, the condemn guard);
          // SET LOCAL, not a session setting: behind a transaction pooler a session is nobody's.
          await tx.query(`SET LOCAL lock_timeout = ${this.lockWaitMs}`);
          if (lost || (await tx.query(FENCE, [id, owner])).length === 0)
            throw new LeaseLostError(id);
          const result = await fn(tx);
          if (options?.release) {
            await tx.query(RELEASE, [id, owner]);
            released = true;
          }
          return result;
        }),
    };
    try {
      return await work(lease);
    } finally {
      clearInterval(renewal);
      // After `work`'s commit: whatever it changed is visible to this replica's readers at once.
      for (const listener of this.releaseListeners) listener(key);
      if (!released) {
        // Best effort: a lease that cannot be deleted now simply runs out.
        await this.dataSource.query(RELEASE, [id, owner]).catch(() => undefined);
      }
    }
  }

  /** Takes the lease, polling while another holder has it, for at most `lockWaitMs`. */
  private async acquire(id: string, owner: string): Promise<boolean> {
    const deadline = Date.now() + this.lockWaitMs;
    for (let delay = POLL_FIRST_MS; ; delay = Math.min(POLL_MAX_MS, delay * 1.5)) {
      const rows: Array<{ took_over: boolean }> = await this.dataSource.query(ACQUIRE, [
        id,
        owner,
        LEASE_SECONDS,
      ]);
      if (rows.length > 0) {
        if (rows[0].took_over)
          this.logger.warn(
            { connection: id },
            'took over an expired lease: its holder stopped renewing it (crashed or cut off from the database)',
          );
        return true;
      }
      if (Date.now() + delay > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
