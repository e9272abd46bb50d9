import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { documentErrorResponses } from './common/error-responses.openapi';
import { addProxyOperations } from './proxy/proxy.openapi';

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
  // /proxy is a fastify route of its own (src/proxy/proxy.route.ts), unseen by Nest's scanner.
  // Every error response then gets its body and examples from the one table of error codes.
  return documentErrorResponses(addProxyOperations(SwaggerModule.createDocument(app, config)));
}

/** Swagger UI at /docs and the OpenAPI document at /docs-json. */
export function setupSwagger(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
  });
}
