import { Module } from '@nestjs/common';
import { EventsModule } from '../events/events.module';
import { RdStationModule } from '../rdstation/rdstation.module';
import { ConnectionsController } from './connections.controller';
import { ConnectionsRepository } from './connections.repository';
import { ConnectionsService } from './connections.service';
import { TokenCache } from './token-cache';
import { TokenRefresher } from './token-refresher';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';

@Module({
  imports: [RdStationModule, EventsModule],
  controllers: [TokensController, ConnectionsController],
  providers: [ConnectionsRepository, TokenCache, TokenRefresher, TokensService, ConnectionsService],
  exports: [ConnectionsRepository, TokenRefresher, EventsModule],
})
export class TokensModule {}
