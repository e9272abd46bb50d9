import type { Product } from '../../src/config/config';
import { Connection } from '../../src/database/connection.entity';
import { ConnectionsRepository } from '../../src/connections/connections.repository';
import type { Harness } from './harness';

/**
 * `count` connections `<prefix>-<i>` backed by real grants at the fake RD, stored through the
 * broker's own repository (encrypted as in production) in one transaction.
 */
export async function seedConnections(
  h: Harness,
  count: number,
  product: Product,
  { prefix = 'seed', expiresInSeconds = 7200 }: { prefix?: string; expiresInSeconds?: number } = {},
): Promise<string[]> {
  const repository = h.broker.app.get(ConnectionsRepository);
  const accounts = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  await h.db.dataSource.transaction(async (tx) => {
    for (const account of accounts) {
      const grant = h.rd.issueGrant(product);
      const expiresAt = new Date(Date.now() + expiresInSeconds * 1000);
      await repository.saveConnected(
        tx,
        { account, product },
        { accessToken: grant.accessToken, refreshToken: grant.refreshToken, expiresAt },
        null,
      );
      // Aged consistently: a token with little left was refreshed a full lifetime before it
      // expires (the read policy, src/refresh/refresh-policy.ts, reads both columns).
      const lifetime = Math.max(h.rd.accessTokenTtlSeconds[product], expiresInSeconds);
      await tx.query(
        `UPDATE connections SET last_refreshed_at = $3 WHERE account = $1 AND product = $2`,
        [account, product, new Date(expiresAt.getTime() - lifetime * 1000)],
      );
    }
  });
  return accounts;
}

/** Makes every connection due for the scheduler now. */
export async function makeAllDue(h: Harness): Promise<void> {
  await h.db.dataSource.query(
    `UPDATE connections SET next_refresh_at = now() - interval '1 second'`,
  );
}

/**
 * One connection with tokens the test knows (e.g. a grant it issued itself), stored through the
 * broker's own repository, encrypted as in production.
 */
export async function seedConnection(
  h: Harness,
  key: { account: string; product: Product },
  tokens: { accessToken: string; refreshToken: string; expiresAt: Date },
): Promise<void> {
  const repository = h.broker.app.get(ConnectionsRepository);
  await h.db.dataSource.transaction((tx) => repository.saveConnected(tx, key, tokens, null));
}

/** The refresh token the broker has stored for a connection, decrypted. */
export async function storedRefreshToken(
  h: Harness,
  account: string,
  product: Product = 'crm',
): Promise<string> {
  const row = await h.db.dataSource.manager.findOneByOrFail(Connection, { account, product });
  return h.broker.app.get(ConnectionsRepository).refreshTokenOf(row);
}
