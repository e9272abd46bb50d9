import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * connections.report_refreshed_at: when a refresh asked for by a caller's report of a refused
 * token (`rejected=` on GET /tokens, RD's 401 on /proxy) last replaced the token. Such refreshes
 * happen at most once per REFRESH_MIN_INTERVAL_SECONDS per connection, decided under the
 * connection's lock from this column, so the limit holds across replicas. A new connect or an
 * import clears it: a fresh grant has had no report yet.
 */
export class ReportRefreshedAt1796100000000 implements MigrationInterface {
  name = 'ReportRefreshedAt1796100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE connections ADD COLUMN report_refreshed_at timestamptz`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE connections DROP COLUMN report_refreshed_at`);
  }
}
