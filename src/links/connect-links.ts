import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { ConnectionKey } from '../common/connection-key';
import type { ConfigType } from '@nestjs/config';
import { linksConfig } from '../config/slices';

/** A link token: 32 random bytes, base64url. */
export const LINK_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function linkTokenHash(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export interface ConnectLinkTarget extends ConnectionKey {
  returnTo: string | null;
}

/**
 * Connect links (`$PUBLIC_URL/connect/<token>`, POST /connect-links): a service sends one to a
 * customer by any channel; the customer's browser starts the consent from it. Single use, valid
 * CONNECT_LINK_TTL. Only the SHA-256 of the token is stored, so the link is shown once, to the
 * service that asked for it, and a copy of the database cannot open it.
 */
@Injectable()
export class ConnectLinks {
  constructor(
    @Inject(linksConfig.KEY) private readonly config: ConfigType<typeof linksConfig>,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async create(
    target: ConnectLinkTarget,
    createdBy: string,
  ): Promise<{ url: string; expiresAt: Date }> {
    const token = randomBytes(32).toString('base64url');
    const [row]: Array<{ expires_at: Date }> = await this.dataSource.query(
      `INSERT INTO connect_links (token_hash, account, product, return_to, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
       RETURNING expires_at`,
      [
        linkTokenHash(token),
        target.account,
        target.product,
        target.returnTo,
        createdBy,
        this.config.connectTtlSeconds,
      ],
    );
    // Expired links are worth nothing: each new link clears a few, so the table stays small.
    await this.dataSource.query(
      `DELETE FROM connect_links WHERE token_hash IN (
         SELECT token_hash FROM connect_links WHERE expires_at < now() - interval '1 day' LIMIT 100)`,
    );
    return {
      url: `${this.config.publicUrl}/connect/${token}`,
      expiresAt: new Date(row.expires_at),
    };
  }

  /** What an unused, unexpired link is for, without using it (a page view, a link preview). */
  async peek(token: string): Promise<ConnectLinkTarget | null> {
    if (!LINK_TOKEN.test(token)) return null;
    const rows: ConnectLinkTarget[] = await this.dataSource.query(
      `SELECT account, product, return_to AS "returnTo" FROM connect_links
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()`,
      [linkTokenHash(token)],
    );
    return rows[0] ?? null;
  }

  /**
   * Uses a link up: exactly once (UPDATE … RETURNING decides between racing openers). Also says
   * which API key made it, for the connection's history.
   */
  async consume(token: string): Promise<(ConnectLinkTarget & { createdBy: string }) | null> {
    if (!LINK_TOKEN.test(token)) return null;
    // TypeORM answers an UPDATE with [rows, rowCount].
    const [rows]: [Array<ConnectLinkTarget & { createdBy: string }>] = await this.dataSource.query(
      `UPDATE connect_links SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING account, product, return_to AS "returnTo", created_by AS "createdBy"`,
      [linkTokenHash(token)],
    );
    return rows[0] ?? null;
  }
}
