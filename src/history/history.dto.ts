import { ApiProperty } from '@nestjs/swagger';
import { OptionalProduct, PageCursor, PageLimit } from '../common/dto-fields';
import { decodeCursor, encodeCursor } from '../common/paging';
import type { Product } from '../config/config';
import type { HistoryPosition } from './history.repository';

export class HistoryQuery {
  @OptionalProduct()
  product?: Product;

  @PageLimit(50)
  limit?: number;

  @PageCursor(200)
  cursor?: string;
}

export class HistoryItem {
  @ApiProperty({ format: 'date-time', description: 'when it happened; for reads, the hour' })
  at: string;

  @ApiProperty({
    example: 'connection.refreshed',
    description:
      '`connection.created` (detail: via consent or import, replaced), `connection.refreshed` (trigger: ' +
      'scheduled, on_read or forced), `connection.refresh_failed` (error, retryAt), ' +
      '`connection.reauthorization_required` (reason), `connection.recovered`, `connection.deleted` ' +
      '(revokedAtRd), `connection.read` (caller, count, firstAt, lastAt: the token reads of one ' +
      'API key in that hour), and any other event the broker records',
  })
  type: string;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { trigger: 'scheduled' } })
  detail: Record<string, unknown>;
}

export class HistoryPage {
  @ApiProperty({ type: [HistoryItem] })
  items: HistoryItem[];

  @ApiProperty({
    nullable: true,
    type: String,
    description: 'pass as `cursor` for the next (older) page; null on the last page',
  })
  nextCursor: string | null;
}

export function encodeHistoryCursor(position: HistoryPosition): string {
  return encodeCursor([position.us, position.tie]);
}

/** Only a cursor this broker handed out is accepted; anything else is a 400, never a query. */
export function decodeHistoryCursor(cursor: string): HistoryPosition {
  return decodeCursor(cursor, (us, tie) =>
    typeof us === 'string' &&
    /^-?\d{1,18}$/.test(us) &&
    typeof tie === 'string' &&
    /^(e\d{19}|r[A-Za-z0-9._:-]{1,64})$/.test(tie)
      ? { us, tie }
      : undefined,
  );
}
