import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { databaseFailure, errorCode } from '../database/database-outage';
import { LogThrottle } from '../logging/log-throttle';
import type { ErrorCode } from '../common/error-codes';
import { BrokerError } from '../common/errors';

const DATABASE_RETRY_AFTER_SECONDS = 5;
const databaseLogs = new LogThrottle();

/** The code of a framework error (Nest's HttpException, fastify's 4xx) by its status. */
const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'request_too_large',
  503: 'service_unavailable',
};

function httpMessage(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : exception.message;
}

export interface ErrorAnswer {
  status: number;
  body: Record<string, unknown> & { statusCode: number; error: string; message: string };
  /** Seconds, for Retry-After. */
  retryAfter?: number;
}

/**
 * The one place errors become HTTP: `{statusCode, error, message, ...details}` with a stable
 * `error` code. Anything unexpected is logged with the request id and answered as a bare 500,
 * so internals (and whatever secrets they hold) never reach a caller. Used by BrokerErrorFilter
 * and by routes that run outside Nest's filters (plain fastify routes).
 */
export function errorAnswer(exception: unknown, requestId: unknown, logger: Logger): ErrorAnswer {
  if (exception instanceof BrokerError) {
    return {
      status: exception.status,
      body: {
        ...exception.details,
        statusCode: exception.status,
        error: exception.code,
        message: exception.message,
      },
      retryAfter: exception.retryAfter,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    return {
      status,
      body: {
        statusCode: status,
        error: CODE_BY_STATUS[status] ?? 'error',
        message: httpMessage(exception),
      },
    };
  }
  if (isClientError(exception)) {
    // fastify's own errors (malformed JSON, body too large, bad content type) carry a 4xx.
    const status = exception.statusCode;
    return {
      status,
      body: {
        statusCode: status,
        error: CODE_BY_STATUS[status] ?? 'invalid_request',
        message: exception.message,
      },
    };
  }
  const failure = databaseFailure(exception);
  if (failure) {
    // PostgreSQL restarting, failing over, unreachable or read-only: a condition to retry, not
    // a bug; logged once a second per kind, with the count, not once per request.
    const code = errorCode(exception);
    databaseLogs.hit(`${failure}:${code ?? ''}`, (occurrences) =>
      logger.warn(
        { requestId, errorCode: code, failure, occurrences },
        `database ${failure === 'read_only' ? 'read-only (or in recovery)' : 'unavailable'}; answered 503 (${occurrences} since the last such line)`,
      ),
    );
    return {
      status: 503,
      body: {
        statusCode: 503,
        error: 'service_unavailable',
        message:
          failure === 'read_only'
            ? 'the database is read-only (or in recovery) and this needs a write; retry shortly'
            : 'the database is unavailable; retry shortly',
      },
      retryAfter: DATABASE_RETRY_AFTER_SECONDS,
    };
  }
  logger.error({ err: exception, requestId }, 'unhandled error');
  return {
    status: 500,
    body: {
      statusCode: 500,
      error: 'internal_error',
      message: `internal error; quote request id ${String(requestId)}`,
    },
  };
}

const errorsLogger = new Logger('Errors');

/**
 * An error's answer on `reply`, through `errorAnswer`: its status and body, Retry-After when it
 * has one, never cached. Every Nest route's (BrokerErrorFilter) and the plain fastify routes'
 * that answer like them (GET /tokens/:account, tokens.route.ts).
 */
export function answerError(
  exception: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const { status, body, retryAfter } = errorAnswer(exception, request.id, errorsLogger);
  if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
  void reply.status(status).header('Cache-Control', 'no-store').send(body);
}

/** Every error of a Nest route, through `answerError`. */
@Catch()
export class BrokerErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    answerError(exception, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
  }
}

function isClientError(error: unknown): error is { statusCode: number; message: string } {
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500;
}

/**
 * Fastify's router refuses a URL with broken percent-encoding, or a path parameter longer than
 * `maxParamLength`, before any Nest code runs. Answer those in the same shape as every other
 * error (and without echoing the URL, which may carry a code or a state).
 */
export function answerRouterError(
  error: { code?: string },
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'a path parameter is too long (an account is 1-128 characters)'
      : 'the URL is malformed (invalid percent-encoding)';
  void reply
    .status(400)
    .header('Cache-Control', 'no-store')
    .send({ statusCode: 400, error: 'invalid_request', message });
}

/**
 * Node's HTTP parser rejects a request before fastify sees it (headers or request line over the
 * size limit, a request that never finishes arriving, malformed HTTP). Fastify's default answer
 * has no stable `error` code; this one does. The connection is closed either way.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request line or headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request did not arrive in time']
        : [400, 'malformed HTTP request'];
  const body = JSON.stringify({ statusCode: status, error: CODE_BY_STATUS[status], message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
