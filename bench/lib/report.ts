/** The summary: machine facts, the printed tables, the JSON file, and the pass/fail checks. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { DrainResult } from './drain';
import type { LoadResult } from './load';
import type { ProxyLoad, ProxyResult } from './proxy';
import { drainTargetLine, readTargetLines } from './read-targets';
import { RESULTS_DIR } from './processes';

export interface Machine {
  nproc: number;
  cpu: string;
  ramGiB: number;
  node: string;
  postgres: string;
  database: string;
  /** 1-minute load averages: the machine is shared, figures are only as good as its quiet. */
  loadAtStart: number;
  loadAtEnd: number;
}

export interface Summary {
  at: string;
  quick: boolean;
  machine: Machine;
  read: {
    accounts: number;
    connections: number;
    warmupSeconds: number;
    seconds: number;
    answerBytes: number;
    l1: LoadResult;
    l2: LoadResult;
    broker: LoadResult;
    ratios: { brokerToL1: number; brokerToL2: number; cpuPerAnswerToL1: number };
  };
  proxy: ProxyResult;
  drain: DrainResult[];
}

export function loadNow(): number {
  return Math.round(loadavg()[0] * 100) / 100;
}

export function machine(postgres: string, database: string, loadAtStart: number): Machine {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    nproc: cpus().length,
    cpu: model.trim(),
    ramGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres,
    database,
    loadAtStart,
    loadAtEnd: loadNow(),
  };
}

export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return cells.map(line).join('\n');
}

/** The broker's own count of how it answered the measured requests, e.g. "cache_hit 97.1%, db 2.9%". */
export function readOutcomes(broker: LoadResult): string {
  const reads = broker.tokenReads;
  if (!reads) return 'broker read outcomes: (no broker_token_reads_total metric)';
  const total = Object.values(reads).reduce((a, b) => a + b, 0);
  const parts = Object.entries(reads)
    .sort((a, b) => b[1] - a[1])
    .map(([outcome, n]) => `${outcome} ${((100 * n) / total).toFixed(1)}%`);
  return `broker answered the measured reads from: ${parts.join(', ')}`;
}

export function machineLine(m: Machine): string {
  return (
    `Machine: ${m.nproc} × ${m.cpu}, ${m.ramGiB} GiB RAM, Node ${m.node}, PostgreSQL ${m.postgres} (${m.database}); ` +
    `load average ${m.loadAtStart} at start, ${m.loadAtEnd} at end`
  );
}

/** One load measurement as a table row, under LOAD_HEADERS (after a first column of its own). */
export const LOAD_HEADERS = [
  'req/s',
  'p50 ms',
  'p99 ms',
  'peak RSS MB',
  'non-2xx/errors',
  'CPU % server / load gen / machine',
  'server CPU µs/req',
];

export function loadRow(r: LoadResult): Array<string | number> {
  return [
    r.reqPerSec,
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.peakRssMb,
    r.non2xx + r.errors + r.warmupFailures,
    `${r.serverCpuPercent} / ${r.loadGeneratorCpuPercent} / ${r.machineCpuPercent}`,
    r.serverCpuMicrosPerRequest,
  ];
}

export const DRAIN_HEADERS = [
  'replicas',
  'connections',
  'limit s',
  'drain s',
  'limit/drain',
  'max RD in flight',
  'duplicates',
  'unrefreshed',
  'failed calls',
  'slot ms/refresh / RD call ms',
  'db xacts/refresh',
  'CPU % brokers / machine',
  'peak RSS MB',
];

export function drainRow(d: DrainResult): Array<string | number> {
  return [
    d.replicas,
    d.connections,
    d.limitS.toFixed(2),
    d.drainS.toFixed(2),
    d.ratio.toFixed(2),
    d.maxRdInFlight,
    d.duplicates,
    d.unrefreshed,
    d.failedCalls,
    `${d.slotMsPerRefresh.toFixed(0)} / ${d.rdCallMeanMs?.toFixed(0) ?? '?'}`,
    d.dbTransactionsPerRefresh.toFixed(1),
    `${d.brokerCpuPercent.join('+')} / ${d.machineCpuPercent}`,
    d.peakRssMb.join('/'),
  ];
}

/** Autovacuum seen on the database during each drain: it competes for the same cores. */
export function autovacuumLine(drains: DrainResult[]): string {
  const each = drains.map((d) => {
    const work = d.autovacuum.length ? d.autovacuum.join(', ') : 'none';
    return `${d.replicas} replica(s): ${work} (${d.autovacuumPollPercent} % of polls)`;
  });
  return `autovacuum while draining: ${each.join('; ')}`;
}

