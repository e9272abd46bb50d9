import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { BrokerMetrics } from './broker-metrics';
import { ConnectionGauges } from './connection-gauges';

@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly gauges: ConnectionGauges,
  ) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics (expose on the internal network only)' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format' })
  async scrape(): Promise<string> {
    await this.gauges.update().catch(() => undefined); // a scrape must work while the database is down
    return this.metrics.registry.metrics();
  }
}
