import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsDateString,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  ValidateIf,
} from 'class-validator';
import { OptionalProduct, PageCursor, PageLimit, RequiredProduct } from '../common/dto-fields';
import { PRODUCTS, type Product } from '../config/config';
import type { Connection, ConnectionStatus } from '../database/connection.entity';

const STATUSES: ConnectionStatus[] = ['active', 'refresh_failing', 'reauthorization_required'];

export class ProductQuery {
  @OptionalProduct()
  product?: Product;
}

export class RefreshQuery {
  @OptionalProduct()
  product?: Product;

  @ApiPropertyOptional({
    enum: ['true', 'false'],
    default: 'false',
    description:
      '`true` also tries a `reauthorization_required` grant once more with its stored refresh token; ' +
      'if RD accepts it the connection is active again and `connection.recovered` fires',
  })
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'retryRejected must be true or false' })
  retryRejected?: 'true' | 'false';
}

export class RequiredProductQuery {
  @RequiredProduct()
  product: Product;
}

export class RetryRejectedBody {
  @RequiredProduct()
  product: Product;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'rejected at or after this time (default: 24 hours ago)',
  })
  @IsOptional()
  @IsDateString({ strict: true }, { message: 'since must be an ISO 8601 date-time' })
  since?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'rejected at or before this time (default: now)',
  })
  @IsOptional()
  @IsDateString({ strict: true }, { message: 'until must be an ISO 8601 date-time' })
  until?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 500 })
  @IsOptional()
  @IsInt({ message: 'limit must be an integer' })
  @Min(1, { message: 'limit must be between 1 and 1000' })
  @Max(1000, { message: 'limit must be between 1 and 1000' })
  limit?: number;
}

export class RetryRejectedResult {
  @ApiProperty({ description: 'condemned grants tried once more', example: 3 })
  tried: number;

  @ApiProperty({ type: [String], description: 'accounts RD accepted again: active now' })
  recovered: string[];

  @ApiProperty({
    type: [String],
    description: 'accounts RD rejected again: still reauthorization_required',
  })
  stillRejected: string[];

  @ApiProperty({
    type: [String],
    description:
      'accounts RD did not answer clearly (outage, unknown shape): unchanged, try again later',
  })
  failed: string[];
}

export class ConfirmHeldResult {
  @ApiProperty({ enum: PRODUCTS })
  product: Product;

  @ApiProperty({ type: [String], description: 'held connections now reauthorization_required' })
  confirmed: string[];
}

export class ListConnectionsQuery {
  @OptionalProduct()
  product?: Product;

  @ApiPropertyOptional({ enum: STATUSES })
  @IsOptional()
  @IsIn(STATUSES, { message: `status must be one of ${STATUSES.join(', ')}` })
  status?: ConnectionStatus;

  @PageLimit(100)
  limit?: number;

  @PageCursor(400)
  cursor?: string;
}

export class ImportConnectionBody {
  @OptionalProduct()
  product?: Product;

  @ApiProperty({
    example: 'example-refresh-token-not-real',
    description: 'the grant to take over; write-only',
  })
  @IsString({ message: 'refreshToken must be a string' })
  @Length(1, 4096, { message: 'refreshToken must be 1-4096 characters' })
  @Matches(/^[\x21-\x7e]+$/, { message: 'refreshToken must be printable ASCII without spaces' })
  refreshToken: string;

  @ApiPropertyOptional({
    example: 'example-access-token-not-real',
    description: 'with expiresAt, skips the proving refresh',
  })
  @IsOptional()
  @IsString({ message: 'accessToken must be a string' })
  @Length(1, 4096, { message: 'accessToken must be 1-4096 characters' })
  @Matches(/^[\x21-\x7e]+$/, { message: 'accessToken must be printable ASCII without spaces' })
  accessToken?: string;

  @ApiPropertyOptional({ format: 'date-time', example: '2026-11-26T12:00:00.000Z' })
  @IsOptional()
  @IsDateString({ strict: true }, { message: 'expiresAt must be an ISO 8601 date-time' })
  expiresAt?: string;
}

/** The highest per-connection budget, as RD_RATE_LIMIT_PER_MINUTE's (and the column's CHECK). */
export const MAX_RATE_LIMIT_PER_MINUTE = 100_000;

