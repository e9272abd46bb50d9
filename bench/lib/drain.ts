/**
 * The refresh drain: every seeded connection (or the `due` subset) made due at once, the fake RD
 * answering with a fixed latency, R broker replicas running the scheduler. Measures how long until all are refreshed,
 * against the bound N × latency ÷ (REFRESH_CONCURRENCY × R), and checks that no refresh token
 * was sent to RD twice and none was left behind.
 */
import { Client } from 'pg';
import { round2 } from './load';
import { rdRefreshCalls } from './metrics';
import { cpus } from 'node:os';
import {
  cpuSeconds,
  machineCpu,
  machineCpuPercent,
  peakRssMb,
  sleep,
  type Child,
} from './processes';
import { ACCOUNT_PREFIX } from './seed';
import { fakeControl, refreshCalls, startBroker, type FakeCall, type Secrets } from './services';

export interface DrainContext {
  databaseUrl: string;
  fake: Child;
  secrets: Secrets;
  /** Every refresh token sent to the fake so far, across drains: a second use is a duplicate. */
  usedRefreshTokens: Set<string>;
}

export interface DrainOptions {
  replicas: number;
  latencyMs: number;
  concurrency: number;
  /**
   * The accounts made due (each must hold a live grant at the fake); every bench row if absent.
   * The others stay as they are, and the drain's own queries never scan them.
   */
  due?: string[];
}

/** Which rows a drain makes due and watches: a WHERE on `connections` with its one parameter. */
interface Scope {
  where: string;
  param: string | string[];
}

function scopeOf(due: string[] | undefined): Scope {
  // `= ANY` of varchar[] is a primary-key lookup per account, not a scan of the whole table.
  return due
    ? { where: 'account = ANY($1::varchar[])', param: due }
    : { where: 'account LIKE $1', param: `${ACCOUNT_PREFIX}%` };
}

export interface DrainResult {
  replicas: number;
  connections: number;
  latencyMs: number;
  concurrency: number;
  limitS: number;
  drainS: number;
  /** limit ÷ drain: 1.0 means the replicas kept REFRESH_CONCURRENCY calls in flight throughout. */
  ratio: number;
  refreshCalls: number;
  /**
   * Most refresh calls the fake held at once (each is held `latencyMs`): must not exceed
   * REFRESH_CONCURRENCY × replicas, or the limit above is not a limit.
   */
  maxRdInFlight: number;
  duplicates: number;
  failedCalls: number;
  unrefreshed: number;
  reauthorizationRequired: number;
  peakRssMb: number[];
  /**
   * Mean time a refresh held one of the REFRESH_CONCURRENCY slots (drain × slots ÷ N), beside the
   * mean RD call the brokers measured: the gap is the broker's own work per refresh.
   */
  slotMsPerRefresh: number;
  rdCallMeanMs?: number;
  /** CPU used by each replica while draining (until the bench saw it drained), in % of a core. */
  brokerCpuPercent: number[];
  /** CPU the whole machine used while draining, in % of one core. */
  machineCpuPercent: number;
  /** Database transactions (statements outside a transaction count one each) per refresh. */
  dbTransactionsPerRefresh: number;
  /** Connections refreshed by the end of each second after t0 (cumulative). */
  perSecond: number[];
  /**
   * Autovacuum work on this database seen while draining (pg_stat_activity, at each poll), e.g.
   * "VACUUM ANALYZE public.connection_reads", and in what share of the polls: it competes with
   * the refreshes for the same cores.
   */
  autovacuum: string[];
  autovacuumPollPercent: number;
}

/** Only detection waits on polling; the drain time itself comes from the rows' timestamps. */
const POLL_MS = 250;
/** Give up when nothing got refreshed for this long. */
const STALL_MS = 30_000;
/** After the last refresh, wait this long for stray (duplicate) calls before reading the log. */
const SETTLE_MS = 2_000;

interface Progress {
  refreshed: number;
  reauthorizationRequired: number;
  /** From t0 to the last refresh committed, by the database's clock. */
  lastMs: number;
}

/** What autovacuum workers on the bench's database were doing at each poll. */
class AutovacuumSeen {
  private polls = 0;
  private busy = 0;
  private readonly work = new Set<string>();

  add(activities: string | null): void {
    this.polls++;
    if (!activities) return;
    this.busy++;
    for (const activity of activities.split('\n')) this.work.add(activity);
  }

  summary() {
    return {
      autovacuum: [...this.work].sort(),
      autovacuumPollPercent: this.polls ? Math.round((100 * this.busy) / this.polls) : 0,
    };
  }
}

