import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { HistoryModule } from '../history/history.module';
import { ConnectionLock } from '../refresh/connection-lock';
import { TokenCache } from './token-cache';
import { TokensService } from './tokens.service';

/**
 * The hot read path, and the replica's cache of decrypted tokens. GET /tokens/:account itself is a
 * plain fastify route (tokens.route.ts), registered by app.ts.
 */
@Module({
  imports: [ConnectionsModule, HistoryModule],
  providers: [TokenCache, TokensService],
  exports: [TokensService, TokenCache],
})
export class TokensModule {
  /**
   * Every change to a connection is made under its lock: when a holder is done, whatever it
   * changed is visible to this replica's readers at once. Wired here, by the reader, so the lock
   * (a layer below) knows nothing of the cache.
   */
  constructor(lock: ConnectionLock, cache: TokenCache) {
    lock.onReleased((key) => cache.invalidate(key));
  }
}
