import { Module } from '@nestjs/common';
import { ReconnectLinksModule } from '../oauth/reconnect-links.module';
import { RdStationModule } from '../rdstation/rdstation.module';
import { RefreshModule } from '../refresh/refresh.module';
import { ConnectionsController } from './connections.controller';
import { ConnectionsService } from './connections.service';
import { ConnectionsStoreModule } from './connections-store.module';

/** The admin routes: list, inspect, import, refresh now, delete. */
@Module({
  imports: [ConnectionsStoreModule, RefreshModule, RdStationModule, ReconnectLinksModule],
  controllers: [ConnectionsController],
  providers: [ConnectionsService],
})
export class ConnectionsModule {}
