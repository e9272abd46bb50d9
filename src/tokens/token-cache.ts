import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { connectionId, type ConnectionKey } from '../common/connection-key';
import { BrokerMetrics } from '../metrics/broker-metrics';

export interface CachedToken {
  accessToken: string;
  expiresAt: Date;
}

const CHANNEL = 'connection_changed';
/** TCP keepalive on the listening socket: the kernel also notices a dead peer, eventually. */
const KEEPALIVE_DELAY_MS = 10_000;
const RECONNECT_MAX_MS = 30_000;

/**
 * Decrypted access tokens kept in memory (at most TOKEN_CACHE_MAX), so a read of a fresh token
 * costs no database round trip. Correctness rests on invalidation: every committed change to a
 * connection (migration NotifyConnectionChanges) arrives as NOTIFY on a dedicated listening
 * connection. While that connection is down the cache is bypassed, and it starts empty each time
 * it comes back, so a notification missed in between can never serve a changed or deleted
 * connection.
 *
 * A connection can also die silently (a NAT or firewall dropping it): no `end`, no `error`, just
 * no more notifications. So every TOKEN_CACHE_HEARTBEAT_MS the listener sends `SELECT 1` down the
 * same connection its notifications come up; an answer not back by the next beat means the
 * channel is lost: the cache is emptied and bypassed, and the listener reconnects. (A round trip
 * rather than a NOTIFY to itself: a NOTIFY assigns a transaction id, and a read-only replica
 * should write nothing, not even that.) A change is thus served stale for at most
 * two heartbeat intervals (10 s with the default 5 s); test/integration/token-cache.spec.ts
 * proves it through a proxy that silently stops forwarding.
 */
@Injectable()
export class TokenCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(TokenCache.name);
  private readonly entries: LRUCache<string, CachedToken> | null;
  private listener: Client | null = null;
  private listening = false;
  private stopped = false;
  private reconnectDelayMs = 500;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly heartbeatMs: number;
  /** A heartbeat was sent and its answer has not come back yet. */
  private pendingBeat = false;
  /** Bumped by every invalidation; see `ticket()`. */
  private invalidations = 0;
  /** When each recently invalidated connection was last invalidated (counter value). */
  private readonly invalidatedAt = new LRUCache<string, number>({
    max: 10_000,
    // A forgotten record can no longer prove a ticket fresh: tickets before it are refused.
    dispose: (at, _id, reason) => {
      if (reason === 'evict') this.trustedSince = Math.max(this.trustedSince, at);
    },
  });
  /** Tickets older than this are refused (set after a clear or an evicted record). */
  private trustedSince = 0;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Optional() private readonly metrics?: BrokerMetrics,
  ) {
    this.entries = config.tokenCacheMax > 0 ? new LRUCache({ max: config.tokenCacheMax }) : null;
    this.heartbeatMs = config.tokenCacheHeartbeatMs;
  }

  /** Whether cached tokens are being served (the invalidation channel is up and proven). */
  get isListening(): boolean {
    return this.listening;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.entries) await this.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    await this.listener?.end().catch(() => undefined);
  }

  /** A cached token, only while invalidations are being received. */
  get(key: ConnectionKey): CachedToken | undefined {
    return this.listening ? this.entries?.get(connectionId(key)) : undefined;
  }

  /**
   * Take a ticket BEFORE reading the database, hand it to `set` after: if that connection was
   * invalidated in between (or the whole cache was), the row read may be stale and is not cached.
   * Invalidations of other connections do not matter, so reads keep caching during a drain.
   */
  ticket(): number {
    return this.invalidations;
  }

  set(key: ConnectionKey, token: CachedToken, ticket: number): void {
    const id = connectionId(key);
    const stale = ticket < this.trustedSince || (this.invalidatedAt.get(id) ?? -1) > ticket;
    if (this.listening && !stale) this.entries?.set(id, token);
  }

  /** For this replica's own changes, effective at once (the NOTIFY follows a moment later). */
  invalidate(key: ConnectionKey): void {
    this.forget(connectionId(key));
  }

  private forget(id: string): void {
    this.invalidatedAt.set(id, ++this.invalidations);
    this.entries?.delete(id);
  }

  private forgetAll(): void {
    this.trustedSince = ++this.invalidations;
    this.invalidatedAt.clear();
    this.entries?.clear();
  }

  private async listen(): Promise<void> {
    const url = (this.dataSource.options as { url?: string }).url;
    const client = new Client({
      connectionString: url,
      application_name: 'rdstation-token-broker:cache',
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
      // A connect or LISTEN into a black hole must fail, so the reconnect loop goes on.
      connectionTimeoutMillis: Math.max(1000, 2 * this.heartbeatMs),
      query_timeout: Math.max(1000, 2 * this.heartbeatMs),
    });
    client.on('notification', (message) => {
      if (message.payload) this.forget(message.payload);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      this.lost(client, error as Error);
      return;
    }
    // Whatever changed while nobody listened is unknown: start from nothing.
    this.forgetAll();
    this.listener = client;
    this.listening = true;
    this.reconnectDelayMs = 500;
    this.startHeartbeat(client);
  }

  private startHeartbeat(client: Client): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => this.beat(client), this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.pendingBeat = false;
  }

  /** Checks that the previous beat came back, then sends the next one. */
  private beat(client: Client): void {
    if (client !== this.listener) return;
    if (this.pendingBeat) {
      this.lost(client, new Error(`no heartbeat back within ${this.heartbeatMs} ms`), 'heartbeat');
      return;
    }
    this.pendingBeat = true;
    // Not awaited: on a silently dead connection this never settles; the next beat decides.
    client.query('SELECT 1').then(
      () => {
        if (client === this.listener) this.pendingBeat = false;
      },
      (error: Error) => this.lost(client, error),
    );
  }

  private lost(
    client: Client,
    error?: Error,
    reason: 'heartbeat' | 'connection' = 'connection',
  ): void {
    if (client !== this.listener && this.listener !== null) return; // an old client's late event
    if (this.listening) this.metrics?.tokenCacheChannelLosses.inc({ reason });
    this.listening = false;
    this.listener = null;
    this.stopHeartbeat();
    this.forgetAll();
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (this.stopped || this.reconnectTimer) return;
    this.logger.warn(
      { err: error?.message },
      `cache invalidation channel lost; cache bypassed, reconnecting in ${this.reconnectDelayMs} ms`,
    );
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.listen();
    }, this.reconnectDelayMs);
    this.reconnectDelayMs = Math.min(RECONNECT_MAX_MS, this.reconnectDelayMs * 2);
  }
}
