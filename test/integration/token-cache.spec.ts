import { Client } from 'pg';
import { ConnectionsRepository } from '../../src/connections/connections.repository';
import { TokenCache } from '../../src/tokens/token-cache';
import { startBroker, type TestBroker } from '../support/broker';
import { auth, connect, createHarness, type Harness } from '../support/harness';
import { startTcpHoldingProxy, type TcpHoldingProxy } from '../support/holding-proxy';
import { waitFor } from '../support/process';
import { seedConnections } from '../support/seed';

async function read(url: string, account = 'acme') {
  const res = await fetch(`${url}/tokens/${account}?product=crm`, {
    headers: { authorization: auth.service },
  });
  return { status: res.status, body: (await res.json()) as { accessToken?: string } };
}

function countDatabaseReads(h: Harness, replica: number) {
  return jest.spyOn(h.brokers[replica].app.get(ConnectionsRepository), 'findOne');
}

describe('token cache', () => {
  describe('across two replicas', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness({ replicas: 2 });
    });
    afterAll(() => h.close());
    beforeEach(async () => {
      await h.db.dataSource.query('TRUNCATE connections'); // no row trigger: nothing invalidated
      await connect(h, 'acme', 'crm');
      // The connect's change must have reached the other replica, by NOTIFY and by the poll
      // (TOKEN_CACHE_POLL_MS 1000), before a test counts its reads.
      const fresh = (await read(h.brokers[0].url)).body.accessToken;
      await waitFor(
        async () => ((await read(h.brokers[1].url)).body.accessToken === fresh ? true : undefined),
        { what: "the connect's change on the other replica" },
      );
      await new Promise((resolve) => setTimeout(resolve, 1_200));
    });
    afterEach(() => jest.restoreAllMocks());

    it('serves a fresh token from memory after the first read', async () => {
      const reads = countDatabaseReads(h, 1);
      const first = await read(h.brokers[1].url);
      for (let i = 0; i < 20; i++)
        expect((await read(h.brokers[1].url)).body.accessToken).toBe(first.body.accessToken);
      expect(reads).toHaveBeenCalledTimes(1);
    });

    it('still refreshes when the cached token has less than minValidity left', async () => {
      await h.db.dataSource.query('TRUNCATE connections');
      await connect(h, 'acme', 'crm');
      // A 2-hour token with 30 minutes left (minValidity 3600 is within the provider's lifetime).
      await h.db.dataSource.query(
        `UPDATE connections SET expires_at = now() + interval '30 minutes', last_refreshed_at = now() - interval '90 minutes'`,
      );
      h.rd.reset();
      const cached = await read(h.brokers[1].url); // 1800 s left: cached for default reads
      const res = await fetch(`${h.brokers[1].url}/tokens/acme?product=crm&minValidity=3600`, {
        headers: { authorization: auth.service },
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { accessToken: string }).accessToken).not.toBe(
        cached.body.accessToken,
      );
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
    });

    it('does not cache a row read across an invalidation of that connection, only of that one', () => {
      const cache = h.brokers[0].app.get(TokenCache);
      const expiresAt = new Date(Date.now() + 3600_000);
      const token = { accessToken: 'x', expiresAt, expiresAtIso: expiresAt.toISOString() };
      const a = { account: 'ticket-a', product: 'crm' as const };
      const b = { account: 'ticket-b', product: 'crm' as const };

      const ticket = cache.ticket();
      cache.invalidate(b); // another connection changed meanwhile: irrelevant to a
      cache.set(a, token, ticket);
      expect(cache.get(a)).toEqual(token);

      const later = cache.ticket();
      cache.invalidate(a); // a itself changed after the read began: its row may be stale
      cache.set(a, token, later);
      expect(cache.get(a)).toBeUndefined();
      cache.set(a, token, cache.ticket()); // a read that began after the change may cache
      expect(cache.get(a)).toEqual(token);
      cache.invalidate(a);
    });

    it('drops a connection deleted on the other replica', async () => {
      expect((await read(h.brokers[1].url)).status).toBe(200);
      const deleted = await fetch(`${h.brokers[0].url}/connections/acme?product=crm`, {
        method: 'DELETE',
        headers: { authorization: auth.admin },
      });
      expect(deleted.status).toBe(204);
      expect((await read(h.brokers[0].url)).status).toBe(404); // the writer's own cache: at once
      await waitFor(
        async () => ((await read(h.brokers[1].url)).status === 404 ? true : undefined),
        { timeoutMs: 5_000, what: 'the NOTIFY' },
      );
    });

    it('serves the new token after a refresh on the other replica', async () => {
      const before = await read(h.brokers[1].url);
      const refreshed = await fetch(`${h.brokers[0].url}/connections/acme/refresh?product=crm`, {
        method: 'POST',
        headers: { authorization: auth.admin },
      });
      expect(refreshed.status).toBe(200);
      const after = await waitFor(
        async () => {
          const res = await read(h.brokers[1].url);
          return res.body.accessToken !== before.body.accessToken ? res : undefined;
        },
        { timeoutMs: 5_000, what: 'the NOTIFY' },
      );
      expect(h.rd.isLiveAccessToken(after.body.accessToken!)).toBe(true);
    });

    it('keeps serving from the cache while the LISTEN channel is down, sees changes by polling, and listens again', async () => {
      const before = await read(h.brokers[1].url);
      const reads = countDatabaseReads(h, 1);
      await h.db.dataSource.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rdstation-token-broker:cache' AND datname = current_database()`,
      );
      // A lost channel empties nothing: the cached token is served without a database read.
      expect((await read(h.brokers[1].url)).body.accessToken).toBe(before.body.accessToken);
      expect(reads).not.toHaveBeenCalled();
      // A refresh elsewhere is still seen, by the poll.
      const refreshed = await fetch(`${h.brokers[0].url}/connections/acme/refresh?product=crm`, {
        method: 'POST',
        headers: { authorization: auth.admin },
      });
      expect(refreshed.status).toBe(200);
      await waitFor(
        async () => {
          const res = await read(h.brokers[1].url);
          return res.body.accessToken !== before.body.accessToken ? true : undefined;
        },
        { timeoutMs: 5_000, what: 'the change to be polled' },
      );
      await waitFor(
        async () => {
          const [{ n }] = await h.db.dataSource.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'rdstation-token-broker:cache' AND datname = current_database()`,
          );
          return n === 2 ? true : undefined; // both replicas listening again
        },
        { timeoutMs: 10_000, what: 'the listeners to come back' },
      );
    });

    it('sees a change committed by a transaction that was already running at earlier polls', async () => {
      const before = await read(h.brokers[1].url);
      const client = new Client({ connectionString: h.db.url });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SELECT pg_current_xact_id()`); // an xid from now on
        // Polls pass while the transaction runs (default TOKEN_CACHE_POLL_MS 1000).
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        await client.query(
          `UPDATE connections SET expires_at = expires_at - interval '1 second' WHERE account = 'acme'`,
        );
        // LISTEN would tell at once; the poll must not have skipped this transaction either.
        await h.db.dataSource.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rdstation-token-broker:cache' AND datname = current_database()`,
        );
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
      const reads = countDatabaseReads(h, 1);
      await waitFor(
        async () => {
          await read(h.brokers[1].url);
          return reads.mock.calls.length > 0 ? true : undefined;
        },
        { timeoutMs: 5_000, what: 'the cached token to be dropped' },
      );
      expect((await read(h.brokers[1].url)).body.accessToken).toBe(before.body.accessToken);
    });
  });

  describe('after a silent loss of the listening connection (no error, no end)', () => {
    const HEARTBEAT_MS = 500;
    let h: Harness;
    let proxy: TcpHoldingProxy;
    let behind: TestBroker;
    const isCacheConnection = (startup: string) => startup.includes('rdstation-token-broker:cache');

    /**
     * The replica's proven listeners, as the database sees them: its sessions through the proxy
     * named as the cache's LISTEN connection whose last statement is the heartbeat (the LISTEN
     * came first on that session, and the replica starts beating only once it is listening).
     * The harness's own broker listens directly, not through the proxy, and is not counted.
     */
    async function provenListeners(): Promise<number[]> {
      const rows: Array<{ pid: number }> = await h.db.dataSource.query(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'rdstation-token-broker:cache'
            AND client_port = ANY($1::int[]) AND query = 'SELECT 1'`,
        [proxy.upstreamPorts(isCacheConnection)],
      );
      return rows.map((row) => row.pid);
    }

    beforeAll(async () => {
      h = await createHarness();
      const direct = new URL(h.db.url);
      proxy = await startTcpHoldingProxy(direct.hostname, Number(direct.port || 5432));
      const proxied = new URL(h.db.url);
      proxied.hostname = proxy.host;
      proxied.port = String(proxy.port);
      // A replica whose database traffic goes through the proxy.
      behind = await startBroker(proxied.toString(), {
        RD_API_URL: h.rd.url,
        RD_ACCOUNTS_URL: h.rd.url,
        TOKEN_CACHE_HEARTBEAT_MS: String(HEARTBEAT_MS),
        DATABASE_DIRECT_URL: proxied.toString(),
      });
    });
    afterAll(async () => {
      await behind.close();
      await proxy.close();
      await h.close();
    });

    it('notices the silent channel by its heartbeat, serves the change by polling meanwhile, keeps caching, then listens again', async () => {
      const [listener] = await waitFor(
        async () => {
          const pids = await provenListeners();
          return pids.length === 1 ? pids : undefined;
        },
        { what: 'the replica to listen' },
      );
      await connect(h, 'acme', 'crm');
      const before = await waitFor(
        async () => {
          const res = await read(behind.url);
          return res.status === 200 ? res : undefined;
        },
        { what: 'the connection on the replica behind the proxy' },
      );

      proxy.hold(isCacheConnection); // the listener's NOTIFYs stop arriving, silently
      const refreshed = await fetch(`${h.broker.url}/connections/acme/refresh?product=crm`, {
        method: 'POST',
        headers: { authorization: auth.admin },
      });
      expect(refreshed.status).toBe(200);
      const after = await waitFor(
        async () => {
          const res = await read(behind.url);
          return res.body.accessToken !== before.body.accessToken ? res : undefined;
        },
        { timeoutMs: 5_000, what: 'the change to be served (TOKEN_CACHE_POLL_MS 1000)' },
      );
      expect(h.rd.isLiveAccessToken(after.body.accessToken!)).toBe(true);
      // Detected by the heartbeat (not by an error or an end: the proxy closed nothing).
      await waitFor(
        async () => {
          const metrics = await (await fetch(`${behind.url}/metrics`)).text();
          return /broker_token_cache_channel_losses_total\{reason="heartbeat"\} [1-9]/.test(metrics)
            ? true
            : undefined;
        },
        { timeoutMs: 5_000, what: 'the heartbeat to notice' },
      );
      // The replica dropped its silent listener (the database sees that session end) and its new
      // ones are held too: the database has no listener of the replica left.
      await waitFor(async () => ((await provenListeners()).length === 0 ? true : undefined), {
        what: 'the silent listener to be dropped',
      });
      // Still cached meanwhile: one database read for three answers.
      const readsBehind = jest.spyOn(behind.app.get(ConnectionsRepository), 'findOne');
      await read(behind.url);
      await read(behind.url);
      await read(behind.url);
      expect(readsBehind.mock.calls.length).toBeLessThanOrEqual(1);

      // The network heals: a new listener gets through and proves itself by its heartbeat.
      proxy.release();
      await waitFor(
        async () => ((await provenListeners()).some((pid) => pid !== listener) ? true : undefined),
        { timeoutMs: 15_000, what: 'the listener to come back' },
      );
      jest.restoreAllMocks();
    });
  });

  it('holds at most TOKEN_CACHE_MAX entries, and none with 0', async () => {
    for (const [max, expectedReads] of [
      ['2', 3 + 1],
      ['0', 3 + 3],
    ] as const) {
      const h = await createHarness({ env: { TOKEN_CACHE_MAX: max } });
      try {
        const accounts = await seedConnections(h, 3, 'crm');
        const reads = countDatabaseReads(h, 0);
        for (const account of accounts)
          expect((await read(h.broker.url, account)).status).toBe(200);
        // With room for 2, the first account was evicted; with 0, nothing is kept.
        for (const account of [accounts[2], accounts[1], accounts[0]])
          await read(h.broker.url, account);
        expect(reads).toHaveBeenCalledTimes(expectedReads);
      } finally {
        jest.restoreAllMocks();
        await h.close();
      }
    }
  });
});
