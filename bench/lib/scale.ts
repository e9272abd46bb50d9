/**
 * `npm run bench -- --scale`: one database and one fake RD; the table grows 1,000 → 10,000 →
 * 100,000 connections (SQL-seeded with real ciphertext, sql-seed.ts) and at each size:
 *   1. the claim query's plan (1 % due, rolled back) and the table's and indexes' sizes;
 *   2. reads of every seeded account through a fresh broker, its token cache large enough
 *      (TOKEN_CACHE_MAX = size) and then 10 × too small (size ÷ 10);
 *   3. a drain of 1,000 due connections spread over the table (live grants at the fake), with
 *      one and then two scheduler replicas.
 * Reads should stay flat and the drain constant per 1,000 as the table grows.
 */
import type { TokenCipher } from '../../src/crypto/token-cipher';
import { explainClaim, tableSizes, type ClaimPlan, type TableSizes } from './claim-plan';
import { serverVersion } from './database';
import { runDrain, type DrainContext, type DrainResult } from './drain';
import { measure, type LoadResult } from './load';
import { heapMb } from './metrics';
import type { Child } from './processes';
import { loadNow, machine, type Machine } from './report';
import { accountNames, removeBenchRows, type Grant } from './seed';
import { brokerCipher, fakeControl, startBroker, type Secrets } from './services';
import { setUpStage } from './stage';
import {
  evenlySpaced,
  giveLiveGrants,
  growTable,
  lengthsOf,
  vacuumAnalyze,
  type TokenLengths,
} from './sql-seed';
import { step } from './step';

export interface ScaleConfig {
  sizes: number[];
  connections: number;
  warmupSeconds: number;
  seconds: number;
  rdLatencyMs: number;
  refreshConcurrency: number;
  /** Connections made due at each size. */
  drainConnections: number;
  replicas: number[];
}

export interface ScaleRead {
  cache: 'large' | 'small';
  tokenCacheMax: number;
  result: LoadResult;
  /** The broker's V8 heap after the run: what of its RSS is data. */
  heap?: { usedMb: number; totalMb: number };
}

export interface ScaleStep {
  size: number;
  /** The 1-minute load average when this size started: other work shares the machine. */
  loadAtStart: number;
  seedSeconds: number;
  plan: ClaimPlan;
  sizes: TableSizes;
  reads: ScaleRead[];
  drain: DrainResult[];
}

export interface ScaleSummary {
  at: string;
  machine: Machine;
  config: ScaleConfig;
  steps: ScaleStep[];
}

/** A claim batch as the scheduler takes it: ceil(1.5 × REFRESH_CONCURRENCY) workers' worth. */
function claimLimit(concurrency: number): number {
  // src/scheduler/scheduled-refresh.service.ts: `workers`.
  return Math.ceil(concurrency * 1.5);
}

interface Bench {
  databaseUrl: string;
  fake: Child;
  secrets: Secrets;
  cipher: TokenCipher;
  lengths: TokenLengths;
  accounts: string[];
  drainContext: DrainContext;
}

async function measureReads(bench: Bench, config: ScaleConfig, size: number) {
  const reads: ScaleRead[] = [];
  const caches = [
    { cache: 'large', tokenCacheMax: size },
    { cache: 'small', tokenCacheMax: Math.max(1, Math.floor(size / 10)) },
  ] as const;
  for (const { cache, tokenCacheMax } of caches) {
    const broker = await startBroker(bench.databaseUrl, bench.fake, bench.secrets, {
      name: `broker-scale-${size}-${cache}`,
      scheduler: true,
      env: { TOKEN_CACHE_MAX: String(tokenCacheMax) },
    });
    step(`  reads, TOKEN_CACHE_MAX ${tokenCacheMax} (${cache}): warm-up, then ${config.seconds} s`);
    try {
      const accounts = bench.accounts.slice(0, size);
      const result = await measure(broker, {
        accounts,
        warmupAccounts: accounts.slice(-tokenCacheMax),
        apiKey: bench.secrets.apiKey,
        connections: config.connections,
        warmupSeconds: config.warmupSeconds,
        seconds: config.seconds,
        countTokenReads: true,
      });
      const heap = await heapMb(broker);
      step(
        `    ${result.reqPerSec} req/s, p99 ${result.p99Ms} ms, peak RSS ${result.peakRssMb} MB, ` +
          `reads ${JSON.stringify(result.tokenReads)}`,
      );
      reads.push({ cache, tokenCacheMax, result, heap });
    } finally {
      await broker.stop();
    }
  }
  return reads;
}

