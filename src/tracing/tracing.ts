/**
 * OpenTelemetry, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set (preload.ts). Spans:
 *  - one SERVER span per request, continuing the caller's W3C `traceparent` and named by its
 *    route (server-spans.ts); probes and scrapes are not traced;
 *  - PostgreSQL queries (pg), inside a request or a traced refresh only;
 *  - the token refresh (src/connections/token-refresher.ts);
 *  - every call to RD (undici), each sending RD a child `traceparent`.
 * What leaves the process goes through RedactingExporter: no query string, no URL of an incoming
 * request (only its route), no query parameter values. Spans leave as OTLP/HTTP protobuf (the
 * OTLP default; the transformer writes it straight from the spans, with less than half the CPU
 * and garbage of JSON's object tree and string), or JSON with OTEL_EXPORTER_OTLP_PROTOCOL=http/json.
 *
 * The SDK reads the other standard variables itself (OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT / _TRACES_ENDPOINT,
 * OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*): the one exception to "only config reads the
 * environment", as every OpenTelemetry deployment expects them to work.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { RedactingExporter } from './redacting-exporter';

/** Starts tracing; the function returned flushes and stops it. */
export function startTracing(
  protocol: 'http/protobuf' | 'http/json' = 'http/protobuf',
): () => Promise<void> {
  const exporter = protocol === 'http/json' ? new OtlpJsonExporter() : new OtlpProtobufExporter();
  const provider = new NodeTracerProvider({
    resource: defaultResource()
      .merge(resourceFromAttributes({ 'service.name': 'rdstation-token-broker' }))
      .merge(detectResources({ detectors: [envDetector] })),
    spanProcessors: [new BatchSpanProcessor(new RedactingExporter(exporter))],
  });
  // W3C trace context only: a caller's `baggage` is not taken in, so it reaches RD on /proxy as
  // the caller sent it, once.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Background work (the scheduler's claims, the cache's heartbeat, read-count flushes)
      // starts no trace of its own; a scheduled refresh does (token-refresher.ts).
      new UndiciInstrumentation({ requireParentforSpans: true }),
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
    ],
  });
  return () => provider.shutdown();
}

/**
 * Node 22's AsyncLocalStorage (which carries a request's span to its database and RD calls) runs
 * a hook on every promise of every request unless started with --experimental-async-context-frame;
 * Node 24 uses the cheap AsyncContextFrame by default. Measured on a read: README, "Tracing".
 * The hook-based implementation is the one with `_propagate` (Node's lib/internal/async_local_storage).
 */
export function contextCostWarning(): string | undefined {
  if (!('_propagate' in AsyncLocalStorage.prototype)) return undefined;
  return `tracing on Node ${process.versions.node}, whose AsyncLocalStorage runs an async hook on every promise: a traced request costs far more CPU. Run Node 24 (without --no-async-context-frame), or on Node 22 set NODE_OPTIONS=--experimental-async-context-frame (README, "Tracing")`;
}
