import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app';
import { loadConfig, type AppConfig } from '../../src/config/config';

export const SERVICE_KEY = 'svc-test-secret-0123456789abcdef0123456789';
export const ADMIN_KEY = 'admin-test-secret-0123456789abcdef012345678';
export const TEST_KEY = 'A'.repeat(43) + '=';

/** The environment of a broker under test; override any variable, or pass '' to unset it. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    API_KEYS: `svc:${SERVICE_KEY}`,
    ADMIN_API_KEYS: `ops:${ADMIN_KEY}`,
    TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    RD_CRM_CLIENT_ID: 'crm-client',
    RD_CRM_CLIENT_SECRET: 'crm-secret',
    RD_MARKETING_CLIENT_ID: 'mkt-client',
    RD_MARKETING_CLIENT_SECRET: 'mkt-secret',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'broker-test-data-')),
    SCHEDULER_ENABLED: 'false',
    LOG_LEVEL: 'silent',
    ...overrides,
  };
}

export interface TestBroker {
  app: NestFastifyApplication;
  config: AppConfig;
  /** Base URL of the listening broker. */
  url: string;
  close(): Promise<void>;
}

/** A broker listening on a random port, on the given database. */
export async function startBroker(
  databaseUrl: string,
  overrides: Record<string, string> = {},
): Promise<TestBroker> {
  const config = loadConfig(testEnv({ DATABASE_URL: databaseUrl, ...overrides }));
  const app = await createApp({ ...config, database: { ...config.database, url: databaseUrl } });
  await app.listen(overrides.PORT ? config.port : 0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, config, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}
