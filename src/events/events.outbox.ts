import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import type { ConfigType } from '@nestjs/config';
import { eventsConfig } from '../config/slices';

/** The events EVENTS_WEBHOOK_URL receives (README, "Events"). */
export type WebhookEventType =
  | 'connection.created'
  | 'connection.refresh_failed'
  | 'connection.reauthorization_required'
  | 'connection.recovered'
  | 'connection.deleted'
  /** The blast-radius guard started holding rejections of a product (src/refresh/condemn-guard.ts). */
  | 'product.refresh_held';

/** Recorded for the history only, never delivered. */
export type HistoryEventType = 'connection.refreshed';

export type ConnectionEventType = WebhookEventType | HistoryEventType;

const WEBHOOK_TYPES = new Set<ConnectionEventType>([
  'connection.created',
  'connection.refresh_failed',
  'connection.reauthorization_required',
  'connection.recovered',
  'connection.deleted',
  'product.refresh_held',
]);

/**
 * Records connection events in connection_events, inside the caller's transaction: an event
 * exists if and only if the change it reports was committed. Every event is kept as the
 * connection's history (GET /connections/:account/history); the webhook types are also queued
 * for EVENTS_WEBHOOK_URL when one is configured (`next_attempt_at` set; NULL means history only).
 */
@Injectable()
export class EventsOutbox {
  private readonly webhook: boolean;

  constructor(@Inject(eventsConfig.KEY) config: ConfigType<typeof eventsConfig>) {
    this.webhook = Boolean(config.webhookUrl);
  }

  /** `notify: false` keeps a webhook type out of the webhook (e.g. a repeated failure). */
  async record(
    manager: EntityManager,
    type: ConnectionEventType,
    { account, product }: ConnectionKey,
    detail: Record<string, unknown> = {},
    { notify = true }: { notify?: boolean } = {},
  ): Promise<void> {
    const deliver = this.webhook && notify && WEBHOOK_TYPES.has(type);
    await manager.query(
      `INSERT INTO connection_events (type, account, product, detail, next_attempt_at)
       VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END)`,
      [type, account, product, JSON.stringify(detail), deliver],
    );
  }
}
