import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { LinksModule } from '../links/links.module';
import { RdStationModule } from '../rdstation/rdstation.module';
import { LinksController } from './links.controller';
import { OAuthController } from './oauth.controller';
import { OAuthService } from './oauth.service';
import { OAuthStatesRepository } from './oauth-states.repository';

@Module({
  imports: [RdStationModule, ConnectionsModule, LinksModule],
  controllers: [OAuthController, LinksController],
  providers: [OAuthService, OAuthStatesRepository],
})
export class OAuthModule {}
