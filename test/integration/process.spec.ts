import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEnv } from '../support/broker';
import { freePort, spawnBroker, waitReady } from '../support/process';
import { createTestDatabase } from '../support/database';

describe('the built broker as a process', () => {
  it.each([
    [{ API_KEYS: '' }, 'API_KEYS: is required'],
    [{ API_KEYS: 'svc:short' }, 'API_KEYS: the secret of "svc" must be at least 32 characters'],
    [{ DATABASE_URL: 'postgres//broken' }, 'DATABASE_URL: must be a postgres://'],
    [
      { TOKEN_ENCRYPTION_KEY: 'not-base64!' },
      'TOKEN_ENCRYPTION_KEY: must be the base64 encoding of exactly 32 bytes',
    ],
    [
      {
        RD_CRM_CLIENT_ID: '',
        RD_CRM_CLIENT_SECRET: '',
        RD_MARKETING_CLIENT_ID: '',
        RD_MARKETING_CLIENT_SECRET: '',
      },
      'RD_CRM_CLIENT_ID: no product configured',
    ],
  ])('refuses to start on %j with one line and a non-zero exit', async (overrides, expected) => {
    const broker = spawnBroker(testEnv(overrides));
    expect(await broker.exited).toBe(1);
    const lines = broker.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`configuration error: ${lines[0].slice('configuration error: '.length)}`);
    expect(lines[0]).toContain(expected);
  });

  it('`migrate` applies every migration on an empty database, then finds none pending', async () => {
    const db = await createTestDatabase();
    const migrations = readdirSync(join(__dirname, '..', '..', 'migrations')).filter((f) =>
      f.endsWith('.ts'),
    );
    try {
      await db.dataSource.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
      const env = testEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'info' });
      const run = spawnBroker(env, ['migrate']);
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain(`migrations: ${migrations.length} applied`);
      const [{ count }] = await db.dataSource.query(
        `SELECT count(*)::int AS count FROM migrations`,
      );
      expect(count).toBe(migrations.length);

      const again = spawnBroker(env, ['migrate']);
      expect(await again.exited).toBe(0);
      expect(again.output()).toContain('migrations: 0 applied (none pending)');
    } finally {
      await db.drop();
    }
  });

  it('starts on an embedded database, reuses it, and survives a kill -9', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'broker-embedded-'));
    const env = testEnv({ DATA_DIR: dataDir, TOKEN_ENCRYPTION_KEY: '', LOG_LEVEL: 'info' });
    const start = async () => {
      const port = String(await freePort());
      const broker = spawnBroker({ ...env, PORT: port });
      await waitReady(broker.url, 45_000);
      return broker;
    };

    const first = await start();
    expect(first.output()).toContain('generated a development key');
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await start();
    expect(second.output()).toMatch(/orphan server|stale postmaster\.pid/);
    expect(second.output()).not.toContain('generated a development key');
    expect(second.output()).not.toContain('initialising a new cluster');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const third = await start();
    expect(third.output()).not.toMatch(/orphan server|stale postmaster\.pid/);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 120_000);
});
