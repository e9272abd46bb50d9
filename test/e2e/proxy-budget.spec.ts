/**
 * The /proxy rate budget leased in blocks (src/proxy/rate-budget.ts) on two replicas, real
 * PostgreSQL and the fake RD counting the calls it receives per clock minute:
 *   - plenty of budget: one PostgreSQL statement per block, not per call, counted by the brokers'
 *     own metric and by PostgreSQL's count of writes to `rate_budgets`;
 *   - a tight budget hammered across a minute's end: RD never receives more than the limit in
 *     any of its minutes (and so never answers 429).
 */
import { Client } from 'pg';
import { MAX_BLOCK } from '../../src/proxy/rate-budget';
import { auth, connect, createHarness, type Harness } from '../support/harness';
import { waitFor } from '../support/process';
import { rawRequest } from '../support/raw-http';

jest.setTimeout(180_000);

const LIMIT = 60;
const MINUTE = 60_000;

function call(h: Harness, account: string, replica: number) {
  return rawRequest(h.brokers[replica].url, {
    method: 'GET',
    path: '/proxy/crm/v2/contacts',
    headers: { authorization: auth.service, 'x-account': account, 'x-product': 'crm' },
  });
}

/** Sum of a counter's series whose labels contain `labels`, in one replica's /metrics. */
async function metric(h: Harness, replica: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${h.brokers[replica].url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `loops` callers per replica calling `account` back to back until `until()`; statuses. */
async function hammer(
  h: Harness,
  account: string,
  loops: number,
  until: () => boolean,
  pauseMs = 0,
): Promise<number[]> {
  const statuses: number[] = [];
  await Promise.all(
    h.brokers.flatMap((_, replica) =>
      Array.from({ length: loops }, async () => {
        while (!until()) {
          statuses.push((await call(h, account, replica)).status);
          if (pauseMs) await sleep(pauseMs);
        }
      }),
    ),
  );
  return statuses;
}

describe('/proxy budget leased in blocks: two replicas, real PostgreSQL, RD counting', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({
      replicas: 2,
      env: { RD_RATE_LIMIT_PER_MINUTE: String(LIMIT) },
      // RD's own limit is the broker's: a call over it would come back 429 from RD.
      rd: { apiRateLimitPerMinute: LIMIT },
    });
    for (const account of ['plenty', 'tight'])
      expect((await connect(h, account, 'crm')).status).toBe(200);
    const raised = await fetch(`${h.broker.url}/connections/plenty?product=crm`, {
      method: 'PATCH',
      headers: { authorization: auth.admin, 'content-type': 'application/json' },
      body: JSON.stringify({ rateLimitPerMinute: 100_000 }),
    });
    expect(raised.status).toBe(200);
    h.rd.apiRateLimitPerMinute = 1e9; // for 'plenty'; set back before the tight phase
  });
  afterAll(() => h?.close());

  it('plenty of budget: one statement per block (≥ 5 calls per statement at steady state), as PostgreSQL counts too', async () => {
    const writes = async () => {
      const client = new Client({ connectionString: h.db.url });
      await client.connect();
      try {
        await client.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await client.query<{ n: string }>(
          `SELECT n_tup_ins + n_tup_upd AS n FROM pg_stat_user_tables WHERE relname = 'rate_budgets'`,
        );
        return Number(rows[0].n);
      } finally {
        await client.end();
      }
    };
    const leases = async () =>
      (await metric(h, 0, 'broker_proxy_budget_statements_total', 'statement="lease"')) +
      (await metric(h, 1, 'broker_proxy_budget_statements_total', 'statement="lease"'));
    const returns = async () =>
      (await metric(h, 0, 'broker_proxy_budget_statements_total', 'statement="return"')) +
      (await metric(h, 1, 'broker_proxy_budget_statements_total', 'statement="return"'));
    // Warm-up: blocks grow to the pace.
    await hammer(
      h,
      'plenty',
      5,
      (() => {
        const end = Date.now() + 1_000;
        return () => Date.now() > end;
      })(),
    );
    const before = { leases: await leases(), returns: await returns() };
    const end = Date.now() + 4_000;
    const statuses = await hammer(h, 'plenty', 5, () => Date.now() > end);
    const leased = (await leases()) - before.leases;
    const returned = (await returns()) - before.returns;
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const calls = statuses.length;
    process.stdout.write(
      `budget leases: ${calls} calls, ${leased} lease statements (${(calls / leased).toFixed(1)} calls per statement), ${returned} returns\n`,
    );
    expect(calls).toBeGreaterThan(100);
    expect(leased).toBeLessThanOrEqual(calls / 5);
    // A lease grants at most MAX_BLOCK units; each replica may still hold a block leased in the
    // warm-up when the measured window opens.
    expect(leased).toBeGreaterThanOrEqual((calls - 2 * MAX_BLOCK) / MAX_BLOCK);
    // PostgreSQL's own count of rows the budget wrote since the database was made: one per
    // lease (all granted here), at most one per return; its statistics arrive late.
    const written = await waitFor(
      async () => {
        const n = await writes();
        return n >= (await leases()) ? n : undefined;
      },
      { timeoutMs: 20_000, what: 'pg_stat_user_tables to count the leases' },
    );
    expect(written).toBeLessThanOrEqual((await leases()) + (await returns()));
  });

  it(`a budget of ${LIMIT} hammered on two replicas across a minute's end: RD receives at most ${LIMIT} in each of its minutes`, async () => {
    h.rd.apiRateLimitPerMinute = LIMIT;
    // Start in the last 15 s of a minute: the first minute's burst is leased in blocks up to its
    // end, and the next minute starts with blocks still held.
    const intoMinute = Date.now() % MINUTE;
    if (intoMinute < 45_000) await sleep(45_000 - intoMinute);
    h.rd.reset();
    const end = Math.ceil(Date.now() / MINUTE) * MINUTE + 8_000;
    const statuses = await hammer(h, 'tight', 4, () => Date.now() > end, 5);
    const calls = h.rd.apiCalls();
    const perMinute = new Map<number, number>();
    for (const c of calls) {
      const minute = Math.floor(c.at / MINUTE) * MINUTE;
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
    }
    process.stdout.write(
      `tight budget: ${statuses.length} calls, RD received ${[...perMinute.values()].join(' + ')} over ${perMinute.size} minutes\n`,
    );
    expect(perMinute.size).toBe(2);
    for (const n of perMinute.values()) expect(n).toBeLessThanOrEqual(LIMIT);
    expect(calls.filter((c) => c.status !== 200)).toEqual([]);
    expect(statuses.filter((s) => s === 200)).toHaveLength(calls.length);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    // The first minute took (almost) its whole budget: the blocks did not strand it.
    expect(Math.max(...perMinute.values())).toBeGreaterThanOrEqual(LIMIT - 2 * MAX_BLOCK);
  });
});
