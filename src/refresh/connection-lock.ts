import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Client } from 'pg';
import { DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import { connectionId, type ConnectionKey } from '../common/connection-key';
import { TokenCache } from '../tokens/token-cache';

const LOCK_NOT_AVAILABLE = '55P03';
const UNLOCK = 'SELECT pg_advisory_unlock(hashtextextended($1, 0))';

/**
 * Releases the lock inside `tx`, before its COMMIT, saving the unlock's own transaction. Only for
 * a transaction that holds the connection row's lock (an UPDATE of it, or `findOneLocked`) when
 * it calls this: readers under the lock read with `findOneLocked`, which waits for that row lock,
 * so none of them can see the row as it was before `tx` (token-refresher.ts says why in full).
 */
export type UnlockWithin = (tx: EntityManager) => Promise<void>;

/**
 * The cross-replica lock of one connection: a PostgreSQL session advisory lock keyed by it.
 * Every write to a connection's grant runs under it (refresh, reconnect, import, delete), so
 * they never interleave, on one replica or many.
 */
@Injectable()
export class ConnectionLock {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly cache: TokenCache,
  ) {}

  /**
   * Runs `work` on a session holding the lock of `key`; `onBusy` answers when the lock wait
   * times out. Every pooled session has lock_timeout = RD_TIMEOUT_MS + 5 s
   * (data-source-options.ts): a holder is never slower than one RD call, so a longer wait means
   * something is wrong.
   */
  async withLock<T>(
    key: ConnectionKey,
    work: (session: QueryRunner, unlockWithin: UnlockWithin) => Promise<T>,
    onBusy: () => Promise<T>,
  ): Promise<T> {
    const session = this.dataSource.createQueryRunner();
    const client = (await session.connect()) as Client;
    let acquired = false;
    let locked = false;
    try {
      try {
        await session.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [
          connectionId(key),
        ]);
        acquired = locked = true;
      } catch (error) {
        if ((error as { driverError?: { code?: string } }).driverError?.code !== LOCK_NOT_AVAILABLE)
          throw error;
        return await onBusy();
      }
      // A session advisory unlock is not transactional: once it ran, a rollback does not undo it.
      const unlockWithin: UnlockWithin = async (tx) => {
        await tx.query(UNLOCK, [connectionId(key)]);
        locked = false;
      };
      return await work(session, unlockWithin);
    } finally {
      // After `work`'s commit: whatever it changed is visible to this replica's readers at once.
      if (acquired) this.cache.invalidate(key);
      if (locked) {
        const unlocked = await session.query(UNLOCK, [connectionId(key)]).then(
          () => true,
          () => false,
        );
        // A session that could not unlock must not go back to the pool still holding the lock:
        // closing it ends the session (and its locks); the pool drops an ended client.
        if (!unlocked) await client.end().catch(() => undefined);
      }
      await session.release();
    }
  }
}
