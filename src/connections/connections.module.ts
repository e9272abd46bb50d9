import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { LinksModule } from '../links/links.module';
import { RdStationModule } from '../rdstation/rdstation.module';
import { CondemnGuard } from '../refresh/condemn-guard';
import { ConnectionLock } from '../refresh/connection-lock';
import { ConnectionLifecycle } from './connection-lifecycle';
import { ConnectionsController } from './connections.controller';
import { ConnectionsRepository } from './connections.repository';
import { ConnectionsService } from './connections.service';
import { TokenRefresher } from './token-refresher';

/**
 * The connections: the `connections` table (read by everyone), ConnectionLifecycle (its one
 * writer, with the lock, the blast-radius guard, the events and the reconnect links), the
 * single-flight refresher, and the admin routes (list, inspect, import, refresh now, delete).
 */
@Module({
  imports: [LinksModule, EventsModule, RdStationModule],
  controllers: [ConnectionsController],
  providers: [
    ConnectionsRepository,
    ConnectionLock,
    CondemnGuard,
    ConnectionLifecycle,
    TokenRefresher,
    ConnectionsService,
  ],
  exports: [ConnectionsRepository, ConnectionLifecycle, ConnectionLock, TokenRefresher],
})
export class ConnectionsModule {}
