import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
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
