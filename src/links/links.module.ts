import { Module } from '@nestjs/common';
import { ConnectLinks } from './connect-links';
import { ReconnectLinks } from './reconnect-links';

/**
 * The links a customer is sent: reconnect links (minted and removed by ConnectionLifecycle,
 * shown by events and admin routes) and connect links (POST /connect-links); both opened by OAuth.
 */
@Module({ providers: [ReconnectLinks, ConnectLinks], exports: [ReconnectLinks, ConnectLinks] })
export class LinksModule {}
