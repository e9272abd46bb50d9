import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { ConnectionsStoreModule } from '../connections/connections-store.module';
import { EventsModule } from '../events/events.module';
import { HistoryModule } from '../history/history.module';
import { RefreshModule } from '../refresh/refresh.module';
import { RefreshScheduler } from './refresh-scheduler';
import { ScheduledRefreshService } from './scheduled-refresh.service';

@Module({
  imports: [
    ScheduleModule.forRoot(),
    ConnectionsStoreModule,
    RefreshModule,
    EventsModule,
    HistoryModule,
  ],
  providers: [RefreshScheduler, ScheduledRefreshService],
  exports: [RefreshScheduler, ScheduledRefreshService],
})
export class SchedulerModule {}
