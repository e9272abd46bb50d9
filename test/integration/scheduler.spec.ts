import { signatureHeader } from '../../src/events/events.dispatcher';
import { EventsDispatcher } from '../../src/events/events.dispatcher';
import { ScheduledRefreshService } from '../../src/scheduler/scheduled-refresh.service';
import { SchedulerRegistry } from '@nestjs/schedule';
import { connectionRow, createHarness, type Harness } from '../support/harness';
import { makeAllDue, seedConnections } from '../support/seed';
import { waitFor } from '../support/process';
import { startTinyServer, type TinyServer } from '../support/tiny-server';

const FAR = Date.now() + 3600_000;

function run(h: Harness, replica = 0) {
  return h.brokers[replica].app.get(ScheduledRefreshService).runOnce(FAR);
}

async function events(h: Harness, type?: string) {
  return h.db.dataSource.query(
    `SELECT type, account, product, detail FROM connection_events ${type ? 'WHERE type = $1' : ''} ORDER BY id`,
    type ? [type] : [],
  );
}

describe('scheduler', () => {
  describe('two replicas draining one due queue', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await createHarness({
        replicas: 2,
        env: { REFRESH_CONCURRENCY: '8' },
        rd: { latencyMs: 2 },
      });
    });
    afterAll(() => h.close());

    it('refreshes 1,000 due connections exactly once each, split across both replicas', async () => {
      const accounts = await seedConnections(h, 1000, 'crm');
      await makeAllDue(h);
      const [a, b] = await Promise.all([run(h, 0), run(h, 1)]);

      const calls = h.rd.tokenCalls({ grantType: 'refresh_token' });
      expect(calls).toHaveLength(1000);
      expect(new Set(calls.map((c) => c.refreshToken)).size).toBe(1000);
      expect(a.refreshed + b.refreshed).toBe(1000);
      expect(a.refreshed).toBeGreaterThan(0);
      expect(b.refreshed).toBeGreaterThan(0);
      expect(a.failedTransient + b.failedTransient + a.failedPermanent + b.failedPermanent).toBe(0);

      const [{ due, active, fresh }] = await h.db.dataSource.query(
        `SELECT count(*) FILTER (WHERE next_refresh_at <= now())::int AS due,
                count(*) FILTER (WHERE status = 'active')::int AS active,
                count(*) FILTER (WHERE claimed_until IS NULL AND refresh_started_at IS NULL)::int AS fresh
           FROM connections`,
      );
      expect({ due, active, fresh }).toEqual({
        due: 0,
        active: accounts.length,
        fresh: accounts.length,
      });
      // Nothing left to do on a second run.
      expect((await run(h, 0)).claimed).toBe(0);
    }, 120_000);
  });

  describe('failures, leases and events', () => {
    let h: Harness;
    let hook: TinyServer;
    const received: Array<{ body: string; signature: string | undefined }> = [];
    let hookStatus = 200;

    beforeAll(async () => {
      hook = await startTinyServer((request, res) => {
        received.push({
          body: request.body,
          signature: request.headers['x-broker-signature'] as string | undefined,
        });
        res.statusCode = hookStatus;
        res.end();
      });
      h = await createHarness({
        env: {
          EVENTS_WEBHOOK_URL: `${hook.url}/events`,
          EVENTS_WEBHOOK_SECRET: 'webhook-secret-0123456789',
          RD_TIMEOUT_MS: '1000',
        },
      });
    });
    afterAll(async () => {
      await h.close();
      await hook.close();
    });
    beforeEach(async () => {
      await h.db.dataSource.query('TRUNCATE connections, connection_events');
      h.rd.reset();
      received.length = 0;
      hookStatus = 200;
    });

    it("picks up a crashed replica's claims once their lease has expired", async () => {
      await seedConnections(h, 5, 'crm');
      await makeAllDue(h);
      const service = h.broker.app.get(ScheduledRefreshService);
      // A replica claims a batch and dies before refreshing any of it.
      const [claimed] = await h.db.dataSource.query(
        `WITH c AS (UPDATE connections SET claimed_until = now() + make_interval(secs => $1) RETURNING 1) SELECT count(*)::int AS n FROM c`,
        [service.leaseSeconds],
      );
      expect(claimed.n).toBe(5);
      expect((await run(h)).claimed).toBe(0); // leased: left alone
      expect(h.rd.tokenCalls()).toHaveLength(0);

      // The lease runs out (fast-forwarded here; it is 3 × RD_TIMEOUT_MS + 5 s).
      await h.db.dataSource.query(
        `UPDATE connections SET claimed_until = now() - interval '1 second'`,
      );
      const summary = await run(h);
      expect(summary).toMatchObject({ claimed: 5, refreshed: 5 });
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(5);
    });

    it('backs off on transient failures with a growing, capped delay, then recovers with an event', async () => {
      const [account] = await seedConnections(h, 1, 'crm');
      await makeAllDue(h);
      h.rd.failAlways({ kind: 'status', status: 503 });
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        const started = Date.now();
        expect(await run(h)).toMatchObject({ claimed: 1, failedTransient: 1 });
        const row = await connectionRow(h.db, account, 'crm');
        expect(row).toMatchObject({ status: 'refresh_failing', consecutive_failures: attempt });
        delays.push((row!.next_refresh_at as Date).getTime() - started);
        expect((await run(h)).claimed).toBe(0); // not due again before the backoff
        await makeAllDue(h);
      }
      // 2 s × 2^(n-1), jittered to 50-100 %: each step's range is above the previous step's floor.
      expect(delays[0]).toBeGreaterThanOrEqual(900);
      expect(delays[3]).toBeGreaterThanOrEqual(7_000);
      expect(delays[3]).toBeLessThanOrEqual(16_500);
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(4);

      h.rd.failAlways(null);
      expect(await run(h)).toMatchObject({ refreshed: 1 });
      expect(await connectionRow(h.db, account, 'crm')).toMatchObject({
        status: 'active',
        consecutive_failures: 0,
        last_error: null,
      });
      // Each failure is history; only the first goes to the webhook.
      const recorded = await h.db.dataSource.query(
        `SELECT type, next_attempt_at IS NOT NULL AS webhook, detail FROM connection_events ORDER BY id`,
      );
      expect(recorded.map((e: { type: string; webhook: boolean }) => [e.type, e.webhook])).toEqual([
        ['connection.refresh_failed', true],
        ['connection.refresh_failed', false],
        ['connection.refresh_failed', false],
        ['connection.refresh_failed', false],
        ['connection.refreshed', false],
        ['connection.recovered', true],
      ]);
      expect(recorded[3].detail).toMatchObject({
        failures: 4,
        error: expect.stringContaining('503'),
      });
      expect(recorded[4].detail).toEqual({ trigger: 'scheduled' });
    });

    it('stops calling RD after a permanent failure and emits reauthorization_required once', async () => {
      const [account] = await seedConnections(h, 1, 'marketing');
      await makeAllDue(h);
      h.rd.failNext(1, { kind: 'invalid_grant' });
      expect(await run(h)).toMatchObject({ failedPermanent: 1 });
      await h.db.dataSource.query(
        `UPDATE connections SET next_refresh_at = now() - interval '1 second'`,
      );
      expect((await run(h)).claimed).toBe(0);
      expect(await run(h)).toMatchObject({ claimed: 0 });
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
      const emitted = await events(h, 'connection.reauthorization_required');
      expect(emitted).toHaveLength(1);
      expect(emitted[0]).toMatchObject({
        account,
        product: 'marketing',
        detail: { reason: expect.stringContaining('INVALID_REFRESH_TOKEN') },
      });
    });

    it('refreshes a CRM connection within 7 days even when its access token lives longer', async () => {
      const [account] = await seedConnections(h, 1, 'crm', { expiresInSeconds: 30 * 24 * 3600 });
      const row = await connectionRow(h.db, account, 'crm');
      const next = (row!.next_refresh_at as Date).getTime();
      expect(next).toBeLessThanOrEqual(Date.now() + 7 * 24 * 3600 * 1000);
      expect(next).toBeGreaterThan(Date.now() + 6.9 * 24 * 3600 * 1000);
      // Seven idle days later:
      await h.db.dataSource.query(
        `UPDATE connections SET next_refresh_at = now() - interval '1 second', last_refreshed_at = now() - interval '7 days'`,
      );
      expect(await run(h)).toMatchObject({ refreshed: 1 });
      expect(h.rd.tokenCalls({ grantType: 'refresh_token' })).toHaveLength(1);
    });

    it('delivers events to the webhook signed with HMAC-SHA256, retrying after a failure', async () => {
      const [account] = await seedConnections(h, 1, 'crm');
      await makeAllDue(h);
      h.rd.failNext(1, { kind: 'invalid_grant' });
      await run(h);

      hookStatus = 500;
      const dispatcher = h.broker.app.get(EventsDispatcher);
      expect(await dispatcher.deliverPending()).toEqual({ delivered: 0, failed: 1 });
      const [pending] = await h.db.dataSource.query(
        `SELECT attempts, next_attempt_at > now() AS later, delivered_at FROM connection_events`,
      );
      expect(pending).toMatchObject({ attempts: 1, later: true, delivered_at: null });
      expect(await dispatcher.deliverPending()).toEqual({ delivered: 0, failed: 0 }); // backing off

      hookStatus = 204;
      await h.db.dataSource.query(
        `UPDATE connection_events SET next_attempt_at = now() WHERE next_attempt_at IS NOT NULL`,
      );
      expect(await dispatcher.deliverPending()).toEqual({ delivered: 1, failed: 0 });
      expect(received).toHaveLength(2);
      const { body, signature: header } = received[1];
      const t = Number(/^t=(\d+),/.exec(header!)![1]);
      expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(60);
      expect(header).toBe(signatureHeader(body, ['webhook-secret-0123456789'], t));
      expect(JSON.parse(body)).toEqual({
        id: expect.stringMatching(/^\d+$/),
        type: 'connection.reauthorization_required',
        account,
        product: 'crm',
        at: expect.any(String),
        detail: {
          reason: expect.any(String),
          reconnectUrl: expect.stringMatching(/\/oauth\/reconnect\/[A-Za-z0-9_-]{43}$/),
          reconnectUrlExpiresAt: expect.any(String),
        },
      });
      // A retry is a new delivery of the same event: same id, signed afresh.
      expect(JSON.parse(received[0].body).id).toBe(JSON.parse(body).id);
      expect(await dispatcher.deliverPending()).toEqual({ delivered: 0, failed: 0 });
    });
  });

  it('keeps at most REFRESH_CONCURRENCY refresh calls at RD in flight', async () => {
    const h = await createHarness({ env: { REFRESH_CONCURRENCY: '2' }, rd: { latencyMs: 200 } });
    try {
      await seedConnections(h, 10, 'crm');
      await makeAllDue(h);
      expect(await run(h)).toMatchObject({ refreshed: 10 });
      const arrivals = h.rd.tokenCalls({ grantType: 'refresh_token' }).map((c) => c.at);
      // Each call stays at RD 200 ms: a window shorter than that holds at most 2 arrivals.
      for (const at of arrivals) {
        expect(
          arrivals.filter((other) => other >= at && other < at + 180).length,
        ).toBeLessThanOrEqual(2);
      }
    } finally {
      await h.close();
    }
  });

  it('runs on its cron when enabled, and registers nothing when disabled', async () => {
    const h = await createHarness({
      env: { SCHEDULER_ENABLED: 'true', REFRESH_CRON: '*/1 * * * * *' },
    });
    try {
      const [account] = await seedConnections(h, 1, 'crm');
      await makeAllDue(h);
      await waitFor(
        async () =>
          (await connectionRow(h.db, account, 'crm'))!.last_error === null &&
          h.rd.tokenCalls().length === 1
            ? true
            : undefined,
        {
          timeoutMs: 10_000,
          what: 'the cron to refresh the due connection',
        },
      );
      expect(h.broker.app.get(SchedulerRegistry).getCronJobs().size).toBe(1);
    } finally {
      await h.close();
    }
    const disabled = await createHarness({ env: { SCHEDULER_ENABLED: 'false' } });
    try {
      expect(disabled.broker.app.get(SchedulerRegistry).getCronJobs().size).toBe(0);
    } finally {
      await disabled.close();
    }
  });
});
