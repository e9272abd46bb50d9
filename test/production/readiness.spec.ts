/**
 * Readiness while the database is unreachable: a replica with a token cache still serves what it
 * holds, so it stays in the load balancer (200, "degraded", the database named as down); one
 * without a cache (TOKEN_CACHE_MAX=0) can serve nothing and answers 503. A read that needs the
 * database answers 503 service_unavailable with Retry-After, and a cached valid token is served.
 */
import { startBroker, SERVICE_KEY, type TestBroker } from '../support/broker';
import { connect, createHarness, type Harness } from '../support/harness';
import { freePort, waitFor } from '../support/process';
import { startForwarder, type Forwarder } from '../support/replicated-postgres';

describe('readiness and reads while the database is unreachable', () => {
  let h: Harness;
  let forwarder: Forwarder;
  let cached: TestBroker;
  let uncached: TestBroker;

  beforeAll(async () => {
    h = await createHarness();
    const server = new URL(h.db.url);
    forwarder = await startForwarder(Number(server.port || 5432));
    const through = new URL(h.db.url);
    through.hostname = '127.0.0.1';
    through.port = String(forwarder.port);
    const env = { RD_API_URL: h.rd.url, RD_ACCOUNTS_URL: h.rd.url, DATABASE_DIRECT_URL: '' };
    cached = await startBroker(through.toString(), env);
    uncached = await startBroker(through.toString(), { ...env, TOKEN_CACHE_MAX: '0' });
  });
  afterAll(async () => {
    await cached?.close();
    await uncached?.close();
    await forwarder?.close();
    await h?.close();
  });

  const read = (broker: TestBroker, account: string) =>
    fetch(`${broker.url}/tokens/${account}?product=crm`, {
      headers: { authorization: `Bearer ${SERVICE_KEY}` },
    });

  it('keeps a replica with a cache ready and serving; one without a cache answers 503', async () => {
    expect((await connect(h, 'held', 'crm')).status).toBe(200);
    expect((await connect(h, 'unread', 'crm')).status).toBe(200);
    const token = ((await (await read(cached, 'held')).json()) as { accessToken: string })
      .accessToken;

    forwarder.switchTo(await freePort()); // nothing listens there: the database is gone
    await waitFor(
      async () => {
        const res = await fetch(`${uncached.url}/health/ready`);
        return res.status === 503 ? true : undefined;
      },
      { what: 'the replica without a cache to turn unready' },
    );
    const ready = await fetch(`${cached.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'degraded',
      details: { database: { status: 'down', state: 'down' } },
    });
    const unready = await fetch(`${uncached.url}/health/ready`);
    expect(await unready.json()).toMatchObject({
      status: 'error',
      details: { database: { status: 'down' } },
    });

    const served = await read(cached, 'held');
    expect(served.status).toBe(200);
    expect(((await served.json()) as { accessToken: string }).accessToken).toBe(token);
    const needsDatabase = await read(cached, 'unread');
    expect(needsDatabase.status).toBe(503);
    expect(await needsDatabase.json()).toMatchObject({ error: 'service_unavailable' });
    expect(Number(needsDatabase.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
