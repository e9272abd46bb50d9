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

export type BudgetDecision =
  { allowed: true } | { allowed: false; reason: 'budget' | 'rd_pause'; retryAfterSeconds: number };

const PRUNE_EVERY_MS = 10 * 60_000;

// The window rolls over inside the statement, on the database's clock (one clock for every
// replica). The WHERE is the sliding-window rule of rate-budget.policy.ts (`allows`): when it
// fails, nothing is written and no row comes back. `$3` is the limit.
const ROLLED_USED = `CASE WHEN b.window_start = EXCLUDED.window_start THEN b.used ELSE 0 END`;
const ROLLED_PREVIOUS = `CASE WHEN b.window_start = EXCLUDED.window_start THEN b.previous_used
       WHEN b.window_start = EXCLUDED.window_start - interval '1 minute' THEN b.used
       ELSE 0 END`;
const TAKE = `
  INSERT INTO rate_budgets AS b (product, account, window_start, used, previous_used)
  VALUES ($1, $2, date_trunc('minute', now()), 1, 0)
  ON CONFLICT (product, account) DO UPDATE SET
    previous_used = ${ROLLED_PREVIOUS},
    used = ${ROLLED_USED} + 1,
    window_start = EXCLUDED.window_start
  WHERE (b.paused_until IS NULL OR b.paused_until <= now())
    AND ${ROLLED_USED} + (${ROLLED_PREVIOUS})
        * (1 - extract(epoch FROM now() - EXCLUDED.window_start) / 60) < $3
  RETURNING used`;

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
    const taken = (await this.dataSource.query(TAKE, [product, account, this.limit])) as unknown[];
    if (taken.length > 0) return { allowed: true };
    const rows = (await this.dataSource.query(
      `SELECT window_start, used, previous_used, paused_until, now() AS now
         FROM rate_budgets WHERE product = $1 AND account = $2`,
      [product, account],
    )) as {
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
    await this.dataSource.query(
      `INSERT INTO rate_budgets AS b (product, account, window_start, used, previous_used, paused_until)
       VALUES ($1, $2, date_trunc('minute', now()), 0, 0, now() + make_interval(secs => $3))
       ON CONFLICT (product, account) DO UPDATE
         SET paused_until = GREATEST(b.paused_until, EXCLUDED.paused_until)`,
      [product, account, seconds],
    );
  }

  /** Forgets accounts with no call for two minutes and no pause running. */
  async prune(): Promise<number> {
    const [, deleted] = (await this.dataSource.query(
      `DELETE FROM rate_budgets
        WHERE window_start < now() - interval '2 minutes'
          AND (paused_until IS NULL OR paused_until < now())`,
    )) as [unknown, number];
    return deleted;
  }
}
