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
      await h.db.dataSource.query('TRUNCATE connections');
      await connect(h, 'acme', 'crm');
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
      const token = { accessToken: 'x', expiresAt: new Date(Date.now() + 3600_000) };
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

    it('bypasses and empties the cache while the invalidation channel is down, then resumes', async () => {
      await read(h.brokers[1].url);
      const reads = countDatabaseReads(h, 1);
      await h.db.dataSource.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rdstation-token-broker:cache' AND datname = current_database()`,
      );
      // While down (and right after it comes back, empty), every read goes to the database.
      await waitFor(
        async () => {
          await read(h.brokers[1].url);
          return reads.mock.calls.length >= 1 ? true : undefined;
        },
        { what: 'a database read after the channel was lost' },
      );
      // Once listening again, reads are cached again.
      await waitFor(
        async () => {
          const before = reads.mock.calls.length;
          await read(h.brokers[1].url);
          await read(h.brokers[1].url);
          return reads.mock.calls.length - before <= 1 ? true : undefined;
        },
        { timeoutMs: 10_000, what: 'the cache to come back' },
      );
      const [{ n }] = await h.db.dataSource.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'rdstation-token-broker:cache' AND datname = current_database()`,
      );
      expect(n).toBe(2); // both replicas listening again
    });
  });

  describe('after a silent loss of the listening connection (no error, no end)', () => {
    const HEARTBEAT_MS = 500;
    let h: Harness;
    let proxy: TcpHoldingProxy;
    let behind: TestBroker;
    const isCacheConnection = (startup: string) => startup.includes('rdstation-token-broker:cache');

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
      });
    });
    afterAll(async () => {
      await behind.close();
      await proxy.close();
      await h.close();
    });

    it(`serves a change at most two heartbeats late (${2 * HEARTBEAT_MS} ms here, 10 s by default), then caches again`, async () => {
      const cache = behind.app.get(TokenCache);
      await waitFor(async () => (cache.isListening ? true : undefined), { what: 'listening' });
      // The connect's own NOTIFY must have reached this replica before its reads: arriving late,
      // it would drop the cached token and the change below would be read from the database.
      const ticket = cache.ticket();
      await connect(h, 'acme', 'crm');
      await waitFor(async () => (cache.ticket() > ticket ? true : undefined), {
        what: "the connect's NOTIFY",
      });
      const before = await read(behind.url);
      expect((await read(behind.url)).body.accessToken).toBe(before.body.accessToken);

      proxy.hold(isCacheConnection); // the listener's NOTIFYs stop arriving, silently
      const refreshed = await fetch(`${h.broker.url}/connections/acme/refresh?product=crm`, {
        method: 'POST',
        headers: { authorization: auth.admin },
      });
      expect(refreshed.status).toBe(200);
      const changedAt = Date.now();
      const after = await waitFor(
        async () => {
          const res = await read(behind.url);
          return res.body.accessToken !== before.body.accessToken ? res : undefined;
        },
        { timeoutMs: 10_000, what: 'the change to be served' },
      );
      const staleMs = Date.now() - changedAt;
      expect(h.rd.isLiveAccessToken(after.body.accessToken!)).toBe(true);
      // Detected by the heartbeat (not by an error or an end: the proxy closed nothing).
      const metrics = await (await fetch(`${behind.url}/metrics`)).text();
      expect(metrics).toMatch(
        /broker_token_cache_channel_losses_total\{reason="heartbeat"\} [1-9]/,
      );
      expect(metrics).not.toMatch(
        /broker_token_cache_channel_losses_total\{reason="connection"\} [1-9]/,
      );
      // Two heartbeat intervals at most, plus the time of one read and some scheduling slack.
      expect(staleMs).toBeLessThanOrEqual(2 * HEARTBEAT_MS + 1500);
      expect(cache.isListening).toBe(false); // new listeners are held too: the cache stays bypassed

      // The network heals: a new listener is proven, and reads are cached again.
      proxy.release();
      await waitFor(async () => (cache.isListening ? true : undefined), {
        timeoutMs: 15_000,
        what: 'the listener to come back',
      });
      const reads = countDatabaseReads(h, 0);
      const readsBehind = jest.spyOn(behind.app.get(ConnectionsRepository), 'findOne');
      await read(behind.url);
      await read(behind.url);
      await read(behind.url);
      expect(readsBehind).toHaveBeenCalledTimes(1);
      expect(reads).not.toHaveBeenCalled();
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
