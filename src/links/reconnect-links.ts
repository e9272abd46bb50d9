import { createHmac, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import type { ConfigType } from '@nestjs/config';
import type { Product } from '../config/config';
import { cryptoConfig, linksConfig } from '../config/slices';
import { LINK_TOKEN, linkTokenHash as sha256 } from './connect-links';

export interface ReconnectLink {
  url: string;
  expiresAt: Date;
}

/**
 * The reconnect link of a condemned connection (`$PUBLIC_URL/oauth/reconnect/<token>`), which an
 * operator sends to the customer: single use, valid RECONNECT_LINK_TTL, bound to one account and
 * product. The database holds only the SHA-256 of the token and a random nonce; the token is the
 * HMAC of the nonce under a key derived from TOKEN_ENCRYPTION_KEY, so the broker can show the same
 * link again (webhook, GET /connections/:account) while a copy of the database alone cannot open it.
 *
 * A connection has at most one link (the table's key). ConnectionLifecycle keeps the link in
 * step with the connection in the same transaction as each change: every condemnation mints a
 * new one (replacing an older one); recovery, reconnect, import and delete remove it.
 */
@Injectable()
export class ReconnectLinks {
  private readonly linkKeys = new Map<string, Buffer>();
  private readonly currentKeyId: string;

  constructor(
    @Inject(linksConfig.KEY) private readonly config: ConfigType<typeof linksConfig>,
    @Inject(cryptoConfig.KEY) keys: ConfigType<typeof cryptoConfig>,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {
    for (const { id, key } of [keys.current, ...keys.previous]) {
      this.linkKeys.set(id, createHmac('sha256', key).update('broker reconnect link v1').digest());
    }
    this.currentKeyId = keys.current.id;
  }

  /** A new link for a connection just condemned, in its transaction; it replaces an older one. */
  async mint(manager: EntityManager, { account, product }: ConnectionKey): Promise<void> {
    const nonce = randomBytes(32);
    const token = this.tokenOf(nonce, this.currentKeyId)!;
    await manager.query(
      `INSERT INTO reconnect_links (account, product, token_hash, nonce, key_id, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
       ON CONFLICT (account, product) DO UPDATE SET
         token_hash = EXCLUDED.token_hash, nonce = EXCLUDED.nonce, key_id = EXCLUDED.key_id,
         expires_at = EXCLUDED.expires_at, used_at = NULL, created_at = now()`,
      [account, product, sha256(token), nonce, this.currentKeyId, this.config.reconnectTtlSeconds],
    );
  }

  /** The connection no longer needs its link (recovered, reconnected, imported or deleted). */
  async revoke(manager: EntityManager, { account, product }: ConnectionKey): Promise<void> {
    await manager.query(`DELETE FROM reconnect_links WHERE account = $1 AND product = $2`, [
      account,
      product,
    ]);
  }

  /** The live (unused, unexpired) links of an account's connections, by product. */
  async liveFor(account: string, product?: Product): Promise<Map<Product, ReconnectLink>> {
    const rows: Array<{ product: Product; nonce: Buffer; key_id: string; expires_at: Date }> =
      await this.dataSource.query(
        `SELECT product, nonce, key_id, expires_at FROM reconnect_links
          WHERE account = $1 AND ($2::varchar IS NULL OR product = $2)
            AND used_at IS NULL AND expires_at > now()`,
        [account, product ?? null],
      );
    const links = new Map<Product, ReconnectLink>();
    for (const row of rows) {
      const token = this.tokenOf(row.nonce, row.key_id);
      // A link minted under a key no longer configured cannot be shown again.
      if (token) {
        links.set(row.product, {
          url: `${this.config.publicUrl}/oauth/reconnect/${token}`,
          expiresAt: new Date(row.expires_at),
        });
      }
    }
    return links;
  }

  /** What a usable link is for, without using it (a page view, a link preview). */
  async peek(token: string): Promise<ConnectionKey | null> {
    if (!LINK_TOKEN.test(token)) return null;
    const rows: ConnectionKey[] = await this.dataSource.query(
      `SELECT l.account, l.product FROM reconnect_links l
         JOIN connections c ON c.account = l.account AND c.product = l.product
        WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now()
          AND c.status = 'reauthorization_required'`,
      [sha256(token)],
    );
    return rows[0] ?? null;
  }

  /**
   * Uses up a link: exactly once (UPDATE … RETURNING decides between racing openers), within its
   * TTL, and only while its connection still needs reconnecting. Anything else answers null.
   */
  async consume(token: string): Promise<ConnectionKey | null> {
    if (!LINK_TOKEN.test(token)) return null;
    // TypeORM answers an UPDATE with [rows, rowCount].
    const [rows]: [ConnectionKey[]] = await this.dataSource.query(
      `UPDATE reconnect_links l SET used_at = now()
         FROM connections c
        WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now()
          AND c.account = l.account AND c.product = l.product
          AND c.status = 'reauthorization_required'
        RETURNING l.account, l.product`,
      [sha256(token)],
    );
    return rows[0] ?? null;
  }

  private tokenOf(nonce: Buffer, keyId: string): string | null {
    const key = this.linkKeys.get(keyId);
    return key ? createHmac('sha256', key).update(nonce).digest('base64url') : null;
  }
}
