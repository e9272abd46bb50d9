import { Module } from '@nestjs/common';
import { ConnectionsStoreModule } from '../connections/connections-store.module';
import { HistoryModule } from '../history/history.module';
import { RefreshModule } from '../refresh/refresh.module';
import { TokenCacheModule } from './token-cache.module';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';

/** The hot read path: GET /tokens/:account. */
@Module({
  imports: [ConnectionsStoreModule, TokenCacheModule, RefreshModule, HistoryModule],
  controllers: [TokensController],
  providers: [TokensService],
  exports: [TokensService],
})
export class TokensModule {}
