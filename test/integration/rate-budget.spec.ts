import type { ConfigType } from '@nestjs/config';
import { Pool } from 'pg';
import type { proxyConfig } from '../../src/config/slices';
import { BrokerMetrics } from '../../src/metrics/broker-metrics';
import { MAX_BLOCK, RateBudget, type BudgetDecision } from '../../src/proxy/rate-budget';
import { LEASE_SQL } from '../../src/proxy/rate-budget.sql';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** What one replica's budget counted in its metrics (broker_proxy_budget_*). */
async function counted(metrics: BrokerMetrics) {
  const statements = (await metrics.proxyBudgetStatements.get()).values;
  const units = (await metrics.proxyBudgetUnits.get()).values;
  const of = (
    values: Array<{ labels: Record<string, string | number | undefined>; value: number }>,
    label: string,
    value: string,
  ) => values.find((v) => v.labels[label] === value)?.value ?? 0;
  return {
    leases: of(statements, 'statement', 'lease'),
    states: of(statements, 'statement', 'state'),
    returns: of(statements, 'statement', 'return'),
    leased: of(units, 'outcome', 'leased'),
    returned: of(units, 'outcome', 'returned'),
  };
}

const allowed = (decisions: BudgetDecision[]) => decisions.filter((d) => d.allowed).length;

/** Tests that compare one minute's count wait out a minute's last seconds (the count rolls). */
async function awayFromMinuteEnd(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 200));
}