/** The bench's one database session during a drain (polling must not load the server). */
class Monitor {
  readonly autovacuum = new AutovacuumSeen();

  private constructor(
    private readonly client: Client,
    private readonly scope: Scope,
  ) {}

  static async open(databaseUrl: string, scope: Scope): Promise<Monitor> {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    return new Monitor(client, scope);
  }

  close(): Promise<void> {
    return this.client.end();
  }

  /** Makes the scope's connections due now; returns the database's now() and the row count. */
  async makeDue(): Promise<{ t0: Date; due: number }> {
    const { rows } = await this.client.query<{ t0: Date; due: string }>(
      `WITH due AS (
         UPDATE connections
            SET next_refresh_at = now(), expires_at = now() + interval '5 minutes',
                claimed_until = NULL
          WHERE ${this.scope.where}
         RETURNING 1)
       SELECT now() AS t0, count(*) AS due FROM due`,
      [this.scope.param],
    );
    return { t0: rows[0].t0, due: Number(rows[0].due) };
  }

  /** `whileDraining`: count its autovacuum sample (the read after the settle is not). */
  async progress(t0: Date, whileDraining = true): Promise<Progress> {
    const { rows } = await this.client.query<{
      refreshed: string;
      reauth: string;
      last_ms: number;
      autovacuum: string | null;
    }>(
      // Autovacuum is read in the same statement: the monitor's transactions are counted.
      `SELECT (SELECT string_agg(DISTINCT regexp_replace(query, '^autovacuum: ', ''), E'\\n')
                 FROM pg_stat_activity
                WHERE backend_type = 'autovacuum worker' AND datname = current_database()
              ) AS autovacuum,
              count(*) FILTER (WHERE last_refreshed_at >= $2) AS refreshed,
              count(*) FILTER (WHERE status = 'reauthorization_required') AS reauth,
              extract(epoch FROM max(last_refreshed_at) FILTER (WHERE last_refreshed_at >= $2) - $2)
                * 1000 AS last_ms
         FROM connections WHERE ${this.scope.where}`,
      [this.scope.param, t0],
    );
    const row = rows[0];
    if (whileDraining) this.autovacuum.add(row.autovacuum);
    return {
      refreshed: Number(row.refreshed),
      reauthorizationRequired: Number(row.reauth),
      lastMs: Number(row.last_ms ?? 0),
    };
  }

  /** Cumulative refreshes at the end of each second after t0: shows stalls between runs. */
  async perSecond(t0: Date): Promise<number[]> {
    const { rows } = await this.client.query<{ second: number; n: string }>(
      `SELECT floor(extract(epoch FROM last_refreshed_at - $2))::int AS second, count(*) AS n
         FROM connections WHERE ${this.scope.where} AND last_refreshed_at >= $2
        GROUP BY 1 ORDER BY 1`,
      [this.scope.param, t0],
    );
    const counts: number[] = [];
    let total = 0;
    for (const row of rows) {
      while (counts.length < row.second) counts.push(total);
      total += Number(row.n);
      counts[row.second] = total;
    }
    return counts;
  }

  /**
   * Transactions committed or rolled back in this database so far (every autocommit statement is
   * one). Backends flush these counters lazily; they are exact once the brokers have exited.
   */
  async transactions(): Promise<number> {
    const { rows } = await this.client.query<{ n: string }>(
      `SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`,
    );
    return Number(rows[0].n);
  }

  /** Polls until every due row is refreshed, nothing moves for STALL_MS, or a broker dies. */
  async waitForDrain(t0: Date, due: number, brokers: Child[]): Promise<number> {
    let polls = 0;
    const watch = async () => {
      let last = await this.progress(t0);
      let lastChange = Date.now();
      while (last.refreshed + last.reauthorizationRequired < due) {
        if (Date.now() - lastChange > STALL_MS) break;
        await sleep(POLL_MS);
        const now = await this.progress(t0);
        polls++;
        if (now.refreshed !== last.refreshed) lastChange = Date.now();
        last = now;
      }
    };
    await Promise.race([watch(), ...brokers.map((broker) => broker.crashed)]);
    return polls;
  }
}

async function rdCallMeanMs(brokers: Child[]): Promise<number | undefined> {
  let seconds = 0;
  let count = 0;
  for (const broker of brokers) {
    const calls = await rdRefreshCalls(broker);
    seconds += calls?.seconds ?? 0;
    count += calls?.count ?? 0;
  }
  return count > 0 ? round2((seconds * 1000) / count) : undefined;
}

