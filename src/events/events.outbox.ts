import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import { APP_CONFIG, type AppConfig } from '../config/config';

export type ConnectionEventType =
  | 'connection.created'
  | 'connection.refresh_failed'
  | 'connection.reauthorization_required'
  | 'connection.recovered'
  | 'connection.deleted'
  /** The blast-radius guard started holding rejections of a product (src/refresh/condemn-guard.ts). */
  | 'product.refresh_held';

/**
 * Records connection events in the outbox table, inside the caller's transaction: an event exists
 * if and only if the change it reports was committed. The scheduler delivers them to
 * EVENTS_WEBHOOK_URL; without a webhook nothing is recorded.
 */
@Injectable()
export class EventsOutbox {
  private readonly enabled: boolean;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.enabled = Boolean(config.events.webhookUrl);
  }

  async record(
    manager: EntityManager,
    type: ConnectionEventType,
    { account, product }: ConnectionKey,
    detail: Record<string, unknown> = {},
  ): Promise<void> {
    if (!this.enabled) return;
    await manager.query(
      `INSERT INTO connection_events (type, account, product, detail) VALUES ($1, $2, $3, $4)`,
      [type, account, product, JSON.stringify(detail)],
    );
  }
}
