import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * connections.rate_limit_per_minute: this connection's own `/proxy` budget (RD's limit depends on
 * the customer's plan: 120/min on Marketing Light to Pro, 500/min on Advanced), set by
 * PATCH /connections/:account. NULL = RD_RATE_LIMIT_PER_MINUTE. The budget statement
 * (src/proxy/rate-budget.sql.ts) reads it on every call, so a change holds at once on every
 * replica. The bounds are the API's (MAX_RATE_LIMIT_PER_MINUTE), kept by the database too.
 */
export class ConnectionRateLimit1796448290166 implements MigrationInterface {
  name = 'ConnectionRateLimit1796448290166';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE connections
        ADD COLUMN rate_limit_per_minute integer
          CHECK (rate_limit_per_minute BETWEEN 1 AND 100000)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE connections DROP COLUMN rate_limit_per_minute`);
  }
}
