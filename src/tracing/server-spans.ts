import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
} from '@opentelemetry/api';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { memoByTwo } from '../common/memo';

const tracer = trace.getTracer('rdstation-token-broker');
const SPAN = Symbol('server span');
type Traced = FastifyRequest & { [SPAN]?: Span };

/**
 * `GET /tokens/:account`, made once per method and route: a span's name is written into every
 * export, and a name built per request is a fresh string the serializer flattens each time.
 */
const spanName = memoByTwo((method: string, route: string) => `${method} ${route}`);

/** Load balancers' and Prometheus' calls: many, and nothing to learn from their traces. */
function untraced(route: string): boolean {
  return route.startsWith('/health') || route === '/metrics';
}

/**
 * One SERVER span per request, continuing the caller's W3C `traceparent`, named by its route
 * (`GET /tokens/:account`) and carrying no URL (a path can hold a link token, a query a code or
 * a caller's RD query). Registered only when tracing is on (app.ts).
 *
 * Fastify hooks rather than @opentelemetry/instrumentation-http: the route is known here, and the
 * generic instrumentation cost a read more than twice this (README, "Tracing").
 */
export function traceRequests(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', (request: Traced, _reply, done) => {
    const route = request.routeOptions.url;
    if (route && untraced(route)) return done();
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = tracer.startSpan(
      route ? spanName(request.method, route) : request.method,
      { kind: SpanKind.SERVER },
      parent,
    );
    // An unsampled span records nothing: no attributes to work out for it. The attributes the
    // HTTP semantic conventions require of a server span (with the status code, onResponse), and
    // the caller's address: a successful read writes no access-log line at LOG_LEVEL=info, so the
    // span is where a slow call's caller shows (≈ 0.15 µs per attribute in-process).
    if (span.isRecording()) {
      span.setAttribute('http.request.method', request.method);
      if (route) span.setAttribute('http.route', route);
      span.setAttribute('client.address', request.ip);
    }
    request[SPAN] = span;
    const active = trace.setSpan(parent, span);
    // A body arrives in stream events, which run outside this context unless bound to it.
    if (request.headers['content-length'] || request.headers['transfer-encoding'])
      context.bind(active, request.raw);
    // Everything the request does from here (handlers, pg, undici, a refresh) is in the span.
    context.with(active, done);
  });
  fastify.addHook('onResponse', (request: Traced, reply, done) => {
    const span = request[SPAN];
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
  fastify.addHook('onRequestAbort', (request: Traced, done) => {
    const span = request[SPAN];
    if (span) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'the caller went away' });
      span.end();
    }
    done();
  });
}
