// First: with OTEL_EXPORTER_OTLP_ENDPOINT, tracing must hook node:http, pg and undici before they load.
import { stopTracing, tracingWarning } from './tracing/preload';
import 'reflect-metadata';
import pino, { type Logger } from 'pino';
import { DataSource } from 'typeorm';
import { createApp } from './app';
import { ConfigError, loadConfig, type AppConfig } from './config/config';
import { cryptoConfig, refreshConfig } from './config/slices';
import { ConnectionLifecycle } from './connections/connection-lifecycle';
import { ConnectionsRepository } from './connections/connections.repository';
import { assertStoredKeysKnown, UnknownEncryptionKeyError } from './crypto/key-check';
import { TokenCipher } from './crypto/token-cipher';
import { checkDatabase, DatabaseUnavailableError } from './database/database-check';
import { dataSourceOptions } from './database/data-source-options';
import { migrateUnderLock } from './database/migrate';
import type { EmbeddedDatabase } from './database/embedded-postgres';

/** LOG_LEVEL as a pino number; until the configuration is read, everything is written. */
let logThreshold = 0;

/**
 * Start-up messages before the JSON logger exists, in the same JSON-lines shape and LOG_LEVEL;
 * a fatal one (the process is about to exit 1) is written whatever the level.
 */
function log(level: 'info' | 'warn' | 'fatal', msg: string): void {
  if (level !== 'fatal' && pino.levels.values[level] < logThreshold) return;
  process.stdout.write(JSON.stringify({ level, time: Date.now(), msg }) + '\n');
}

async function resolveDatabase(
  config: AppConfig,
): Promise<{ url: string; embedded?: EmbeddedDatabase }> {
  if (config.database.url) {
    const { warnings } = await checkDatabase(config.database.url);
    for (const warning of warnings) log('warn', warning);
    return { url: config.database.url };
  }
  // Loaded only now: embedded-postgres is an optional dependency that production images omit.
  const { startEmbeddedPostgres } = await import('./database/embedded-postgres.js');
  const embedded = await startEmbeddedPostgres(config.database.dataDir, (msg) => log('info', msg));
  return { url: embedded.url, embedded };
}

async function migrate(url: string): Promise<void> {
  const dataSource = await new DataSource(dataSourceOptions(url, { poolSize: 2 })).initialize();
  try {
    const applied = await migrateUnderLock(dataSource);
    log(
      'info',
      `migrations: ${applied.length} applied (${applied.map((m) => m.name).join(', ') || 'none pending'})`,
    );
  } finally {
    await dataSource.destroy();
  }
}

async function rotateKey(config: AppConfig, url: string): Promise<void> {
  const dataSource = await new DataSource(dataSourceOptions(url, { poolSize: 2 })).initialize();
  try {
    const connections = new ConnectionsRepository(
      dataSource,
      refreshConfig(config),
      new TokenCipher(cryptoConfig(config)),
    );
    const summary = await ConnectionLifecycle.reencryptAll(connections, (msg) => log('info', msg));
    log('info', `rotate-key: done: ${JSON.stringify(summary)}`);
    if (summary.unreadable > 0) process.exitCode = 1;
  } finally {
    await dataSource.destroy();
  }
}

async function serve(
  config: AppConfig,
  database: { url: string; embedded?: EmbeddedDatabase },
): Promise<void> {
  await assertStoredKeysKnown(database.url, cryptoConfig(config));
  const app = await createApp({ ...config, database: { ...config.database, url: database.url } });
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log('info', `${signal}: finishing in-flight requests, then stopping`);
    // Stops accepting connections, waits for in-flight requests, runs Nest shutdown hooks
    // (scheduler, pool), then the embedded server goes down last.
    await app.close();
    await database.embedded?.stop();
    await stopTracing();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  // Module start-up hooks log at LOG_LEVEL; then fastify, which would log one "Server listening
  // at" line per network interface, listens quietly: the broker's own line below says it once,
  // with the public URL and the Swagger UI.
  await app.init();
  const logger = app.getHttpAdapter().getInstance().log as Logger;
  const level = logger.level;
  if (logger.levelVal < pino.levels.values.warn) logger.level = 'warn';
  try {
    await app.listen(config.port, config.host);
  } catch (error) {
    logger.level = level;
    await app.close();
    await database.embedded?.stop();
    // pino writes asynchronously: flush what the app logged (the listen error among it) so the
    // line below is the last one the operator reads.
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    logger.fatal(
      `port ${config.port} on ${config.host} is already in use (another broker?): stop that process, or set PORT to a free port`,
    );
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    process.exit(1);
  }
  logger.level = level;
  log('info', `broker listening on ${config.publicUrl}; Swagger UI at ${config.publicUrl}/docs`);
}

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'serve';
  let config: AppConfig;
  try {
    // The one place the environment is read; classes receive their slices of it (config/slices.ts).
    // eslint-disable-next-line no-restricted-properties
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  logThreshold = pino.levels.values[config.logLevel] ?? Infinity;
  const tracingCost = tracingWarning();
  if (tracingCost) log('warn', tracingCost);
  if (config.encryption.generated) {
    log(
      'warn',
      `TOKEN_ENCRYPTION_KEY unset: generated a development key in ${config.database.dataDir}; set the variable in production`,
    );
  }
  if (config.devApiKey?.created) {
    log(
      'info',
      `API_KEYS unset: generated a development API key (printed only this once; kept in ${config.devApiKey.file}). Call the API with -H "Authorization: Bearer ${config.devApiKey.secret}"; set API_KEYS in production`,
    );
  } else if (config.devApiKey) {
    log('info', `API_KEYS unset: using the development API key in ${config.devApiKey.file}`);
  }
  const database = await resolveDatabase(config);
  switch (command) {
    case 'serve':
      return serve(config, database);
    case 'migrate':
      await migrate(database.url);
      break;
    case 'rotate-key':
      await rotateKey(config, database.url);
      break;
    default:
      process.stderr.write(`unknown command "${command}"; use serve, migrate or rotate-key\n`);
      process.exitCode = 2;
  }
  await database.embedded?.stop();
}

main().catch((error: unknown) => {
  if (error instanceof UnknownEncryptionKeyError) {
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(1);
  }
  if (error instanceof DatabaseUnavailableError) {
    process.stderr.write(`database error: ${error.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`fatal: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
