import { SpanKind, type Attributes } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-node';

/**
 * The URL of an incoming request: its path can hold a link token (/oauth/reconnect/<token>) and
 * its query a code, a state or a caller's RD query. Its route (`http.route`, server-spans.ts)
 * says which endpoint it was.
 */
const INCOMING_URL = new Set(['http.url', 'url.full', 'http.target', 'url.path', 'url.query']);
/** Query values and bound SQL parameters, wherever an instrumentation might put them. */
const NEVER = new Set(['url.query', 'db.postgresql.values']);
const NEVER_PREFIX = ['db.query.parameter.', 'http.request.header.', 'http.response.header.'];
/** Attributes holding a URL or a path with its query; the query goes. */
const URL_VALUED = new Set(['http.url', 'url.full', 'http.target']);
/** A URL with a query anywhere in a text (an error message, an event). */
const URL_QUERY = /(\bhttps?:\/\/[^\s?#]*)\?[^\s#]*/g;

function droppedKey(key: string, server: boolean): boolean {
  if (NEVER.has(key) || (server && INCOMING_URL.has(key))) return true;
  for (const prefix of NEVER_PREFIX) if (key.startsWith(prefix)) return true;
  return false;
}

/**
 * Each key's verdict, worked out once: every span asks about the same few keys (a read's server
 * span, the pg and undici spans), and a Map look-up is a fraction of the sets and prefixes. Keys
 * come from the instrumentations' code, not from requests (a header's name would be one, but
 * header attributes are off); the bound only keeps a surprise from growing it.
 */
const VERDICTS_MAX = 512;
const verdicts = { server: new Map<string, boolean>(), other: new Map<string, boolean>() };

function dropped(key: string, kind: SpanKind | undefined): boolean {
  const server = kind === SpanKind.SERVER;
  const known = server ? verdicts.server : verdicts.other;
  let verdict = known.get(key);
  if (verdict === undefined) {
    verdict = droppedKey(key, server);
    if (known.size < VERDICTS_MAX) known.set(key, verdict);
  }
  return verdict;
}

/** The value to export: a URL-valued attribute without its query, a text without URL queries. */
function cleanValue(key: string, value: Attributes[string]): Attributes[string] {
  // No '?' (most values, and every non-string): nothing to take out, no copy.
  if (typeof value !== 'string' || !value.includes('?')) return value;
  return URL_VALUED.has(key) ? value.split('?')[0] : value.replace(URL_QUERY, '$1');
}

/**
 * The attributes to export: the same object when nothing has to go (a read's server span, most
 * database spans), so the common span costs a look at its keys and no allocation.
 */
function clean(attributes: Attributes, kind?: SpanKind): Attributes {
  let out: Attributes | undefined;
  for (const key in attributes) {
    const value = attributes[key];
    const kept = dropped(key, kind) ? undefined : cleanValue(key, value);
    if (out) {
      if (kept !== undefined) out[key] = kept;
    } else if (kept !== value) {
      // The first change: copy what came before, then go on into the copy.
      out = {};
      for (const before in attributes) {
        if (before === key) break;
        out[before] = attributes[before];
      }
      if (kept !== undefined) out[key] = kept;
    }
  }
  return out ?? attributes;
}

/**
 * Every span leaves the process through here, whatever instrumentation made it: the last place
 * to make sure no token, secret or query value is exported (the span attributes themselves stay
 * untouched while the request runs).
 */
export class RedactingExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) redact(span);
    this.inner.export(spans, done);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * Redacts an ended span in place. It is past its last use (the processor hands it to the exporter
 * once, and nothing reads it after); in place rather than a copy per span, which cost a traced
 * read more than the rest of its export (a wrapper object with the span as prototype turned every
 * span into a slow prototype object for the OTLP transformer).
 */
export function redact(span: ReadableSpan): ReadableSpan {
  const writable = span as { -readonly [K in keyof ReadableSpan]: ReadableSpan[K] };
  const attributes = clean(span.attributes, span.kind);
  if (attributes !== span.attributes) writable.attributes = attributes;
  for (const event of span.events) {
    if (!event.attributes) continue;
    const cleaned = clean(event.attributes);
    if (cleaned !== event.attributes) (event as { attributes?: Attributes }).attributes = cleaned;
  }
  return span;
}