async function measureDrains(bench: Bench, config: ScaleConfig, size: number) {
  const due = evenlySpaced(bench.accounts.slice(0, size), config.drainConnections);
  await giveLiveGrants(bench.databaseUrl, bench.fake, bench.cipher, due);
  const results: DrainResult[] = [];
  for (const replicas of config.replicas) {
    // The first drain refreshed them: the fake's newest grants are in the rows again.
    const result = await runDrain(bench.drainContext, {
      replicas,
      latencyMs: config.rdLatencyMs,
      concurrency: config.refreshConcurrency,
      due,
    });
    step(
      `  drain of ${result.connections}, ${replicas} replica(s): ${result.drainS} s ` +
        `(limit ${result.limitS} s, ratio ${result.ratio}), peak RSS ${result.peakRssMb.join('/')} MB`,
    );
    results.push(result);
  }
  return results;
}

async function measureSize(bench: Bench, config: ScaleConfig, size: number, from: number) {
  const loadAtStart = loadNow();
  step(`${size.toLocaleString('en')} connections: seeding ${size - from} by SQL`);
  const seedStarted = performance.now();
  // First the previous size's drains' dead row versions, so the new rows can reuse their space
  // (as autovacuum lets them in production) instead of all going to new pages.
  await vacuumAnalyze(bench.databaseUrl);
  await growTable(bench.databaseUrl, bench.cipher, bench.accounts, [from, size], bench.lengths);
  await vacuumAnalyze(bench.databaseUrl);
  const seedSeconds = Math.round((performance.now() - seedStarted) / 100) / 10;
  const plan = await explainClaim(bench.databaseUrl, {
    everyNth: 100,
    limit: claimLimit(config.refreshConcurrency),
    // The scheduler's lease with the bench's RD_TIMEOUT_MS (10 s): ceil(3 × 10) + 5. It only
    // sets claimed_until, which the transaction rolls back.
    leaseSeconds: 35,
  });
  const sizes = await tableSizes(bench.databaseUrl);
  step(
    `  seeded in ${seedSeconds} s; claim: ${plan.scans.join('; ')} (${plan.executionMs} ms); ` +
      `table ${sizes.table.pretty}, total ${sizes.total.pretty}`,
  );
  const reads = await measureReads(bench, config, size);
  const drain = await measureDrains(bench, config, size);
  return { size, loadAtStart, seedSeconds, plan, sizes, reads, drain };
}

export async function runScale(config: ScaleConfig): Promise<ScaleSummary> {
  const loadAtStart = loadNow();
  const { database, fake, secrets } = await setUpStage();
  const sample = await fakeControl<Grant>(fake, '/_fake/grants', { product: 'crm' });
  const bench: Bench = {
    databaseUrl: database.url,
    fake,
    secrets,
    cipher: brokerCipher(database.url, fake, secrets),
    lengths: lengthsOf(sample),
    accounts: accountNames(Math.max(...config.sizes)),
    drainContext: { databaseUrl: database.url, fake, secrets, usedRefreshTokens: new Set() },
  };
  const steps: ScaleStep[] = [];
  let seeded = 0;
  for (const size of config.sizes) {
    steps.push(await measureSize(bench, config, size, seeded));
    seeded = size;
  }
  if (database.origin === 'DATABASE_URL') await removeBenchRows(database.url);
  const postgres = await serverVersion(database.url);
  return {
    at: new Date().toISOString(),
    machine: machine(postgres, database.origin, loadAtStart),
    config,
    steps,
  };
}
