import { Module } from '@nestjs/common';
import { HistoryController } from './history.controller';
import { HistoryRepository } from './history.repository';
import { KeysController } from './keys.controller';
import { ReadCounter } from './read-counter';

/**
 * What happened to each connection: its events (recorded by EventsOutbox) and who read its token
 * (ReadCounter), served by GET /connections/:account/history and pruned by the scheduler; and
 * each API key's use from the same reads (GET /keys).
 */
@Module({
  controllers: [HistoryController, KeysController],
  providers: [HistoryRepository, ReadCounter],
  exports: [HistoryRepository, ReadCounter],
})
export class HistoryModule {}
