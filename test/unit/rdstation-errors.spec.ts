import {
  refusesAccessToken,
  bodyExcerpt,
  classifyAnswer,
  httpError,
  parseRetryAfter,
  type RdCall,
  type RdStationErrorKind,
} from '../../src/rdstation/rdstation.errors';

const json = (value: unknown) => JSON.stringify(value);
const HTML_403 =
  '<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center></body></html>';

/**
 * The whole classification: [call, status, body, headers, kind, code]. A grant is condemned only
 * by the rows that say `grant_rejected` on `refresh`; everything else keeps it.
 */
// prettier-ignore
const TABLE: Array<[RdCall, number, string, Record<string, string>, RdStationErrorKind, string]> = [
  // Documented shapes that name the grant.
  ['refresh', 400, json({ error: 'invalid_grant', error_description: 'revoked' }), {}, 'grant_rejected', 'invalid_grant'],
  ['refresh', 401, json({ error: 'invalid_grant' }), {}, 'grant_rejected', 'invalid_grant'],
  ['refresh', 401, json({ error_type: 'INVALID_REFRESH_TOKEN', error_message: 'x' }), {}, 'grant_rejected', 'INVALID_REFRESH_TOKEN'],
  ['refresh', 401, json({ errors: { error_type: 'INVALID_REFRESH_TOKEN', error_message: 'x' } }), {}, 'grant_rejected', 'INVALID_REFRESH_TOKEN'],
  ['refresh', 401, json({ errors: [{ error_type: 'INVALID_REFRESH_TOKEN', error_message: 'x' }] }), {}, 'grant_rejected', 'INVALID_REFRESH_TOKEN'],
  ['refresh', 400, json({ error_type: 'EXPIRED_REFRESH_TOKEN' }), {}, 'grant_rejected', 'EXPIRED_REFRESH_TOKEN'],
  ['exchange', 400, json({ error: 'invalid_grant' }), {}, 'grant_rejected', 'invalid_grant'],
  ['exchange', 401, json({ errors: { error_type: 'EXPIRED_CODE_GRANT' } }), {}, 'grant_rejected', 'EXPIRED_CODE_GRANT'],
  // An invalid Marketing code: ACCESS_DENIED, the same as wrong credentials (authentication_spec.rb).
  ['exchange', 401, json({ error_type: 'ACCESS_DENIED', error_message: 'Wrong credentials provided.' }), {}, 'grant_rejected', 'ACCESS_DENIED'],
  ['api', 401, json({ error_type: 'UNAUTHORIZED', error_message: 'Invalid token.' }), {}, 'grant_rejected', 'UNAUTHORIZED'],
  ['revoke', 401, json({ errors: { error_type: 'UNAUTHORIZED' } }), {}, 'grant_rejected', 'UNAUTHORIZED'],
  // Documented shapes that name the app.
  ['refresh', 401, json({ error: 'invalid_client' }), {}, 'client_rejected', 'invalid_client'],
  ['refresh', 400, json({ error: 'unauthorized_client' }), {}, 'client_rejected', 'unauthorized_client'],
  ['exchange', 401, json({ error: 'invalid_client' }), {}, 'client_rejected', 'invalid_client'],
  ['refresh', 401, json({ errors: { error_type: 'ACCESS_DENIED', error_message: 'Wrong credentials provided.' } }), {}, 'client_rejected', 'ACCESS_DENIED'],
  // The API gateway's own answers.
  ['refresh', 401, json({ message: 'Unauthorized' }), { 'x-amzn-remapped-www-authenticate': 'Bearer realm="rd"' }, 'suspect', 'http_401'],
  ['refresh', 403, json({ message: 'Forbidden' }), {}, 'suspect', 'http_403'],
  ['refresh', 403, json({ Message: 'User is not authorized to access this resource' }), {}, 'suspect', 'http_403'],
  ['exchange', 401, json({ message: 'Unauthorized' }), {}, 'suspect', 'http_401'],
  // HTML and empty bodies.
  ['refresh', 403, HTML_403, {}, 'suspect', 'http_403'],
  ['refresh', 400, '<html><body>Bad Request</body></html>', {}, 'suspect', 'http_400'],
  ['refresh', 401, '', {}, 'suspect', 'http_401'],
  ['refresh', 400, '', {}, 'suspect', 'http_400'],
  ['refresh', 404, '<html>Not Found</html>', {}, 'suspect', 'http_404'],
  // CRM's API error list, and JSON nobody documents for this endpoint.
  ['refresh', 401, json({ errors: [{ code: 'unauthorized', detail: 'Invalid credentials' }] }), {}, 'suspect', 'http_401'],
  ['refresh', 400, json({ errors: [{ title: 'invalid', status: '400' }] }), {}, 'suspect', 'http_400'],
  ['refresh', 400, json({ error: 'invalid_request' }), {}, 'suspect', 'http_400'],
  ['refresh', 400, json({ error: 'server_error' }), {}, 'suspect', 'http_400'],
  ['refresh', 400, json({ errors: { error: 'invalid_grant' } }), {}, 'suspect', 'http_400'],
  ['refresh', 400, json([{ error: 'invalid_grant' }]), {}, 'suspect', 'http_400'],
  ['refresh', 400, json('invalid_grant'), {}, 'suspect', 'http_400'],
  ['refresh', 400, 'invalid_grant', {}, 'suspect', 'http_400'],
  // A known code under a status nobody documents for it, or on a call it does not belong to.
  ['refresh', 403, json({ error: 'invalid_grant' }), {}, 'suspect', 'http_403'],
  ['refresh', 422, json({ error_type: 'INVALID_REFRESH_TOKEN' }), {}, 'suspect', 'http_422'],
  ['refresh', 401, json({ error_type: 'EXPIRED_CODE_GRANT' }), {}, 'suspect', 'http_401'],
  ['refresh', 401, json({ error_type: 'UNAUTHORIZED', error_message: 'Invalid token.' }), {}, 'suspect', 'http_401'],
  ['exchange', 401, json({ error_type: 'INVALID_REFRESH_TOKEN' }), {}, 'suspect', 'http_401'],
  ['revoke', 401, json({ error_type: 'ACCESS_DENIED' }), {}, 'suspect', 'http_401'],
  ['refresh', 400, json({ error: 'constructor' }), {}, 'suspect', 'http_400'],
  ['refresh', 400, json({ error_type: '__proto__' }), {}, 'suspect', 'http_400'],
  // RD failing or busy.
  ['refresh', 429, json({ message: 'API rate limit exceeded' }), {}, 'transient', 'rate_limited'],
  ['refresh', 429, json({ errors: { error_type: 'RATE_LIMIT_EXCEDDED' } }), {}, 'transient', 'rate_limited'],
  ['refresh', 500, json({ error: 'invalid_grant' }), {}, 'transient', 'http_500'],
  ['refresh', 502, '<html>Bad Gateway</html>', {}, 'transient', 'http_502'],
  ['refresh', 503, '', {}, 'transient', 'http_503'],
  ['refresh', 408, '', {}, 'transient', 'http_408'],
];

