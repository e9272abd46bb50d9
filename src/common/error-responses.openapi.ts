import type { OpenAPIObject } from '@nestjs/swagger';
import { codesOfStatus, ERROR_CODES, isErrorCode, type ErrorCode } from './error-codes';

type Operation = NonNullable<OpenAPIObject['paths'][string]['get']>;
type Response = Operation['responses'][string] & {
  description?: string;
  content?: Record<string, { schema?: Record<string, unknown>; example?: unknown }>;
};

const ERROR_SCHEMA = '#/components/schemas/ErrorResponse';
const REAUTHORIZATION_SCHEMA = '#/components/schemas/ReauthorizationErrorResponse';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

/** A body of this code as the broker answers it (BrokerErrorFilter), from ERROR_CODES. */
export function errorExample(code: ErrorCode): Record<string, unknown> {
  const { status, message } = ERROR_CODES[code];
  const body: Record<string, unknown> = { statusCode: status, error: code, message };
  if (code === 'reauthorization_required') {
    body.since = '2026-11-30T10:15:00.000Z';
    body.reason = 'RD rejected the refresh token (invalid_grant): token revoked';
  }
  return body;
}

/**
 * The codes a documented error response stands for: those its description names in backticks
 * (`not_connected`) that answer with its status, else every code of that status. A 503 may
 * always also be `service_unavailable`: any route that reads the database answers it while the
 * database is down.
 */
function codesOf(status: number, description: string | undefined): ErrorCode[] {
  const named = [...(description ?? '').matchAll(/`([a-z_]+)`/g)]
    .map((match) => match[1])
    .filter((code): code is ErrorCode => isErrorCode(code) && ERROR_CODES[code].status === status);
  const codes = named.length > 0 ? named : codesOfStatus(status);
  if (status === 503 && !codes.includes('service_unavailable')) codes.push('service_unavailable');
  return [...new Set(codes)];
}

function isBrokerErrorSchema(schema: Record<string, unknown> | undefined): boolean {
  return (
    schema === undefined || schema.$ref === ERROR_SCHEMA || schema.$ref === REAUTHORIZATION_SCHEMA
  );
}

/** The JSON body of an error response: the shared schema narrowed to this status and its codes. */
function jsonErrorContent(status: number, codes: ErrorCode[]) {
  const base = codes.includes('reauthorization_required') ? REAUTHORIZATION_SCHEMA : ERROR_SCHEMA;
  const schema = {
    allOf: [{ $ref: base }],
    type: 'object',
    properties: {
      statusCode: { type: 'integer', enum: [status] },
      error: { type: 'string', enum: codes },
    },
  };
  return codes.length === 1
    ? { schema, example: errorExample(codes[0]) }
    : {
        schema,
        examples: Object.fromEntries(
          codes.map((code) => [code, { summary: code, value: errorExample(code) }]),
        ),
      };
}

/**
 * Gives every error response (4xx, 5xx) of every operation a body schema and examples generated
 * from ERROR_CODES, so Swagger shows each status with a body of its own codes (a 503 never shows
 * a 404 example). JSON errors are the broker's `{statusCode, error, message}`; an HTML page (the
 * browser-facing routes) keeps its media type and gets a string schema; a response documented with
 * a schema of its own (the readiness probe's report) is left as written.
 */
export function documentErrorResponses(document: OpenAPIObject): OpenAPIObject {
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      for (const [key, response] of Object.entries(operation.responses) as [string, Response][]) {
        const status = Number(key);
        if (!(status >= 400 && status <= 599) || '$ref' in response) continue;
        const content = response.content ?? {};
        const json = content['application/json'];
        if (Object.keys(content).length > 0 && !json) {
          for (const media of Object.values(content)) {
            media.schema ??= { type: 'string' };
            media.example ??= `<!doctype html><title>${status}</title><p>${response.description ?? ''}</p>`;
          }
          continue;
        }
        if (json && !isBrokerErrorSchema(json.schema)) continue;
        response.content = {
          'application/json': jsonErrorContent(status, codesOf(status, response.description)),
        };
      }
    }
  }
  return document;
}
