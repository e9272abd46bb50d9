import type { Product } from '../../src/config/config';
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
      await repository.saveConnected(
        tx,
        { account, product },
        {
          accessToken: grant.accessToken,
          refreshToken: grant.refreshToken,
          expiresAt: new Date(Date.now() + expiresInSeconds * 1000),
        },
        null,
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
