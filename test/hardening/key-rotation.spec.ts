/**
 * Key rotation, online: connections stored under key A; a broker runs with key B and A as a
 * previous key; `node dist/main.js rotate-key` re-encrypts everything under B in batches while
 * reads flow (and some connections are refreshed meanwhile). It is interrupted by kill -9 half
 * way and run again; afterwards every ciphertext carries B's key id, a broker with B alone
 * serves every token, and a further run has nothing left to do.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { keyId } from '../../src/config/config';
import { startBroker, testEnv, type TestBroker } from '../support/broker';
import { auth, createHarness, type Harness } from '../support/harness';
import { spawnBroker, waitFor } from '../support/process';
import { seedConnections } from '../support/seed';

jest.setTimeout(120_000);

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');
const ID_A = keyId(Buffer.from(KEY_A, 'base64'));
const ID_B = keyId(Buffer.from(KEY_B, 'base64'));
const SEEDED = 600;
const DUE = 40;

describe('rotate-key', () => {
  let h: Harness;
  let brokerB: TestBroker;
  let accounts: string[];
  let dueAccounts: string[];
  /** The access token each (not due) account had before any rotation. */
  const expected = new Map<string, string>();

  beforeAll(async () => {
    expect(ID_A).not.toBe(ID_B);
    h = await createHarness({ env: { TOKEN_ENCRYPTION_KEY: KEY_A } });
    accounts = await seedConnections(h, SEEDED, 'crm', { prefix: 'seed' });
    // Tokens about to expire: reads refresh them, under key B, while the rotation runs.
    dueAccounts = await seedConnections(h, DUE, 'crm', { prefix: 'due', expiresInSeconds: 30 });
    brokerB = await startBroker(h.db.url, {
      TOKEN_ENCRYPTION_KEY: KEY_B,
      TOKEN_ENCRYPTION_PREVIOUS_KEYS: KEY_A,
      RD_API_URL: h.rd.url,
      RD_ACCOUNTS_URL: h.rd.url,
    });
    for (let i = 0; i < accounts.length; i += 50) {
      await Promise.all(
        accounts.slice(i, i + 50).map(async (account) => {
          expected.set(account, (await readToken(brokerB, account)).accessToken);
        }),
      );
    }
  });
  afterAll(async () => {
    await brokerB?.close();
    await h.close();
  });

  async function readToken(broker: TestBroker, account: string) {
    const res = await fetch(`${broker.url}/tokens/${account}?product=crm`, {
      headers: { authorization: auth.service },
    });
    return {
      status: res.status,
      accessToken: ((await res.json()) as { accessToken: string }).accessToken,
    };
  }

  async function keyIds(): Promise<Record<string, number>> {
    const rows: Array<{ id: string; n: number }> = await h.db.dataSource.query(
      `SELECT split_part(c, '.', 2) AS id, count(*)::int AS n
         FROM connections, LATERAL (VALUES (access_token), (refresh_token)) v(c) GROUP BY 1`,
    );
    return Object.fromEntries(rows.map((r) => [r.id, r.n]));
  }

  /** Reads random accounts from broker B with 8 callers until `done` settles. */
  async function readWhile(done: Promise<unknown>) {
    let finished = false;
    void done.finally(() => (finished = true));
    const answers: Array<{ at: number; account: string; status: number; ok: boolean }> = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; !finished || i < 16; i += 8) {
          const due = i % 10 === 0;
          const account = due
            ? dueAccounts[i % DUE]
            : accounts[Math.floor(Math.random() * accounts.length)];
          const at = Date.now();
          const { status, accessToken } = await readToken(brokerB, account);
          const ok = due
            ? h.rd.isLiveAccessToken(accessToken)
            : accessToken === expected.get(account);
          answers.push({ at, account, status, ok });
        }
      }),
    );
    return answers;
  }

  function rotate() {
    return spawnBroker(
      testEnv({
        DATABASE_URL: h.db.url,
        TOKEN_ENCRYPTION_KEY: KEY_B,
        TOKEN_ENCRYPTION_PREVIOUS_KEYS: KEY_A,
        LOG_LEVEL: 'info',
      }),
      ['rotate-key'],
    );
  }

  function logTimes(output: string): Array<{ time: number; msg: string }> {
    return output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { time: number; msg: string });
  }

  function summaryOf(output: string): { reencrypted: number; skipped: number; unreadable: number } {
    const prefix = 'rotate-key: done: ';
    for (const line of output.split('\n')) {
      if (!line.startsWith('{')) continue;
      const { msg } = JSON.parse(line) as { msg?: string };
      if (msg?.startsWith(prefix)) return JSON.parse(msg.slice(prefix.length));
    }
    throw new Error(`no summary in:\n${output}`);
  }

  it('can be killed half way (kill -9) without harm: reads keep working on mixed keys', async () => {
    expect(await keyIds()).toEqual({ [ID_A]: 2 * (SEEDED + DUE) });
    // Hold one row of the second batch, so the run is mid-way, deterministically, when killed.
    const [{ account: held }] = await h.db.dataSource.query(
      `SELECT account FROM connections ORDER BY account, product OFFSET 300 LIMIT 1`,
    );
    const blocker = new Client({ connectionString: h.db.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM connections WHERE account = $1 FOR UPDATE`, [held]);

    const run = rotate();
    const killed = (async () => {
      await waitFor(
        async () => {
          const [{ waiting }] = await h.db.dataSource.query(
            `SELECT count(*)::int AS waiting FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          return waiting > 0 ? true : undefined;
        },
        { timeoutMs: 60_000, what: 'rotate-key to reach the held row' },
      );
      run.child.kill('SIGKILL');
      return run.exited;
    })();
    const answers = await readWhile(killed);
    expect(await killed).toBeNull();
    await blocker.query('ROLLBACK');
    await blocker.end();

    expect(run.output()).toMatch(/rotate-key: \d+ re-encrypted so far/); // the first batch
    const ids = await keyIds();
    expect(ids[ID_B]).toBeGreaterThanOrEqual(2 * 300);
    expect(ids[ID_A]).toBeGreaterThan(0);
    expect(answers.length).toBeGreaterThan(16);
    expect(answers.filter((a) => a.status !== 200 || !a.ok)).toEqual([]);
  });

  it('runs again to the end while reads and refreshes flow; then every row is under key B', async () => {
    const leftUnderA = (await keyIds())[ID_A] / 2;
    const run = rotate();
    const answers = await readWhile(run.exited);
    expect(await run.exited).toBe(0);
    expect(answers.length).toBeGreaterThan(16);
    expect(answers.filter((a) => a.status !== 200 || !a.ok)).toEqual([]);

    // The reads really overlapped the re-encryption: some were sent between the first batch's
    // progress line and the summary (both timestamped by the rotate-key process).
    const times = logTimes(run.output());
    const first = times.find((t) => t.msg.includes('re-encrypted so far'))!.time;
    const last = times.find((t) => t.msg.startsWith('rotate-key: done'))!.time;
    expect(answers.filter((a) => a.at >= first && a.at <= last).length).toBeGreaterThan(0);

    const summary = summaryOf(run.output());
    expect(summary.unreadable).toBe(0);
    // Rows refreshed meanwhile were already rewritten under B: skipped or never stale.
    expect(summary.reencrypted).toBeGreaterThan(0);
    expect(summary.reencrypted + summary.skipped).toBeLessThanOrEqual(leftUnderA);
    expect(await keyIds()).toEqual({ [ID_B]: 2 * (SEEDED + DUE) });
    const raw = await h.db.dataSource.query(
      `SELECT count(*)::int AS n FROM connections
        WHERE access_token NOT LIKE $1 OR refresh_token NOT LIKE $1`,
      [`v1.${ID_B}.%`],
    );
    expect(raw).toEqual([{ n: 0 }]);
  });

  it('lets key A go: a broker with key B alone serves every token', async () => {
    const onlyB = await startBroker(h.db.url, {
      TOKEN_ENCRYPTION_KEY: KEY_B,
      RD_API_URL: h.rd.url,
      RD_ACCOUNTS_URL: h.rd.url,
    });
    try {
      const failures: string[] = [];
      for (let i = 0; i < accounts.length; i += 50) {
        await Promise.all(
          accounts.slice(i, i + 50).map(async (account) => {
            const { status, accessToken } = await readToken(onlyB, account);
            if (status !== 200 || accessToken !== expected.get(account)) failures.push(account);
          }),
        );
      }
      for (const account of dueAccounts) {
        const { status, accessToken } = await readToken(onlyB, account);
        if (status !== 200 || !h.rd.isLiveAccessToken(accessToken)) failures.push(account);
      }
      expect(failures).toEqual([]);
    } finally {
      await onlyB.close();
    }
  });

  it('has nothing left to do on a further run', async () => {
    const run = rotate();
    expect(await run.exited).toBe(0);
    expect(summaryOf(run.output())).toEqual({ reencrypted: 0, skipped: 0, unreadable: 0 });
  });
});