/** RateBudget on a real PostgreSQL with the migrations: the statements, not a model of them. */
describe('RateBudget (PostgreSQL)', () => {
  let db: TestDatabase;
  const key = { product: 'crm' as const, account: 'acme' };

  const opened: RateBudget[] = [];
  const metricsOf = new Map<RateBudget, BrokerMetrics>();
  /** One replica's budget (a pool of its own, as each broker process has). */
  function budget(limit: number): RateBudget {
    const config = { rateLimitPerMinute: limit } as ConfigType<typeof proxyConfig>;
    const metrics = new BrokerMetrics();
    const created = new RateBudget(config, db.dataSource, metrics);
    opened.push(created);
    metricsOf.set(created, metrics);
    return created;
  }

  async function row() {
    const rows = await db.dataSource.query(
      `SELECT used, previous_used, paused_until, window_start FROM rate_budgets WHERE account = 'acme'`,
    );
    return rows[0] as
      | { used: number; previous_used: number; paused_until: Date | null; window_start: Date }
      | undefined;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(opened.map((b) => b.onApplicationShutdown()));
    await db.drop();
  });
  beforeEach(async () => {
    await db.dataSource.query('DELETE FROM rate_budgets');
    await awayFromMinuteEnd();
  });

  it('never gives more than the limit to three replicas taking at once; what they did not spend goes back', async () => {
    const replicas = [budget(20), budget(20), budget(20)];
    const decisions = await Promise.all(
      Array.from({ length: 90 }, (_, i) => replicas[i % 3].take(key)),
    );
    expect(allowed(decisions)).toBeLessThanOrEqual(20);
    expect(allowed(decisions)).toBeGreaterThanOrEqual(10);
    for (const d of decisions.filter((d) => !d.allowed)) {
      expect(d).toMatchObject({ allowed: false, reason: 'budget' });
      expect((d as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
    // Every unit leased was either spent or is still held; held ones go back.
    const leased = (await Promise.all(replicas.map((r) => counted(metricsOf.get(r)!)))).reduce(
      (sum, c) => sum + c.leased,
      0,
    );
    expect((await row())?.used).toBe(leased);
    await Promise.all(replicas.map((r) => r.sweep(true)));
    expect((await row())?.used).toBe(allowed(decisions));
  });

  it('leases blocks sized to the pace: 200 calls in a row cost far fewer statements, counted exactly', async () => {
    const limited = budget(100_000);
    for (let i = 0; i < 200; i++) expect(await limited.take(key)).toEqual({ allowed: true });
    const c = await counted(metricsOf.get(limited)!);
    // Blocks grow 1, 2, 3 … to MAX_BLOCK: ~10 leases to reach it, then one per MAX_BLOCK calls.
    expect(c.leases).toBeLessThanOrEqual(10 + Math.ceil(200 / MAX_BLOCK));
    expect(c.leases).toBeGreaterThanOrEqual(Math.ceil(200 / MAX_BLOCK));
    expect(c.states).toBe(0);
    expect((await row())?.used).toBe(c.leased);
    expect(c.leased - 200).toBeLessThan(MAX_BLOCK);
    await limited.sweep(true);
    expect((await counted(metricsOf.get(limited)!)).returned).toBe(c.leased - 200);
    expect((await row())?.used).toBe(200);
  });

  it('a lease takes at most a quarter of what is left: a budget of 3 goes one unit at a time', async () => {
    const small = budget(3);
    const other = budget(3);
    expect(await small.take(key)).toEqual({ allowed: true });
    expect(await small.take(key)).toEqual({ allowed: true });
    expect((await row())?.used).toBe(2);
    expect(await other.take(key)).toEqual({ allowed: true });
    expect(await other.take(key)).toMatchObject({ allowed: false, reason: 'budget' });
    expect(await small.take(key)).toMatchObject({ allowed: false, reason: 'budget' });
    expect((await row())?.used).toBe(3);
  });

  it('grants nothing in the last moments of a minute (the margin), and nothing past a pause', async () => {
    const pool = new Pool({ connectionString: db.url, max: 1 });
    try {
      // A margin of a whole minute: every moment is "the end of the minute".
      const late = await pool.query(LEASE_SQL, ['crm', 'acme', 100, 5, 60_000]);
      expect(late.rows.map((r: { granted: number }) => r.granted)).toEqual([0]);
      const early = await pool.query(LEASE_SQL, ['crm', 'acme', 100, 5, 0]);
      expect(early.rows[0]).toMatchObject({ granted: 5 });
      expect(early.rows[0].ms_left).toBeGreaterThan(0);
      expect(early.rows[0].ms_left).toBeLessThanOrEqual(60_000);
      await db.dataSource.query(
        `UPDATE rate_budgets SET paused_until = now() + interval '1 minute'`,
      );
      expect((await pool.query(LEASE_SQL, ['crm', 'acme', 100, 5, 0])).rows).toEqual([]);
      expect((await row())?.used).toBe(5);
    } finally {
      await pool.end();
    }
  });

  it("rolls this minute's count into the previous one, and forgets older minutes", async () => {
    const limited = budget(100);
    await db.dataSource.query(
      `INSERT INTO rate_budgets (product, account, window_start, used, previous_used)
       VALUES ('crm', 'acme', date_trunc('minute', now()) - interval '1 minute', 40, 7)`,
    );
    expect(await limited.take(key)).toEqual({ allowed: true });
    expect(await row()).toMatchObject({ used: 1, previous_used: 40 });

    await db.dataSource.query(
      `UPDATE rate_budgets SET window_start = date_trunc('minute', now()) - interval '5 minutes'`,
    );
    // Another replica: one unit (this one, at its pace, would lease two now).
    expect(await budget(100).take(key)).toEqual({ allowed: true });
    expect(await row()).toMatchObject({ used: 1, previous_used: 0 });
  });

  it('weighs a full previous minute: right after it, nothing more fits', async () => {
    const limited = budget(100);
    // 10⁹ × (share of this minute still to come) ≥ 100 until the last microseconds of the minute.
    await db.dataSource.query(
      `INSERT INTO rate_budgets (product, account, window_start, used, previous_used)
       VALUES ('crm', 'acme', date_trunc('minute', now()) - interval '1 minute', 1000000000, 0)`,
    );
    expect(await limited.take(key)).toMatchObject({ allowed: false, reason: 'budget' });
    expect(await row()).toMatchObject({ used: 1000000000 });
  });

  it("holds an account for RD's Retry-After, never shortens a hold, and says how long is left", async () => {
    const limited = budget(100);
    await limited.pause(key, 30);
    await limited.pause(key, 5);
    // This replica (which saw RD's 429) and another one, which learns it from the row.
    for (const replica of [limited, budget(100)]) {
      const decision = await replica.take(key);
      expect(decision).toMatchObject({ allowed: false, reason: 'rd_pause' });
      const seconds = (decision as { retryAfterSeconds: number }).retryAfterSeconds;
      expect(seconds).toBeGreaterThanOrEqual(29);
      expect(seconds).toBeLessThanOrEqual(30);
    }
    expect(await limited.take({ ...key, product: 'marketing' })).toEqual({ allowed: true });

    await db.dataSource.query(`UPDATE rate_budgets SET paused_until = now() - interval '1 second'`);
    expect(await budget(100).take(key)).toEqual({ allowed: true });
  });

  it('prunes accounts idle for two minutes, but not a running hold', async () => {
    await db.dataSource.query(
      `INSERT INTO rate_budgets (product, account, window_start, used, previous_used, paused_until) VALUES
         ('crm', 'idle', now() - interval '3 minutes', 5, 0, NULL),
         ('crm', 'held', now() - interval '3 minutes', 5, 0, now() + interval '1 minute'),
         ('crm', 'busy', date_trunc('minute', now()), 5, 0, NULL)`,
    );
    expect(await budget(100).prune()).toBe(1);
    const left = await db.dataSource.query(`SELECT account FROM rate_budgets ORDER BY account`);
    expect(left.map((r: { account: string }) => r.account)).toEqual(['busy', 'held']);
  });
});
