import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { ReconnectLinksModule } from '../oauth/reconnect-links.module';
import { CondemnGuard } from '../refresh/condemn-guard';
import { ConnectionLock } from '../refresh/connection-lock';
import { TokenCacheModule } from '../tokens/token-cache.module';
import { ConnectionLifecycle } from './connection-lifecycle';
import { ConnectionsRepository } from './connections.repository';

/**
 * The `connections` table, for every module that reads a grant, and ConnectionLifecycle, the one
 * writer of it, with what each change takes: the connection's lock, the blast-radius guard, the
 * events and the reconnect links.
 */
@Module({
  imports: [ReconnectLinksModule, TokenCacheModule, EventsModule],
  providers: [ConnectionsRepository, ConnectionLock, CondemnGuard, ConnectionLifecycle],
  exports: [ConnectionsRepository, ConnectionLifecycle],
})
export class ConnectionsStoreModule {}
