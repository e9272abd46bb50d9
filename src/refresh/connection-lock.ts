import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Client } from 'pg';
import { DataSource, type QueryRunner } from 'typeorm';
import { connectionId, type ConnectionKey } from '../common/connection-key';
import { TokenCache } from '../tokens/token-cache';

const LOCK_NOT_AVAILABLE = '55P03';

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
    work: (session: QueryRunner) => Promise<T>,
    onBusy: () => Promise<T>,
  ): Promise<T> {
    const session = this.dataSource.createQueryRunner();
    const client = (await session.connect()) as Client;
    let locked = false;
    try {
      try {
        await session.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [
          connectionId(key),
        ]);
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
        const unlocked = await session
          .query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [connectionId(key)])
          .then(
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
