import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * State that holds behind a transaction pooler (PgBouncer `pool_mode = transaction`), where every
 * statement may land on a different server connection, so nothing may rest on a session:
 *  - connection_leases: the cross-replica lock of one connection (src/refresh/connection-lock.ts),
 *    a row with an owner and an expiry instead of a session advisory lock.
 *  - connection_changes: every committed change to a connection (the same trigger that sends
 *    NOTIFY connection_changed also appends here), so a replica that cannot LISTEN invalidates
 *    its token cache by polling (src/tokens/token-cache.ts). `xid` is the writing transaction:
 *    the poller re-reads rows from transactions still running at its previous poll, so a change
 *    committed late is never skipped. Pruned after an hour.
 */
export class PoolerSafeState1796070000000 implements MigrationInterface {
  name = 'PoolerSafeState1796070000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE connection_leases (
        id          text        PRIMARY KEY,
        owner       uuid        NOT NULL,
        expires_at  timestamptz NOT NULL
      )`);
    await queryRunner.query(`
      CREATE TABLE connection_changes (
        seq  bigserial   PRIMARY KEY,
        id   text        NOT NULL,
        xid  xid8        NOT NULL DEFAULT pg_current_xact_id(),
        at   timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX connection_changes_xid_idx ON connection_changes (xid)`);
    await queryRunner.query(`CREATE INDEX connection_changes_at_idx ON connection_changes (at)`);
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION notify_connection_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        changed connections%ROWTYPE := COALESCE(NEW, OLD);
      BEGIN
        PERFORM pg_notify('connection_changed', changed.product || ':' || changed.account);
        INSERT INTO connection_changes (id) VALUES (changed.product || ':' || changed.account);
        RETURN NULL;
      END $$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION notify_connection_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        changed connections%ROWTYPE := COALESCE(NEW, OLD);
      BEGIN
        PERFORM pg_notify('connection_changed', changed.product || ':' || changed.account);
        RETURN NULL;
      END $$`);
    await queryRunner.query(`DROP TABLE connection_changes`);
    await queryRunner.query(`DROP TABLE connection_leases`);
  }
}
