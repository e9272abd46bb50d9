import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as EmbeddedFile from '../../src/database/embedded-postgres';
import type { EmbeddedDatabase } from '../../src/database/embedded-postgres';

declare global {
  var embeddedTestDatabase: EmbeddedDatabase | undefined;
}

/**
 * A password given as PGPASSWORD (as psql takes it) goes into the URL: brokers started as child
 * processes receive only the URL, not this process's environment.
 */
function withPgEnvPassword(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (!url.password && process.env.PGPASSWORD)
    url.password = encodeURIComponent(process.env.PGPASSWORD);
  return url.href;
}

/**
 * The suites need a PostgreSQL server: DATABASE_URL when set, otherwise an embedded one started
 * once for the whole run. Each test file then creates its own database on it (test/support/database.ts).
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env.TEST_SERVER_URL = withPgEnvPassword(process.env.DATABASE_URL);
    return;
  }
  // Only now: embedded-postgres is an optional dependency, not needed with DATABASE_URL.
  const { startEmbeddedPostgres } =
    require('../../src/database/embedded-postgres') as typeof EmbeddedFile;
  const dataDir = mkdtempSync(join(tmpdir(), 'broker-test-pg-'));
  chmodSync(dataDir, 0o755); // as root, the server runs as OS user "postgres"
  const embedded = await startEmbeddedPostgres(dataDir, () => undefined, 'postgres');
  globalThis.embeddedTestDatabase = embedded;
  process.env.TEST_SERVER_URL = embedded.url;
}
