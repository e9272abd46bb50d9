import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import type { ConfigType } from '@nestjs/config';
import { historyConfig } from '../config/slices';
import { BrokerMetrics } from '../metrics/broker-metrics';

const HOUR_MS = 3_600_000;
/** Rows per upsert statement. */
const CHUNK = 500;
/** Tallies kept across failed flushes (database down); beyond this the oldest counts are dropped. */
const MAX_PENDING = 100_000;

interface Tally {
  caller: string;
  account: string;
  product: string;
  hour: number;
  count: number;
  /** Of `count`, what the metric has not seen yet (a tally kept after a failed write has 0). */
  unmetered: number;
  firstAt: number;
  lastAt: number;
}

/**
 * Who read which token: reads are counted in memory per caller × connection × hour and upserted
 * into connection_reads every READ_FLUSH_SECONDS, so a read costs a Map update and never a write.
 * A crash loses at most one interval of counts; a clean shutdown flushes. A flush that fails
 * (database down) keeps its counts for the next one. The per-caller metric is advanced at each
 * flush, from the same tallies.
 */
@Injectable()
export class ReadCounter
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger(ReadCounter.name);
  private pending = new Map<string, Tally>();
  /**
   * The tallies of `pending` for the current hour by caller, product and account: a repeated
   * read finds its tally by three lookups of strings it already has, without building its id.
   * Emptied whenever `pending` is replaced or the hour changes; a tally missing from it is
   * looked up in `pending` by id, so it is only ever a shortcut.
   */
  private index = new Map<string, Map<string, Map<string, Tally>>>();
  private indexHour = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    @Inject(historyConfig.KEY) private readonly config: ConfigType<typeof historyConfig>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: BrokerMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.flush(), this.config.readFlushSeconds * 1000);
    this.timer.unref();
  }

  /** Before the HTTP server closes, and once more after it for reads answered meanwhile. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.pending.size > 0 && this.dataSource.isInitialized) await this.flush();
  }

  /** One answered read of `key` by the key named `caller`. */
  count(caller: string, key: ConnectionKey): void {
    const now = Date.now();
    const hour = now - (now % HOUR_MS);
    if (hour !== this.indexHour) {
      this.index = new Map();
      this.indexHour = hour;
    }
    let byProduct = this.index.get(caller);
    if (!byProduct) this.index.set(caller, (byProduct = new Map()));
    let byAccount = byProduct.get(key.product);
    if (!byAccount) byProduct.set(key.product, (byAccount = new Map()));
    let tally = byAccount.get(key.account);
    if (!tally) {
      const id = `${hour}\n${caller}\n${key.product}\n${key.account}`;
      tally = this.pending.get(id);
      if (!tally) {
        tally = {
          caller,
          account: key.account,
          product: key.product,
          hour,
          count: 0,
          unmetered: 0,
          firstAt: now,
          lastAt: now,
        };
        this.pending.set(id, tally);
      }
      byAccount.set(key.account, tally);
    }
    tally.count++;
    tally.unmetered++;
    tally.lastAt = now;
  }

  /** Writes what was counted so far; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.index = new Map();
    for (const tally of batch.values()) {
      if (tally.unmetered === 0) continue;
      this.metrics.tokenReadsByCaller.inc(
        { caller: tally.caller, product: tally.product },
        tally.unmetered,
      );
      tally.unmetered = 0;
    }
    const tallies = [...batch.values()];
    for (let start = 0; start < tallies.length; start += CHUNK) {
      const chunk = tallies.slice(start, start + CHUNK);
      try {
        await this.upsert(chunk);
      } catch (error) {
        this.keepForLater(tallies.slice(start));
        this.logger.warn(
          { err: (error as Error).message, tallies: tallies.length - start },
          'could not write read counts; keeping them for the next flush',
        );
        return;
      }
    }
  }

  private async upsert(tallies: Tally[]): Promise<void> {
    const column = <K extends keyof Tally>(name: K) => tallies.map((tally) => tally[name]);
    const dates = (name: 'hour' | 'firstAt' | 'lastAt') =>
      tallies.map((tally) => new Date(tally[name]));
    await this.dataSource.query(
      `INSERT INTO connection_reads AS r (caller, account, product, hour, count, first_at, last_at)
       SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::timestamptz[],
                            $5::bigint[], $6::timestamptz[], $7::timestamptz[])
       ON CONFLICT (account, product, hour, caller) DO UPDATE SET
         count = r.count + EXCLUDED.count,
         first_at = LEAST(r.first_at, EXCLUDED.first_at),
         last_at = GREATEST(r.last_at, EXCLUDED.last_at)`,
      [
        column('caller'),
        column('account'),
        column('product'),
        dates('hour'),
        column('count'),
        dates('firstAt'),
        dates('lastAt'),
      ],
    );
  }

  /** Merges unwritten tallies back; the metric has already counted them. */
  private keepForLater(tallies: Tally[]): void {
    for (const tally of tallies) {
      const id = `${tally.hour}\n${tally.caller}\n${tally.product}\n${tally.account}`;
      const newer = this.pending.get(id);
      if (newer) {
        newer.count += tally.count;
        newer.firstAt = Math.min(newer.firstAt, tally.firstAt);
      } else if (this.pending.size < MAX_PENDING) {
        this.pending.set(id, tally);
      }
    }
  }
}
