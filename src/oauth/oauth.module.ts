import { Module } from '@nestjs/common';
import { RdStationModule } from '../rdstation/rdstation.module';
import { TokensModule } from '../tokens/tokens.module';
import { OAuthController } from './oauth.controller';
import { OAuthService } from './oauth.service';
import { OAuthStatesRepository } from './oauth-states.repository';

@Module({
  imports: [RdStationModule, TokensModule],
  controllers: [OAuthController],
  providers: [OAuthService, OAuthStatesRepository],
})
export class OAuthModule {}
