import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';
import { OptionalProduct } from '../common/dto-fields';
import type { Product } from '../config/config';

export class AuthorizeUrlBody {
  @ApiProperty({
    example: 'acme-42',
    description: "the caller's tenant id: 1-128 chars of A-Z a-z 0-9 . _ : -",
  })
  @IsString({ message: 'account must be a string' })
  account: string;

  @OptionalProduct()
  product?: Product;

  @ApiPropertyOptional({
    example: 'https://app.example.com/integrations/rd',
    description:
      'where the browser goes after the callback; must start with an OAUTH_RETURN_URL_ALLOWLIST prefix',
  })
  @IsOptional()
  @IsString({ message: 'returnTo must be a string' })
  @Length(1, 2048, { message: 'returnTo must be 1-2048 characters' })
  returnTo?: string;
}

export class AuthorizeUrlResponse {
  @ApiProperty({
    example:
      'https://accounts.rdstation.com/oauth/authorize?response_type=code&client_id=…&redirect_uri=…&state=…',
  })
  url: string;

  @ApiProperty({
    format: 'date-time',
    description: 'the state in the URL is single-use and expires then (10 minutes)',
  })
  expiresAt: string;
}

/** The query RD sends the browser back with; every field is untrusted. */
export interface CallbackQuery {
  code?: unknown;
  state?: unknown;
  error?: unknown;
  error_description?: unknown;
  /** RFC 9207: the issuer of the answer, checked when RD_<PRODUCT>_ISSUER is set. */
  iss?: unknown;
}

/** POST /connect-links: the same fields as POST /oauth/authorize-url. */
export class ConnectLinkBody extends AuthorizeUrlBody {}

export class ConnectLinkResponse {
  @ApiProperty({
    example: 'https://broker.example.com/connect/<token>',
    description: 'the link to send the customer: `$PUBLIC_URL/connect/<token>`, single use',
  })
  url: string;

  @ApiProperty({
    format: 'date-time',
    description: 'the link stops working then (CONNECT_LINK_TTL)',
  })
  expiresAt: string;
}
