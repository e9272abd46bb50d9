/**
 * Imported first by main.ts, before any module that loads node:http, pg or undici: OpenTelemetry's
 * instrumentations patch those modules as they are required, so they must be registered before.
 * Without OTEL_EXPORTER_OTLP_ENDPOINT nothing of OpenTelemetry is loaded (./tracing is required
 * only here and only then), so an untraced broker's hot path is exactly what it was.
 */
import { tracingEndpoint, tracingProtocol } from '../config/config';

let stop: (() => Promise<void>) | undefined;
let warning: string | undefined;

// The entry point's second look at the environment (main.ts reads the rest through loadConfig),
// for the one variable needed before anything else loads.
// eslint-disable-next-line no-restricted-properties
if (tracingEndpoint(process.env)) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startTracing, contextCostWarning } = require('./tracing') as typeof import('./tracing');
  // eslint-disable-next-line no-restricted-properties
  stop = startTracing(tracingProtocol(process.env));
  warning = contextCostWarning();
}

/** What main.ts logs at start about tracing's cost on this Node (README, "Tracing"). */
export function tracingWarning(): string | undefined {
  return warning;
}

/** Exports the spans still buffered (main.ts, on SIGTERM/SIGINT); nothing without tracing. */
export async function stopTracing(): Promise<void> {
  await stop?.();
}
