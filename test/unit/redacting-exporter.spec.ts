import { SpanKind, type Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { redacted } from '../../src/tracing/redacting-exporter';

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
    const out = redacted(
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
    const out = redacted(
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