export function format(summary: Summary): string {
  const { machine: m, read, proxy, drain } = summary;
  const proxyRow = (name: string, r: ProxyLoad) => [
    name,
    r.reqPerSec,
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.non2xx + r.errors,
    r.serverCpuMicrosPerRequest,
  ];
  const b = proxy.budget;
  return [
    machineLine(m),
    '',
    `Read path: GET /tokens/:account?product=crm over ${read.accounts} random accounts, ` +
      `${read.connections} connections, ${read.seconds} s after a warm-up (each account once, ` +
      `then ${read.warmupSeconds} s), ` +
      `answer ${read.answerBytes} bytes`,
    table(
      ['server', ...LOAD_HEADERS],
      [
        ['L1 fastify constant JSON', ...loadRow(read.l1)],
        ['L2 fastify + pg SELECT', ...loadRow(read.l2)],
        ['broker', ...loadRow(read.broker)],
      ],
    ),
    `CPU in % of one core (the machine's maximum is ${m.nproc * 100} %); machine CPU beyond ` +
      'server + load generator + PostgreSQL is other work, which makes a figure noisy',
    readOutcomes(read.broker),
    ...readTargetLines(read),
    '',
    `Proxy: GET /proxy/crm/v2/contacts?page=1 over ${proxy.accounts} accounts vs the fake RD's ` +
      `endpoint called directly with their tokens, ${proxy.connections} connections, ${proxy.seconds} s each`,
    table(
      ['path', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx/errors', 'CPU µs/req (broker; fake)'],
      [proxyRow('direct to the fake RD', proxy.direct), proxyRow('through /proxy', proxy.proxy)],
    ),
    `proxy/direct = ${proxy.ratio.toFixed(2)} (target ≥ 0.5)   added p50 = ${proxy.addedP50Ms.toFixed(2)} ms (target ≤ 1 ms)`,
    `rate budget statement: ${b.sequentialMicros} µs per call sequential (SELECT 1: ${b.roundTripMicros} µs); ` +
      `${b.hotAccountPerSec}/s on one hot account, ${b.spreadPerSec}/s over 1,000 accounts (50 in flight, pool of 20)`,
    '',
    `Refresh drain: all connections due at once, fake RD ${drain[0]?.latencyMs} ms, ` +
      `REFRESH_CONCURRENCY ${drain[0]?.concurrency}, REFRESH_CRON every second`,
    table(DRAIN_HEADERS, drain.map(drainRow)),
    drainTargetLine(drain),
    autovacuumLine(drain),
  ].join('\n');
}

/** A broken load run: non-2xx answers or request errors, warm-up included. */
export function loadProblems(name: string, r: LoadResult): string[] {
  const found: string[] = [];
  if (r.non2xx > 0)
    found.push(`${name}: ${r.non2xx} non-2xx answers ${JSON.stringify(r.statusCodes)}`);
  if (r.errors > 0) found.push(`${name}: ${r.errors} request errors (${r.timeouts} timeouts)`);
  if (r.warmupFailures > 0) found.push(`${name}: ${r.warmupFailures} failures during warm-up`);
  return found;
}

/** A broken drain: duplicate, missed or failed refreshes, or more RD calls than allowed. */
export function drainProblems(d: DrainResult, where: string): string[] {
  const found: string[] = [];
  if (d.duplicates > 0) found.push(`${where}: ${d.duplicates} duplicate refreshes`);
  if (d.maxRdInFlight > d.concurrency * d.replicas)
    found.push(
      `${where}: ${d.maxRdInFlight} RD calls in flight at once (REFRESH_CONCURRENCY exceeded)`,
    );
  if (d.unrefreshed > 0) found.push(`${where}: ${d.unrefreshed} connections left unrefreshed`);
  if (d.failedCalls > 0) found.push(`${where}: ${d.failedCalls} refresh calls failed at the fake`);
  if (d.reauthorizationRequired > 0)
    found.push(`${where}: ${d.reauthorizationRequired} connections need reauthorization`);
  return found;
}

/** What makes the run fail (thresholds are reported, never asserted). */
export function problems(summary: Summary): string[] {
  const { l1, l2, broker } = summary.read;
  const found = [
    ...loadProblems('L1', l1),
    ...loadProblems('L2', l2),
    ...loadProblems('broker', broker),
  ];
  for (const [name, r] of [
    ['proxy: direct', summary.proxy.direct],
    ['proxy: through the broker', summary.proxy.proxy],
  ] as const) {
    if (r.non2xx > 0) found.push(`${name}: ${r.non2xx} non-2xx answers`);
    if (r.errors > 0) found.push(`${name}: ${r.errors} request errors`);
  }
  for (const d of summary.drain)
    found.push(...drainProblems(d, `drain with ${d.replicas} replica(s)`));
  return found;
}

export function writeJson(summary: Summary): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, summary.quick ? 'latest-quick.json' : 'latest.json');
  writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
  return file;
}
