import { Module } from '@nestjs/common';
import { ConnectionsRepository } from './connections.repository';

/** The `connections` table, for every module that reads or writes a grant. */
@Module({ providers: [ConnectionsRepository], exports: [ConnectionsRepository] })
export class ConnectionsStoreModule {}
