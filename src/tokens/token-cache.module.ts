import { Module } from '@nestjs/common';
import { TokenCache } from './token-cache';

/** The replica's cache of decrypted tokens: read by GET /tokens, invalidated by every locked write. */
@Module({ providers: [TokenCache], exports: [TokenCache] })
export class TokenCacheModule {}
