import { Module } from '@nestjs/common';
import { ReconnectLinks } from './reconnect-links';

/** Reconnect links: minted by the refresher, shown by events and admin routes, opened by OAuth. */
@Module({ providers: [ReconnectLinks], exports: [ReconnectLinks] })
export class ReconnectLinksModule {}
