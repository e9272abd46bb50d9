import { Controller, Get, Inject, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { ConfigType } from '@nestjs/config';
import { tokensConfig } from '../config/slices';
import { DatabaseProbe } from './database-state';

@ApiTags('health')
@Controller('health')
export class HealthController {
  private readonly cacheEnabled: boolean;

  constructor(
    private readonly database: DatabaseProbe,
    @Inject(tokensConfig.KEY) config: ConfigType<typeof tokensConfig>,
  ) {
    this.cacheEnabled = config.cacheMax > 0;
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process answers' })
  @ApiOkResponse({ description: 'alive', schema: { example: { status: 'ok' } } })
  live() {
    return { status: 'ok' };
  }

  /**
   * Readiness gates traffic only where this replica can serve nothing: while the database is
   * down, read-only or in recovery, a replica with a token cache still serves every cached token
   * with the validity asked for, so it stays ready (200, `status: "degraded"`) and the body names
   * the database's state; a database outage must not take every replica out of the load
   * balancer at once. Without a cache (TOKEN_CACHE_MAX=0) it answers 503.
   */
  @Get('ready')
  @ApiOperation({
    summary:
      'Readiness: 200 while this replica can serve (the body names the database state: up, read_only, in_recovery, down); 503 only when the database is not up and there is no token cache',
  })
  @ApiOkResponse({
    description: 'ready (or degraded: the database is not up, cached tokens are served)',
    schema: {
      example: {
        status: 'ok',
        info: { database: { status: 'up', state: 'up' } },
        error: {},
        details: { database: { status: 'up', state: 'up' } },
      },
    },
  })
  @ApiServiceUnavailableResponse({
    description: 'the database is not up and there is no token cache to serve from',
    schema: {
      example: {
        status: 'error',
        info: {},
        error: { database: { status: 'down', state: 'down', message: 'connect ECONNREFUSED' } },
        details: {
          database: { status: 'down', state: 'down', message: 'connect ECONNREFUSED' },
          tokenCache: { status: 'disabled' },
        },
      },
    },
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    const { state, message } = await this.database.state(2_000);
    const database = { status: state === 'up' ? 'up' : 'down', state, message };
    if (state === 'up')
      return { status: 'ok', info: { database }, error: {}, details: { database } };
    void reply.status(this.cacheEnabled ? 200 : 503);
    return {
      status: this.cacheEnabled ? 'degraded' : 'error',
      info: {},
      error: { database },
      details: { database, tokenCache: { status: this.cacheEnabled ? 'up' : 'disabled' } },
    };
  }
}
