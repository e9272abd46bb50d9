/**
 * The due queue's claim query at 1,000 / 10,000 / 100,000 connections: its plan (EXPLAIN, no
 * ANALYZE: the UPDATE would claim rows) with 1 % of the rows due, and the table and index sizes.
 * Rows are seeded by SQL with ciphertext-sized token columns; the plan and sizes do not depend on
 * the ciphertext being real. `tsx bench/plan.ts` (DATABASE_URL: a server; a database of its own
 * is created and dropped; TEST_SERVER_URL is set from it).
 */
import { createTestDatabase } from '../test/support/database';

const CLAIM = `UPDATE connections c SET claimed_until = now() + make_interval(secs => 30)
  FROM (SELECT account, product FROM connections
         WHERE next_refresh_at <= now() AND status <> 'reauthorization_required'
           AND (claimed_until IS NULL OR claimed_until < now())
           AND NOT EXISTS (SELECT 1 FROM product_holds h
                            WHERE h.product = connections.product AND h.retry_at > now())
         ORDER BY next_refresh_at
         LIMIT 64
         FOR UPDATE SKIP LOCKED) due
  WHERE c.account = due.account AND c.product = due.product
  RETURNING c.account, c.product`;

async function main(): Promise<void> {
  process.env.TEST_SERVER_URL ??=
    process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  for (const size of [1_000, 10_000, 100_000]) {
    const db = await createTestDatabase();
    try {
      const q = (sql: string) => db.dataSource.query(sql);
      await q(`INSERT INTO connections (account, product, status, access_token, refresh_token,
                 expires_at, last_refreshed_at, next_refresh_at)
               SELECT 'bench-' || i, 'crm', 'active', repeat(md5(i::text), 5), repeat(md5(i::text), 3),
                      now() + interval '1 hour', now(),
                      CASE WHEN i % 100 = 0 THEN now() - interval '1 s'
                           ELSE now() + (i % 3600) * interval '1 s' END
                 FROM generate_series(1, ${size}) i`);
      await q('VACUUM ANALYZE connections');
      const plan = (await q(`EXPLAIN ${CLAIM}`)) as Array<{ 'QUERY PLAN': string }>;
      const sizes =
        (await q(`SELECT c.relname AS name, pg_size_pretty(pg_relation_size(c.oid)) AS size
                                FROM pg_class c
                               WHERE c.relname = 'connections'
                                  OR c.oid IN (SELECT indexrelid FROM pg_index
                                                WHERE indrelid = 'connections'::regclass)
                               ORDER BY c.relname`)) as Array<{ name: string; size: string }>;
      console.log(`\n== ${size.toLocaleString('en')} connections, 1 % due ==`);
      for (const row of plan) console.log(row['QUERY PLAN']);
      console.log(sizes.map((s) => `${s.name} ${s.size}`).join('; '));
    } finally {
      await db.drop();
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
