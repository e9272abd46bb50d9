import { InvalidRequestError } from '../../src/common/errors';
import { parseProxyTarget, rdBase, rdRequestPath, rdUrl } from '../../src/proxy/proxy-target';
import { headersForCaller, headersForRd } from '../../src/proxy/proxy-headers';

describe('parseProxyTarget', () => {
  it.each([
    ['/proxy/crm/v2/contacts?page=2', '/crm/v2/contacts', 'page=2'],
    ['/proxy/crm/v2/contacts', '/crm/v2/contacts', ''],
    ['/proxy/platform/contacts/email:x@y.com', '/platform/contacts/email:x@y.com', ''],
    ['/proxy/platform/contacts/email:x%40y.com', '/platform/contacts/email:x%40y.com', ''],
    ['/proxy/crm/v2/deals/?q=a%2Fb&next=..', '/crm/v2/deals/', 'q=a%2Fb&next=..'],
    ['/proxy/crm/v2/a.b/..c/c..', '/crm/v2/a.b/..c/c..', ''],
  ])('keeps RD path and query of %s as received', (raw, path, query) => {
    expect(parseProxyTarget(raw)).toEqual({ path, query });
  });

  it.each([
    ['an absolute URL', '/proxy/http://evil.example/x'],
    ['an absolute https URL', '/proxy/https:/evil.example'],
    ['a protocol-relative host', '/proxy//evil.example/x'],
    ['an empty path', '/proxy/'],
    ['a .. segment', '/proxy/crm/../admin'],
    ['a trailing .. segment', '/proxy/crm/v2/..'],
    ['a . segment', '/proxy/crm/./v2'],
    ['an encoded .. segment', '/proxy/crm/%2e%2e/admin'],
    ['a mixed encoded .. segment', '/proxy/crm/.%2E/admin'],
    ['an encoded . segment', '/proxy/crm/%2e/v2'],
    ['a double-encoded dot', '/proxy/crm/%252e%252e/admin'],
    ['an encoded slash', '/proxy/crm%2fv2/contacts'],
    ['an encoded slash, upper case', '/proxy/crm%2Fv2'],
    ['a double-encoded slash', '/proxy/crm%252fv2'],
    ['an encoded backslash', '/proxy/crm%5cv2'],
    ['a backslash', '/proxy/crm\\v2'],
    ['a // inside', '/proxy/crm//v2'],
    ['an encoded CR', '/proxy/crm/v2%0d'],
    ['an encoded LF in the query', '/proxy/crm/v2/contacts?q=a%0AHost:%20evil'],
    ['an encoded NUL', '/proxy/crm/%00'],
    ['a raw CR', '/proxy/crm/v2\r'],
    ['a raw LF in the query', '/proxy/crm/v2?x=\n'],
    ['a space', '/proxy/crm/v2 x'],
    ['non-ASCII', '/proxy/crm/ção'],
    ['malformed percent-encoding', '/proxy/crm/%zz'],
    ['a fragment', '/proxy/crm/v2#x'],
    ['another prefix', '/proxyx/crm'],
  ])('refuses %s', (_what, raw) => {
    expect(() => parseProxyTarget(raw)).toThrow(InvalidRequestError);
  });

  it('never echoes the URL in its message', () => {
    expect(() => parseProxyTarget('/proxy/crm/../secret-value')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret-value') }),
    );
  });
});

describe('rdUrl', () => {
  it('appends path and query to RD_API_URL, with or without a path prefix', () => {
    const target = { path: '/crm/v2/contacts', query: 'page=2' };
    expect(rdUrl('https://api.rd.services', target)).toBe(
      'https://api.rd.services/crm/v2/contacts?page=2',
    );
    expect(rdUrl('http://127.0.0.1:4010/rd', { path: '/x', query: '' })).toBe(
      'http://127.0.0.1:4010/rd/x',
    );
  });

  it('refuses anything that would leave RD_API_URL', () => {
    expect(() => rdUrl('https://api.rd.services', { path: '@evil.example/x', query: '' })).toThrow(
      InvalidRequestError,
    );
    expect(() => rdUrl('https://api.rd.services/rd', { path: '/../x', query: '' })).toThrow(
      InvalidRequestError,
    );
  });
});

