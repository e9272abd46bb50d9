/**
 * The broker behind PgBouncer in transaction pooling mode with its stock settings (Debian's
 * pgbouncer, 1.18 in CI): every statement may land on a different server connection, so nothing
 * may rest on session state (CONTRACT.md, "Production PostgreSQL"). Two replicas, no
 * DATABASE_DIRECT_URL: single-flight refresh by lease, invalidation by polling.
 */
import { Client } from 'pg';
import { accessTokenHash } from '../../src/connections/access-token-hash';
import { startBroker } from '../support/broker';
import { auth, connect, createHarness, type Harness } from '../support/harness';
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer';
import { waitFor } from '../support/process';
import { seedConnections } from '../support/seed';
import { createTestDatabase } from '../support/database';

jest.setTimeout(120_000);

function throughPooler(bouncer: PgBouncer) {
  return (url: string) => {
    const pooled = new URL(url);
    const via = new URL(bouncer.url);
    pooled.hostname = via.hostname;
    pooled.port = via.port;
    return pooled.toString();
  };
}

async function read(url: string, account: string, query = '') {
  const res = await fetch(`${url}/tokens/${account}?product=crm${query}`, {
    headers: { authorization: auth.service },
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as { accessToken?: string; error?: string },
  };
}

async function proxied(url: string, account: string) {
  const res = await fetch(`${url}/proxy/crm/v2/contacts`, {
    headers: { authorization: auth.service, 'x-account': account, 'x-product': 'crm' },
  });
  return { status: res.status, body: (await res.json()) as { error?: string } };
}

describe('behind PgBouncer in transaction mode (stock settings)', () => {
  let bouncer: PgBouncer;
  let h: Harness;

  beforeAll(async () => {
    bouncer = await startPgBouncer(process.env.TEST_SERVER_URL!);
    h = await createHarness({
      replicas: 2,
      databaseUrl: throughPooler(bouncer),
      env: { DATABASE_DIRECT_URL: '' }, // no LISTEN: invalidation by polling only
    });
  });
  afterAll(async () => {
    await h?.close();
    await bouncer?.stop();
  });

  it('starts: both replicas are ready and the pooler refused no startup parameter', async () => {
    for (const broker of h.brokers) {
      const ready = await fetch(`${broker.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ details: { database: { status: 'up' } } });
    }
    expect(bouncer.output()).not.toMatch(/unsupported startup parameter/);
  });

  it('100 rejected= reports of one token over both replicas: exactly 1 RD refresh', async () => {
    expect((await connect(h, 'stampede', 'crm')).status).toBe(200);
    const first = await read(h.brokers[1].url, 'stampede');
    const hash = accessTokenHash(first.body.accessToken!);
    h.rd.reset();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        read(h.brokers[i % 2].url, 'stampede', `&rejected=${hash}`),
      ),
    );
    const refreshes = h.rd.tokenCalls({ grantType: 'refresh_token' }).length;
    process.stdout.write(`pgbouncer stampede: ${refreshes} RD refresh(es) for 100 reports\n`);
    expect(refreshes).toBe(1);
    const tokens = new Set(answers.map((a) => a.body.accessToken));
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(tokens.size).toBe(1);
    expect(h.rd.isLiveAccessToken([...tokens][0]!)).toBe(true);
  });

  it('a burst of forced refreshes and reports over 12 connections: 0 refusals, 0 condemned, no 5xx but 503', async () => {
    const accounts = await seedConnections(h, 12, 'crm', { prefix: 'burst' });
    const tokens = new Map<string, string>();
    for (const account of accounts)
      tokens.set(account, (await read(h.brokers[0].url, account)).body.accessToken!);
    h.rd.reset();
    const statuses: number[] = [];
    await Promise.all(
      accounts.flatMap((account, i) => [
        ...[0, 1].map(async (replica) => {
          const res = await fetch(
            `${h.brokers[(i + replica) % 2].url}/connections/${account}/refresh?product=crm`,
            { method: 'POST', headers: { authorization: auth.admin } },
          );
          statuses.push(res.status);
        }),
        ...[0, 1, 2, 3].map(async (n) => {
          const hash = accessTokenHash(tokens.get(account)!);
          statuses.push((await read(h.brokers[n % 2].url, account, `&rejected=${hash}`)).status);
        }),
      ]),
    );
    const calls = h.rd.tokenCalls({ grantType: 'refresh_token' });
    const refusals = calls.filter((call) => call.status !== 200).length;
    const [{ condemned }] = await h.db.dataSource.query(
      `SELECT count(*)::int AS condemned FROM connections WHERE status = 'reauthorization_required'`,
    );
    const serverErrors = statuses.filter((s) => s >= 500 && s !== 503);
    process.stdout.write(
      `pgbouncer burst: ${calls.length} RD refreshes for 12 connections, ${refusals} refusals, ${condemned} condemned, ${statuses.filter((s) => s === 503).length} answers 503, ${serverErrors.length} other 5xx\n`,
    );
    expect(refusals).toBe(0);
    expect(condemned).toBe(0);
    expect(serverErrors).toEqual([]);
    for (const account of accounts) {
      const now = await read(h.brokers[1].url, account);
      expect(now.status).toBe(200);
      expect(h.rd.isLiveAccessToken(now.body.accessToken!)).toBe(true);
    }
  });

  it('a delete on one replica answers 404 on the other within 3 s (by polling)', async () => {
    expect((await connect(h, 'deleted', 'crm')).status).toBe(200);
    expect((await read(h.brokers[1].url, 'deleted')).status).toBe(200); // cached there
    const deleted = await fetch(`${h.brokers[0].url}/connections/deleted?product=crm`, {
      method: 'DELETE',
      headers: { authorization: auth.admin },
    });
    expect(deleted.status).toBe(204);
    const at = Date.now();
    await waitFor(
      async () => ((await read(h.brokers[1].url, 'deleted')).status === 404 ? true : undefined),
      { timeoutMs: 3_000, what: 'the delete to be seen on the other replica' },
    );
    process.stdout.write(
      `pgbouncer delete seen on the other replica after ${Date.now() - at} ms\n`,
    );
  });

  it("the proxy's budget leased through the pooler: a budget of 3 over both replicas, the 4th call refused, RD saw 3", async () => {
    expect((await connect(h, 'leased', 'crm')).status).toBe(200);
    const set = await fetch(`${h.brokers[1].url}/connections/leased?product=crm`, {
      method: 'PATCH',
      headers: { authorization: auth.admin, 'content-type': 'application/json' },
      body: JSON.stringify({ rateLimitPerMinute: 3 }),
    });
    expect(set.status).toBe(200);
    // Away from a minute's end: the three calls must count in one minute.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 200));
    h.rd.reset();
    const statuses: number[] = [];
    for (const replica of [0, 1, 0, 1])
      statuses.push((await proxied(h.brokers[replica].url, 'leased')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(h.rd.apiCalls()).toHaveLength(3);
  });

  it('a read-only database: 503 service_unavailable with Retry-After, readiness names it', async () => {
    expect((await connect(h, 'readonly', 'crm')).status).toBe(200);
    expect((await connect(h, 'readonly-proxy', 'crm')).status).toBe(200);
    const served = await read(h.brokers[0].url, 'readonly');
    const database = new URL(h.db.url).pathname.slice(1);
    const admin = new Client({ connectionString: h.db.url });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${database} SET default_transaction_read_only = on`);
      // Sessions opened from now on are read-only: end the ones PgBouncer holds.
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      try {
        // A cached valid token is still served.
        expect((await read(h.brokers[0].url, 'readonly')).body.accessToken).toBe(
          served.body.accessToken,
        );
        // A proxied call needs a lease of the budget, a write: 503, RD not called.
        h.rd.reset();
        const proxiedCall = await proxied(h.brokers[1].url, 'readonly-proxy');
        expect(proxiedCall.status).toBe(503);
        expect(proxiedCall.body.error).toBe('service_unavailable');
        expect(h.rd.apiCalls()).toHaveLength(0);
        // A refresh needs a write.
        const hash = accessTokenHash(served.body.accessToken!);
        const refused = await waitFor(
          async () => {
            const res = await read(h.brokers[0].url, 'readonly', `&rejected=${hash}`);
            return res.status !== 200 ? res : undefined;
          },
          { what: 'a refresh to meet the read-only database' },
        );
        expect(refused.status).toBe(503);
        expect(refused.body.error).toBe('service_unavailable');
        expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
        const forced = await fetch(`${h.brokers[1].url}/connections/readonly/refresh?product=crm`, {
          method: 'POST',
          headers: { authorization: auth.admin },
        });
        expect(forced.status).toBe(503);
        expect(forced.headers.get('retry-after')).toMatch(/^\d+$/);
        const ready = await fetch(`${h.brokers[0].url}/health/ready`);
        expect(await ready.json()).toMatchObject({
          details: { database: { status: 'down', state: 'read_only' } },
        });
      } finally {
        await admin.query(`ALTER DATABASE ${database} RESET default_transaction_read_only`);
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
      }
    } finally {
      await admin.end();
    }
  });
});

describe('three replicas started together on an empty database, behind PgBouncer', () => {
  it('all come up (migrations run under a transaction-scoped lock)', async () => {
    const bouncer = await startPgBouncer(process.env.TEST_SERVER_URL!);
    const db = await createTestDatabase({ migrate: false });
    const pooled = throughPooler(bouncer)(db.url);
    try {
      const started = await Promise.allSettled(
        [0, 1, 2].map(() => startBroker(pooled, { DATABASE_DIRECT_URL: '' })),
      );
      const brokers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      try {
        expect(started.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
        for (const broker of brokers)
          expect((await fetch(`${broker.url}/health/ready`)).status).toBe(200);
      } finally {
        await Promise.all(brokers.map((b) => b.close()));
      }
    } finally {
      await db.drop();
      await bouncer.stop();
    }
  });
});
