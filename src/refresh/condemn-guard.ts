import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ConfigType } from '@nestjs/config';
import type { Product } from '../config/config';
import { refreshConfig } from '../config/slices';
import { guardVerdict, heldMessage, productHoldSeconds } from './refresh-policy';

export type GuardDecision =
  | { verdict: 'condemn' }
  | {
      verdict: 'hold';
      /** For `lastError`. */
      message: string;
      /** When the product's refreshes are tried again, together. */
      retryAt: Date;
      /** This rejection started the product's hold: fire `product.refresh_held`. */
      started: boolean;
      rejectedInWindow: number;
    };

/**
 * The blast-radius guard: more than REFRESH_CONDEMN_GUARD_MAX distinct connections of one product
 * rejected by RD within REFRESH_CONDEMN_GUARD_WINDOW_SECONDS, and further rejections are held
 * (`refresh_failing`, grant kept) instead of condemned, and the product's refreshes back off
 * together (`product_holds`). It counts rows in PostgreSQL under a per-product transaction lock,
 * so it holds across replicas: two replicas deciding at once see each other's rejections.
 */
@Injectable()
export class CondemnGuard {
  private readonly max: number;
  readonly windowSeconds: number;

  constructor(@Inject(refreshConfig.KEY) config: ConfigType<typeof refreshConfig>) {
    ({ max: this.max, windowSeconds: this.windowSeconds } = config.condemnGuard);
  }

  /**
   * Decides, inside the transaction that records the outcome, what one more grant rejection of
   * `connection` does. The lock is released when that transaction ends, so the next decision
   * for the product counts this one.
   */
  async decide(
    tx: EntityManager,
    connection: { account: string; product: Product },
  ): Promise<GuardDecision> {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
      `condemn-guard:${connection.product}`,
    ]);
    const [{ n }]: Array<{ n: number }> = await tx.query(
      `SELECT count(*)::int AS n FROM connections
        WHERE product = $1 AND account <> $2
          AND rejected_at > now() - make_interval(secs => $3)`,
      [connection.product, connection.account, this.windowSeconds],
    );
    if (guardVerdict(n, this.max) === 'condemn') return { verdict: 'condemn' };
    const { retryAt, started } = await this.holdProduct(tx, connection.product);
    return {
      verdict: 'hold',
      message: heldMessage(n + 1, this.windowSeconds),
      retryAt,
      started,
      rejectedInWindow: n + 1,
    };
  }

  /** The product's shared backoff: a new round once the previous one has passed. */
  private async holdProduct(
    tx: EntityManager,
    product: Product,
  ): Promise<{ retryAt: Date; started: boolean }> {
    const [hold]: Array<{ rounds: number; retry_at: Date; active: boolean }> = await tx.query(
      `SELECT rounds, retry_at, retry_at > now() AS active FROM product_holds WHERE product = $1`,
      [product],
    );
    if (hold?.active) return { retryAt: hold.retry_at, started: false };
    const rounds = (hold?.rounds ?? 0) + 1;
    const [row]: Array<{ retry_at: Date }> = await tx.query(
      `INSERT INTO product_holds (product, rounds, retry_at)
       VALUES ($1, $2, now() + make_interval(secs => $3))
       ON CONFLICT (product) DO UPDATE SET rounds = EXCLUDED.rounds, retry_at = EXCLUDED.retry_at
       RETURNING retry_at`,
      [product, rounds, productHoldSeconds(rounds)],
    );
    return { retryAt: row.retry_at, started: hold === undefined };
  }

  /** RD accepted a refresh token of the product again: its refreshes no longer wait together. */
  async release(tx: EntityManager, product: Product): Promise<void> {
    await tx.query(`DELETE FROM product_holds WHERE product = $1`, [product]);
  }
}
