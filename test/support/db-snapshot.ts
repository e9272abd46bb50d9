import type { DataSource } from 'typeorm';

/** Every row of every table in the public schema, as sorted JSON text per table. */
export async function snapshotDatabase(dataSource: DataSource): Promise<Record<string, string[]>> {
  const tables: Array<{ name: string }> = await dataSource.query(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const snapshot: Record<string, string[]> = {};
  for (const { name } of tables) {
    const rows: Array<{ row: string }> = await dataSource.query(
      `SELECT to_jsonb(t)::text AS row FROM "${name}" t`,
    );
    snapshot[name] = rows.map((r) => r.row).sort();
  }
  return snapshot;
}
