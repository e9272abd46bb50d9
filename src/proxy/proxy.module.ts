import { Module } from '@nestjs/common';
import { HistoryModule } from '../history/history.module';
import { TokensModule } from '../tokens/tokens.module';
import { ProxyService } from './proxy.service';
import { RateBudget } from './rate-budget';

/**
 * `/proxy/<RD path>`: RD's API with the connection's token, a shared rate budget per account
 * and one retry after RD's 401. The route itself is registered by proxy.route.ts.
 */
@Module({
  imports: [TokensModule, HistoryModule],
  providers: [ProxyService, RateBudget],
  exports: [ProxyService],
})
export class ProxyModule {}
