import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Product } from '../config/config';
import { DecryptionError, TokenCipher } from '../crypto/token-cipher';

export const STATE_TTL_MS = 10 * 60 * 1000;

export interface PendingAuthorization {
  account: string;
  product: Product;
  returnTo: string | null;
  /** The PKCE code_verifier sent with the code exchange; null when PKCE is off. */
  codeVerifier: string | null;
  /** Who started the consent: an API key's name, or the link it was opened through. */
  requestedBy: string | null;
}

function hash(state: string): Buffer {
  return createHash('sha256').update(state, 'utf8').digest();
}

/**
 * OAuth `state`s: 32 random bytes handed to the browser, only their SHA-256 stored. A PKCE
 * verifier goes in encrypted (bound to the account and product like a token): it is the one
 * secret the browser never sees.
 */
@Injectable()
export class OAuthStatesRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly cipher: TokenCipher,
  ) {}

  async create(pending: PendingAuthorization): Promise<{ state: string; expiresAt: Date }> {
    const state = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + STATE_TTL_MS);
    const verifier =
      pending.codeVerifier === null ? null : this.cipher.encrypt(pending.codeVerifier, pending);
    await this.dataSource.query(
      `INSERT INTO oauth_states (state_hash, account, product, return_to, expires_at, code_verifier,
                                 requested_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        hash(state),
        pending.account,
        pending.product,
        pending.returnTo,
        expiresAt,
        verifier,
        pending.requestedBy,
      ],
    );
    // Housekeeping: expired states are useless; dropping them here keeps the table small.
    await this.dataSource.query(
      `DELETE FROM oauth_states WHERE expires_at < now() - interval '1 hour'`,
    );
    return { state, expiresAt };
  }

  /**
   * Consumes a state atomically: DELETE … RETURNING lets exactly one of two racing callbacks
   * have it. Unknown, used and expired states all come back as null.
   */
  async consume(state: string): Promise<PendingAuthorization | null> {
    // TypeORM answers a DELETE with [rows, rowCount].
    const [rows]: [
      Array<{
        account: string;
        product: Product;
        return_to: string | null;
        code_verifier: string | null;
        requested_by: string | null;
        live: boolean;
      }>,
    ] = await this.dataSource.query(
      `DELETE FROM oauth_states WHERE state_hash = $1
         RETURNING account, product, return_to, code_verifier, requested_by,
                   expires_at > now() AS live`,
      [hash(state)],
    );
    const row = rows[0];
    if (!row?.live) return null;
    const key = { account: row.account, product: row.product };
    let codeVerifier: string | null = null;
    if (row.code_verifier !== null) {
      try {
        codeVerifier = this.cipher.decrypt(row.code_verifier, key);
      } catch (error) {
        // Encrypted under a key dropped since (a rotation within the 10 minutes): without its
        // verifier the code cannot be exchanged, so the consent must start again.
        if (error instanceof DecryptionError) return null;
        throw error;
      }
    }
    return { ...key, returnTo: row.return_to, codeVerifier, requestedBy: row.requested_by };
  }
}
