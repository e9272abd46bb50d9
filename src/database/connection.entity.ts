import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Product } from '../config/config';

export type ConnectionStatus = 'active' | 'refresh_failing' | 'reauthorization_required';

/** One stored grant: the caller's account × RD product. Token columns hold ciphertext only. */
@Entity('connections')
export class Connection {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  account: string;

  @PrimaryColumn({ type: 'varchar', length: 16 })
  product: Product;

  @Column({ type: 'varchar', length: 32 })
  status: ConnectionStatus;

  @Column({ name: 'access_token', type: 'text' })
  accessTokenCiphertext: string;

  @Column({ name: 'refresh_token', type: 'text' })
  refreshTokenCiphertext: string;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ type: 'text', nullable: true })
  label: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', insert: false })
  updatedAt: Date;

  @Column({ name: 'last_refreshed_at', type: 'timestamptz', nullable: true })
  lastRefreshedAt: Date | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;

  @Column({ name: 'last_error_at', type: 'timestamptz', nullable: true })
  lastErrorAt: Date | null;

  @Column({ name: 'consecutive_failures', type: 'integer', default: 0 })
  consecutiveFailures: number;

  @Column({ name: 'next_refresh_at', type: 'timestamptz', nullable: true })
  nextRefreshAt: Date | null;

  @Column({ name: 'claimed_until', type: 'timestamptz', nullable: true })
  claimedUntil: Date | null;

  /** When RD last rejected this grant (condemned or held); counted by the blast-radius guard. */
  @Column({ name: 'rejected_at', type: 'timestamptz', nullable: true })
  rejectedAt: Date | null;

  /** Set while a rejection is held by the blast-radius guard instead of condemning the grant. */
  @Column({ name: 'held_at', type: 'timestamptz', nullable: true })
  heldAt: Date | null;

  /** This connection's own `/proxy` budget per minute; null = RD_RATE_LIMIT_PER_MINUTE. */
  @Column({ name: 'rate_limit_per_minute', type: 'integer', nullable: true })
  rateLimitPerMinute: number | null;
  /**
   * When a refresh asked for by a report of a refused token (`rejected=`, RD's 401 on /proxy)
   * last replaced the token: such refreshes are limited by REFRESH_MIN_INTERVAL_SECONDS.
   */
  @Column({ name: 'report_refreshed_at', type: 'timestamptz', nullable: true })
  reportRefreshedAt: Date | null;

  /** Set (and committed) just before a refresh call to RD; cleared with its outcome. */
  @Column({ name: 'refresh_started_at', type: 'timestamptz', nullable: true })
  refreshStartedAt: Date | null;
}
