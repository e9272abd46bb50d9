import { Module } from '@nestjs/common';
import { ConnectionsStoreModule } from '../connections/connections-store.module';
import { RdStationModule } from '../rdstation/rdstation.module';
import { TokenRefresher } from './token-refresher';

/** The single-flight refresher; what it commits goes through ConnectionLifecycle. */
@Module({
  imports: [ConnectionsStoreModule, RdStationModule],
  providers: [TokenRefresher],
  exports: [TokenRefresher],
})
export class RefreshModule {}
