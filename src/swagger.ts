import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { documentErrorResponses } from './common/error-responses.openapi';
import { addProxyOperations } from './proxy/proxy.openapi';
import { addTokensOperation, TOKENS_MODELS } from './tokens/tokens.openapi';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('RD Station token broker')
    .setDescription(
      'Hands internal services a valid RD Station access token for their account, refreshing it ' +
        'single-flight across every replica. Refresh tokens never leave the broker.',
    )
    .setVersion('1')
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'opaque API key', // not the JWT that addBearerAuth assumes by default
      description: 'a secret from API_KEYS or ADMIN_API_KEYS',
    })
    .build();
  // /proxy and GET /tokens/:account are fastify routes of their own (src/proxy/proxy.route.ts,
  // src/tokens/tokens.route.ts), unseen by Nest's scanner. Every error response then gets its
  // body and examples from the one table of error codes.
  const scanned = SwaggerModule.createDocument(app, config, { extraModels: TOKENS_MODELS });
  return documentErrorResponses(addProxyOperations(addTokensOperation(scanned)));
}

/** Swagger UI at /docs and the OpenAPI document at /docs-json. */
export function setupSwagger(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
  });
}
