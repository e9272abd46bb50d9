import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { configuredKeys, RequireAdminKey } from '../auth/api-key.guard';
import type { ConfigType } from '@nestjs/config';
import { authConfig } from '../config/slices';
import { HistoryRepository } from './history.repository';
import { ReadCounter } from './read-counter';

export class KeyView {
  @ApiProperty({
    example: 'billing',
    description: 'the name before `:` in API_KEYS / ADMIN_API_KEYS',
  })
  name: string;

  @ApiProperty({ description: 'an ADMIN_API_KEYS key' })
  admin: boolean;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'crm:acme-*@read,proxy',
    description:
      'its API_KEY_SCOPES rule as written (actions after `@`, shown only when not all three); null: every account and action',
  })
  scope: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'its last token read or proxied call in the read audit (kept HISTORY_RETENTION_DAYS); null: none',
  })
  lastUsedAt: string | null;

  @ApiProperty({
    example: 1200,
    description:
      'its reads in the last 24 hours, counted by the hour (an hour that ended within them counts whole)',
  })
  reads24h: number;
}

@ApiTags('keys (admin)')
@Controller('keys')
@RequireAdminKey()
export class KeysController {
  constructor(
    @Inject(authConfig.KEY) private readonly keys: ConfigType<typeof authConfig>,
    private readonly history: HistoryRepository,
    private readonly reads: ReadCounter,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'Every configured key and when it was last used (never a secret)',
    description:
      'Each key of API_KEYS and ADMIN_API_KEYS with its scope and its use from the read audit (the reads shown by ' +
      'GET /connections/:account/history), to find unused keys before rotating or removing them. This replica’s ' +
      'reads are counted up to the moment of the call; other replicas’ up to READ_FLUSH_SECONDS ago.',
  })
  @ApiOkResponse({ type: [KeyView] })
  async list(): Promise<KeyView[]> {
    const keys = configuredKeys(this.keys);
    await this.reads.flush();
    const usage = await this.history.keyUsage(keys.map((key) => key.name));
    return keys.map((key, index) => ({
      ...key,
      lastUsedAt: usage[index].last_used_at
        ? new Date(usage[index].last_used_at).toISOString()
        : null,
      reads24h: Number(usage[index].reads24h),
    }));
  }
}