describe('classifyAnswer', () => {
  it.each(TABLE)('%s HTTP %i %s %j → %s %s', (call, status, body, headers, kind, code) => {
    expect(classifyAnswer(call, { status, body, headers })).toEqual({ kind, code });
  });
});

describe('httpError', () => {
  const context = {
    label: 'crm refresh',
    call: 'refresh' as const,
    secrets: ['rt-SECRET-value', 'client-SECRET'],
  };

  it('keeps the status and a short, secret-free excerpt of an unknown shape', () => {
    const body = `<html><body><h1>403 Forbidden</h1><p>token rt-SECRET-value and ${'A'.repeat(40)}</p>${'x '.repeat(500)}</body></html>`;
    const error = httpError(
      {
        status: 403,
        body,
        headers: { 'x-amzn-remapped-www-authenticate': 'Bearer client-SECRET' },
      },
      context,
    );
    expect(error).toMatchObject({ kind: 'suspect', status: 403, code: 'http_403' });
    expect(error.message).toMatch(
      /^RD Station crm refresh failed: HTTP 403 in a shape the broker does not recognise: 403 Forbidden token \[redacted\] and \[redacted\]/,
    );
    expect(error.bodyExcerpt).toContain('x-amzn-remapped-www-authenticate: Bearer [redacted]');
    expect(error.bodyExcerpt!.length).toBeLessThan(300);
    for (const leak of ['SECRET', 'AAAA', '<'])
      expect(`${error.message} ${error.bodyExcerpt}`).not.toContain(leak);
  });

  it('names an empty body', () => {
    const error = httpError({ status: 401, body: '' }, context);
    expect(error.message).toBe(
      'RD Station crm refresh failed: HTTP 401 in a shape the broker does not recognise: (empty body)',
    );
  });

  it('says a rejected code may also be the credentials, without calling it a credentials problem', () => {
    const error = httpError(
      {
        status: 401,
        body: json({ error_type: 'ACCESS_DENIED', error_message: 'Wrong credentials provided.' }),
      },
      { ...context, label: 'marketing exchange', call: 'exchange' },
    );
    expect(error.kind).toBe('grant_rejected');
    expect(error.clientCredentialsRejected).toBe(false);
    expect(error.message).not.toContain('client credentials rejected');
  });

  it('keeps Retry-After only on transient answers', () => {
    const headers = { 'retry-after': '30' };
    expect(httpError({ status: 429, body: '', headers }, context).retryAfterSeconds).toBe(30);
    expect(httpError({ status: 401, body: '', headers }, context).retryAfterSeconds).toBeNull();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');

  it.each([
    [{}, null],
    [{ 'retry-after': '17' }, 17],
    [{ 'retry-after': 'Mon, 30 Nov 2026 12:01:00 GMT' }, 60],
    [{ 'retry-after': 'Mon, 30 Nov 2026 11:00:00 GMT' }, 0],
    [{ 'retry-after': 'soon' }, null],
    [{ 'retry-after-quotas': '45' }, 45],
    [{ 'retry-after': '5', 'retry-after-quotas': '120' }, 120],
    [{ 'retry-after': '90', 'retry-after-quotas': '10' }, 90],
    [{ 'retry-after-quotas': 'minute=20, day=3000' }, 3000],
    [{ 'retry-after-quotas': 'Mon, 30 Nov 2026 12:00:30 GMT' }, 30],
    [{ 'retry-after': '999999' }, 3600],
    [{ 'retry-after': ['12', '99'] }, 12],
  ] as const)('%j → %s', (headers, seconds) => {
    expect(parseRetryAfter(headers as Record<string, string | string[]>, now)).toBe(seconds);
  });
});

describe('bodyExcerpt', () => {
  it('drops scripts, markup and control characters', () => {
    const excerpt = bodyExcerpt(
      { status: 400, body: '<script>alert(1)</script><b>Bad</b>\r\n\tRequest\u0000' },
      [],
    );
    expect(excerpt).toBe('Bad Request');
  });
});

describe('refusesAccessToken (the only 401 after which /proxy replaces the token)', () => {
  const json = (body: unknown) => JSON.stringify(body);
  it.each([
    [
      'WWW-Authenticate error="invalid_token"',
      { 'www-authenticate': 'Bearer realm="rd", error="invalid_token"' },
      '',
    ],
    [
      "the gateway's expired_token challenge",
      { 'x-amzn-remapped-www-authenticate': 'Bearer error="expired_token"' },
      '',
    ],
    ['an unquoted error=invalid_token', { 'www-authenticate': 'Bearer error=invalid_token' }, ''],
    [
      "Marketing's UNAUTHORIZED body",
      {},
      json({ error_type: 'UNAUTHORIZED', error_message: 'Invalid token.' }),
    ],
    [
      'UNAUTHORIZED under errors',
      {},
      json({ errors: { error_type: 'UNAUTHORIZED', error_message: 'Invalid token.' } }),
    ],
    [
      "CRM v2's errors list with an unauthorized code",
      {},
      json({ errors: [{ code: 'unauthorized', detail: 'x' }] }),
    ],
    ["OAuth's invalid_token body", {}, json({ error: 'invalid_token' })],
  ])('says yes for %s', (_what, headers, body) => {
    expect(refusesAccessToken({ status: 401, headers, body })).toBe(true);
  });

  it.each([
    [
      "the gateway's bare 401",
      { 'x-amzn-remapped-www-authenticate': 'Bearer realm="api.rd.services"' },
      json({ message: 'Unauthorized' }),
      401,
    ],
    ['an empty 401', {}, '', 401],
    ['an HTML 401', {}, '<html>401</html>', 401],
    ['another RD code', {}, json({ errors: { error_type: 'ACCESS_DENIED' } }), 401],
    ['insufficient_scope', { 'www-authenticate': 'Bearer error="insufficient_scope"' }, '', 401],
    ['a CRM forbidden list', {}, json({ errors: [{ code: 'forbidden' }] }), 401],
    ['the right words on a 403', { 'www-authenticate': 'Bearer error="invalid_token"' }, '', 403],
  ])('says no for %s', (_what, headers, body, status) => {
    expect(refusesAccessToken({ status, headers, body })).toBe(false);
  });
});
