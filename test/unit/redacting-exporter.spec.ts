import { SpanKind, type Attributes, type Tracer } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-node';
import { redact, RedactingExporter } from '../../src/tracing/redacting-exporter';

function span(kind: SpanKind, attributes: Attributes, eventAttributes?: Attributes): ReadableSpan {
  return {
    name: 'GET',
    kind,
    attributes,
    events: eventAttributes
      ? [{ name: 'exception', time: [0, 0], attributes: eventAttributes }]
      : [],
    spanContext: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 }),
  } as unknown as ReadableSpan;
}

describe('redacted (what leaves the process)', () => {
  it('drops every URL of an incoming request, keeping its route', () => {
    const out = redact(
      span(SpanKind.SERVER, {
        'http.route': '/oauth/callback',
        'url.path': '/oauth/callback',
        'url.query': 'code=secret-code&state=secret-state',
        'http.target': '/oauth/callback?code=secret-code',
        'http.url': 'http://broker/oauth/callback?code=secret-code',
        'url.full': 'http://broker/oauth/callback?code=secret-code',
        'http.response.status_code': 302,
      }),
    );
    expect(out.attributes).toEqual({
      'http.route': '/oauth/callback',
      'http.response.status_code': 302,
    });
  });

  it("keeps an outgoing call's path but not its query, bound parameters or headers", () => {
    const out = redact(
      span(
        SpanKind.CLIENT,
        {
          'url.full': 'https://api.rd.services/crm/v2/contacts?email=someone%40example.com',
          'url.path': '/crm/v2/contacts',
          'url.query': '?email=someone%40example.com',
          'http.target': '/auth/token?token_by=code',
          'db.postgresql.values': ['secret-value'],
          'db.query.parameter.0': 'secret-value',
          'http.request.header.authorization': ['Bearer secret-token'],
          'db.query.text': 'SELECT * FROM connections WHERE account = $1',
        },
        { 'exception.message': 'fetch https://api.rd.services/x?token=secret-token failed' },
      ),
    );
    expect(out.attributes).toEqual({
      'url.full': 'https://api.rd.services/crm/v2/contacts',
      'url.path': '/crm/v2/contacts',
      'http.target': '/auth/token',
      'db.query.text': 'SELECT * FROM connections WHERE account = $1',
    });
    expect(out.events[0].attributes).toEqual({
      'exception.message': 'fetch https://api.rd.services/x failed',
    });
    // Everything else is the span's own.
    expect(out.spanContext().spanId).toBe('b'.repeat(16));
    expect(out.name).toBe('GET');
  });
});

describe('RedactingExporter (spans of the real SDK)', () => {
  function exportedSpans(make: (tracer: Tracer) => void): ReadableSpan[] {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(new RedactingExporter(memory))],
    });
    make(provider.getTracer('test'));
    return memory.getFinishedSpans();
  }

  it('redacts what leaves, and leaves a span with nothing to take out as it was', () => {
    let clean: Attributes | undefined;
    const [server, client] = exportedSpans((tracer) => {
      const read = tracer.startSpan('GET /tokens/:account', {
        kind: SpanKind.SERVER,
        attributes: { 'http.route': '/tokens/:account', 'http.request.method': 'GET' },
      });
      clean = (read as unknown as ReadableSpan).attributes;
      read.end();
      const call = tracer.startSpan('GET', {
        kind: SpanKind.CLIENT,
        attributes: { 'http.request.method': 'GET', 'url.full': 'https://rd/x?token=secret' },
      });
      call.addEvent('exception', { 'exception.message': 'https://rd/y?code=secret failed' });
      call.end();
    });
    // Nothing to take out: the very attributes the span was given, not a copy.
    expect(server.attributes).toBe(clean);
    expect(server.attributes).toEqual({
      'http.route': '/tokens/:account',
      'http.request.method': 'GET',
    });
    expect(client.attributes).toEqual({
      'http.request.method': 'GET',
      'url.full': 'https://rd/x',
    });
    expect(client.events[0].attributes).toEqual({ 'exception.message': 'https://rd/y failed' });
    expect(JSON.stringify([server.attributes, client.attributes, client.events])).not.toContain(
      'secret',
    );
  });
});
