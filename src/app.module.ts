import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from './config/config';
import { ConfigModule } from './config/config.module';
import { dataSourceOptions } from './database/data-source-options';
import { HealthModule } from './health/health.module';
import { MetricsModule } from './metrics/metrics.module';
import { CryptoModule } from './crypto/crypto.module';
import { AuthModule } from './auth/auth.module';
import { ThrottlerModule } from '@nestjs/throttler';
import { OAuthModule } from './oauth/oauth.module';
import { TokensModule } from './tokens/tokens.module';
import { ProxyModule } from './proxy/proxy.module';
import { ConnectionsModule } from './connections/connections.module';
import { SchedulerModule } from './scheduler/scheduler.module';

@Module({})
export class AppModule {
  /** `config.database.url` is resolved by then (an embedded server is started before Nest). */
  static register(config: AppConfig & { database: { url: string } }): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.register(config),
        TypeOrmModule.forRoot({
          // A lock holder is never slower than one RD call (RD_TIMEOUT_MS): wait a little longer.
          ...dataSourceOptions(config.database.url, { lockTimeoutMs: config.rd.timeoutMs + 5_000 }),
          migrationsRun: true,
          // main.ts checks the database once before Nest starts and says what is wrong; a failure
          // here is not worth ten identical retry lines.
          toRetry: () => false,
        }),
        CryptoModule,
        AuthModule,
        // Per-address limits for the browser-facing callback (see OAuthController).
        ThrottlerModule.forRoot([{ ttl: 60_000, limit: 60 }]),
        HealthModule,
        MetricsModule,
        TokensModule,
        ProxyModule,
        ConnectionsModule,
        OAuthModule,
        SchedulerModule,
      ],
    };
  }
}
