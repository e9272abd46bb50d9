import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import type { ConfigType } from '@nestjs/config';
import { schedulerConfig } from '../config/slices';
import { EventsDispatcher } from '../events/events.dispatcher';
import { HistoryRepository } from '../history/history.repository';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { ScheduledRefreshService } from './scheduled-refresh.service';

const JOB = 'refresh-due-tokens';

/**
 * The cron (REFRESH_CRON): each tick delegates to one service call and logs one summary line.
 * Runs never overlap in a replica. A run stops claiming at the next tick's time; that tick,
 * arriving while the last refreshes finish, starts the next run right after instead of being
 * lost, so a long queue drains without idle gaps.
 */
@Injectable()
export class RefreshScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RefreshScheduler.name);
  private running: Promise<void> | null = null;
  private tickMissed = false;

  constructor(
    @Inject(schedulerConfig.KEY) private readonly config: ConfigType<typeof schedulerConfig>,
    private readonly registry: SchedulerRegistry,
    private readonly refreshes: ScheduledRefreshService,
    private readonly events: EventsDispatcher,
    private readonly metrics: BrokerMetrics,
    private readonly history: HistoryRepository,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.enabled) {
      this.logger.log('scheduler disabled (SCHEDULER_ENABLED=false): API-only replica');
      return;
    }
    const job = CronJob.from({
      cronTime: this.config.cron,
      onTick: () => this.tick(),
      start: false,
    });
    this.registry.addCronJob(JOB, job);
    job.start();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.registry.doesExist('cron', JOB)) this.registry.deleteCronJob(JOB);
    await this.running;
  }

  /** One run, now. Also what the cron calls. */
  tick(): Promise<void> {
    if (this.running) {
      this.tickMissed = true;
      return this.running;
    }
    this.running = this.run().finally(() => {
      this.running = null;
      if (this.tickMissed && this.registry.doesExist('cron', JOB)) {
        this.tickMissed = false;
        void this.tick();
      }
    });
    return this.running;
  }

  private async run(): Promise<void> {
    const job = this.registry.doesExist('cron', JOB) ? this.registry.getCronJob(JOB) : null;
    const deadline = job?.nextDate().toMillis() ?? Date.now() + 60_000;
    try {
      const summary = await this.refreshes.runOnce(deadline);
      // A run that found nothing to do is the common case: at info it would repeat every tick.
      const { claimed, refreshed, failedTransient, failedPermanent, skipped } = summary;
      const idle = [claimed, refreshed, failedTransient, failedPermanent, skipped].every(
        (count) => count === 0,
      );
      if (idle) this.logger.debug(summary, 'refresh run');
      else this.logger.log(summary, 'refresh run');
      this.metrics.schedulerRunDuration.observe(summary.tookMs / 1000);
      this.metrics.schedulerRefreshes.inc({ result: 'refreshed' }, summary.refreshed);
      this.metrics.schedulerRefreshes.inc({ result: 'failed_transient' }, summary.failedTransient);
      this.metrics.schedulerRefreshes.inc({ result: 'failed_permanent' }, summary.failedPermanent);
      this.metrics.schedulerRefreshes.inc({ result: 'skipped' }, summary.skipped);
    } catch (error) {
      this.logger.error({ err: error }, 'refresh run failed');
    }
    await this.events.deliverPending();
    await this.pruneHistory();
  }

  /** HISTORY_RETENTION_DAYS: a few small batches each run, never one long delete. */
  async pruneHistory(): Promise<void> {
    try {
      const pruned = await this.history.prune(this.config.historyRetentionDays);
      if (pruned.events + pruned.reads > 0) this.logger.log(pruned, 'history pruned');
    } catch (error) {
      this.logger.error({ err: error }, 'history pruning failed');
    }
  }
}
