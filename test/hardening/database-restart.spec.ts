/**
 * PostgreSQL restarts under load. A broker process runs on a cluster this test can stop and
 * start (fast shutdown: sessions are cut, as in a failover). While requests flow: readiness stays
 * 200 but names the database as down (the replica still serves its cache), cached valid tokens
 * keep being served (at least 95 % of those reads answer 200), a read that needs the database
 * fails cleanly (503 service_unavailable with Retry-After; no dropped connection, no crash), and
 * the log says so at most once a second per kind (100 lines at most for the whole drill); once
 * PostgreSQL is back, everything recovers without restarting the broker, and no row was harmed.
 */
import { Client } from 'pg';
import { FakeRdStation } from '../fake-rd/fake-rd';
import { ADMIN_KEY, SERVICE_KEY } from '../support/broker';
import { startBrokerProcess } from '../support/broker-process';
import { waitFor, type BrokerProcess } from '../support/process';
import {
  createRestartablePostgres,
  type RestartablePostgres,
} from '../support/restartable-postgres';

jest.setTimeout(120_000);

const ACCOUNTS = Array.from({ length: 20 }, (_, i) => `restart-${i}`);
/** Seeded but never read before the outage: nothing but the database can answer for it. */
const UNREAD = 'restart-unread';

interface Sample {
  at: number;
  route: 'ready' | 'token';
  status: number; // 0: the HTTP request itself failed
  body?: Record<string, unknown>;
  contentType?: string | null;
  retryAfter?: string | null;
  failure?: string;
}

