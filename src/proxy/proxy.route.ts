import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyAuthenticator } from '../auth/api-key.authenticator';
import { assertScope } from '../auth/key-scope';
import { errorAnswer } from '../http/error.filter';
import { bodyPending } from '../http/lingering-close';
import { BrokerError, InvalidRequestError } from '../common/errors';
import type { ConnectionKey } from '../common/connection-key';
import { assertAccount, resolveProduct } from '../common/validation';
import type { ConfigType } from '@nestjs/config';
import type { Product } from '../config/config';
import { productsConfig } from '../config/slices';
import type { AuthenticatedRequest, RequestLog } from '../logging/logger';
import { BrokerMetrics } from '../metrics/broker-metrics';
import { labelsOf4 } from './proxy-labels';
import { parseProxyTarget, PROXY_PREFIX, type ProxyTarget } from './proxy-target';
import {
  CallerGoneError,
  ProxyService,
  statusClass,
  StreamCutError,
  type ProxyRequest,
} from './proxy.service';

/** Request bodies are buffered (a retry after RD's 401 sends them again) up to this size. */
export const PROXY_BODY_LIMIT = 1024 * 1024;
export const PROXY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** The proxy's paths, any case: what the access log must log as the route only (app.ts). */
export const PROXY_PATHS = /^\/proxy(?:\/|$)/i;

/**
 * A request the router refused before any route ran (app.ts's frameworkErrors): one meant for
 * the proxy carries `X-Broker-Error` like every refusal of the proxy's, so callers tell it from
 * RD's answers.
 */
export function flagProxyRouterError(request: FastifyRequest, reply: FastifyReply): void {
  if (request.url.startsWith('/proxy/')) reply.header('X-Broker-Error', 'invalid_request');
}

/**
 * `/proxy/*` as a plain fastify route in a scope of its own, not a Nest controller: its bodies
 * must reach RD byte for byte whatever their content type (the scope's one parser buffers them
 * raw, without touching the JSON parsing of every other route), and RD's answer goes back whole
 * when small or streamed as it arrives (ProxyService).
 *
 * Everything the call needs to be allowed — the key (ApiKeyAuthenticator, as every Nest route),
 * its scope, X-Account, X-Product and the RD path — comes from the request line and headers and
 * is decided in an `onRequest` hook, before a single body byte is read: a caller without a
 * valid key never gets a body buffered (at most a bounded amount read and discarded before the
 * connection closes, lingering-close.ts). Errors go through the same `errorAnswer` as every
 * other route, with `X-Broker-Error` so callers tell them from RD's.
 */
export function registerProxyRoute(app: NestFastifyApplication, requestLog: RequestLog): void {
  const proxy = app.get(ProxyService);
  const authenticator = app.get(ApiKeyAuthenticator);
  const products = app.get<ConfigType<typeof productsConfig>>(productsConfig.KEY);
  const metrics = app.get(BrokerMetrics);
  const logger = new Logger('Proxy');
  /** broker_proxy_requests_total's label objects, made once per combination. */
  const requestLabels = labelsOf4((product, method, rd_status, outcome) => ({
    product,
    method,
    rd_status,
    outcome,
  }));

  const fail = (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof CallerGoneError || reply.raw.destroyed) return reply;
    const { status, body, retryAfter } = errorAnswer(error, request.id, logger);
    const product = productLabel(request);
    metrics.proxyRequests.inc(requestLabels(product, request.method, 'none', body.error));
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    // Refused before its body was read: the body is unwanted, the connection closes after it.
    if (bodyPending(request.raw)) reply.header('Connection', 'close');
    return reply
      .code(status)
      .header('X-Broker-Error', body.error)
      .header('Cache-Control', 'no-store')
      .send(body);
  };

  /** The `onRequest` hook: the call authenticated and validated from its headers alone. */
  function admit(request: FastifyRequest): void {
    const caller = request.raw as AuthenticatedRequest;
    authenticator.authenticate(request.headers.authorization, request.ip, caller);
    // What no route matches (another method, no RD path) is answered by the not-found handler.
    if (!request.routeOptions.url) return;
    const target = parseProxyTarget(request.raw.url ?? '');
    const key = {
      account: assertAccount(header(request, 'x-account'), 'X-Account'),
      product: resolveProduct(products.enabled, header(request, 'x-product'), 'X-Product'),
    };
    (request as ProxiedRequest).proxyProduct = key.product;
    assertScope(caller, key, 'proxy');
    (request as ProxiedRequest).proxyCall = { key, target, caller: caller.apiKeyName! };
  }

  async function handle(request: FastifyRequest, reply: FastifyReply) {
    const admitted = (request as ProxiedRequest).proxyCall;
    if (!admitted) throw new Error('the proxy route ran without its onRequest hook');
    // The call's one controller: the caller leaving aborts it, and so does RD's deadline.
    const gone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    const answer = await proxy.forward({
      key: admitted.key,
      target: admitted.target,
      caller: admitted.caller,
      method: request.method as ProxyRequest['method'],
      headers: request.headers,
      body: Buffer.isBuffer(request.body) ? request.body : undefined,
      abort: gone,
    });
    metrics.proxyRequests.inc(
      requestLabels(
        admitted.key.product,
        request.method,
        statusClass(answer.status),
        answer.retried ? 'retried' : 'proxied',
      ),
    );
    if (!Buffer.isBuffer(answer.body)) {
      // The access log says a cut answer was cut, not "200" (logger.ts reads this).
      answer.body.once('error', (error) => {
        if (!(error instanceof StreamCutError)) return;
        (request.raw as AuthenticatedRequest).answerCut = error.reason;
        requestLog.write(null, request, reply);
      });
    }
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
        // A callback hook, not an async one: no promise and no extra microtask per call.
        scope.addHook('onRequest', (request, _reply, done) => {
          try {
            admit(request);
          } catch (error) {
            done(error as Error);
            return;
          }
          done();
        });
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
  /** Set by the `onRequest` hook once the call is allowed. */
  proxyCall?: { key: ConnectionKey; target: ProxyTarget; caller: string };
}

function productLabel(request: FastifyRequest): string {
  return (request as ProxiedRequest).proxyProduct ?? 'unknown';
}

/** One value of a header; a repeated one is joined, and then fails validation as it should. */
function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
