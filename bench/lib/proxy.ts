/**
 * The proxy line: `GET /proxy/crm/v2/contacts` through the broker against the same endpoint of
 * the fake RD called directly with the same accounts' tokens, in the same run, with the same
 * autocannon settings; and the rate budget's statement measured alone on the database.
 */
import autocannon from 'autocannon';
import { Client, Pool } from 'pg';
import { TAKE_SQL } from '../../src/proxy/rate-budget.sql';
import { percentile, round2 } from './load';
import { cpuSeconds, type Child } from './processes';
import { call, fakeControl, startBroker, type Secrets } from './services';

const RD_PATH = '/crm/v2/contacts?page=1';
/** Accounts the load spreads over (their tokens are read once through GET /tokens). */
const MAX_ACCOUNTS = 100;
/** High enough that the budget check runs on every call but never refuses one. */
const BENCH_RATE_LIMIT = 100_000;

export interface ProxyLoad {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** CPU of the broker (proxy run) or of the fake (direct run) per answer, µs. */
  serverCpuMicrosPerRequest: number;
}

export interface BudgetCost {
  /** Mean time of one budget statement, sequential on one connection. */
  sequentialMicros: number;
  /** Mean time of `SELECT 1` on the same connection: the round trip alone. */
  roundTripMicros: number;
  /** Budget statements per second, 50 in flight on a pool of 20, all on one account. */
  hotAccountPerSec: number;
  /** The same spread over many accounts. */
  spreadPerSec: number;
}

export interface ProxyResult {
  accounts: number;
  connections: number;
  seconds: number;
  direct: ProxyLoad;
  proxy: ProxyLoad;
  /** proxy req/s ÷ direct req/s (target ≥ 0.5). */
  ratio: number;
  /** proxy p50 − direct p50 (target ≤ 1 ms). */
  addedP50Ms: number;
  budget: BudgetCost;
}

async function load(
  url: string,
  connections: number,
  seconds: number,
  setup: (request: autocannon.Request) => autocannon.Request,
  cpuOf: Child,
): Promise<ProxyLoad> {
  const run = (duration: number, onLatency?: (ms: number) => void) => {
    const instance = autocannon({
      url,
      connections,
      duration,
      timeout: 10,
      requests: [{ method: 'GET', setupRequest: setup }],
    });
    if (onLatency)
      instance.on('response', (_c: unknown, _s: number, _b: number, ms: number) => onLatency(ms));
    return instance;
  };
  await run(1); // warm-up: connections, JIT, token cache
  const latencies: number[] = [];
  const cpuBefore = cpuSeconds(cpuOf.pid);
  const result = await run(seconds, (ms) => latencies.push(ms));
  const cpu = cpuSeconds(cpuOf.pid) - cpuBefore;
  const sorted = Float64Array.from(latencies).sort();
  return {
    reqPerSec: Math.round(result.requests.total / result.duration),
    p50Ms: round2(percentile(sorted, 50)),
    p99Ms: round2(percentile(sorted, 99)),
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    serverCpuMicrosPerRequest: Math.round((cpu * 1e6) / Math.max(1, result.requests.total)),
  };
}

async function timeEach(client: Client, n: number, sql: string, params: unknown[] = []) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await client.query(sql, params);
  return Number(process.hrtime.bigint() - started) / 1000 / n;
}

async function throughput(pool: Pool, total: number, account: (i: number) => string) {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < total) {
        const i = next++;
        await pool.query(TAKE_SQL, ['crm', account(i), 1e9]);
      }
    }),
  );
  return Math.round(total / (Number(process.hrtime.bigint() - started) / 1e9));
}

/** The budget statement alone, exactly as the broker runs it, on the bench's database. */
export async function measureBudget(databaseUrl: string, quick: boolean): Promise<BudgetCost> {
  const n = quick ? 2_000 : 10_000;
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const pool = new Pool({ connectionString: databaseUrl, max: 20 });
  try {
    await timeEach(client, 200, 'SELECT 1');
    const roundTripMicros = await timeEach(client, n, 'SELECT 1');
    await timeEach(client, 200, TAKE_SQL, ['crm', 'bench-budget-seq', 1e9]);
    const sequentialMicros = await timeEach(client, n, TAKE_SQL, ['crm', 'bench-budget-seq', 1e9]);
    const hotAccountPerSec = await throughput(pool, n, () => 'bench-budget-hot');
    const spreadPerSec = await throughput(pool, n, (i) => `bench-budget-${i % 1000}`);
    return {
      sequentialMicros: Math.round(sequentialMicros),
      roundTripMicros: Math.round(roundTripMicros),
      hotAccountPerSec,
      spreadPerSec,
    };
  } finally {
    await client.query(`DELETE FROM rate_budgets WHERE account LIKE 'bench-%'`).catch(() => {});
    await client.end();
    await pool.end();
  }
}

export async function measureProxy(options: {
  databaseUrl: string;
  fake: Child;
  secrets: Secrets;
  accounts: string[];
  connections: number;
  seconds: number;
  quick: boolean;
}): Promise<ProxyResult> {
  const { databaseUrl, fake, secrets, connections, seconds } = options;
  const accounts = options.accounts.slice(0, MAX_ACCOUNTS);
  // RD's own per-account limit would turn the direct run into 429s: lifted for both runs.
  await fakeControl(fake, '/_fake/config', { apiRateLimitPerMinute: 1e12 });
  const broker = await startBroker(databaseUrl, fake, secrets, {
    name: 'broker-proxy',
    scheduler: false,
    env: { RD_RATE_LIMIT_PER_MINUTE: String(BENCH_RATE_LIMIT) },
  });
  try {
    const tokens: string[] = [];
    for (const account of accounts) {
      const answer = await call<{ accessToken: string }>(
        `${broker.url}/tokens/${account}?product=crm`,
        { token: secrets.apiKey },
      );
      if (answer.status !== 200) throw new Error(`token of ${account}: HTTP ${answer.status}`);
      tokens.push(answer.body.accessToken);
    }
    const pick = () => Math.floor(Math.random() * accounts.length);
    const direct = await load(
      fake.url,
      connections,
      seconds,
      (request) => ({
        ...request,
        path: RD_PATH,
        headers: { ...request.headers, authorization: `Bearer ${tokens[pick()]}` },
      }),
      fake,
    );
    const proxy = await load(
      broker.url,
      connections,
      seconds,
      (request) => ({
        ...request,
        path: `/proxy${RD_PATH}`,
        headers: {
          ...request.headers,
          authorization: `Bearer ${secrets.apiKey}`,
          'x-account': accounts[pick()],
          'x-product': 'crm',
        },
      }),
      broker,
    );
    const budget = await measureBudget(databaseUrl, options.quick);
    return {
      accounts: accounts.length,
      connections,
      seconds,
      direct,
      proxy,
      ratio: round2(proxy.reqPerSec / direct.reqPerSec),
      addedP50Ms: round2(proxy.p50Ms - direct.p50Ms),
      budget,
    };
  } finally {
    await broker.stop();
    await fakeControl(fake, '/_fake/config', { apiRateLimitPerMinute: 120 });
  }
}
