import { Module } from '@nestjs/common';
import { ConnectionsStoreModule } from '../connections/connections-store.module';
import { EventsModule } from '../events/events.module';
import { RdStationModule } from '../rdstation/rdstation.module';
import { TokenCacheModule } from '../tokens/token-cache.module';
import { CondemnGuard } from './condemn-guard';
import { ConnectionLock } from './connection-lock';
import { TokenRefresher } from './token-refresher';

/** The refresh machinery: the cross-replica lock and the single-flight refresher. */
@Module({
  imports: [ConnectionsStoreModule, TokenCacheModule, RdStationModule, EventsModule],
  providers: [ConnectionLock, CondemnGuard, TokenRefresher],
  exports: [ConnectionLock, CondemnGuard, TokenRefresher],
})
export class RefreshModule {}
