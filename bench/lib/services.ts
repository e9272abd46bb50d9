/**
 * The processes under test: the fake RD Station, the built broker, and the two baselines
 * (L1 constant JSON, L2 one primary-key SELECT). All run as separate `node` processes.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type * as Config from '../../src/config/config';
import type * as Slices from '../../src/config/slices';
import type * as Crypto from '../../src/crypto/token-cipher';
import type { TokenCipher } from '../../src/crypto/token-cipher';
import { ROOT, freePort, runNode, startNode, waitForHttp, type Child } from './processes';

/**
 * The broker runs from a copy of dist/ taken at start, so a rebuild during the run (another
 * terminal, a watcher) cannot change or delete the code under test. It lives in
 * node_modules/.cache (ignored by git, eslint and prettier), where dependencies still resolve
 * from the project's node_modules.
 */
export const BROKER_DIST = join(ROOT, 'node_modules', '.cache', 'broker-bench', 'build');
const BROKER_MAIN = join(BROKER_DIST, 'main.js');

/**
 * The V8 flags `npm start` gives the broker (package.json's start script, the same as the
 * Dockerfile's CMD: test/unit/node-flags.spec.ts), so the bench measures what production runs.
 */
export const BROKER_NODE_FLAGS: string[] = nodeFlagsOf(
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } })
    .scripts.start,
);

/** `node --a=1 --b dist/start.js` → ['--a=1', '--b']. */
export function nodeFlagsOf(command: string): string[] {
  const words = command.trim().split(/\s+/);
  if (words[0] !== 'node') throw new Error(`"${command}" does not start with node`);
  const flags: string[] = [];
  for (const word of words.slice(1)) {
    if (!word.startsWith('--')) break;
    flags.push(word);
  }
  return flags;
}

export function snapshotBrokerBuild(dist = join(ROOT, 'dist'), into = BROKER_DIST): void {
  const complete =
    existsSync(join(dist, 'main.js')) &&
    existsSync(join(dist, 'migrations')) &&
    readdirSync(join(dist, 'migrations')).some((file) => file.endsWith('.js'));
  if (!complete) {
    throw new Error(
      `${dist} is incomplete (no main.js or no migrations): run \`npm run build\` first`,
    );
  }
  rmSync(into, { recursive: true, force: true });
  cpSync(dist, into, { recursive: true });
}
const CRM_CLIENT_ID = 'bench-crm-client';
const CRM_CLIENT_SECRET = 'bench-crm-secret';

export interface Secrets {
  apiKey: string;
  adminKey: string;
  encryptionKey: string;
}

export function newSecrets(): Secrets {
  return {
    apiKey: randomBytes(24).toString('base64url'),
    adminKey: randomBytes(24).toString('base64url'),
    encryptionKey: randomBytes(32).toString('base64'),
  };
}

// ---- fake RD Station ------------------------------------------------------------------------

export interface FakeCall {
  /** Arrival time at the fake, ms since the epoch. */
  at: number;
  grantType?: string;
  refreshToken?: string;
  status: number;
  outcome?: string;
}

export async function startFakeRd(latencyMs: number): Promise<Child> {
  const port = await freePort();
  const child = startNode(
    'fake-rd',
    ['--import', 'tsx', join(ROOT, 'test', 'fake-rd', 'main.ts')],
    {
      FAKE_RD_PORT: String(port),
      FAKE_RD_LATENCY_MS: String(latencyMs),
      FAKE_RD_CRM_CLIENT_ID: CRM_CLIENT_ID,
      FAKE_RD_CRM_CLIENT_SECRET: CRM_CLIENT_SECRET,
    },
    `http://127.0.0.1:${port}`,
  );
  await waitForHttp(child, '/_fake/calls');
  return child;
}

/** JSON over HTTP with a check of the status; for the fake's control routes and the admin API. */
export async function call<T>(
  url: string,
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export async function fakeControl<T>(fake: Child, path: string, body?: unknown): Promise<T> {
  const { status, body: answer } = await call<T>(fake.url + path, {
    method: body === undefined ? 'GET' : 'POST',
    body,
  });
  if (status !== 200) throw new Error(`fake-rd ${path}: HTTP ${status} ${JSON.stringify(answer)}`);
  return answer;
}

export function refreshCalls(fake: Child): Promise<FakeCall[]> {
  return fakeControl<FakeCall[]>(fake, '/_fake/calls?product=crm&grantType=refresh_token');
}

// ---- broker -----------------------------------------------------------------------------------

export interface BrokerOptions {
  name: string;
  scheduler: boolean;
  refreshCron?: string;
  refreshConcurrency?: number;
  /** More environment for this broker. */
  env?: Record<string, string>;
  /** Another build's main.js (bench/compare-reads.ts); the snapshot of dist/ by default. */
  main?: string;
  /** Node's flags for this broker, instead of those of `npm start` (BROKER_NODE_FLAGS). */
  nodeFlags?: string[];
  /** More flags after those, e.g. `--cpu-prof` (bench/compare-reads.ts --profile=1). */
  extraNodeArgs?: string[];
}

function brokerEnv(
  databaseUrl: string,
  fake: Child,
  secrets: Secrets,
  port: number,
): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: databaseUrl,
    API_KEYS: `bench:${secrets.apiKey}`,
    ADMIN_API_KEYS: `ops:${secrets.adminKey}`,
    TOKEN_ENCRYPTION_KEY: secrets.encryptionKey,
    RD_CRM_CLIENT_ID: CRM_CLIENT_ID,
    RD_CRM_CLIENT_SECRET: CRM_CLIENT_SECRET,
    RD_API_URL: fake.url,
    RD_ACCOUNTS_URL: fake.url,
    RD_TIMEOUT_MS: '10000',
    // BENCH_LOG_LEVEL=info puts the scheduler's run summaries in bench/results/logs/broker-*.log.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL || 'warn',
  };
}

