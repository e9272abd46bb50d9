import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { EventsModule } from '../events/events.module';
import { TokensModule } from '../tokens/tokens.module';
import { RefreshScheduler } from './refresh-scheduler';
import { ScheduledRefreshService } from './scheduled-refresh.service';

@Module({
  imports: [ScheduleModule.forRoot(), TokensModule, EventsModule],
  providers: [RefreshScheduler, ScheduledRefreshService],
  exports: [RefreshScheduler, ScheduledRefreshService],
})
export class SchedulerModule {}
