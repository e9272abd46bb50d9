import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { secondsUntilAllowed, type BudgetState } from './rate-budget.policy';
import { PAUSE_SQL, PRUNE_SQL, STATE_SQL, TAKE_SQL } from './rate-budget.sql';

export type BudgetDecision =
  { allowed: true } | { allowed: false; reason: 'budget' | 'rd_pause'; retryAfterSeconds: number };

const PRUNE_EVERY_MS = 10 * 60_000;

/**
 * RD_RATE_LIMIT_PER_MINUTE per product × account, shared by every replica through PostgreSQL:
 * one atomic upsert per proxied call (the row lock serialises concurrent takers, so replicas can
 * never both take the last unit), plus RD's own pause after a 429 in the same row, so every
 * replica honours it. Rows of accounts idle for a while are pruned by each replica.
 */
@Injectable()
export class RateBudget implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RateBudget.name);
  private readonly limit: number;
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {
    this.limit = config.rd.rateLimitPerMinute;
  }

  onApplicationBootstrap(): void {
    this.pruneTimer = setInterval(() => {
      this.prune().catch((error: unknown) =>
        this.logger.warn({ err: (error as Error).message }, 'pruning rate budgets failed'),
      );
    }, PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  onApplicationShutdown(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
  }

  /** Takes one call from the budget of `key`, or says why not and for how long. */
  async take({ product, account }: ConnectionKey): Promise<BudgetDecision> {
    const taken = (await this.dataSource.query(TAKE_SQL, [
      product,
      account,
      this.limit,
    ])) as unknown[];
    if (taken.length > 0) return { allowed: true };
    const rows = (await this.dataSource.query(STATE_SQL, [product, account])) as {
      window_start: Date;
      used: number;
      previous_used: number;
      paused_until: Date | null;
      now: Date;
    }[];
    // Pruned between the two statements: there is room again.
    if (rows.length === 0) return this.take({ product, account });
    const row = rows[0];
    const now = row.now.getTime();
    const state: BudgetState = {
      windowStart: row.window_start,
      used: row.used,
      previousUsed: row.previous_used,
      pausedUntil: row.paused_until,
    };
    const paused = !!row.paused_until && row.paused_until.getTime() > now;
    return {
      allowed: false,
      reason: paused ? 'rd_pause' : 'budget',
      retryAfterSeconds: secondsUntilAllowed(state, this.limit, now),
    };
  }

  /** RD answered 429: no replica calls RD for this account for `seconds`. */
  async pause({ product, account }: ConnectionKey, seconds: number): Promise<void> {
    await this.dataSource.query(PAUSE_SQL, [product, account, seconds]);
  }

  /** Forgets accounts with no call for two minutes and no pause running. */
  async prune(): Promise<number> {
    const [, deleted] = (await this.dataSource.query(PRUNE_SQL)) as [unknown, number];
    return deleted;
  }
}
