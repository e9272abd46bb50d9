import { Module } from '@nestjs/common';
import { LinksModule } from '../links/links.module';
import { EventsDispatcher } from './events.dispatcher';
import { EventsOutbox } from './events.outbox';

@Module({
  imports: [LinksModule],
  providers: [EventsOutbox, EventsDispatcher],
  exports: [EventsOutbox, EventsDispatcher],
})
export class EventsModule {}
