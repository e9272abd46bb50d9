/**
 * Seeds N connections through the broker's own admin import route (PUT /connections/:account),
 * each holding a real grant issued by the fake RD, so rows are encrypted exactly as in production
 * and later refreshes succeed at the fake.
 */
import { withClient } from './database';
import type { Child } from './processes';
import { call, fakeControl } from './services';

export const ACCOUNT_PREFIX = 'bench-';
const SEED_CONCURRENCY = 50;

export function accountNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${ACCOUNT_PREFIX}${String(i).padStart(6, '0')}`);
}

/** A grant as the fake RD's POST /_fake/grants answers it. */
export interface Grant {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

/**
 * The bench rewrites next_refresh_at and lets a scheduler pointed at the fake refresh every due
 * row: refuse a database holding anyone else's connections, and start from no bench rows.
 */
export async function prepareTable(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM connections WHERE account NOT LIKE $1`,
      [`${ACCOUNT_PREFIX}%`],
    );
    if (Number(rows[0].n) > 0) {
      throw new Error(
        `the database holds ${rows[0].n} connections that are not the bench's; ` +
          'point DATABASE_URL at a database of its own (or unset it)',
      );
    }
    await client.query(`DELETE FROM connections WHERE account LIKE $1`, [`${ACCOUNT_PREFIX}%`]);
  });
}

export async function removeBenchRows(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, (client) =>
    client.query(`DELETE FROM connections WHERE account LIKE $1`, [`${ACCOUNT_PREFIX}%`]),
  );
}

async function seedOne(fake: Child, broker: Child, adminKey: string, account: string) {
  const grant = await fakeControl<Grant>(fake, '/_fake/grants', { product: 'crm' });
  const { status, body } = await call(`${broker.url}/connections/${account}`, {
    method: 'PUT',
    token: adminKey,
    body: {
      product: 'crm',
      refreshToken: grant.refreshToken,
      accessToken: grant.accessToken,
      expiresAt: new Date(Date.now() + grant.expiresIn * 1000).toISOString(),
    },
  });
  if (status !== 200 && status !== 201) {
    throw new Error(`import of ${account}: HTTP ${status} ${JSON.stringify(body)}`);
  }
}

export async function seedConnections(
  fake: Child,
  broker: Child,
  adminKey: string,
  accounts: string[],
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < accounts.length) await seedOne(fake, broker, adminKey, accounts[next++]);
  };
  const workers = Array.from({ length: SEED_CONCURRENCY }, worker);
  await Promise.race([Promise.all(workers), broker.crashed, fake.crashed]);
}

/** The rows are there, and hold ciphertext, not the tokens the fake issued. */
export async function verifySeed(databaseUrl: string, accounts: string[]): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{ n: string; plain: string }>(
      `SELECT count(*) AS n,
              count(*) FILTER (WHERE access_token LIKE 'eyJ%' OR refresh_token = '') AS plain
         FROM connections WHERE account LIKE $1 AND product = 'crm'`,
      [`${ACCOUNT_PREFIX}%`],
    );
    if (Number(rows[0].n) !== accounts.length) {
      throw new Error(`seeded ${rows[0].n} connections, expected ${accounts.length}`);
    }
    if (Number(rows[0].plain) > 0)
      throw new Error(`${rows[0].plain} access tokens look unencrypted`);
  });
}
