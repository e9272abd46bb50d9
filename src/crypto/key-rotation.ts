import type { DataSource } from 'typeorm';
import type { Product } from '../config/config';
import { DecryptionError, type TokenCipher } from './token-cipher';

interface StoredTokens {
  account: string;
  product: Product;
  access_token: string;
  refresh_token: string;
}

export interface RotationSummary {
  reencrypted: number;
  skipped: number;
  unreadable: number;
}

const BATCH = 200;

/**
 * Re-encrypts every connection still under an older key with the current TOKEN_ENCRYPTION_KEY.
 * Online and idempotent: each row is rewritten only if its ciphertexts are still the ones read
 * (a refresh that raced it has already written under the current key), so it is safe to run
 * beside live replicas, to interrupt, and to run again. When it reports nothing left under old
 * keys, TOKEN_ENCRYPTION_PREVIOUS_KEYS can be emptied.
 */
export async function rotateKeys(
  dataSource: DataSource,
  cipher: TokenCipher,
  log: (message: string) => void,
): Promise<RotationSummary> {
  const summary: RotationSummary = { reencrypted: 0, skipped: 0, unreadable: 0 };
  let after: [string, string] = ['', ''];
  for (;;) {
    const rows: StoredTokens[] = await dataSource.query(
      `SELECT account, product, access_token, refresh_token FROM connections
        WHERE (account, product) > ($1, $2) ORDER BY account, product LIMIT $3`,
      [after[0], after[1], BATCH],
    );
    if (rows.length === 0) break;
    after = [rows[rows.length - 1].account, rows[rows.length - 1].product];
    for (const row of rows) {
      if (!cipher.isStale(row.access_token) && !cipher.isStale(row.refresh_token)) continue;
      let access: string;
      let refresh: string;
      try {
        access = cipher.decrypt(row.access_token, row);
        refresh = cipher.decrypt(row.refresh_token, row);
      } catch (error) {
        if (!(error instanceof DecryptionError)) throw error;
        summary.unreadable++;
        log(
          `rotate-key: ${row.product}/${row.account} cannot be decrypted (${error.message}); left as is`,
        );
        continue;
      }
      const [, affected] = await dataSource.query(
        `UPDATE connections SET access_token = $3, refresh_token = $4
          WHERE account = $1 AND product = $2 AND access_token = $5 AND refresh_token = $6`,
        [
          row.account,
          row.product,
          cipher.encrypt(access, row),
          cipher.encrypt(refresh, row),
          row.access_token,
          row.refresh_token,
        ],
      );
      if (affected === 1) summary.reencrypted++;
      else summary.skipped++; // changed meanwhile: written under the current key already
    }
    log(`rotate-key: ${summary.reencrypted} re-encrypted so far`);
  }
  return summary;
}
