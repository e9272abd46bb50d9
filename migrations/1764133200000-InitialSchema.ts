import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * connections: one row per (caller's account, RD product). Tokens are AES-256-GCM ciphertexts
 *   (see src/crypto); next_refresh_at + claimed_until form the scheduler's due queue.
 * oauth_states: pending consents; only the SHA-256 of the state ever reaches the database.
 * connection_events: the webhook outbox, written in the same transaction as the change it reports.
 */
export class InitialSchema1764133200000 implements MigrationInterface {
  name = 'InitialSchema1764133200000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE connections (
        account               varchar(128) NOT NULL,
        product               varchar(16)  NOT NULL CHECK (product IN ('crm', 'marketing')),
        status                varchar(32)  NOT NULL
          CHECK (status IN ('active', 'refresh_failing', 'reauthorization_required')),
        access_token          text         NOT NULL,
        refresh_token         text         NOT NULL,
        expires_at            timestamptz  NOT NULL,
        label                 text,
        created_at            timestamptz  NOT NULL DEFAULT now(),
        updated_at            timestamptz  NOT NULL DEFAULT now(),
        last_refreshed_at     timestamptz,
        last_error            text,
        last_error_at         timestamptz,
        consecutive_failures  integer      NOT NULL DEFAULT 0,
        next_refresh_at       timestamptz,
        claimed_until         timestamptz,
        refresh_started_at    timestamptz,
        PRIMARY KEY (account, product)
      )`);
    await queryRunner.query(`
      CREATE INDEX connections_due_idx ON connections (next_refresh_at)
        WHERE status <> 'reauthorization_required'`);
    await queryRunner.query(
      `CREATE INDEX connections_product_status_idx ON connections (product, status)`,
    );

    await queryRunner.query(`
      CREATE TABLE oauth_states (
        state_hash  bytea        PRIMARY KEY,
        account     varchar(128) NOT NULL,
        product     varchar(16)  NOT NULL CHECK (product IN ('crm', 'marketing')),
        return_to   text,
        expires_at  timestamptz  NOT NULL,
        created_at  timestamptz  NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at)`);

    await queryRunner.query(`
      CREATE TABLE connection_events (
        id               bigserial    PRIMARY KEY,
        type             varchar(64)  NOT NULL,
        account          varchar(128) NOT NULL,
        product          varchar(16)  NOT NULL,
        detail           jsonb        NOT NULL DEFAULT '{}',
        created_at       timestamptz  NOT NULL DEFAULT now(),
        attempts         integer      NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz  NOT NULL DEFAULT now(),
        claimed_until    timestamptz,
        last_error       text,
        delivered_at     timestamptz
      )`);
    await queryRunner.query(`
      CREATE INDEX connection_events_pending_idx ON connection_events (next_attempt_at)
        WHERE delivered_at IS NULL`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE connection_events`);
    await queryRunner.query(`DROP TABLE oauth_states`);
    await queryRunner.query(`DROP TABLE connections`);
  }
}
