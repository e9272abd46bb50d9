/**
 * One throughput/latency measurement with autocannon: `GET /tokens/<random seeded account>`,
 * a warm-up, then the measured run. Latency percentiles come from autocannon's per-response
 * timings (sub-millisecond), not its whole-millisecond histogram.
 */
import autocannon from 'autocannon';
import { tokenReads } from './metrics';
import { cpus } from 'node:os';
import { cpuSeconds, machineCpu, machineCpuPercent, peakRssMb, type Child } from './processes';

export interface LoadOptions {
  accounts: string[];
  apiKey: string;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  /**
   * The warm-up's first pass reads each of these once (default: every account). A pass over
   * all accounts leaves an LRU cache of M entries holding the last M read, so reading only those
   * gives the same cache in a tenth of the time when the cache holds a tenth.
   */
  warmupAccounts?: string[];
  /**
   * Requests per second for the measured run (autocannon's overallRate) instead of as many as
   * the connections get answered: two builds then do the same work per second, whatever else
   * the machine does, and CPU per answer compares (compare-reads' `--rate`).
   */
  rate?: number;
  /** Read the broker's broker_token_reads_total before and after the measured run. */
  countTokenReads?: boolean;
}

export interface LoadResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  peakRssMb: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** CPU used by the server / by the load generator (this process) during the run, in % of a core. */
  serverCpuPercent: number;
  loadGeneratorCpuPercent: number;
  /**
   * CPU the whole machine used during the run, in % of one core: what is not server, load
   * generator or PostgreSQL is other work on the machine, and makes the figures noisy.
   */
  machineCpuPercent: number;
  /** Server CPU per answered request, in µs: the cost of one answer, less sensitive to noise. */
  serverCpuMicrosPerRequest: number;
  /** Non-2xx answers and request errors during the warm-up (they also make the run fail). */
  warmupFailures: number;
  /** With countTokenReads: how the broker answered the measured requests (cache_hit, db, …). */
  tokenReads?: Record<string, number>;
}

interface Run {
  seconds?: number;
  rate?: number;
  /** Stop after this many requests instead of after `seconds`. */
  amount?: number;
  pickAccount: () => string;
  onLatency?: (ms: number) => void;
}

function run(
  server: Child,
  options: LoadOptions,
  { seconds, rate, amount, pickAccount, onLatency }: Run,
) {
  const instance = autocannon({
    url: server.url,
    connections: options.connections,
    ...(rate ? { overallRate: rate } : {}),
    ...(amount === undefined ? { duration: seconds } : { amount }),
    timeout: 10,
    headers: { authorization: `Bearer ${options.apiKey}` },
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => ({
          ...request,
          path: `/tokens/${pickAccount()}?product=crm`,
        }),
      },
    ],
  });
  if (onLatency) {
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) =>
      onLatency(ms),
    );
  }
  return Promise.race([instance, server.crashed]);
}

const failures = (result: autocannon.Result) => result.non2xx + result.errors;

/**
 * Steady state before measuring: every account read once (as production callers keep doing, so a
 * cache is as full as it would be), then `warmupSeconds` of random reads. Same for every server.
 */
async function warmUp(server: Child, options: LoadOptions): Promise<number> {
  const once = options.warmupAccounts ?? options.accounts;
  let next = 0;
  const pass = await run(server, options, {
    amount: once.length,
    pickAccount: () => once[next++ % once.length],
  });
  if (options.warmupSeconds === 0) return failures(pass);
  const random = await run(server, options, {
    seconds: options.warmupSeconds,
    pickAccount: () => randomAccount(options.accounts),
  });
  return failures(pass) + failures(random);
}

function randomAccount(accounts: string[]): string {
  return accounts[Math.floor(Math.random() * accounts.length)];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

function difference(after?: Record<string, number>, before: Record<string, number> = {}) {
  if (!after) return undefined;
  return Object.fromEntries(
    Object.entries(after)
      .map(([key, value]) => [key, value - (before[key] ?? 0)] as const)
      .filter(([, value]) => value > 0),
  );
}

export async function measure(server: Child, options: LoadOptions): Promise<LoadResult> {
  const warmupFailures = await warmUp(server, options);
  const readsBefore = options.countTokenReads ? await tokenReads(server) : undefined;
  const latencies: number[] = [];
  const serverCpuBefore = cpuSeconds(server.pid);
  const ownCpuBefore = process.cpuUsage();
  const machineBefore = machineCpu();
  const result = await run(server, options, {
    seconds: options.seconds,
    rate: options.rate,
    pickAccount: () => randomAccount(options.accounts),
    onLatency: (ms) => latencies.push(ms),
  });
  const serverCpu = cpuSeconds(server.pid) - serverCpuBefore;
  const ownCpu = process.cpuUsage(ownCpuBefore);
  const machinePercent = machineCpuPercent(machineBefore, cpus().length);
  const readsAfter = options.countTokenReads ? await tokenReads(server) : undefined;
  const sorted = Float64Array.from(latencies).sort();
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, Number(count)]),
  );
  return {
    reqPerSec: Math.round(result.requests.total / result.duration),
    p50Ms: round2(percentile(sorted, 50)),
    p99Ms: round2(percentile(sorted, 99)),
    peakRssMb: peakRssMb(server.pid),
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    serverCpuPercent: Math.round((100 * serverCpu) / result.duration),
    loadGeneratorCpuPercent: Math.round((ownCpu.user + ownCpu.system) / 1e4 / result.duration),
    machineCpuPercent: machinePercent,
    serverCpuMicrosPerRequest: Math.round((serverCpu * 1e6) / Math.max(1, result.requests.total)),
    warmupFailures,
    tokenReads: difference(readsAfter, readsBefore),
  };
}

export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
