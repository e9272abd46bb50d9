import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';

/** A position in a connection's history: the item's time in microseconds and a tie-breaker. */
export interface HistoryPosition {
  us: string;
  tie: string;
}

export interface HistoryRow extends HistoryPosition {
  at: Date;
  type: string;
  detail: Record<string, unknown> | null;
  caller: string | null;
  count: string | null;
  first_at: Date | null;
  last_at: Date | null;
}

export interface KeyUsageRow {
  name: string;
  last_used_at: Date | null;
  reads24h: string;
}

/** Rows per DELETE when pruning, and DELETEs per table per scheduler run. */
const PRUNE_BATCH = 500;
const PRUNE_BATCHES_PER_RUN = 20;

/**
 * A connection's history: its events (connection_events, recorded whether or not a webhook is
 * configured) and its hourly read aggregates (connection_reads), merged newest first. Reads are
 * placed at the start of their hour. The position (microseconds, tie) is total and stable, so a
 * keyset cursor never skips or repeats an item.
 */
@Injectable()
export class HistoryRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  page(key: ConnectionKey, limit: number, before?: HistoryPosition): Promise<HistoryRow[]> {
    return this.dataSource.query(
      `SELECT us::text AS us, tie, at, type, detail, caller, count::text AS count, first_at, last_at
         FROM (SELECT (extract(epoch FROM created_at) * 1000000)::bigint AS us,
                      'e' || lpad(id::text, 19, '0') AS tie, created_at AS at, type, detail,
                      NULL::varchar AS caller, NULL::bigint AS count,
                      NULL::timestamptz AS first_at, NULL::timestamptz AS last_at
                 FROM connection_events WHERE account = $1 AND product = $2
               UNION ALL
               SELECT (extract(epoch FROM hour) * 1000000)::bigint, 'r' || caller, hour,
                      'connection.read', NULL, caller, count, first_at, last_at
                 FROM connection_reads WHERE account = $1 AND product = $2) h
        WHERE $3::bigint IS NULL OR (us, tie COLLATE "C") < ($3::bigint, $4::text COLLATE "C")
        ORDER BY us DESC, tie COLLATE "C" DESC
        LIMIT $5`,
      [key.account, key.product, before?.us ?? null, before?.tie ?? null, limit],
    );
  }

  /**
   * Per key name: the last read recorded and the reads of the last 24 hours (counted by the hour,
   * so an hour that ended within them counts whole). Two index lookups per key
   * (connection_reads_caller_idx), never a scan of the table.
   */
  keyUsage(names: string[]): Promise<KeyUsageRow[]> {
    return this.dataSource.query(
      `SELECT k.name,
              (SELECT max(r.last_at) FROM connection_reads r
                WHERE r.caller = k.name
                  AND r.hour = (SELECT max(hour) FROM connection_reads WHERE caller = k.name)
              ) AS last_used_at,
              (SELECT coalesce(sum(r.count), 0) FROM connection_reads r
                WHERE r.caller = k.name AND r.hour > now() - interval '25 hours'
                  AND r.last_at > now() - interval '24 hours')::text AS reads24h
         FROM unnest($1::varchar[]) WITH ORDINALITY AS k(name, position)
        ORDER BY k.position`,
      [names],
    );
  }

  /**
   * Deletes history older than `retentionDays` in small batches, so a large backlog never holds
   * long locks; what is left goes at the next run. Events still waiting for webhook delivery stay.
   */
  async prune(retentionDays: number): Promise<{ events: number; reads: number }> {
    const events = await this.inBatches(
      `DELETE FROM connection_events WHERE id IN (
         SELECT id FROM connection_events
          WHERE created_at < now() - make_interval(days => $1)
            AND (delivered_at IS NOT NULL OR next_attempt_at IS NULL)
          LIMIT $2)`,
      retentionDays,
    );
    const reads = await this.inBatches(
      `DELETE FROM connection_reads WHERE (account, product, hour, caller) IN (
         SELECT account, product, hour, caller FROM connection_reads
          WHERE hour < now() - make_interval(days => $1)
          LIMIT $2)`,
      retentionDays,
    );
    return { events, reads };
  }

  private async inBatches(sql: string, retentionDays: number): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < PRUNE_BATCHES_PER_RUN; batch++) {
      // TypeORM answers a DELETE with [rows, rowCount].
      const [, deleted]: [unknown, number] = await this.dataSource.query(sql, [
        retentionDays,
        PRUNE_BATCH,
      ]);
      total += deleted;
      if (deleted < PRUNE_BATCH) break;
    }
    return total;
  }
}
