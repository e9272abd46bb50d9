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
import type { ConfigType } from '@nestjs/config';
import { tokensConfig } from '../config/slices';
import { connectionId, type ConnectionKey } from '../common/connection-key';
import { BrokerMetrics } from '../metrics/broker-metrics';

export interface CachedToken {
  accessToken: string;
  expiresAt: Date;
  /** `expiresAt` as the answer writes it, made once per token rather than once per read. */
  expiresAtIso: string;
}

const CHANNEL = 'connection_changed';
/** TCP keepalive on the listening socket: the kernel also notices a dead peer, eventually. */
const KEEPALIVE_DELAY_MS = 10_000;
const RECONNECT_MAX_MS = 30_000;
/**
 * The poll re-reads the changes of transactions still running at the previous poll (by xid), but
 * never further back than this: the broker's writing transactions are far shorter.
 */
const POLL_WINDOW_SECONDS = 60;
/** A poller silent for longer than this may have missed changes older than its window. */
const POLL_TRUST_MS = 30_000;
const PRUNE_EVERY_MS = 5 * 60_000;

/**
 * Changes since `$1` (the oldest transaction still running at the previous poll) and the same
 * horizon now, in one statement: rows of transactions older than that horizon are all visible to
 * this statement's snapshot, so every committed change is returned by at least one poll.
 */
const POLL_SQL = `
  SELECT h.xmin::text AS xmin, c.seq::text AS seq, c.id
    FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) h
    LEFT JOIN connection_changes c
      ON c.xid >= $1::xid8 AND c.at > now() - make_interval(secs => ${POLL_WINDOW_SECONDS})`;
const HORIZON_SQL = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`;
const PRUNE_SQL = `DELETE FROM connection_changes WHERE at < now() - interval '1 hour'`;

/**
 * Decrypted access tokens kept in memory (at most TOKEN_CACHE_MAX), so a read of a fresh token
 * costs no database round trip, and a token still valid keeps being served while the database is
 * away. Correctness rests on invalidation; every committed change to a connection (migration
 * NotifyConnectionChanges, PoolerSafeState) both sends NOTIFY and appends to
 * `connection_changes`, and reaches this cache two ways:
 *
 *  - Polling, always: every TOKEN_CACHE_POLL_MS one indexed query on the main pool returns the
 *    changes since the previous poll. It needs no session, so it works behind a transaction
 *    pooler (where LISTEN silently hears nothing) and whatever happens to a channel: a change on
 *    one replica is seen by every other within one poll interval.
 *  - LISTEN, when DATABASE_DIRECT_URL (a session-capable URL, not through a transaction pooler)
 *    is set: instant invalidation. The channel proves itself every TOKEN_CACHE_HEARTBEAT_MS by a
 *    round trip; a lost or silent channel is reconnected with backoff, and polling covers the gap.
 *
 * A lost channel never empties the cache, and neither does an unreachable database: nothing can
 * change a connection while the database is away, and the first poll after it catches up. Only a
 * poller silent for longer than POLL_TRUST_MS (it may have missed changes older than its window)
 * starts over from an empty cache. Before the first poll succeeds nothing is cached.
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
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly directUrl: string | undefined;
  /** A heartbeat was sent and its answer has not come back yet. */
  private pendingBeat = false;
  /** The previous poll's horizon (null before the first poll) and the changes it returned. */
  private horizon: string | null = null;
  private seenChanges = new Set<string>();
  private lastPollAt = 0;
  private lastPruneAt = 0;
  private polling = false;
  private pollFailing = false;
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
    @Inject(tokensConfig.KEY) config: ConfigType<typeof tokensConfig>,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Optional() private readonly metrics?: BrokerMetrics,
  ) {
    this.entries = config.cacheMax > 0 ? new LRUCache({ max: config.cacheMax }) : null;
    this.heartbeatMs = config.heartbeatMs;
    this.pollMs = config.pollMs;
    this.directUrl = config.listenUrl;
  }

  /** Whether changes are being followed (the last poll succeeded): cached tokens are current. */
  get isCurrent(): boolean {
    return this.horizon !== null && !this.pollFailing;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.entries) return;
    await this.poll();
    this.pollTimer = setInterval(() => void this.poll(), this.pollMs);
    this.pollTimer.unref();
    if (this.directUrl) await this.listen();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.stopHeartbeat();
    await this.listener?.end().catch(() => undefined);
  }

  /** A cached token (whatever the state of the channel or the database). */
  get(key: ConnectionKey): CachedToken | undefined {
    return this.entries?.get(connectionId(key));
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
    if (this.horizon !== null && !stale) this.entries?.set(id, token);
  }

  /** For this replica's own changes, effective at once (other replicas hear of it by poll). */
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

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const silentTooLong = Date.now() - this.lastPollAt > POLL_TRUST_MS;
      if (this.horizon === null || silentTooLong) {
        const [{ xmin }]: Array<{ xmin: string }> = await this.dataSource.query(HORIZON_SQL);
        // Whatever changed before is unknown: start from nothing, at this horizon.
        this.forgetAll();
        this.horizon = xmin;
        this.seenChanges = new Set();
      } else {
        const rows: Array<{ xmin: string; seq: string | null; id: string | null }> =
          await this.dataSource.query(POLL_SQL, [this.horizon]);
        const seen = new Set<string>();
        for (const { seq, id } of rows) {
          if (seq === null || id === null) continue;
          seen.add(seq);
          if (!this.seenChanges.has(seq)) this.forget(id);
        }
        this.seenChanges = seen;
        this.horizon = rows[0].xmin;
      }
      this.lastPollAt = Date.now();
      this.pollFailing = false;
      if (Date.now() - this.lastPruneAt > PRUNE_EVERY_MS) {
        this.lastPruneAt = Date.now();
        await this.dataSource.query(PRUNE_SQL).catch(() => undefined); // read-only: fine
      }
    } catch (error) {
      if (!this.pollFailing)
        this.logger.warn(
          { err: (error as Error).message },
          'cache invalidation poll failed; cached tokens are still served, changes are caught up when the database answers',
        );
      this.pollFailing = true;
    } finally {
      this.polling = false;
    }
  }

  private async listen(): Promise<void> {
    const client = new Client({
      connectionString: this.directUrl,
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
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (this.stopped || this.reconnectTimer) return;
    this.logger.warn(
      { err: error?.message },
      `cache invalidation channel (LISTEN) lost; polling covers it, reconnecting in ${this.reconnectDelayMs} ms`,
    );
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.listen();
    }, this.reconnectDelayMs);
    this.reconnectDelayMs = Math.min(RECONNECT_MAX_MS, this.reconnectDelayMs * 2);
  }
}
