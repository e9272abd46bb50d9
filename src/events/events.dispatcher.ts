import { createHmac } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Agent, request } from 'undici';
import { backoffSeconds } from '../common/backoff';
import type { ConfigType } from '@nestjs/config';
import type { Product } from '../config/config';
import { eventsConfig } from '../config/slices';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { ReconnectLinks } from '../links/reconnect-links';

interface PendingEvent {
  id: string;
  type: string;
  account: string;
  product: string;
  detail: Record<string, unknown>;
  created_at: Date;
  attempts: number;
}

const BATCH = 50;
const TIMEOUT_MS = 5_000;
const RETRY_CAP_SECONDS = 3600;

/**
 * `X-Broker-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with one `v1=` per
 * EVENTS_WEBHOOK_SECRET (two during a rotation). The timestamp inside the signed text lets a
 * receiver refuse an old delivery replayed later; the event `id` in the body lets it drop a
 * duplicate (README: "Receiving webhooks").
 */
export function signatureHeader(
  body: string,
  secrets: readonly string[],
  timestamp = Math.floor(Date.now() / 1000),
): string {
  const signed = `${timestamp}.${body}`;
  return [
    `t=${timestamp}`,
    ...secrets.map((secret) => `v1=${createHmac('sha256', secret).update(signed).digest('hex')}`),
  ].join(',');
}

/**
 * Delivers the outbox to EVENTS_WEBHOOK_URL, at least once: an event is marked delivered only
 * after a 2xx; a failure schedules the next attempt with exponential backoff (capped at an hour).
 * Replicas claim disjoint batches (SKIP LOCKED plus a lease), so each event is POSTed by one.
 * Receivers may see a duplicate after a crash: the body's `id` (also `X-Broker-Event-Id`) lets
 * them drop it. Each attempt is signed afresh, with the time of that attempt.
 */
@Injectable()
export class EventsDispatcher implements OnModuleDestroy {
  private readonly logger = new Logger(EventsDispatcher.name);
  private readonly agent = new Agent({ connect: { timeout: TIMEOUT_MS } });

  constructor(
    @Inject(eventsConfig.KEY) private readonly config: ConfigType<typeof eventsConfig>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: BrokerMetrics,
    private readonly reconnectLinks: ReconnectLinks,
  ) {}

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }

  async deliverPending(): Promise<{ delivered: number; failed: number }> {
    const result = { delivered: 0, failed: 0 };
    if (!this.config.webhookUrl) return result;
    for (;;) {
      const batch = await this.claim();
      if (batch.length === 0) break;
      for (const event of batch) {
        if (await this.deliver(event)) result.delivered++;
        else result.failed++;
      }
      if (batch.length < BATCH) break;
    }
    if (result.delivered + result.failed > 0) this.logger.log(result, 'webhook deliveries');
    this.metrics.webhookDeliveries.inc({ outcome: 'delivered' }, result.delivered);
    this.metrics.webhookDeliveries.inc({ outcome: 'failed' }, result.failed);
    return result;
  }

  private async claim(): Promise<PendingEvent[]> {
    // TypeORM answers an UPDATE with [rows, rowCount].
    const [rows]: [PendingEvent[]] = await this.dataSource.query(
      `UPDATE connection_events e SET claimed_until = now() + interval '60 seconds', attempts = e.attempts + 1
        FROM (SELECT id FROM connection_events
               WHERE delivered_at IS NULL AND next_attempt_at <= now()
                 AND (claimed_until IS NULL OR claimed_until < now())
               ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) due
        WHERE e.id = due.id
        RETURNING e.id, e.type, e.account, e.product, e.detail, e.created_at, e.attempts`,
      [BATCH],
    );
    return rows;
  }

  /**
   * A condemned connection's event carries its reconnect link while the link is live. The link is
   * never stored in the event (the database keeps only its hash), so it is added here.
   */
  private async detailOf(event: PendingEvent): Promise<Record<string, unknown>> {
    if (event.type !== 'connection.reauthorization_required') return event.detail;
    const link = (await this.reconnectLinks.liveFor(event.account, event.product as Product)).get(
      event.product as Product,
    );
    return link
      ? { ...event.detail, reconnectUrl: link.url, reconnectUrlExpiresAt: link.expiresAt }
      : event.detail;
  }

  private async deliver(event: PendingEvent): Promise<boolean> {
    const body = JSON.stringify({
      id: event.id,
      type: event.type,
      account: event.account,
      product: event.product,
      at: new Date(event.created_at).toISOString(),
      detail: await this.detailOf(event),
    });
    let failure: string;
    try {
      const response = await request(this.config.webhookUrl!, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'x-broker-signature': signatureHeader(body, this.config.webhookSecrets),
          'x-broker-event-id': event.id,
        },
        body,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
      await response.body.dump();
      if (response.statusCode >= 200 && response.statusCode < 300) {
        await this.dataSource.query(
          `UPDATE connection_events SET delivered_at = now(), claimed_until = NULL WHERE id = $1`,
          [event.id],
        );
        return true;
      }
      failure = `HTTP ${response.statusCode}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    const retryIn = backoffSeconds(event.attempts, { capSeconds: RETRY_CAP_SECONDS });
    await this.dataSource.query(
      `UPDATE connection_events SET claimed_until = NULL, last_error = $2,
              next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1`,
      [event.id, failure.slice(0, 500), retryIn],
    );
    this.logger.warn(
      { eventId: event.id, type: event.type, attempts: event.attempts, error: failure },
      'webhook delivery failed',
    );
    return false;
  }
}
