import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The proxy's per product × account rate budget, shared by every replica (src/proxy/rate-budget.ts).
 * One row per account: this minute's and the previous minute's call counts (a sliding-window
 * counter) and RD's own pause after a 429. UNLOGGED: a budget is worth nothing after a crash
 * and is not needed on a standby, and skipping the WAL keeps the one upsert per proxied call
 * cheap. A crash or failover empties the table, which only forgets up to a minute of counts.
 */
export class RateBudgets1796056208810 implements MigrationInterface {
  name = 'RateBudgets1796056208810';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE UNLOGGED TABLE rate_budgets (
        product text NOT NULL,
        account text NOT NULL,
        window_start timestamptz NOT NULL,
        used integer NOT NULL,
        previous_used integer NOT NULL DEFAULT 0,
        paused_until timestamptz,
        PRIMARY KEY (product, account)
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE rate_budgets`);
  }
}
