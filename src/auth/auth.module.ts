import { Global, Inject, Logger, Module, type OnApplicationBootstrap } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { authConfig } from '../config/slices';
import { ApiKeyAuthenticator } from './api-key.authenticator';
import { ApiKeyGuard, describeKeys } from './api-key.guard';
import { FailedAuthLimiter } from './failed-auth.limiter';

@Global()
@Module({
  providers: [ApiKeyAuthenticator, ApiKeyGuard, FailedAuthLimiter],
  exports: [ApiKeyAuthenticator, ApiKeyGuard, FailedAuthLimiter],
})
export class AuthModule implements OnApplicationBootstrap {
  private readonly logger = new Logger('ApiKeys');

  constructor(@Inject(authConfig.KEY) private readonly keys: ConfigType<typeof authConfig>) {}

  /** Operators see at start-up what each key may reach (API_KEY_SCOPES). */
  onApplicationBootstrap(): void {
    for (const line of describeKeys(this.keys)) this.logger.log(line);
  }
}
