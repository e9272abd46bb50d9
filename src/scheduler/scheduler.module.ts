import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { ConnectionsModule } from '../connections/connections.module';
import { EventsModule } from '../events/events.module';
import { HistoryModule } from '../history/history.module';
import { RefreshScheduler } from './refresh-scheduler';
import { ScheduledRefreshService } from './scheduled-refresh.service';

@Module({
  imports: [ScheduleModule.forRoot(), ConnectionsModule, EventsModule, HistoryModule],
  providers: [RefreshScheduler, ScheduledRefreshService],
  exports: [RefreshScheduler, ScheduledRefreshService],
})
export class SchedulerModule {}
