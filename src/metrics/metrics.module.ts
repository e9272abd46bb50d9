import { Global, Module } from '@nestjs/common';
import { BrokerMetrics } from './broker-metrics';
import { ConnectionGauges } from './connection-gauges';
import { MetricsController } from './metrics.controller';

@Global()
@Module({
  controllers: [MetricsController],
  providers: [BrokerMetrics, ConnectionGauges],
  exports: [BrokerMetrics],
})
export class MetricsModule {}
