/**
 * The proxy line: `GET /proxy/crm/v2/contacts` through the broker against L3 (bare fastify +
 * undici `Pool.request` to the same fake RD, servers/undici-proxy.mjs) at 1 and 50 connections,
 * and against the fake's endpoint called directly with the same accounts' tokens, in the same
 * run, with the same autocannon settings; CPU per call is each server's own (from /proc), so
 * broker ÷ L3 is what the broker adds to the least that does the job. Then the rate budget's
 * statement measured alone on the database.
 */
import autocannon from 'autocannon';
import { Client, Pool } from 'pg';
import { LEASE_SQL } from '../../src/proxy/rate-budget.sql';

/** One lease of one unit with no limit in sight: the statement a lease runs, at its cheapest. */
const lease = (account: string) => ['crm', account, 1e9, 1, 0];
import { percentile, round2 } from './load';
import { cpuSeconds, type Child } from './processes';
import { call, fakeControl, startBroker, startUndiciProxy, type Secrets } from './services';

export const RD_PATH = '/crm/v2/contacts?page=1';
/** Accounts the load spreads over (their tokens are read once through GET /tokens). */
const MAX_ACCOUNTS = 100;
/** High enough that the budget check runs on every call but never refuses one. */
const BENCH_RATE_LIMIT = 100_000;

export interface ProxyLoad {
  connections: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** CPU of the server measured (broker, L3, or the fake for the direct run) per answer, µs. */
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

/** The broker's proxy against L3 at one number of connections, measured back to back. */
export interface ProxyAgainstL3 {
  connections: number;
  l3: ProxyLoad;
  broker: ProxyLoad;
  /** broker CPU per call ÷ L3's (target ≤ 2.0). */
  cpuRatio: number;
  /** broker req/s ÷ L3's. */
  reqPerSecRatio: number;
  /** broker p50 − L3's (target at 1 connection: ≤ 1 ms). */
  addedP50Ms: number;
  /** Rate budget statements the broker sent PostgreSQL per proxied call (its own metric). */
  budgetStatementsPerCall: number | null;
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
  /** L3 and the broker at 1 and at `connections` connections. */
  againstL3: ProxyAgainstL3[];
  budget: BudgetCost;
}

export const PROXY_CONNECTIONS = [1, 50];

type Setup = (request: autocannon.Request) => autocannon.Request;

/** 1 s of warm-up (connections, JIT, token cache), then `seconds` measured. */
export async function proxyLoad(
  url: string,
  connections: number,
  seconds: number,
  setup: Setup,
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
    return Promise.race([instance, cpuOf.crashed]);
  };
  await run(1);
  const latencies: number[] = [];
  const cpuBefore = cpuSeconds(cpuOf.pid);
  const result = await run(seconds, (ms) => latencies.push(ms));
  const cpu = cpuSeconds(cpuOf.pid) - cpuBefore;
  const sorted = Float64Array.from(latencies).sort();
  return {
    connections,
    reqPerSec: Math.round(result.requests.total / result.duration),
    p50Ms: round2(percentile(sorted, 50)),
    p99Ms: round2(percentile(sorted, 99)),
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    serverCpuMicrosPerRequest: Math.round((cpu * 1e6) / Math.max(1, result.requests.total)),
  };
}

/** What autocannon sends the broker: `/proxy/crm/v2/contacts?page=1` for a random account. */
export function brokerProxyCall(accounts: string[], apiKey: string): Setup {
  return (request) => ({
    ...request,
    path: `/proxy${RD_PATH}`,
    headers: {
      ...request.headers,
      authorization: `Bearer ${apiKey}`,
      'x-account': accounts[Math.floor(Math.random() * accounts.length)],
      'x-product': 'crm',
    },
  });
}

/** The same call to L3 (which knows the tokens; the API key it ignores is still sent). */
export const l3ProxyCall = brokerProxyCall;

/** Reads each account's token once through the broker: the tokens L3 and the direct run use. */
export async function readTokens(
  broker: Child,
  apiKey: string,
  accounts: string[],
): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const account of accounts) {
    const answer = await call<{ accessToken: string }>(
      `${broker.url}/tokens/${account}?product=crm`,
      { token: apiKey },
    );
    if (answer.status !== 200) throw new Error(`token of ${account}: HTTP ${answer.status}`);
    tokens[account] = answer.body.accessToken;
  }
  return tokens;
}

/** Sum of every series of a counter in the broker's /metrics (null when it has none). */
export async function metricSum(server: Child, name: string): Promise<number | null> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  let sum: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' '))
      continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export const BUDGET_STATEMENTS = 'broker_proxy_budget_statements_total';

async function budgetCounts(broker: Child) {
  return {
    statements: await metricSum(broker, BUDGET_STATEMENTS),
    calls: await metricSum(broker, 'broker_proxy_requests_total'),
  };
}

