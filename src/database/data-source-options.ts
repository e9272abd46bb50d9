import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { Connection } from './connection.entity';

/**
 * Compiled, the migrations sit in dist/migrations beside dist/database; from source (jest, tsx)
 * they are the top-level migrations/*.ts.
 */
function migrationsGlob(): string {
  const fromSource = __filename.endsWith('.ts');
  const root = fromSource ? resolve(__dirname, '..', '..') : resolve(__dirname, '..');
  const extension = fromSource ? '.ts' : '.js';
  const dir = join(root, 'migrations');
  // An empty glob would start the broker on a schema that was never created: refuse loudly.
  if (!existsSync(dir) || !readdirSync(dir).some((file) => file.endsWith(extension))) {
    throw new Error(
      `no migrations found in ${dir}; build with \`npm run build\` (it compiles migrations/ too)`,
    );
  }
  return join(dir, `*${extension}`);
}

export const ENTITIES = [Connection];

/**
 * Only startup parameters every pooler accepts (PgBouncer's stock settings refuse
 * `options` and most GUCs): timeouts that were session settings are now `SET LOCAL` inside the
 * transactions that need them (connection-lock.ts), and nothing holds a transaction open across
 * a call to RD.
 */
export function dataSourceOptions(
  url: string,
  options: { poolSize?: number } = {},
): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: [migrationsGlob()],
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'all',
    synchronize: false,
    logging: false,
    extra: {
      max: options.poolSize ?? 20,
      connectionTimeoutMillis: 5_000,
      application_name: 'rdstation-token-broker',
    },
  };
}
