import { ForbiddenException, Logger, type ExecutionContext } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { assertScope } from '../auth/key-scope';
import { errorAnswer } from '../common/error.filter';
import { BrokerError, InvalidRequestError } from '../common/errors';
import { assertAccount, resolveProduct } from '../common/validation';
import { APP_CONFIG, type AppConfig, type Product } from '../config/config';
import type { AuthenticatedRequest } from '../logging/logger';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { parseProxyTarget, PROXY_PREFIX } from './proxy-target';
import { CallerGoneError, ProxyService, statusClass, type ProxyRequest } from './proxy.service';

/** Request bodies are buffered (a retry after RD's 401 sends them again) up to this size. */
export const PROXY_BODY_LIMIT = 1024 * 1024;
export const PROXY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * `/proxy/*` as a plain fastify route in a scope of its own, not a Nest controller: its bodies
 * must reach RD byte for byte whatever their content type (the scope's one parser buffers them
 * raw, without touching the JSON parsing of every other route), and RD's answer goes back whole
 * when small or streamed as it arrives (ProxyService). It authenticates with the same ApiKeyGuard
 * as GET /tokens and answers errors through the same `errorAnswer`, adding `X-Broker-Error` so
 * callers tell them from RD's.
 */
export function registerProxyRoute(app: NestFastifyApplication): void {
  const proxy = app.get(ProxyService);
  const guard = app.get(ApiKeyGuard);
  const config = app.get<AppConfig>(APP_CONFIG);
  const metrics = app.get(BrokerMetrics);
  const logger = new Logger('Proxy');

  const fail = (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof CallerGoneError || reply.raw.destroyed) return reply;
    const { status, body, retryAfter } = errorAnswer(error, request.id, logger);
    const product = productLabel(request);
    metrics.proxyRequests.inc({
      product,
      method: request.method,
      rd_status: 'none',
      outcome: body.error,
    });
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    return reply
      .code(status)
      .header('X-Broker-Error', body.error)
      .header('Cache-Control', 'no-store')
      .send(body);
  };

  async function handle(request: FastifyRequest, reply: FastifyReply) {
    // The whole route, as Nest would run the guard: a failed key is counted by the same limiter.
    if (!(await guard.canActivate(httpContext(request, reply, handle))))
      throw new ForbiddenException('this API key may not use the proxy');
    const target = parseProxyTarget(request.raw.url ?? '');
    const key = {
      account: assertAccount(header(request, 'x-account'), 'X-Account'),
      product: resolveProduct(config, header(request, 'x-product'), 'X-Product'),
    };
    (request as ProxiedRequest).proxyProduct = key.product;
    const caller = request.raw as AuthenticatedRequest;
    assertScope(caller, key, 'proxy');
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    const call: ProxyRequest = {
      key,
      caller: caller.apiKeyName!,
      method: request.method as ProxyRequest['method'],
      target,
      headers: request.headers,
      body: Buffer.isBuffer(request.body) ? request.body : undefined,
      signal: gone.signal,
    };
    const answer = await proxy.forward(call);
    metrics.proxyRequests.inc({
      product: key.product,
      method: request.method,
      rd_status: statusClass(answer.status),
      outcome: answer.retried ? 'retried' : 'proxied',
    });
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  }

  void app
    .getHttpAdapter()
    .getInstance()
    .register(
      async (scope: FastifyInstance) => {
        scope.removeAllContentTypeParsers();
        scope.addContentTypeParser(
          '*',
          { parseAs: 'buffer', bodyLimit: PROXY_BODY_LIMIT },
          (_request, body, done) => done(null, body),
        );
        scope.setErrorHandler((error, request, reply) => fail(error, request, reply));
        // Under /proxy, what no route matches is a method the proxy does not forward (HEAD,
        // OPTIONS...) or no RD path at all: the broker's refusal, with its header.
        scope.setNotFoundHandler((request, reply) => {
          const known = (PROXY_METHODS as readonly string[]).includes(request.method);
          if (!known) reply.header('Allow', PROXY_METHODS.join(', '));
          return fail(
            known
              ? new InvalidRequestError('the RD path must follow /proxy/')
              : new MethodNotAllowedError(),
            request,
            reply,
          );
        });
        scope.route({
          method: [...PROXY_METHODS],
          url: '/*',
          exposeHeadRoute: false,
          bodyLimit: PROXY_BODY_LIMIT,
          handler: (request, reply) => handle(request, reply).catch((e) => fail(e, request, reply)),
        });
      },
      { prefix: PROXY_PREFIX },
    );
}

class MethodNotAllowedError extends BrokerError {
  readonly status = 405;
  readonly code = 'method_not_allowed';
  constructor() {
    super(`the proxy forwards ${PROXY_METHODS.join(', ')} only`);
  }
}

interface ProxiedRequest extends FastifyRequest {
  proxyProduct?: Product;
}

function productLabel(request: FastifyRequest): string {
  return (request as ProxiedRequest).proxyProduct ?? 'unknown';
}

/** One value of a header; a repeated one is joined, and then fails validation as it should. */
function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** What a guard reads of Nest's ExecutionContext, for a route outside Nest's router. */
function httpContext(
  request: FastifyRequest,
  reply: FastifyReply,
  handler: (...args: never[]) => unknown,
): ExecutionContext {
  const args = [request, reply];
  const unsupported = () => {
    throw new Error('the proxy route is HTTP only');
  };
  return {
    getArgs: () => args,
    getArgByIndex: (index: number) => args[index],
    getType: () => 'http',
    getClass: () => ProxyService,
    getHandler: () => handler,
    switchToHttp: () => ({
      getRequest: () => request,
      getResponse: () => reply,
      getNext: () => undefined,
    }),
    switchToRpc: unsupported,
    switchToWs: unsupported,
  } as unknown as ExecutionContext;
}
