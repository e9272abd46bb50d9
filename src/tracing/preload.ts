/**
 * Imported first by main.ts, before any module that loads node:http, pg or undici: OpenTelemetry's
 * instrumentations patch those modules as they are required, so they must be registered before.
 * Without OTEL_EXPORTER_OTLP_ENDPOINT nothing of OpenTelemetry is loaded (./tracing is required
 * only here and only then), so an untraced broker's hot path is exactly what it was.
 */
import { tracingEndpoint } from '../config/config';

let stop: (() => Promise<void>) | undefined;

// The entry point's second look at the environment (main.ts reads the rest through loadConfig),
// for the one variable needed before anything else loads.
// eslint-disable-next-line no-restricted-properties
if (tracingEndpoint(process.env)) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startTracing } = require('./tracing') as typeof import('./tracing');
  stop = startTracing();
}

/** Exports the spans still buffered (main.ts, on SIGTERM/SIGINT); nothing without tracing. */
export async function stopTracing(): Promise<void> {
  await stop?.();
}
