import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { PRODUCTS } from '../config/config';

/** The optional `product` field of requests: validated, documented, the same everywhere. */
export const OptionalProduct = () =>
  applyDecorators(
    ApiPropertyOptional({
      enum: PRODUCTS,
      description: 'crm or marketing; may be left out when only one product is configured',
    }),
    IsOptional(),
    IsIn(PRODUCTS, { message: 'product must be crm or marketing' }),
  );

/** A `product` field that must be given. */
export const RequiredProduct = () =>
  applyDecorators(
    ApiProperty({ enum: PRODUCTS }),
    IsIn(PRODUCTS, { message: 'product must be crm or marketing' }),
  );

const MAX_PAGE = 500;

/** The optional `limit` of a paged admin route: 1-500 items, `defaultLimit` when left out. */
export const PageLimit = (defaultLimit: number) =>
  applyDecorators(
    ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE, default: defaultLimit }),
    IsOptional(),
    Type(() => Number),
    IsInt({ message: 'limit must be an integer' }),
    Min(1, { message: `limit must be between 1 and ${MAX_PAGE}` }),
    Max(MAX_PAGE, { message: `limit must be between 1 and ${MAX_PAGE}` }),
  );

/** The optional `cursor` of a paged admin route: the previous page's `nextCursor`. */
export const PageCursor = (maxLength: number) =>
  applyDecorators(
    ApiPropertyOptional({ description: '`nextCursor` of the previous page' }),
    IsOptional(),
    IsString(),
    Length(1, maxLength),
  );
