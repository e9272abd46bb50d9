import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * rate_budgets.granted: the units the last lease statement granted (src/proxy/rate-budget.sql.ts).
 * Replicas lease the proxy's budget in blocks; the statement adds the block to `used` and says
 * how many it gave, which `RETURNING` can only read from a column of the row it wrote.
 */
export class RateBudgetLeases1796500000000 implements MigrationInterface {
  name = 'RateBudgetLeases1796500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE rate_budgets ADD COLUMN granted integer NOT NULL DEFAULT 0`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE rate_budgets DROP COLUMN granted`);
  }
}
