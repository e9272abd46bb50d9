import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEnv } from '../support/broker';
import { freePort, spawnBroker, START, waitFor, waitReady } from '../support/process';
import { createTestDatabase } from '../support/database';

describe('the built broker as a process', () => {
  it.each([
    [{ API_KEYS: '', NODE_ENV: 'production' }, 'API_KEYS: is required when NODE_ENV=production'],
    [{ API_KEYS: 'svc:short' }, 'API_KEYS: the secret of "svc" must be at least 32 characters'],
    [
      { DATABASE_URL: 'postgres//broken' },
      'DATABASE_URL: must be a postgres://user:pass@host:port/db URL',
    ],
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
      'RD_CRM_CLIENT_ID: no product configured; set RD_CRM_CLIENT_ID/RD_CRM_CLIENT_SECRET or RD_MARKETING_CLIENT_ID/RD_MARKETING_CLIENT_SECRET',
    ],
  ])('refuses to start on %j with one line and a non-zero exit', async (overrides, expected) => {
    const broker = spawnBroker(testEnv(overrides));
    expect(await broker.exited).toBe(1);
    expect(broker.output()).toBe(`configuration error: ${expected}\n`);
  });

  it('names every bad variable in its one line, not only the first', async () => {
    const broker = spawnBroker(
      testEnv({ PORT: 'eighty', LOG_LEVEL: 'loud', RD_API_URL: 'ftp://rd', API_KEYS: 'svc:short' }),
    );
    expect(await broker.exited).toBe(1);
    const output = broker.output();
    expect(output).toMatch(/^configuration error: [^\n]*\n$/);
    for (const variable of ['PORT', 'LOG_LEVEL', 'RD_API_URL', 'API_KEYS']) {
      expect(output).toContain(`${variable}: `);
    }
  });

  it('says once that it listens, and with LOG_LEVEL=warn prints no info line from the first', async () => {
    const db = await createTestDatabase();
    try {
      const run = async (level: string) => {
        const port = String(await freePort());
        const broker = spawnBroker(testEnv({ DATABASE_URL: db.url, PORT: port, LOG_LEVEL: level }));
        await waitReady(broker.url);
        await waitFor(async () =>
          level !== 'info' || /listening/.test(broker.output()) ? true : undefined,
        );
        broker.child.kill('SIGTERM');
        expect(await broker.exited).toBe(0);
        return broker
          .output()
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { level: string; msg: string });
      };
      const info = await run('info');
      expect(info.filter((line) => /listening/i.test(line.msg))).toEqual([
        expect.objectContaining({ msg: expect.stringContaining('Swagger UI at') }),
      ]);
      const warn = await run('warn');
      expect(warn.filter((line) => !['warn', 'error', 'fatal'].includes(line.level))).toEqual([]);
    } finally {
      await db.drop();
    }
  });

  it('`npm start` reads ./.env when there is one, and says nothing about a missing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'broker-cwd-'));
    // Without .env: no notice at all (Node's --env-file-if-exists prints ".env not found").
    const without = spawnBroker(testEnv({ PORT: 'eighty' }), [], START, dir);
    expect(await without.exited).toBe(1);
    expect(without.output()).toBe('configuration error: PORT: must be an integer\n');
    // With one, its variables are read; one set in the environment wins.
    writeFileSync(join(dir, '.env'), 'PORT=from-dotenv\nLOG_LEVEL=loud\n');
    const env = testEnv({ LOG_LEVEL: 'silent' });
    delete env.PORT;
    const withFile = spawnBroker(env, [], START, dir);
    expect(await withFile.exited).toBe(1);
    expect(withFile.output()).toBe('configuration error: PORT: must be an integer\n');
  });

  it('on a taken port, stops with one fatal line that suggests PORT, and never says it started', async () => {
    const db = await createTestDatabase();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      const broker = spawnBroker(
        testEnv({ DATABASE_URL: db.url, PORT: String(port), LOG_LEVEL: 'info' }),
      );
      expect(await broker.exited).toBe(1);
      const lines = broker
        .output()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines.at(-1)).toMatchObject({
        level: 'fatal',
        msg: `port ${port} on 127.0.0.1 is already in use (another broker?): stop that process, or set PORT to a free port`,
      });
      expect(broker.output()).not.toContain('successfully started');
      expect(broker.output()).not.toContain('listening');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
      await db.drop();
    }
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
    // The quick start: no database, no encryption key, no API key.
    const env = testEnv({
      DATA_DIR: dataDir,
      TOKEN_ENCRYPTION_KEY: '',
      API_KEYS: '',
      ADMIN_API_KEYS: '',
      SCHEDULER_ENABLED: 'true',
      LOG_LEVEL: 'info',
    });
    const start = async () => {
      const port = String(await freePort());
      const broker = spawnBroker({ ...env, PORT: port, PUBLIC_URL: `http://127.0.0.1:${port}` });
      await waitReady(broker.url, 45_000);
      await waitFor(async () => (broker.output().includes('Swagger UI at') ? true : undefined));
      return broker;
    };

    const first = await start();
    const devKey = readFileSync(join(dataDir, 'dev-api-key'), 'utf8').trim();
    const lines = first.output().trim().split('\n');
    expect(lines.length).toBeLessThanOrEqual(10);
    expect(first.output()).toContain('generated a development key');
    expect(first.output()).toContain(`Swagger UI at ${first.url}/docs`);
    expect(first.output()).toContain(`-H \\"Authorization: Bearer ${devKey}\\"`);
    expect(first.output()).not.toMatch(/InstanceLoader|RouterExplorer|successfully started/);
    const withKey = await fetch(`${first.url}/tokens/acme?product=crm`, {
      headers: { authorization: `Bearer ${devKey}` },
    });
    expect(withKey.status).toBe(404);
    expect(await withKey.json()).toMatchObject({ error: 'not_connected' });
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await start();
    expect(second.output()).toMatch(/orphan server|stale postmaster\.pid/);
    expect(second.output()).not.toContain('generated a development key');
    expect(second.output()).toContain(
      `API_KEYS unset: using the development API key in ${join(dataDir, 'dev-api-key')}`,
    );
    expect(second.output()).not.toContain(devKey);
    expect(second.output()).not.toContain('initialising a new cluster');

    // A second start on the same DATA_DIR leaves the live broker's PostgreSQL alone.
    const port = String(await freePort());
    const intruder = spawnBroker({ ...env, PORT: port, PUBLIC_URL: `http://127.0.0.1:${port}` });
    expect(await intruder.exited).toBe(1);
    expect(intruder.output()).toContain(
      `another broker (pid ${second.child.pid}) uses the embedded PostgreSQL in ${dataDir}`,
    );
    expect(intruder.output()).not.toMatch(/orphan server|stopping it/);
    expect((await fetch(`${second.url}/health/ready`)).status).toBe(200);
    expect(
      (
        await fetch(`${second.url}/tokens/acme?product=crm`, {
          headers: { authorization: `Bearer ${devKey}` },
        })
      ).status,
    ).toBe(404);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    const third = await start();
    expect(third.output()).not.toMatch(/orphan server|stale postmaster\.pid/);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 120_000);
});
