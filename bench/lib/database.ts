/**
 * The benchmark's PostgreSQL: DATABASE_URL if set; otherwise a fresh database on the local server
 * (127.0.0.1:5432, user postgres) if it answers; otherwise the broker's embedded PostgreSQL in a
 * temporary directory. Whatever is created here is dropped or stopped at the end.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type * as Embedded from '../../src/database/embedded-postgres';
import { onCleanup } from './processes';
import { BROKER_DIST } from './services';

export interface Database {
  url: string;
  origin: 'DATABASE_URL' | 'local server' | 'embedded';
}

const LOCAL_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

export async function provideDatabase(): Promise<Database> {
  const given = process.env.DATABASE_URL;
  if (given) return { url: given, origin: 'DATABASE_URL' };
  // BENCH_DATABASE=embedded skips the local server (to try the fallback).
  const tryLocal = process.env.BENCH_DATABASE !== 'embedded';
  const local = tryLocal ? await createOnLocalServer().catch(() => undefined) : undefined;
  if (local) return { url: local, origin: 'local server' };
  return { url: await startEmbedded(), origin: 'embedded' };
}

async function createOnLocalServer(): Promise<string> {
  const name = `bench_${Date.now()}`;
  await withClient(LOCAL_SERVER, (admin) => admin.query(`CREATE DATABASE ${name}`));
  onCleanup(async () => {
    await withClient(LOCAL_SERVER, (admin) =>
      admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    );
  });
  const url = new URL(LOCAL_SERVER);
  url.pathname = `/${name}`;
  return url.toString();
}

async function startEmbedded(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'broker-bench-'));
  // As root the server runs as OS user "postgres", which must reach the cluster inside `dir`
  // (otherwise it moves to a directory under /var/tmp that this cleanup would not remove).
  chmodSync(dir, 0o755);
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  // The built module, as production runs it (from the snapshot of the build under test).
  const { startEmbeddedPostgres } = require(
    join(BROKER_DIST, 'database', 'embedded-postgres.js'),
  ) as typeof Embedded;
  const db = await startEmbeddedPostgres(dir, (msg) => console.log(`  ${msg}`), 'bench');
  onCleanup(() => db.stop());
  return db.url;
}

export async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function serverVersion(url: string): Promise<string> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0].server_version;
  });
}
