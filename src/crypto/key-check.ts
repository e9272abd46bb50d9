import { Client } from 'pg';
import type { ConfigType } from '@nestjs/config';
import type { cryptoConfig } from '../config/slices';

/** Stored tokens under a key the broker does not hold: it could serve none of them. */
export class UnknownEncryptionKeyError extends Error {}

/**
 * Refuses to start when connections are stored under a key id that is neither
 * TOKEN_ENCRYPTION_KEY nor one of TOKEN_ENCRYPTION_PREVIOUS_KEYS (a key changed over existing
 * data, or a previous key dropped before `rotate-key` finished): such a broker would start
 * without a word and then answer every read of those connections 500. One statement over the
 * key ids (`v1.<keyId>.…`), run before the app starts; a database without the table yet (never
 * migrated) has nothing to check.
 */
export async function assertStoredKeysKnown(
  url: string,
  config: ConfigType<typeof cryptoConfig>,
): Promise<void> {
  const known = new Set([config.current, ...config.previous].map((k) => k.id));
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const table = await client.query<{ exists: boolean }>(
      `SELECT to_regclass('connections') IS NOT NULL AS exists`,
    );
    if (!table.rows[0].exists) return;
    const { rows } = await client.query<{ key_id: string; connections: string }>(
      `SELECT key_id, count(DISTINCT (account, product)) AS connections
         FROM (SELECT account, product, split_part(access_token, '.', 2) AS key_id FROM connections
               UNION ALL
               SELECT account, product, split_part(refresh_token, '.', 2) FROM connections) AS k
        GROUP BY key_id`,
    );
    const unknown = rows.filter((row) => !known.has(row.key_id));
    if (unknown.length === 0) return;
    const ids = unknown.map((row) => `${row.key_id} (${row.connections} connections)`).join(', ');
    throw new UnknownEncryptionKeyError(
      `TOKEN_ENCRYPTION_KEY: stored tokens are encrypted under key id ${ids}, which is neither ` +
        `TOKEN_ENCRYPTION_KEY (id ${config.current.id}) nor one of ` +
        `TOKEN_ENCRYPTION_PREVIOUS_KEYS; add the key they were written with to ` +
        `TOKEN_ENCRYPTION_PREVIOUS_KEYS (README: "Rotating the encryption key")`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
