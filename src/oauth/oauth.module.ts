import { Module } from '@nestjs/common';
import { ConnectionsStoreModule } from '../connections/connections-store.module';
import { RdStationModule } from '../rdstation/rdstation.module';
import { LinksController } from './links.controller';
import { OAuthController } from './oauth.controller';
import { OAuthService } from './oauth.service';
import { OAuthStatesRepository } from './oauth-states.repository';
import { ReconnectLinksModule } from './reconnect-links.module';

@Module({
  imports: [RdStationModule, ConnectionsStoreModule, ReconnectLinksModule],
  controllers: [OAuthController, LinksController],
  providers: [OAuthService, OAuthStatesRepository],
})
export class OAuthModule {}
