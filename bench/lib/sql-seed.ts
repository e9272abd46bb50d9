/**
 * Seeding for `--scale`: connections written by SQL in batches (100,000 take seconds, where the
 * admin import route of seed.ts takes many minutes), encrypted by the broker's own TokenCipher
 * (brokerCipher), so every row is a real ciphertext the brokers decrypt on a cache miss.
 *
 * Each row looks like a CRM connection refreshed within the last hour: a token of RD's 2-hour
 * lifetime, next_refresh_at 10 minutes before its expiry (REFRESH_AHEAD_SECONDS' default), so
 * nothing is due for at least 50 minutes and reads serve the stored token. These tokens are not
 * grants the fake RD knows; rows a drain makes due get live ones first (giveLiveGrants).
 */
import { randomBytes } from 'node:crypto';
import type { TokenCipher } from '../../src/crypto/token-cipher';
import { withClient } from './database';
import type { Child } from './processes';
import type { Grant } from './seed';
import { fakeControl } from './services';

/** Rows per INSERT statement (each row's values travel in four arrays). */
const BATCH = 5_000;
const GRANT_CONCURRENCY = 50;

/** Plaintext lengths of a real grant of the fake, so ciphertexts are as long as real ones. */
export interface TokenLengths {
  access: number;
  refresh: number;
}

export function lengthsOf(grant: Grant): TokenLengths {
  return { access: grant.accessToken.length, refresh: grant.refreshToken.length };
}

/** [from, to) cut into consecutive [start, end) ranges of at most `size` items. */
export function batches(from: number, to: number, size: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let start = from; start < to; start += size)
    ranges.push([start, Math.min(to, start + size)]);
  return ranges;
}

/** `count` of `items`, evenly spread over them from the first (all of them if count ≥ length). */
export function evenlySpaced<T>(items: readonly T[], count: number): T[] {
  if (count >= items.length) return [...items];
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]);
}

function filler(length: number): string {
  return randomBytes(Math.ceil((length * 3) / 4) + 1)
    .toString('base64url')
    .slice(0, length);
}

// `$4` is each row's age in seconds: how long ago it was last refreshed (0-3,599, so the due
// index holds an hour's spread of next_refresh_at, as in production, not one value).
const INSERT_SQL = `
  INSERT INTO connections (account, product, status, access_token, refresh_token,
                           expires_at, last_refreshed_at, next_refresh_at)
  SELECT t.account, 'crm', 'active', t.access, t.refresh,
         r.at + interval '2 hours', r.at, r.at + interval '110 minutes'
    FROM unnest($1::varchar[], $2::text[], $3::text[], $4::int[]) AS t(account, access, refresh, age)
   CROSS JOIN LATERAL (SELECT now() - t.age * interval '1 second' AS at) r`;

/** Inserts accounts[from..to) (crm, active), in batches, with encrypted filler tokens. */
export async function growTable(
  databaseUrl: string,
  cipher: TokenCipher,
  accounts: readonly string[],
  [from, to]: [number, number],
  lengths: TokenLengths,
): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    for (const [start, end] of batches(from, to, BATCH)) {
      const batch = accounts.slice(start, end);
      const encrypt = (length: number) =>
        batch.map((account) => cipher.encrypt(filler(length), { account, product: 'crm' }));
      const ages = batch.map((_, i) => (start + i) % 3600);
      await client.query(INSERT_SQL, [
        batch,
        encrypt(lengths.access),
        encrypt(lengths.refresh),
        ages,
      ]);
    }
  });
}

async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

/**
 * Gives each of `accounts` a fresh grant issued by the fake RD (POST /_fake/grants), encrypted
 * into its row as an import would store it, so a drain's refreshes succeed at the fake.
 */
export async function giveLiveGrants(
  databaseUrl: string,
  fake: Child,
  cipher: TokenCipher,
  accounts: readonly string[],
): Promise<void> {
  const grants = await mapConcurrent(accounts, GRANT_CONCURRENCY, () =>
    fakeControl<Grant>(fake, '/_fake/grants', { product: 'crm' }),
  );
  const context = (account: string) => ({ account, product: 'crm' });
  const { rowCount } = await withClient(databaseUrl, (client) =>
    client.query(
      `UPDATE connections c
          SET access_token = t.access, refresh_token = t.refresh, status = 'active',
              expires_at = now() + t.expires_in * interval '1 second', last_refreshed_at = now(),
              updated_at = now()
         FROM unnest($1::varchar[], $2::text[], $3::text[], $4::int[])
              AS t(account, access, refresh, expires_in)
        WHERE c.account = t.account AND c.product = 'crm'`,
      [
        accounts,
        grants.map((g, i) => cipher.encrypt(g.accessToken, context(accounts[i]))),
        grants.map((g, i) => cipher.encrypt(g.refreshToken, context(accounts[i]))),
        grants.map((g) => g.expiresIn),
      ],
    ),
  );
  if (rowCount !== accounts.length)
    throw new Error(`live grants written to ${rowCount} rows, expected ${accounts.length}`);
}

/** The rows as autovacuum would leave them after a bulk load: visibility map set, stats current. */
export async function vacuumAnalyze(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, (client) => client.query('VACUUM ANALYZE connections'));
}
