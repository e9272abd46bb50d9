import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * connection_events becomes each connection's history as well as the webhook outbox: every event
 * is recorded; only those meant for EVENTS_WEBHOOK_URL get a next_attempt_at (NULL = history only).
 * connection_reads: token reads per caller × connection × hour, upserted in batches by each
 *   replica (src/history/read-counter.ts); never written per request.
 * reconnect_links: the one live reconnect link of a condemned connection; only the SHA-256 of the
 *   link's token is stored, with the nonce it is derived from under the encryption key.
 */
export class HistoryReadsReconnectLinks1796056312964 implements MigrationInterface {
  name = 'HistoryReadsReconnectLinks1796056312964';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE connection_events ALTER COLUMN next_attempt_at DROP NOT NULL`,
    );
    await queryRunner.query(`DROP INDEX connection_events_pending_idx`);
    await queryRunner.query(`
      CREATE INDEX connection_events_pending_idx ON connection_events (next_attempt_at)
        WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL`);
    await queryRunner.query(`
      CREATE INDEX connection_events_history_idx
        ON connection_events (account, product, created_at DESC, id DESC)`);
    await queryRunner.query(
      `CREATE INDEX connection_events_created_idx ON connection_events (created_at)`,
    );

    await queryRunner.query(`
      CREATE TABLE connection_reads (
        account   varchar(128) NOT NULL,
        product   varchar(16)  NOT NULL,
        caller    varchar(64)  NOT NULL,
        hour      timestamptz  NOT NULL,
        count     bigint       NOT NULL,
        first_at  timestamptz  NOT NULL,
        last_at   timestamptz  NOT NULL,
        PRIMARY KEY (account, product, hour, caller)
      )`);
    await queryRunner.query(`CREATE INDEX connection_reads_hour_idx ON connection_reads (hour)`);

    await queryRunner.query(`
      CREATE TABLE reconnect_links (
        account     varchar(128) NOT NULL,
        product     varchar(16)  NOT NULL,
        token_hash  bytea        NOT NULL UNIQUE,
        nonce       bytea        NOT NULL,
        key_id      varchar(16)  NOT NULL,
        expires_at  timestamptz  NOT NULL,
        used_at     timestamptz,
        created_at  timestamptz  NOT NULL DEFAULT now(),
        PRIMARY KEY (account, product)
      )`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE reconnect_links`);
    await queryRunner.query(`DROP TABLE connection_reads`);
    await queryRunner.query(`DROP INDEX connection_events_created_idx`);
    await queryRunner.query(`DROP INDEX connection_events_history_idx`);
    await queryRunner.query(`DROP INDEX connection_events_pending_idx`);
    await queryRunner.query(
      `CREATE INDEX connection_events_pending_idx ON connection_events (next_attempt_at) WHERE delivered_at IS NULL`,
    );
    await queryRunner.query(`DELETE FROM connection_events WHERE next_attempt_at IS NULL`);
    await queryRunner.query(
      `ALTER TABLE connection_events ALTER COLUMN next_attempt_at SET NOT NULL`,
    );
  }
}
