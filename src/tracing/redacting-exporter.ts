import { SpanKind, type Attributes } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-node';

/**
 * The URL of an incoming request: its path can hold a link token (/oauth/reconnect/<token>) and
 * its query a code, a state or a caller's RD query. Its route (`http.route`, server-spans.ts)
 * says which endpoint it was.
 */
const INCOMING_URL = ['http.url', 'url.full', 'http.target', 'url.path', 'url.query'];
/** Query values and bound SQL parameters, wherever an instrumentation might put them. */
const NEVER = ['url.query', 'db.postgresql.values'];
const NEVER_PREFIX = ['db.query.parameter.', 'http.request.header.', 'http.response.header.'];
/** Attributes holding a URL or a path with its query; the query goes. */
const URL_VALUED = ['http.url', 'url.full', 'http.target'];
/** A URL with a query anywhere in a text (an error message, an event). */
const URL_QUERY = /(\bhttps?:\/\/[^\s?#]*)\?[^\s#]*/g;

function clean(attributes: Attributes, kind?: SpanKind): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (NEVER.includes(key) || NEVER_PREFIX.some((prefix) => key.startsWith(prefix))) continue;
    if (kind === SpanKind.SERVER && INCOMING_URL.includes(key)) continue;
    if (typeof value !== 'string') out[key] = value;
    else if (URL_VALUED.includes(key)) out[key] = value.split('?')[0];
    else out[key] = value.replace(URL_QUERY, '$1');
  }
  return out;
}

/**
 * Every span leaves the process through here, whatever instrumentation made it: the last place
 * to make sure no token, secret or query value is exported (the span attributes themselves stay
 * untouched while the request runs). Copies inherit everything else from the span.
 */
export class RedactingExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans.map(redacted), done);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export function redacted(span: ReadableSpan): ReadableSpan {
  return Object.create(span, {
    attributes: { value: clean(span.attributes, span.kind) },
    events: {
      value: span.events.map((event) => ({
        ...event,
        attributes: event.attributes && clean(event.attributes),
      })),
    },
  }) as ReadableSpan;
}
