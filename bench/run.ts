/**
 * `npm run bench [-- --quick] [-- --accounts=N --seconds=S --rd-latency=MS]`
 * `npm run bench -- --scale [--sizes=1000,10000,100000 --seconds=S]`: see lib/scale.ts.
 *
 * Starts PostgreSQL (or uses DATABASE_URL), the fake RD Station and the built broker as separate
 * processes, seeds N connections through the admin import route, then measures in one run:
 *   1. the read path against two baselines (L1 constant JSON, L2 one pg SELECT) with autocannon;
 *   2. the proxy (`/proxy/crm/v2/contacts`) against the fake RD's endpoint called directly, and
 *      the rate budget's statement alone;
 *   3. the refresh drain with one and then two scheduler replicas.
 * Prints the figures, writes them to bench/results/latest.json (latest-quick.json for --quick),
 * and exits non-zero if something is broken (non-2xx, duplicate or missed refreshes).
 */
import { serverVersion, type Database } from './lib/database';
import { runDrain, type DrainContext, type DrainResult } from './lib/drain';
import { measure, type LoadOptions, type LoadResult } from './lib/load';
import { cleanupAll, installSignalHandlers, type Child } from './lib/processes';
import { measureProxy } from './lib/proxy';
import { readRatios } from './lib/read-targets';
import { format, loadNow, machine, problems, writeJson, type Summary } from './lib/report';
import { runScale, type ScaleConfig } from './lib/scale';
import { formatScale, scaleProblems, writeScaleJson } from './lib/scale-report';
import { accountNames, removeBenchRows, seedConnections, verifySeed } from './lib/seed';
import {
  call,
  startBroker,
  startConstantServer,
  startSelectServer,
  type Secrets,
} from './lib/services';
import { setUpStage } from './lib/stage';
import { restartClock, step } from './lib/step';

interface Config {
  quick: boolean;
  scale: boolean;
  /** --scale: the table sizes, ascending. */
  sizes: number[];
  accounts: number;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  rdLatencyMs: number;
  refreshConcurrency: number;
}

function parseSizes(value: string): number[] {
  const sizes = value.split(',').map(Number);
  const ascending = sizes.every(
    (n, i) => Number.isInteger(n) && n > 0 && (i === 0 || n > sizes[i - 1]),
  );
  if (!ascending) throw new Error(`--sizes=${value}: positive whole numbers, ascending`);
  return sizes;
}

function parseArgs(argv: string[]): Config {
  const quick = argv.includes('--quick');
  const scale = argv.includes('--scale');
  if (quick && scale) throw new Error('--quick and --scale are two different runs: pick one');
  const config: Config = {
    quick,
    scale,
    sizes: [1_000, 10_000, 100_000],
    accounts: quick ? 1_000 : 10_000,
    connections: 50,
    warmupSeconds: quick ? 1 : scale ? 2 : 3,
    seconds: quick ? 3 : scale ? 5 : 10,
    rdLatencyMs: 50,
    refreshConcurrency: 8,
  };
  const numeric: Record<string, keyof Config> = {
    '--accounts': 'accounts',
    '--seconds': 'seconds',
    '--warmup': 'warmupSeconds',
    '--rd-latency': 'rdLatencyMs',
  };
  for (const arg of argv) {
    if (arg === '--quick' || arg === '--scale') continue;
    const [flag, value] = arg.split('=');
    if (flag === '--sizes' && scale) {
      config.sizes = parseSizes(value);
      continue;
    }
    const key = numeric[flag];
    if (!key || (scale && key === 'accounts') || !(Number(value) >= 0))
      throw new Error(`unknown argument ${arg}`);
    (config as unknown as Record<string, number>)[key] = Number(value);
  }
  return config;
}

function scaleConfig(config: Config): ScaleConfig {
  return {
    sizes: config.sizes,
    connections: config.connections,
    warmupSeconds: config.warmupSeconds,
    seconds: config.seconds,
    rdLatencyMs: config.rdLatencyMs,
    refreshConcurrency: config.refreshConcurrency,
    drainConnections: 1_000,
    replicas: [1, 2],
  };
}

interface Setup {
  database: Database;
  fake: Child;
  secrets: Secrets;
  accounts: string[];
  /** A real answer of the broker, for L1 to send a body of the same size. */
  sampleAnswer: string;
}

async function setUp(config: Config): Promise<Setup> {
  const { database, fake, secrets } = await setUpStage();
  const accounts = accountNames(config.accounts);
  const broker = await startBroker(database.url, fake, secrets, {
    name: 'broker-seed',
    scheduler: false,
  });
  step(`seeding ${accounts.length} connections through PUT /connections/:account`);
  await seedConnections(fake, broker, secrets.adminKey, accounts);
  await verifySeed(database.url, accounts);
  const sample = await call(`${broker.url}/tokens/${accounts[0]}?product=crm`, {
    token: secrets.apiKey,
  });
  if (sample.status !== 200) throw new Error(`sample token read: HTTP ${sample.status}`);
  // A fresh broker process is measured, so seeding does not count in its peak RSS.
  await broker.stop();
  step('seeded');
  return { database, fake, secrets, accounts, sampleAnswer: JSON.stringify(sample.body) };
}

