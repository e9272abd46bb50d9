import { Global, Module } from '@nestjs/common';
import { ApiKeyGuard } from './api-key.guard';
import { FailedAuthLimiter } from './failed-auth.limiter';

@Global()
@Module({ providers: [ApiKeyGuard, FailedAuthLimiter], exports: [ApiKeyGuard, FailedAuthLimiter] })
export class AuthModule {}
