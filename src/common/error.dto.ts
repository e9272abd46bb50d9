import { ApiProperty } from '@nestjs/swagger';
import { ERROR_CODES, type ErrorCode } from './error-codes';

/**
 * The JSON of every error answer (BrokerErrorFilter), as Swagger documents it. Each error
 * response narrows it to its status and codes, with examples (error-responses.openapi.ts).
 */
export class ErrorResponse {
  @ApiProperty({ description: 'the HTTP status, repeated' })
  statusCode: number;

  @ApiProperty({
    enum: Object.keys(ERROR_CODES),
    enumName: 'ErrorCode',
    description: 'stable machine code; each has one HTTP status',
  })
  error: ErrorCode;

  @ApiProperty({ description: 'what went wrong, for a person (never a token or secret)' })
  message: string;
}

export class ReauthorizationErrorResponse extends ErrorResponse {
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'when RD rejected the grant',
  })
  since: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'RD rejected the refresh token (invalid_grant): token revoked',
  })
  reason: string | null;
}
