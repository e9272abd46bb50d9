import { MigrationExecutor, type DataSource, type Migration } from 'typeorm';

/** The key of the migrations' transaction-scoped advisory lock (any constant; this one is named). */
const MIGRATIONS_LOCK = 'rdstation-token-broker:migrations';

/**
 * Applies the pending migrations in ONE transaction that first takes a transaction-scoped
 * advisory lock, so replicas started together on an empty database run them one after another:
 * the first applies them, the others wait, then find nothing pending. Transaction-scoped (not a
 * session lock) so it also holds behind a transaction pooler, where only a transaction keeps its
 * server connection; one transaction for all of them, because the migrations table itself is
 * created by the first statement, which must already be under the lock.
 */
export async function migrateUnderLock(dataSource: DataSource): Promise<Migration[]> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        MIGRATIONS_LOCK,
      ]);
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'all'; // the open transaction is used, not a new one
      const applied = await executor.executePendingMigrations();
      await runner.commitTransaction();
      return applied;
    } catch (error) {
      await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  } finally {
    await runner.release();
  }
}
