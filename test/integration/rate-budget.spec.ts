import type { ConfigType } from '@nestjs/config';
import type { proxyConfig } from '../../src/config/slices';
import { RateBudget } from '../../src/proxy/rate-budget';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** RateBudget on a real PostgreSQL with the migrations: the statements, not a model of them. */
describe('RateBudget (PostgreSQL)', () => {
  let db: TestDatabase;
  const key = { product: 'crm' as const, account: 'acme' };

  const opened: RateBudget[] = [];
  function budget(limit: number): RateBudget {
    const config = { rateLimitPerMinute: limit } as ConfigType<typeof proxyConfig>;
    const created = new RateBudget(config, db.dataSource);
    opened.push(created);
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
  beforeEach(() => db.dataSource.query('DELETE FROM rate_budgets'));

  it('gives exactly the limit to concurrent takers on separate sessions, and counts no refusal', async () => {
    const limited = budget(20);
    const decisions = await Promise.all(Array.from({ length: 60 }, () => limited.take(key)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
    for (const d of decisions.filter((d) => !d.allowed)) {
      expect(d).toMatchObject({ allowed: false, reason: 'budget' });
      expect((d as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
    expect((await row())?.used).toBe(20);
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
    expect(await limited.take(key)).toEqual({ allowed: true });
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
    const decision = await limited.take(key);
    expect(decision).toMatchObject({ allowed: false, reason: 'rd_pause' });
    const seconds = (decision as { retryAfterSeconds: number }).retryAfterSeconds;
    expect(seconds).toBeGreaterThanOrEqual(29);
    expect(seconds).toBeLessThanOrEqual(30);
    expect(await limited.take({ ...key, product: 'marketing' })).toEqual({ allowed: true });

    await db.dataSource.query(`UPDATE rate_budgets SET paused_until = now() - interval '1 second'`);
    expect(await limited.take(key)).toEqual({ allowed: true });
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
