import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { AppModule } from './app.module';
import {
  answerClientError,
  answerError,
  answerRouterError,
  BrokerErrorFilter,
} from './http/error.filter';
import { BrokerMetrics } from './metrics/broker-metrics';
import type { AppConfig } from './config/config';
import { createLogger, NestPinoLogger, RequestLog, type RequestLogRoutes } from './logging/logger';
import { requestId } from './logging/request-id';
import { useFormBodyParser, useJsonBodyParser } from './http/json-body';
import { lingerOnEarlyClose } from './http/lingering-close';
import { capConnectionsPerAddress, serverOptions, useClientAddress } from './http/server-limits';
import { flagProxyRouterError, PROXY_PATHS, registerProxyRoute } from './proxy/proxy.route';
import { setupSwagger } from './swagger';
import { registerTokensRoute } from './tokens/tokens.route';
import { traceRequests } from './tracing/server-spans';

export type ResolvedConfig = AppConfig & { database: { url: string } };

const BODY_LIMIT = 64 * 1024;

/** What the access log is told of the routes (logging/ knows none). */
const REQUEST_LOG_ROUTES: RequestLogRoutes = {
  // The hot paths, counted by the metrics: a success is a debug line.
  hot: ['/tokens/', '/proxy/'],
  // A proxied call's path and query are RD's and may carry a customer's data.
  foreign: PROXY_PATHS,
};

/** Builds the broker (not yet listening): used by main.ts, the tests and the benchmark alike. */
export async function createApp(config: ResolvedConfig): Promise<NestFastifyApplication> {
  const logger = createLogger(config);
  const requestLog = new RequestLog(REQUEST_LOG_ROUTES);
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    logController: requestLog,
    // The request line carries reqId itself (RequestLog); a child logger per request would only cost time.
    childLoggerFactory: (parent: FastifyBaseLogger) => parent,
    // Fastify 404s a path parameter longer than this before any route runs; accounts are ≤ 128
    // chars, and longer ones must reach validation to get the contract's 400.
    routerOptions: { maxParamLength: 1024 },
    bodyLimit: BODY_LIMIT,
    genReqId: requestId,
    // Timeouts, and X-Forwarded-For believed only from TRUSTED_PROXIES: without a listed proxy,
    // no client can choose the address its rate limits count against.
    ...serverOptions(config.http),
    // Refusals that happen before Nest runs get the same `{statusCode, error, message}` shape.
    frameworkErrors: (error: { code?: string }, request: FastifyRequest, reply: FastifyReply) => {
      flagProxyRouterError(request, reply);
      answerRouterError(error, request, reply);
    },
    clientErrorHandler: answerClientError,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.register(config),
    adapter,
    { logger: new NestPinoLogger(logger) },
  );
  capConnectionsPerAddress(app.getHttpServer(), config.http);
  const fastify = app.getHttpAdapter().getInstance();
  useClientAddress(fastify, config.http);
  lingerOnEarlyClose(fastify);
  useJsonBodyParser(app, BODY_LIMIT);
  useFormBodyParser(app);
  app.useGlobalFilters(new BrokerErrorFilter());
  app.useGlobalPipes(
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
  );
  if (config.tracing.otlpEndpoint) traceRequests(app);
  observeRequestDurations(app);
  addAnswerHeaders(app);
  registerTokensRoute(app, answerError);
  registerProxyRoute(app, requestLog);
  setupSwagger(app);
  return app;
}

/** One histogram sample per answered request, labelled by route pattern (not raw path). */
function observeRequestDurations(app: NestFastifyApplication): void {
  const metrics = app.get(BrokerMetrics);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', (request, reply, done) => {
      metrics
        .httpDurationOf(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode)
        .observe(reply.elapsedTime / 1000);
      done();
    });
}

/**
 * The headers every answer carries, set in one `onSend` hook (one hook per request, not one per
 * header; `onSend` runs for every answer, whatever sent it: a route, an error, a hook's refusal).
 *
 * - X-Request-Id: the id its log lines carry (the caller's X-Request-Id when well-formed, else a
 *   fresh one: logging/request-id.ts), so a caller can quote it.
 * - X-Content-Type-Options and Cache-Control: every API answer may carry a token, a connection's
 *   state or an error about one: never cache it, never sniff its type. The Swagger UI's static
 *   assets are the only cacheable answers; the callback pages set their own, stricter headers.
 */
function addAnswerHeaders(app: NestFastifyApplication): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onSend', (request, reply, payload, done) => {
      reply.header('X-Request-Id', request.id);
      if (!reply.hasHeader('x-content-type-options'))
        reply.header('X-Content-Type-Options', 'nosniff');
      if (!reply.hasHeader('cache-control') && !request.url.startsWith('/docs'))
        reply.header('Cache-Control', 'no-store');
      done(null, payload);
    });
}
