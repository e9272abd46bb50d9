import { Module } from '@nestjs/common';
import { ReconnectLinksModule } from '../oauth/reconnect-links.module';
import { EventsDispatcher } from './events.dispatcher';
import { EventsOutbox } from './events.outbox';

@Module({
  imports: [ReconnectLinksModule],
  providers: [EventsOutbox, EventsDispatcher],
  exports: [EventsOutbox, EventsDispatcher],
})
export class EventsModule {}