export class RateLimitBody {
  @ApiProperty({
    type: 'integer',
    nullable: true,
    minimum: 1,
    maximum: MAX_RATE_LIMIT_PER_MINUTE,
    example: 500,
    description:
      "RD API calls through `/proxy` per minute for this connection, shared by every replica (RD's limit depends on the customer's plan, e.g. 500/min on Marketing Advanced); `null` returns to RD_RATE_LIMIT_PER_MINUTE",
  })
  // Only null skips the checks: a missing field is a 400 like any other wrong value.
  @ValidateIf((body: RateLimitBody) => body.rateLimitPerMinute !== null)
  @IsInt({ message: 'rateLimitPerMinute must be an integer or null' })
  @Min(1, { message: `rateLimitPerMinute must be between 1 and ${MAX_RATE_LIMIT_PER_MINUTE}` })
  @Max(MAX_RATE_LIMIT_PER_MINUTE, {
    message: `rateLimitPerMinute must be between 1 and ${MAX_RATE_LIMIT_PER_MINUTE}`,
  })
  rateLimitPerMinute: number | null;
}

export class ConnectionView {
  @ApiProperty({ example: 'acme-42' })
  account: string;

  @ApiProperty({ enum: PRODUCTS })
  product: Product;

  @ApiProperty({ enum: STATUSES })
  status: ConnectionStatus;

  @ApiProperty({
    nullable: true,
    example: 'Acme Marketing',
    description: 'RD account name (Marketing)',
  })
  label: string | null;

  @ApiProperty({ format: 'date-time' })
  expiresAt: string;

  @ApiProperty({ format: 'date-time', nullable: true })
  lastRefreshedAt: string | null;

  @ApiProperty({ format: 'date-time', nullable: true })
  nextRefreshAt: string | null;

  @ApiProperty({ nullable: true, example: 'RD refresh failed (http_503): Service Unavailable' })
  lastError: string | null;

  @ApiProperty({ format: 'date-time', nullable: true })
  lastErrorAt: string | null;

  @ApiProperty({
    format: 'date-time',
    nullable: true,
    description:
      'set while RD rejected this grant but the blast-radius guard held the rejection (status refresh_failing, grant kept)',
  })
  heldSince: string | null;

  @ApiProperty({
    type: 'integer',
    nullable: true,
    example: null,
    description:
      "this connection's `/proxy` budget per minute (PATCH /connections/:account); null = RD_RATE_LIMIT_PER_MINUTE",
  })
  rateLimitPerMinute: number | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt: string;

  static of(connection: Connection): ConnectionView {
    const iso = (date: Date | null) => date?.toISOString() ?? null;
    return {
      account: connection.account,
      product: connection.product,
      status: connection.status,
      label: connection.label,
      expiresAt: connection.expiresAt.toISOString(),
      lastRefreshedAt: iso(connection.lastRefreshedAt),
      nextRefreshAt: iso(connection.nextRefreshAt),
      lastError: connection.lastError,
      lastErrorAt: iso(connection.lastErrorAt),
      heldSince: iso(connection.heldAt),
      rateLimitPerMinute: connection.rateLimitPerMinute,
      createdAt: connection.createdAt.toISOString(),
      updatedAt: connection.updatedAt.toISOString(),
    };
  }
}

export class AccountConnectionView extends ConnectionView {
  @ApiProperty({
    nullable: true,
    type: String,
    example: 'https://broker.example.com/oauth/reconnect/example-link-token-not-real',
    description:
      'for a `reauthorization_required` connection, a link to send to the customer: opening it starts a ' +
      'fresh consent for this account and product. Single use, valid RECONNECT_LINK_TTL; null otherwise',
  })
  reconnectUrl: string | null;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  reconnectUrlExpiresAt: string | null;
}

/** The answer of an import: the connection, and what taking the grant over did at RD. */
export class ImportedConnectionView extends ConnectionView {
  @ApiProperty({
    description:
      'true when the grant was proven by a refresh at RD (no access token valid for more than a minute came with it); false when it was taken as given, without calling RD',
  })
  refreshed: boolean;

  @ApiProperty({
    description:
      "true when that refresh made RD issue a new refresh token (RD CRM rotates it on every refresh): the copy the system it came from still holds is dead from now on. Import with a still-valid access token and expiresAt to take a grant over without rotating it (README, 'Migrating connections from another system')",
  })
  rotated: boolean;
}

export class AccountConnections {
  @ApiProperty({ example: 'acme-42' })
  account: string;

  @ApiProperty({ type: [AccountConnectionView] })
  connections: AccountConnectionView[];
}

export class ConnectionPage {
  @ApiProperty({ type: [ConnectionView] })
  items: ConnectionView[];

  @ApiProperty({
    nullable: true,
    description: 'pass as `cursor` for the next page; null on the last page',
  })
  nextCursor: string | null;
}