/** Calls arriving within `latencyMs` of one another were at the fake at the same time. */
function maxInFlight(calls: FakeCall[], latencyMs: number): number {
  const arrivals = calls.map((call) => call.at).sort((a, b) => a - b);
  let max = 0;
  for (let first = 0, i = 0; i < arrivals.length; i++) {
    while (arrivals[first] <= arrivals[i] - latencyMs) first++;
    max = Math.max(max, i - first + 1);
  }
  return max;
}

function auditCalls(calls: FakeCall[], used: Set<string>) {
  let duplicates = 0;
  let failed = 0;
  for (const call of calls) {
    if (call.status !== 200) failed++;
    if (!call.refreshToken) continue;
    if (used.has(call.refreshToken)) duplicates++;
    used.add(call.refreshToken);
  }
  return { duplicates, failed };
}

async function startReplicas(context: DrainContext, options: DrainOptions): Promise<Child[]> {
  const brokers: Child[] = [];
  for (let i = 1; i <= options.replicas; i++) {
    brokers.push(
      await startBroker(context.databaseUrl, context.fake, context.secrets, {
        name: `broker-drain-${options.replicas}r-${i}`,
        scheduler: true,
        refreshCron: '*/1 * * * * *',
        refreshConcurrency: options.concurrency,
      }),
    );
  }
  return brokers;
}

export async function runDrain(context: DrainContext, options: DrainOptions): Promise<DrainResult> {
  const { fake } = context;
  await fakeControl(fake, '/_fake/config', { latencyMs: options.latencyMs });
  await fakeControl(fake, '/_fake/reset', {});
  const monitor = await Monitor.open(context.databaseUrl, scopeOf(options.due));
  const brokers = await startReplicas(context, options);
  try {
    const transactionsBefore = await monitor.transactions();
    const cpuBefore = brokers.map((broker) => cpuSeconds(broker.pid));
    const wallBefore = performance.now();
    const machineBefore = machineCpu();
    const { t0, due } = await monitor.makeDue();
    const polls = await monitor.waitForDrain(t0, due, brokers);
    const cpu = brokers.map((broker, i) => cpuSeconds(broker.pid) - cpuBefore[i]);
    const wallSeconds = (performance.now() - wallBefore) / 1000;
    const machinePercent = machineCpuPercent(machineBefore, cpus().length);
    const rss = brokers.map((broker) => peakRssMb(broker.pid));
    const rdCallMs = await rdCallMeanMs(brokers);
    // Still watching the replicas: one that exits now must fail the run, not go unnoticed.
    await Promise.race([sleep(SETTLE_MS), ...brokers.map((broker) => broker.crashed)]);
    const final = await monitor.progress(t0, false);
    const calls = await refreshCalls(fake);
    const { duplicates, failed } = auditCalls(calls, context.usedRefreshTokens);
    for (const broker of brokers) await broker.stop();
    // The monitor's own statements (due, polls, final) are not the brokers'.
    const transactions = (await monitor.transactions()) - transactionsBefore - (polls + 4);
    const limitS = (due * options.latencyMs) / 1000 / (options.concurrency * options.replicas);
    const drainS = final.lastMs / 1000;
    const refreshed = Math.max(1, final.refreshed);
    return {
      replicas: options.replicas,
      connections: due,
      latencyMs: options.latencyMs,
      concurrency: options.concurrency,
      limitS: round2(limitS),
      drainS: round2(drainS),
      ratio: drainS > 0 ? round2(limitS / drainS) : 0,
      refreshCalls: calls.length,
      maxRdInFlight: maxInFlight(calls, options.latencyMs),
      duplicates,
      failedCalls: failed,
      unrefreshed: due - final.refreshed,
      reauthorizationRequired: final.reauthorizationRequired,
      peakRssMb: rss,
      slotMsPerRefresh: round2(
        (drainS * 1000 * options.concurrency * options.replicas) / refreshed,
      ),
      rdCallMeanMs: rdCallMs,
      machineCpuPercent: machinePercent,
      brokerCpuPercent: cpu.map((seconds) => Math.round((100 * seconds) / wallSeconds)),
      dbTransactionsPerRefresh: round2(transactions / refreshed),
      perSecond: await monitor.perSecond(t0),
      ...monitor.autovacuum.summary(),
    };
  } finally {
    for (const broker of brokers) await broker.stop();
    await monitor.close();
  }
}
