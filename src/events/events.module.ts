import { Module } from '@nestjs/common';
import { EventsDispatcher } from './events.dispatcher';
import { EventsOutbox } from './events.outbox';

@Module({ providers: [EventsOutbox, EventsDispatcher], exports: [EventsOutbox, EventsDispatcher] })
export class EventsModule {}
