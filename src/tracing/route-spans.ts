import { trace } from '@opentelemetry/api';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * Names each request's SERVER span by its route (`GET /tokens/:account`) and sets `http.route`:
 * the exported span carries no URL of its own (redacting-exporter.ts). Registered only when
 * tracing is on (app.ts); the route is known once fastify has routed, before any handler runs.
 */
export function nameSpansByRoute(app: NestFastifyApplication): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, _reply, done) => {
      const span = trace.getActiveSpan();
      const route = request.routeOptions.url;
      if (span && route) {
        span.updateName(`${request.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      done();
    });
}
