import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from './config/config';
import { brokerConfigModule } from './config/config.module';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './database/data-source-options';
import { migrateUnderLock } from './database/migrate';
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
  /**
   * `config` is the whole validated configuration: ConfigModule cuts it into the slices the
   * modules inject. `config.database.url` is resolved by then (an embedded server is started
   * before Nest).
   */
  static register(config: AppConfig & { database: { url: string } }): DynamicModule {
    return {
      module: AppModule,
      imports: [
        brokerConfigModule(config),
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            ...dataSourceOptions(config.database.url),
            // main.ts checks the database once before Nest starts and says what is wrong; a
            // failure here is not worth ten identical retry lines.
            toRetry: () => false,
          }),
          // Migrations under a lock, so replicas started together on an empty database all come
          // up (database/migrate.ts).
          dataSourceFactory: async (options) => {
            const dataSource = await new DataSource(options!).initialize();
            try {
              await migrateUnderLock(dataSource);
            } catch (error) {
              await dataSource.destroy();
              throw error;
            }
            return dataSource;
          },
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
