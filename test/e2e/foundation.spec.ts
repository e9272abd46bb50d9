import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startBroker, type TestBroker } from '../support/broker';

/** Every column (type, nullability, default) and index of the public schema, in order. */
async function schemaOf(dataSource: DataSource): Promise<unknown[]> {
  const columns = await dataSource.query(
    `SELECT table_name, column_name, data_type, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`,
  );
  const indexes = await dataSource.query(
    `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`,
  );
  return [...columns, ...indexes];
}

describe('foundation (e2e)', () => {
  let db: TestDatabase;
  let broker: TestBroker;

  beforeAll(async () => {
    // An empty database: the broker must create the schema itself at start-up.
    db = await createTestDatabase({ migrate: false });
    broker = await startBroker(db.url);
  });
  afterAll(async () => {
    await broker.close();
    await db.drop();
  });

  it('answers liveness and readiness', async () => {
    await request(broker.url).get('/health/live').expect(200, { status: 'ok' });
    const ready = await request(broker.url).get('/health/ready').expect(200);
    expect(ready.body.info.database.status).toBe('up');
  });

  it('serves the Swagger UI and an OpenAPI document with the bearer scheme', async () => {
    await request(broker.url).get('/docs').expect(200).expect('content-type', /html/);
    const doc = await request(broker.url).get('/docs-json').expect(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(doc.body.components.securitySchemes.bearer).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
  });

  it('applied every migration itself at start-up, on an empty database', async () => {
    const files = readdirSync(join(__dirname, '..', '..', 'migrations'))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => file.replace(/\.ts$/, ''));
    const applied: Array<{ timestamp: string; name: string }> = await db.dataSource.query(
      `SELECT timestamp::text, name FROM migrations ORDER BY timestamp`,
    );
    // migrations/<timestamp>-<PascalName>.ts is recorded as <PascalName><timestamp>.
    expect(applied.map((m) => `${m.timestamp}-${m.name.slice(0, -m.timestamp.length)}`)).toEqual(
      files.sort(),
    );
    const tables = await db.dataSource.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    expect(tables.map((t: { table_name: string }) => t.table_name)).toEqual(
      expect.arrayContaining(['connection_events', 'connections', 'migrations', 'oauth_states']),
    );
  });

  it('has exactly the schema the migrations make, nothing synchronized from the entities', async () => {
    // The broker started on an empty database; a reference database gets the migrations alone.
    const reference = await createTestDatabase();
    try {
      expect(await schemaOf(db.dataSource)).toEqual(await schemaOf(reference.dataSource));
    } finally {
      await reference.drop();
    }
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const res = await request(broker.url).get('/nope').expect(404);
    expect(res.body).toEqual({ statusCode: 404, error: 'not_found', message: expect.any(String) });
  });
});
