import { ApiProperty } from '@nestjs/swagger';

/** The JSON of every error answer (BrokerErrorFilter), as Swagger documents it. */
export class ErrorResponse {
  @ApiProperty({ example: 404 })
  statusCode: number;

  @ApiProperty({ example: 'not_connected', description: 'stable machine code' })
  error: string;

  @ApiProperty({ example: 'no crm connection for account "acme-42"' })
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
