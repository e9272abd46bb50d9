import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import type { ConfigType } from '@nestjs/config';
import { proxyConfig } from '../config/slices';
import { secondsUntilAllowed, type BudgetState } from './rate-budget.policy';
import { PAUSE_SQL, PRUNE_SQL, STATE_SQL, TAKE_SQL } from './rate-budget.sql';

export type BudgetDecision =
  { allowed: true } | { allowed: false; reason: 'budget' | 'rd_pause'; retryAfterSeconds: number };

const PRUNE_EVERY_MS = 10 * 60_000;

/**
 * RD_RATE_LIMIT_PER_MINUTE per product × account (or the connection's own budget, read by the
 * statement itself: rate-budget.sql.ts), shared by every replica through PostgreSQL:
 * one atomic upsert per proxied call (the row lock serialises concurrent takers, so replicas can
 * never both take the last unit), plus RD's own pause after a 429 in the same row, so every
 * replica honours it. Rows of accounts idle for a while are pruned by each replica.
 */
@Injectable()
export class RateBudget implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RateBudget.name);
  private readonly limit: number;
  private pruneTimer: NodeJS.Timeout | null = null;
  /**
   * A small pool of its own, on node-postgres directly: one statement per proxied call, without TypeORM's per-query runner (about half the CPU per call), and
   * never queued behind the refresh transactions of the main pool.
   */
  private readonly pool: Pool;

  constructor(
    @Inject(proxyConfig.KEY) config: ConfigType<typeof proxyConfig>,
    @InjectDataSource() dataSource: DataSource,
  ) {
    this.limit = config.rateLimitPerMinute;
    this.pool = new Pool({
      connectionString: (dataSource.options as { url?: string }).url,
      max: 10,
      connectionTimeoutMillis: 5_000,
      application_name: 'rdstation-token-broker:budget',
    });
    // An idle session that dies (a database restart) must not crash the process: the next query
    // opens a new one, and a query that fails is answered 503 by errorAnswer.
    this.pool.on('error', (error) => this.logger.warn({ err: error }, 'rate budget session lost'));
  }

  onApplicationBootstrap(): void {
    this.pruneTimer = setInterval(() => {
      this.prune().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'pruning rate budgets failed'),
      );
    }, PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.pool.end();
  }

  /** Takes one call from the budget of `key`, or says why not and for how long. */
  async take({ product, account }: ConnectionKey): Promise<BudgetDecision> {
    // Unnamed: a named prepared statement lives in one server session, which a transaction
    // pooler (PgBouncer before 1.21) does not keep for this client.
    const taken = await this.pool.query(TAKE_SQL, [product, account, this.limit]);
    if (taken.rowCount) return { allowed: true };
    const { rows } = await this.pool.query<{
      window_start: Date;
      used: number;
      previous_used: number;
      paused_until: Date | null;
      now: Date;
      limit: number;
    }>(STATE_SQL, [product, account, this.limit]);
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
      retryAfterSeconds: secondsUntilAllowed(state, row.limit, now),
    };
  }

  /** RD answered 429: no replica calls RD for this account for `seconds`. */
  async pause({ product, account }: ConnectionKey, seconds: number): Promise<void> {
    await this.pool.query(PAUSE_SQL, [product, account, seconds]);
  }

  /** Forgets accounts with no call for two minutes and no pause running. */
  async prune(): Promise<number> {
    return (await this.pool.query(PRUNE_SQL)).rowCount ?? 0;
  }
}
