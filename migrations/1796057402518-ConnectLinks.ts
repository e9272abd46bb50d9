import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * connect_links: links made by POST /connect-links for a customer to connect an account
 * (src/oauth/connect-links.ts). Only the SHA-256 of a link's token is stored: the link is shown
 * once, to the service that asked for it. `used_at` makes it single-use.
 * oauth_states.requested_by: who started a consent (an API key's name, or the link it came
 * through), recorded on the connection's `connection.created` event.
 * connection_reads_caller_idx: GET /keys reads each key's last use and last day of reads.
 */
export class ConnectLinks1796057402518 implements MigrationInterface {
  name = 'ConnectLinks1796057402518';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE connect_links (
        token_hash  bytea         PRIMARY KEY,
        account     varchar(128)  NOT NULL,
        product     varchar(16)   NOT NULL,
        return_to   varchar(2048),
        created_by  varchar(64)   NOT NULL,
        expires_at  timestamptz   NOT NULL,
        used_at     timestamptz,
        created_at  timestamptz   NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX connect_links_expires_idx ON connect_links (expires_at)`);
    await queryRunner.query(`ALTER TABLE oauth_states ADD COLUMN requested_by varchar(96)`);
    await queryRunner.query(
      `CREATE INDEX connection_reads_caller_idx ON connection_reads (caller, hour)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX connection_reads_caller_idx`);
    await queryRunner.query(`ALTER TABLE oauth_states DROP COLUMN requested_by`);
    await queryRunner.query(`DROP TABLE connect_links`);
  }
}
