import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export type DatabaseState = 'up' | 'read_only' | 'in_recovery' | 'down';

const PROBE = `SELECT pg_is_in_recovery() AS recovery,
                      current_setting('transaction_read_only') = 'on' AS read_only`;

/**
 * What the database can do right now, as readiness reports it: `up` (reads and writes),
 * `read_only` (default_transaction_read_only, a read-only managed instance), `in_recovery` (a
 * standby: reads only), `down` (no answer within the timeout).
 */
@Injectable()
export class DatabaseProbe {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async state(timeoutMs: number): Promise<{ state: DatabaseState; message?: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const [row]: Array<{ recovery: boolean; read_only: boolean }> = await Promise.race([
        this.dataSource.query(PROBE),
        timeout,
      ]);
      if (row.recovery) return { state: 'in_recovery', message: 'the database is a standby' };
      if (row.read_only) return { state: 'read_only', message: 'the database is read-only' };
      return { state: 'up' };
    } catch (error) {
      return { state: 'down', message: (error as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }
}