async function measureServer(
  name: string,
  start: () => Promise<Child>,
  options: LoadOptions,
): Promise<LoadResult> {
  const server = await start();
  step(
    `measuring ${name} (warm-up: each account once + ${options.warmupSeconds} s; then ${options.seconds} s)`,
  );
  try {
    const result = await measure(server, options);
    step(`  ${result.reqPerSec} req/s, p99 ${result.p99Ms} ms, peak RSS ${result.peakRssMb} MB`);
    return result;
  } finally {
    await server.stop();
  }
}

async function measureReads(config: Config, setup: Setup): Promise<Summary['read']> {
  const { database, fake, secrets, accounts, sampleAnswer } = setup;
  const options: LoadOptions = {
    accounts,
    apiKey: secrets.apiKey,
    connections: config.connections,
    warmupSeconds: config.warmupSeconds,
    seconds: config.seconds,
  };
  const l1 = await measureServer('L1', () => startConstantServer(sampleAnswer), options);
  const l2 = await measureServer('L2', () => startSelectServer(database.url), options);
  const broker = await measureServer(
    'broker',
    () => startBroker(database.url, fake, secrets, { name: 'broker-read', scheduler: true }),
    { ...options, countTokenReads: true },
  );
  return {
    accounts: accounts.length,
    connections: config.connections,
    warmupSeconds: config.warmupSeconds,
    seconds: config.seconds,
    answerBytes: Buffer.byteLength(sampleAnswer),
    l1,
    l2,
    broker,
    ratios: readRatios(l1, l2, broker),
  };
}

async function measureDrains(config: Config, setup: Setup): Promise<DrainResult[]> {
  const context: DrainContext = {
    databaseUrl: setup.database.url,
    fake: setup.fake,
    secrets: setup.secrets,
    usedRefreshTokens: new Set(),
  };
  const results: DrainResult[] = [];
  for (const replicas of [1, 2]) {
    step(`refresh drain: ${setup.accounts.length} due, ${replicas} replica(s)`);
    const result = await runDrain(context, {
      replicas,
      latencyMs: config.rdLatencyMs,
      concurrency: config.refreshConcurrency,
    });
    step(`  drained in ${result.drainS} s (limit ${result.limitS} s, ratio ${result.ratio})`);
    results.push(result);
  }
  return results;
}

async function benchmark(config: Config): Promise<Summary> {
  const loadAtStart = loadNow();
  const setup = await setUp(config);
  const read = await measureReads(config, setup);
  step(
    `proxy: GET /proxy/crm/v2/contacts vs the fake's endpoint directly (${config.seconds} s each)`,
  );
  const proxy = await measureProxy({
    databaseUrl: setup.database.url,
    fake: setup.fake,
    secrets: setup.secrets,
    accounts: setup.accounts,
    connections: config.connections,
    seconds: config.seconds,
    quick: config.quick,
  });
  step(
    `  direct ${proxy.direct.reqPerSec} req/s, proxy ${proxy.proxy.reqPerSec} req/s (ratio ${proxy.ratio}), added p50 ${proxy.addedP50Ms} ms`,
  );
  const drain = await measureDrains(config, setup);
  if (setup.database.origin === 'DATABASE_URL') await removeBenchRows(setup.database.url);
  const postgres = await serverVersion(setup.database.url);
  return {
    at: new Date().toISOString(),
    quick: config.quick,
    machine: machine(postgres, setup.database.origin, loadAtStart),
    read,
    proxy,
    drain,
  };
}

/** Prints the figures and the JSON's path; returns what is broken. */
async function run(config: Config): Promise<string[]> {
  if (config.scale) {
    const summary = await runScale(scaleConfig(config));
    console.log(`\n${formatScale(summary)}\n`);
    console.log(`written to ${writeScaleJson(summary)}`);
    return scaleProblems(summary);
  }
  const summary = await benchmark(config);
  console.log(`\n${format(summary)}\n`);
  console.log(`written to ${writeJson(summary)}`);
  return problems(summary);
}

async function main(): Promise<void> {
  const config = parseArgs(process.argv.slice(2));
  installSignalHandlers();
  restartClock();
  try {
    const found = await run(config);
    if (found.length > 0) {
      console.error(`\nBROKEN:\n  ${found.join('\n  ')}`);
      process.exitCode = 1;
    }
  } finally {
    await cleanupAll();
  }
}

main().catch(async (error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  await cleanupAll();
  process.exit(1);
});
