import { Module } from '@nestjs/common';
import { ReconnectLinksModule } from '../oauth/reconnect-links.module';
import { ConnectionsRepository } from './connections.repository';

/** The `connections` table (and each connection's reconnect link), for every module that reads or writes a grant. */
@Module({
  imports: [ReconnectLinksModule],
  providers: [ConnectionsRepository],
  exports: [ConnectionsRepository],
})
export class ConnectionsStoreModule {}