describe('PostgreSQL restart under load', () => {
  let pg: RestartablePostgres;
  let rd: FakeRdStation;
  let broker: BrokerProcess;
  let databaseUrl: string;
  const seeded = new Map<string, string>(); // account → access token

  async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    pg = await createRestartablePostgres();
    await pg.start();
    const admin = new Client({ connectionString: pg.url });
    await admin.connect();
    await admin.query('CREATE DATABASE broker');
    await admin.end();
    databaseUrl = pg.url.replace(/\/postgres$/, '/broker');

    rd = new FakeRdStation();
    await rd.start();
    broker = await startBrokerProcess({
      DATABASE_URL: databaseUrl,
      RD_API_URL: rd.url,
      RD_ACCOUNTS_URL: rd.url,
      LOG_LEVEL: 'warn',
    });
    // Connections imported through the admin API (with a valid access token: no RD call).
    for (const account of [...ACCOUNTS, UNREAD]) {
      const grant = rd.issueGrant('crm');
      const res = await fetch(`${broker.url}/connections/${account}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          product: 'crm',
          refreshToken: grant.refreshToken,
          accessToken: grant.accessToken,
          expiresAt: new Date(Date.now() + 7200_000).toISOString(),
        }),
      });
      expect(res.status).toBe(201);
      seeded.set(account, grant.accessToken);
    }
  });

  afterAll(async () => {
    broker?.child.kill('SIGKILL');
    await rd?.stop();
    await pg?.destroy();
  });

  async function sample(route: Sample['route'], account = ''): Promise<Sample> {
    const at = Date.now();
    const url =
      route === 'ready'
        ? `${broker.url}/health/ready`
        : `${broker.url}/tokens/${account}?product=crm`;
    try {
      const res = await fetch(url, { headers: { authorization: `Bearer ${SERVICE_KEY}` } });
      const contentType = res.headers.get('content-type');
      const text = await res.text();
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      const retryAfter = res.headers.get('retry-after');
      return { at, route, status: res.status, body, contentType, retryAfter };
    } catch (error) {
      return { at, route, status: 0, failure: (error as Error).message };
    }
  }

  /** A clean, retryable answer: 503 service_unavailable with Retry-After, never a bare 500. */
  function expectDatabaseUnavailable(s: Sample) {
    expect({ status: s.status, body: s.body }).toEqual({
      status: 503,
      body: { statusCode: 503, error: 'service_unavailable', message: expect.any(String) },
    });
    expect(s.contentType).toMatch(/^application\/json/);
    expect(Number(s.retryAfter)).toBeGreaterThanOrEqual(1);
  }

  const databaseState = (s: Sample) =>
    (s.body?.details as { database?: { status?: string } } | undefined)?.database?.status;

  it('serves cached tokens and fails other reads cleanly while PostgreSQL is down, then recovers without a restart', async () => {
    const pid = broker.child.pid;
    const rowsBefore = await query<{
      account: string;
      access_token: string;
      refresh_token: string;
    }>(`SELECT account, access_token, refresh_token FROM connections ORDER BY account`);
    expect(rowsBefore).toHaveLength(ACCOUNTS.length + 1);

    const samples: Sample[] = [];
    let running = true;
    const load = Promise.all([
      ...Array.from({ length: 6 }, async (_, w) => {
        for (let i = w; running; i++)
          samples.push(await sample('token', ACCOUNTS[i % ACCOUNTS.length]));
      }),
      (async () => {
        while (running) {
          samples.push(await sample('ready'));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(),
    ]);

    // Warm: every account read from the cache, and the imports' own changes already polled
    // (TOKEN_CACHE_POLL_MS) — no database read over 1.5 s of load.
    const databaseReads = async () => {
      const text = await (await fetch(`${broker.url}/metrics`)).text();
      return Number(/broker_token_reads_total\{product="crm",outcome="db"\} (\d+)/.exec(text)?.[1]);
    };
    await waitFor(
      async () => {
        const before = await databaseReads();
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        return (await databaseReads()) === before ? true : undefined;
      },
      { timeoutMs: 20_000, what: 'the cache to be warm' },
    );
    const linesBefore = broker.output().split('\n').length;
    const stoppedAt = Date.now();
    await pg.stop();
    await waitFor(
      async () => (databaseState(await sample('ready')) === 'down' ? true : undefined),
      {
        timeoutMs: 10_000,
        what: 'readiness to name the database as down',
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const unread = await sample('token', UNREAD);
    const startedAt = Date.now();
    await pg.start();
    await waitFor(async () => (databaseState(await sample('ready')) === 'up' ? true : undefined), {
      timeoutMs: 15_000,
      what: 'readiness to name the database as up',
    });
    const readyAgainAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    running = false;
    await load;

    // Nothing ever failed at the HTTP level: every request got a complete answer.
    expect(samples.filter((s) => s.status === 0)).toEqual([]);
    // The broker process never went down.
    expect(broker.child.exitCode).toBeNull();
    expect(broker.child.pid).toBe(pid);

    const before = samples.filter((s) => s.at < stoppedAt);
    expect(before.length).toBeGreaterThan(20);
    expect(before.every((s) => s.status === 200)).toBe(true);

    // While down: readiness 200 naming the database as down (the cache still serves), cached
    // valid tokens served, and a read that needs the database gets 503 service_unavailable.
    const down = samples.filter((s) => s.at > stoppedAt + 200 && s.at < startedAt);
    expect(down.filter((s) => s.route === 'ready').length).toBeGreaterThan(3);
    const downReads = down.filter((s) => s.route === 'token');
    for (const s of down) {
      if (s.route === 'ready') {
        expect(s.status).toBe(200);
        expect(s.body).toMatchObject({
          status: 'degraded',
          details: { database: { status: 'down' } },
        });
        continue;
      }
      if (s.status === 200) continue;
      expectDatabaseUnavailable(s);
    }
    const served = downReads.filter((s) => s.status === 200).length;
    expect(downReads.length).toBeGreaterThan(20);
    expect(served / downReads.length).toBeGreaterThanOrEqual(0.95);
    expectDatabaseUnavailable(unread);
    const logLines = broker.output().split('\n').length - linesBefore;
    expect(logLines).toBeLessThanOrEqual(100);
    process.stdout.write(
      `database restart drill: ${served} of ${downReads.length} reads of cached tokens served during the outage; ${logLines} log lines\n`,
    );

    // Back up: readiness 200 and reads resume on the same process.
    const after = samples.filter((s) => s.at > readyAgainAt + 500);
    expect(after.length).toBeGreaterThan(20);
    expect(after.filter((s) => s.status !== 200)).toEqual([]);

    // Every row intact: same count, same ciphertexts, and every token decrypts to the original.
    const rowsAfter = await query(
      `SELECT account, access_token, refresh_token FROM connections ORDER BY account`,
    );
    expect(rowsAfter).toEqual(rowsBefore);
    for (const [account, accessToken] of seeded) {
      const res = await fetch(`${broker.url}/tokens/${account}?product=crm`, {
        headers: { authorization: `Bearer ${SERVICE_KEY}` },
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { accessToken: string }).accessToken).toBe(accessToken);
    }
    expect(rd.tokenCalls()).toHaveLength(0);

    // Nothing stale survives the restart: a change made to a row afterwards is seen (a token
    // with 30 s left is refreshed before it is handed out with the default minValidity of 60).
    const [first] = ACCOUNTS;
    await query(
      `UPDATE connections SET expires_at = now() + interval '30 seconds', last_refreshed_at = now() - interval '2 hours'
        WHERE account = $1`,
      [first],
    );
    const fresh = await waitFor(
      async () => {
        const res = await fetch(`${broker.url}/tokens/${first}?product=crm`, {
          headers: { authorization: `Bearer ${SERVICE_KEY}` },
        });
        const body = (await res.json()) as { accessToken?: string };
        return res.status === 200 && body.accessToken !== seeded.get(first) ? body : undefined;
      },
      { timeoutMs: 10_000, what: 'the change to be seen after the restart' },
    );
    expect(rd.isLiveAccessToken(fresh.accessToken!)).toBe(true);
  });
});
