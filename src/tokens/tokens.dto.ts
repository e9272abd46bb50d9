import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { OptionalProduct } from '../common/dto-fields';
import type { Product } from '../config/config';

export class TokenQuery {
  @OptionalProduct()
  product?: Product;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 3600,
    default: 60,
    description: 'seconds the token must still be valid',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'minValidity must be an integer number of seconds' })
  @Min(0, { message: 'minValidity must be between 0 and 3600' })
  @Max(3600, { message: 'minValidity must be between 0 and 3600' })
  minValidity?: number;
}

export class TokenResponse {
  @ApiProperty({ example: 'acme-42' })
  account: string;

  @ApiProperty({ enum: ['crm', 'marketing'], example: 'crm' })
  product: Product;

  @ApiProperty({
    example: 'example-access-token-not-real',
    description: 'send as `Authorization: Bearer` to RD',
  })
  accessToken: string;

  @ApiProperty({ enum: ['Bearer'], example: 'Bearer' })
  tokenType: 'Bearer';

  @ApiProperty({ format: 'date-time', example: '2026-11-26T12:00:00.000Z' })
  expiresAt: string;

  @ApiProperty({
    example: 7140,
    description: 'seconds left; cache the token until expiresAt - 60 s',
  })
  expiresIn: number;
}

export class ErrorResponse {
  @ApiProperty({ example: 404 })
  statusCode: number;

  @ApiProperty({ example: 'not_connected', description: 'stable machine code' })
  error: string;

  @ApiProperty({ example: 'no crm connection for account "acme-42"' })
  message: string;
}

export class ReauthorizationErrorResponse extends ErrorResponse {
  @ApiProperty({ format: 'date-time', nullable: true, description: 'when RD rejected the grant' })
  since: string | null;

  @ApiProperty({
    nullable: true,
    example: 'RD rejected the refresh token (invalid_grant): token revoked',
  })
  reason: string | null;
}
