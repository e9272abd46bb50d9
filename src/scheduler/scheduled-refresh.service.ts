import { Inject, Injectable, Logger } from '@nestjs/common';
import { NotConnectedError } from '../common/errors';
import type { ConfigType } from '@nestjs/config';
import { refreshConfig } from '../config/slices';
import type { ConnectionKey } from '../common/connection-key';
import { ConnectionsRepository } from '../connections/connections.repository';
import type { RefreshOutcome } from '../refresh/refresh-policy';
import { TokenRefresher } from '../connections/token-refresher';

export interface RunSummary {
  claimed: number;
  refreshed: number;
  failedTransient: number;
  failedPermanent: number;
  skipped: number;
  tookMs: number;
}

/**
 * One scheduler run: claims due connections from the queue in the database and refreshes them
 * through the same single-flight TokenRefresher as on-demand reads, REFRESH_CONCURRENCY at a
 * time, claiming more as workers free up, until the queue is empty or the deadline (the next
 * tick) comes.
 */
@Injectable()
export class ScheduledRefreshService {
  private readonly logger = new Logger(ScheduledRefreshService.name);
  /**
   * More workers than RD slots (TokenRefresher's REFRESH_CONCURRENCY semaphore), so each
   * worker's database work overlaps other workers' RD calls and the slots never sit idle.
   */
  private readonly workers: number;
  /** A claim outlives a crashed replica by this much, then another replica takes it. */
  readonly leaseSeconds: number;

  constructor(
    @Inject(refreshConfig.KEY) config: ConfigType<typeof refreshConfig>,
    private readonly connections: ConnectionsRepository,
    private readonly refresher: TokenRefresher,
  ) {
    this.workers = Math.ceil(config.concurrency * 1.5);
    this.leaseSeconds = Math.ceil((3 * config.rdTimeoutMs) / 1000) + 5;
  }

  async runOnce(deadline: number): Promise<RunSummary> {
    const started = Date.now();
    const summary: RunSummary = {
      claimed: 0,
      refreshed: 0,
      failedTransient: 0,
      failedPermanent: 0,
      skipped: 0,
      tookMs: 0,
    };
    const queue: ConnectionKey[] = [];
    let exhausted = false;
    let claiming: Promise<void> | null = null;

    const claim = async () => {
      const batch = await this.connections.claimDueForRefresh(this.workers, this.leaseSeconds);
      summary.claimed += batch.length;
      queue.push(...batch);
      if (batch.length === 0) exhausted = true;
    };
    const next = async (): Promise<ConnectionKey | undefined> => {
      for (;;) {
        const key = queue.shift();
        if (key) return key;
        if (exhausted || Date.now() >= deadline) return undefined;
        claiming ??= claim().finally(() => (claiming = null));
        await claiming;
      }
    };
    const worker = async () => {
      for (let key = await next(); key; key = await next())
        this.count(summary, await this.refreshOne(key));
    };

    await Promise.all(Array.from({ length: this.workers }, worker));
    summary.tookMs = Date.now() - started;
    return summary;
  }

  private async refreshOne(key: ConnectionKey): Promise<RefreshOutcome | 'gone'> {
    try {
      const { outcome } = await this.refresher.refresh(key, { kind: 'due' });
      if (
        outcome !== 'refreshed' &&
        outcome !== 'transient_failure' &&
        outcome !== 'permanent_failure' &&
        outcome !== 'held'
      ) {
        await this.connections.releaseClaim(key);
      }
      return outcome;
    } catch (error) {
      if (error instanceof NotConnectedError) return 'gone'; // deleted since it was claimed
      // The claim's lease expires and another run retries it.
      this.logger.error({ err: error, ...key }, 'scheduled refresh failed unexpectedly');
      return 'transient_failure';
    }
  }

  private count(summary: RunSummary, outcome: RefreshOutcome | 'gone'): void {
    if (outcome === 'refreshed') summary.refreshed++;
    else if (outcome === 'transient_failure' || outcome === 'held') summary.failedTransient++;
    else if (outcome === 'permanent_failure') summary.failedPermanent++;
    else summary.skipped++;
  }
}
