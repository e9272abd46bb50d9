import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every change to a connection's token, expiry or status (and every insert and delete) sends
 * NOTIFY connection_changed '<product>:<account>' when its transaction commits. Replicas drop
 * their cached copy on it. A trigger, not application code, so no write path can forget it —
 * not even an operator's hand-written UPDATE.
 */
export class NotifyConnectionChanges1764140400000 implements MigrationInterface {
  name = 'NotifyConnectionChanges1764140400000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION notify_connection_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        changed connections%ROWTYPE := COALESCE(NEW, OLD);
      BEGIN
        PERFORM pg_notify('connection_changed', changed.product || ':' || changed.account);
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER connections_notify_insert_delete AFTER INSERT OR DELETE ON connections
        FOR EACH ROW EXECUTE FUNCTION notify_connection_changed()`);
    await queryRunner.query(`
      CREATE TRIGGER connections_notify_update AFTER UPDATE ON connections
        FOR EACH ROW WHEN (OLD.access_token IS DISTINCT FROM NEW.access_token
                        OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
                        OR OLD.status IS DISTINCT FROM NEW.status)
        EXECUTE FUNCTION notify_connection_changed()`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER connections_notify_update ON connections`);
    await queryRunner.query(`DROP TRIGGER connections_notify_insert_delete ON connections`);
    await queryRunner.query(`DROP FUNCTION notify_connection_changed()`);
  }
}
