import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { RequireAdminKey } from '../auth/api-key.guard';
import { ErrorResponse } from '../common/error.dto';
import { pageOf } from '../common/paging';
import { assertAccount, resolveProduct } from '../common/validation';
import type { ConfigType } from '@nestjs/config';
import { productsConfig } from '../config/slices';
import {
  decodeHistoryCursor,
  encodeHistoryCursor,
  HistoryPage,
  HistoryQuery,
  type HistoryItem,
} from './history.dto';
import { HistoryRepository, type HistoryRow } from './history.repository';

@ApiTags('connections (admin)')
@Controller('connections')
@RequireAdminKey()
export class HistoryController {
  constructor(
    @Inject(productsConfig.KEY) private readonly products: ConfigType<typeof productsConfig>,
    private readonly history: HistoryRepository,
  ) {}

  @Get(':account/history')
  @ApiOperation({
    summary: "One connection's history, newest first",
    description:
      'Connects, refreshes (and what triggered them), failures with their error, condemnations, recoveries, ' +
      'deletes, and token reads aggregated per calling key and hour. Kept HISTORY_RETENTION_DAYS; kept ' +
      'after the connection is deleted. Reads are written every READ_FLUSH_SECONDS, so the last seconds may be missing.',
  })
  @ApiParam({
    name: 'account',
    description: "the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : -",
  })
  @ApiOkResponse({ type: HistoryPage })
  @ApiBadRequestResponse({
    type: ErrorResponse,
    description: '`invalid_request`: bad account, product, limit or cursor',
  })
  async page(
    @Param('account') account: string,
    @Query() query: HistoryQuery,
  ): Promise<HistoryPage> {
    const key = {
      account: assertAccount(account),
      product: resolveProduct(this.products.enabled, query.product),
    };
    const limit = query.limit ?? 50;
    const before = query.cursor === undefined ? undefined : decodeHistoryCursor(query.cursor);
    const rows = await this.history.page(key, limit + 1, before);
    const page = pageOf(rows, limit, encodeHistoryCursor);
    return { items: page.items.map(toItem), nextCursor: page.nextCursor };
  }
}

function toItem(row: HistoryRow): HistoryItem {
  const at = new Date(row.at).toISOString();
  if (row.type === 'connection.read' && row.caller !== null) {
    return {
      at,
      type: row.type,
      detail: {
        caller: row.caller,
        count: Number(row.count),
        firstAt: new Date(row.first_at!).toISOString(),
        lastAt: new Date(row.last_at!).toISOString(),
      },
    };
  }
  return { at, type: row.type, detail: row.detail ?? {} };
}
