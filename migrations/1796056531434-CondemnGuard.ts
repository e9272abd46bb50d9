import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The blast-radius guard (src/refresh/condemn-guard.ts), counted in PostgreSQL so it holds across
 * replicas:
 *  - connections.rejected_at: when RD last rejected this grant (condemned or held); the guard
 *    counts the product's rows with it inside the window.
 *  - connections.held_at: set while a rejection is held instead of condemned (status stays
 *    refresh_failing); cleared by a successful refresh or an admin's confirmation.
 *  - product_holds: one row per product whose refreshes back off together, with the shared
 *    retry time; deleted by the product's next successful refresh.
 */
export class CondemnGuard1796056531434 implements MigrationInterface {
  name = 'CondemnGuard1796056531434';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE connections
        ADD COLUMN rejected_at timestamptz,
        ADD COLUMN held_at timestamptz`);
    await queryRunner.query(`
      CREATE INDEX connections_rejected_idx ON connections (product, rejected_at)
        WHERE rejected_at IS NOT NULL`);
    await queryRunner.query(`
      CREATE TABLE product_holds (
        product     varchar(16) PRIMARY KEY CHECK (product IN ('crm', 'marketing')),
        since       timestamptz NOT NULL DEFAULT now(),
        rounds      integer     NOT NULL DEFAULT 1,
        retry_at    timestamptz NOT NULL
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE product_holds`);
    await queryRunner.query(`DROP INDEX connections_rejected_idx`);
    await queryRunner.query(`ALTER TABLE connections DROP COLUMN rejected_at, DROP COLUMN held_at`);
  }
}
