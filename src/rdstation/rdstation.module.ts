import { Module } from '@nestjs/common';
import { RdStationClient } from './rdstation.client';

/** The RD Station OAuth client; its rdstationConfig slice comes from the global ConfigModule. */
@Module({ providers: [RdStationClient], exports: [RdStationClient] })
export class RdStationModule {}