/**
 * The broker's own TokenCipher, from the snapshot under test and configured from the same
 * environment as the brokers the bench starts: what it encrypts, they decrypt (same key id, same
 * account+product AAD).
 */
export function brokerCipher(databaseUrl: string, fake: Child, secrets: Secrets): TokenCipher {
  const { loadConfig } = require(join(BROKER_DIST, 'config', 'config.js')) as typeof Config;
  const { cryptoConfig } = require(join(BROKER_DIST, 'config', 'slices.js')) as typeof Slices;
  const { TokenCipher: Cipher } = require(
    join(BROKER_DIST, 'crypto', 'token-cipher.js'),
  ) as typeof Crypto;
  return new Cipher(cryptoConfig(loadConfig(brokerEnv(databaseUrl, fake, secrets, 0))));
}

export async function migrate(databaseUrl: string, fake: Child, secrets: Secrets): Promise<void> {
  const env = brokerEnv(databaseUrl, fake, secrets, 0);
  await runNode('broker-migrate', [BROKER_MAIN, 'migrate'], env);
}

export async function startBroker(
  databaseUrl: string,
  fake: Child,
  secrets: Secrets,
  options: BrokerOptions,
): Promise<Child> {
  const port = await freePort();
  const env = brokerEnv(databaseUrl, fake, secrets, port);
  env.SCHEDULER_ENABLED = String(options.scheduler);
  if (options.refreshCron) env.REFRESH_CRON = options.refreshCron;
  if (options.refreshConcurrency) env.REFRESH_CONCURRENCY = String(options.refreshConcurrency);
  Object.assign(env, options.env);
  // BENCH_BROKER_NODE_ARGS='--cpu-prof --cpu-prof-dir=bench/results/profiles' profiles each broker.
  const nodeArgs = (process.env.BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = startNode(
    options.name,
    [
      ...(options.nodeFlags ?? BROKER_NODE_FLAGS),
      ...nodeArgs,
      ...(options.extraNodeArgs ?? []),
      options.main ?? BROKER_MAIN,
    ],
    env,
    `http://127.0.0.1:${port}`,
  );
  await waitForHttp(child, '/health/ready');
  return child;
}

// ---- baselines --------------------------------------------------------------------------------

/** L1: fastify answering `GET /tokens/:account` with a constant JSON body. */
export async function startConstantServer(body: string): Promise<Child> {
  const port = await freePort();
  const script = join(ROOT, 'bench', 'servers', 'constant.mjs');
  const child = startNode(
    'l1-constant',
    [script],
    { NODE_ENV: 'production', PORT: String(port), BODY: body },
    `http://127.0.0.1:${port}`,
  );
  await waitForHttp(child, '/health');
  return child;
}

/** L2: fastify answering `GET /tokens/:account` with one primary-key SELECT through `pg`. */
export async function startSelectServer(databaseUrl: string): Promise<Child> {
  const port = await freePort();
  const script = join(ROOT, 'bench', 'servers', 'pg-select.mjs');
  const child = startNode(
    'l2-pg-select',
    [script],
    { NODE_ENV: 'production', PORT: String(port), DATABASE_URL: databaseUrl, POOL_SIZE: '20' },
    `http://127.0.0.1:${port}`,
  );
  await waitForHttp(child, '/health');
  return child;
}

/**
 * L3: fastify + one undici `Pool.request` per call to `upstream` (the fake RD the broker's proxy
 * calls), with the accounts' tokens given at start: the least that does the proxy's job.
 */
export async function startUndiciProxy(
  upstream: string,
  tokens: Record<string, string>,
): Promise<Child> {
  const port = await freePort();
  const script = join(ROOT, 'bench', 'servers', 'undici-proxy.mjs');
  const child = startNode(
    'l3-undici-proxy',
    [script],
    {
      NODE_ENV: 'production',
      PORT: String(port),
      UPSTREAM: upstream,
      TOKENS: JSON.stringify(tokens),
    },
    `http://127.0.0.1:${port}`,
  );
  await waitForHttp(child, '/health');
  return child;
}