/**
 * Calls each server takes before it is measured at all, at 50 connections: enough for V8 to have
 * compiled the hot paths (TurboFan). A broker started for the measurement, measured cold at one
 * connection, spent about a sixth of its CPU compiling on V8's worker threads (perf, 2026-12-05)
 * while L3, one process kept across rounds, was long warm: that measured start-up, not a call.
 */
export const JIT_WARM_UP_SECONDS = 3;

/** Load that is not measured: both servers as warm as a replica that has been serving a while. */
async function warmUp(url: string, setup: Setup, cpuOf: Child): Promise<void> {
  const instance = autocannon({
    url,
    connections: 50,
    duration: JIT_WARM_UP_SECONDS,
    timeout: 10,
    requests: [{ method: 'GET', setupRequest: setup }],
  });
  await Promise.race([instance, cpuOf.crashed]);
}

/** L3 then the broker at each number of connections, back to back, both warmed up first. */
export async function againstL3(
  l3: Child,
  broker: Child,
  accounts: string[],
  apiKey: string,
  seconds: number,
  connectionCounts = PROXY_CONNECTIONS,
): Promise<ProxyAgainstL3[]> {
  const results: ProxyAgainstL3[] = [];
  await warmUp(l3.url, l3ProxyCall(accounts, apiKey), l3);
  await warmUp(broker.url, brokerProxyCall(accounts, apiKey), broker);
  for (const connections of connectionCounts) {
    const l3Load = await proxyLoad(l3.url, connections, seconds, l3ProxyCall(accounts, apiKey), l3);
    const before = await budgetCounts(broker);
    const brokerLoad = await proxyLoad(
      broker.url,
      connections,
      seconds,
      brokerProxyCall(accounts, apiKey),
      broker,
    );
    const after = await budgetCounts(broker);
    results.push({
      connections,
      l3: l3Load,
      broker: brokerLoad,
      cpuRatio: round2(brokerLoad.serverCpuMicrosPerRequest / l3Load.serverCpuMicrosPerRequest),
      reqPerSecRatio: round2(brokerLoad.reqPerSec / l3Load.reqPerSec),
      addedP50Ms: round2(brokerLoad.p50Ms - l3Load.p50Ms),
      // Warm-up included: the broker's own counts of statements and of proxied calls.
      budgetStatementsPerCall:
        before.statements === null || after.statements === null
          ? null
          : Math.round(
              (1000 * (after.statements - before.statements)) /
                Math.max(1, (after.calls ?? 0) - (before.calls ?? 0)),
            ) / 1000,
    });
  }
  return results;
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
        await pool.query(LEASE_SQL, lease(account(i)));
      }
    }),
  );
  return Math.round(total / (Number(process.hrtime.bigint() - started) / 1e9));
}

/** The budget's lease statement alone, exactly as the broker runs it, on the bench's database. */
export async function measureBudget(databaseUrl: string, quick: boolean): Promise<BudgetCost> {
  const n = quick ? 2_000 : 10_000;
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const pool = new Pool({ connectionString: databaseUrl, max: 20 });
  try {
    await timeEach(client, 200, 'SELECT 1');
    const roundTripMicros = await timeEach(client, n, 'SELECT 1');
    await timeEach(client, 200, LEASE_SQL, lease('bench-budget-seq'));
    const sequentialMicros = await timeEach(client, n, LEASE_SQL, lease('bench-budget-seq'));
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
  // RD's own per-account limit would turn the direct run into 429s: lifted for every run.
  await fakeControl(fake, '/_fake/config', { apiRateLimitPerMinute: 1e12 });
  const broker = await startBroker(databaseUrl, fake, secrets, {
    name: 'broker-proxy',
    scheduler: false,
    env: { RD_RATE_LIMIT_PER_MINUTE: String(BENCH_RATE_LIMIT) },
  });
  let l3: Child | undefined;
  try {
    const tokens = await readTokens(broker, secrets.apiKey, accounts);
    l3 = await startUndiciProxy(fake.url, tokens);
    const direct = await proxyLoad(
      fake.url,
      connections,
      seconds,
      (request) => ({
        ...request,
        path: RD_PATH,
        headers: {
          ...request.headers,
          authorization: `Bearer ${tokens[accounts[Math.floor(Math.random() * accounts.length)]]}`,
        },
      }),
      fake,
    );
    const pairs = await againstL3(l3, broker, accounts, secrets.apiKey, seconds, [
      ...new Set([1, connections]),
    ]);
    const proxy = pairs[pairs.length - 1].broker;
    const budget = await measureBudget(databaseUrl, options.quick);
    return {
      accounts: accounts.length,
      connections,
      seconds,
      direct,
      proxy,
      ratio: round2(proxy.reqPerSec / direct.reqPerSec),
      addedP50Ms: round2(proxy.p50Ms - direct.p50Ms),
      againstL3: pairs,
      budget,
    };
  } finally {
    await l3?.stop();
    await broker.stop();
    await fakeControl(fake, '/_fake/config', { apiRateLimitPerMinute: 120 });
  }
}
