import request from 'supertest';
import { RefreshScheduler } from '../../src/scheduler/refresh-scheduler';
import { auth, connect, createHarness, type Harness } from '../support/harness';

function sample(metrics: string, name: string, labels: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('GET /metrics (e2e)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h.close());

  it('exposes reads, refreshes, RD latency, HTTP durations, connection gauges and process metrics', async () => {
    await connect(h, 'acme', 'crm');
    const read = () =>
      request(h.broker.url).get('/tokens/acme?product=crm').set('authorization', auth.service);
    const token = (await read().expect(200)).body.accessToken as string;
    await read().expect(200);
    await request(h.broker.url)
      .get('/tokens/nobody?product=crm')
      .set('authorization', auth.service)
      .expect(404);
    await request(h.broker.url)
      .post('/connections/acme/refresh?product=crm')
      .set('authorization', auth.admin)
      .expect(200);
    await h.db.dataSource.query(
      `UPDATE connections SET next_refresh_at = now() - interval '1 second'`,
    );
    await h.broker.app.get(RefreshScheduler).tick();
    // Due again, and no tick to take it: the due queue's gauge must count it.
    await h.db.dataSource.query(
      `UPDATE connections SET next_refresh_at = now() - interval '1 second'`,
    );

    const res = await request(h.broker.url).get('/metrics').expect(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.text;
    expect(sample(text, 'broker_token_reads_total', 'product="crm",outcome="db"')).toBe(1);
    expect(sample(text, 'broker_token_reads_total', 'product="crm",outcome="cache_hit"')).toBe(1);
    expect(sample(text, 'broker_token_reads_total', 'product="crm",outcome="not_connected"')).toBe(
      1,
    );
    expect(sample(text, 'broker_refreshes_total', 'product="crm",outcome="ok"')).toBe(2);
    expect(
      sample(text, 'broker_rd_request_duration_seconds_count', 'call="crm refresh",outcome="200"'),
    ).toBe(2);
    expect(
      sample(text, 'broker_rd_request_duration_seconds_count', 'call="crm exchange",outcome="200"'),
    ).toBe(1);
    expect(
      sample(
        text,
        'broker_http_request_duration_seconds_count',
        'method="GET",route="/tokens/:account",status="200"',
      ),
    ).toBe(2);
    expect(sample(text, 'broker_connections', 'product="crm",status="active"')).toBe(1);
    expect(sample(text, 'broker_scheduler_connections_total', 'result="refreshed"')).toBe(1);
    expect(text).toMatch(/^broker_scheduler_run_duration_seconds_count 1$/m);
    expect(text).toMatch(/^broker_refresh_due_queue_depth 1$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).not.toContain(token);
  });
});