describe('rdBase / rdRequestPath (what the proxy sends, without a URL parsed per call)', () => {
  it('splits RD_API_URL once and puts the RD path under its prefix, as rdUrl does', () => {
    for (const [apiUrl, target] of [
      ['https://api.rd.services', { path: '/crm/v2/contacts', query: 'page=2' }],
      ['http://127.0.0.1:4010/rd', { path: '/x', query: '' }],
      ['http://127.0.0.1:4010/rd', { path: '/crm/v2/deals/', query: 'q=a%2Fb' }],
    ] as const) {
      const { origin, prefix } = rdBase(apiUrl);
      expect(origin + rdRequestPath(prefix, target)).toBe(rdUrl(apiUrl, target));
    }
  });

  it('refuses a path that does not start with /', () => {
    expect(() => rdRequestPath('', { path: '@evil.example/x', query: '' })).toThrow(
      InvalidRequestError,
    );
  });
});

describe('headersForRd / headersForCaller', () => {
  it("sends the connection's token and none of the caller's credentials or routing headers", () => {
    const out = headersForRd(
      {
        authorization: 'Bearer caller-api-key',
        cookie: 'session=1',
        host: 'broker',
        connection: 'keep-alive, x-custom-hop',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        trailer: 'x',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        'proxy-authorization': 'Basic x',
        'proxy-connection': 'keep-alive',
        'x-account': 'acme',
        'x-product': 'crm',
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-host': 'broker',
        forwarded: 'for=10.0.0.1',
        'x-real-ip': '10.0.0.1',
        'x-custom-hop': 'dropped',
        'content-length': '12',
        expect: '100-continue',
        'content-type': 'application/json',
        accept: 'application/json',
        'x-trace': 'kept',
      },
      'rd-token',
    );
    expect(out).toEqual({
      authorization: 'Bearer rd-token',
      'content-type': 'application/json',
      accept: 'application/json',
      'x-trace': 'kept',
    });
  });

  it("passes the caller's W3C trace context through untraced; traced, drops it for the broker's own child", () => {
    const incoming = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'caller=1',
      baggage: 'tenant=acme',
    };
    expect(headersForRd(incoming, 'rd-token')).toEqual({
      ...incoming,
      authorization: 'Bearer rd-token',
    });
    expect(headersForRd(incoming, 'rd-token', { traced: true })).toEqual({
      baggage: 'tenant=acme',
      authorization: 'Bearer rd-token',
    });
  });

  it('drops Keep-Alive under a plain `Connection: keep-alive` both ways (the common case)', () => {
    const hop = { connection: 'keep-alive', 'keep-alive': 'timeout=5', accept: 'text/csv' };
    expect(headersForRd(hop, 'rd-token')).toEqual({
      accept: 'text/csv',
      authorization: 'Bearer rd-token',
    });
    expect(headersForCaller({ ...hop, 'x-request-id': 'rd-1' })).toEqual({
      accept: 'text/csv',
      'x-rd-request-id': 'rd-1',
    });
  });

  it("passes RD's headers back except cookies, hop-by-hop ones and X-Broker-Error", () => {
    expect(
      headersForCaller({
        'content-type': 'application/json',
        'retry-after': '30',
        'set-cookie': ['a=1'],
        connection: 'close',
        'transfer-encoding': 'chunked',
        'keep-alive': 'timeout=5',
        'proxy-authenticate': 'Basic',
        'x-broker-error': 'forged',
        'x-rd-request-id': 'abc',
      }),
    ).toEqual({
      'content-type': 'application/json',
      'retry-after': '30',
      'x-rd-request-id': 'abc',
    });
  });
});
