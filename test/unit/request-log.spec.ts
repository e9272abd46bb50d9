import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequestLog, type RequestLogRoutes } from '../../src/logging/logger';

/** The routes as app.ts tells them to the access log: /tokens and /proxy hot, /proxy foreign. */
const ROUTES: RequestLogRoutes = { hot: ['/tokens/', '/proxy/'], foreign: /^\/proxy(?:\/|$)/i };

/** The one request line of RequestLog, for a request to `url` answered with `status`. */
function logLine(
  url: string,
  status: number,
  options: { route?: string | null; answerCut?: 'timeout' | 'broken' } = {},
) {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: unknown }> = [];
  const log = {
    ...Object.fromEntries(
      ['debug', 'info', 'error'].map((level) => [
        level,
        (fields: Record<string, unknown>, message: unknown) =>
          lines.push({ level, fields, message }),
      ]),
    ),
    isLevelEnabled: () => true,
    child() {
      return this;
    },
  };
  const [path, query = ''] = url.split('?');
  // Every place fastify exposes the address carries it, so a line built from any of them shows.
  const request = {
    id: 'req-1',
    method: 'POST',
    ip: '127.0.0.1',
    url,
    originalUrl: url,
    query: Object.fromEntries(new URLSearchParams(query)),
    params: path.startsWith('/proxy/') ? { '*': path.slice('/proxy/'.length) } : {},
    headers: { host: 'broker.internal', referer: `http://broker.internal${url}` },
    raw: { url, headers: { host: 'broker.internal' }, answerCut: options.answerCut },
    routeOptions: {
      url:
        options.route === null
          ? undefined
          : (options.route ?? (url.startsWith('/proxy/') ? '/proxy/*' : '/tokens/:account')),
    },
    log,
  } as unknown as FastifyRequest;
  const reply = { statusCode: status, elapsedTime: 1.5 } as unknown as FastifyReply;
  new RequestLog(ROUTES).requestCompleted(null, request, reply);
  expect(lines).toHaveLength(1);
  return lines[0];
}

describe('RequestLog', () => {
  it("shows a proxied call's route, never RD's path or query", () => {
    const line = logLine('/proxy/platform/contacts/email:ana@example.com?q=secret', 200);
    expect(line.level).toBe('debug');
    expect(line.fields).toMatchObject({ url: '/proxy/*', route: '/proxy/*', status: 200 });
    // The whole line, message included, against a request that carries the address everywhere.
    expect(JSON.stringify(line)).not.toMatch(/ana@example|secret|platform/);
  });

  it('logs a refused proxied call at info, still without its path', () => {
    const { level, fields } = logLine('/proxy/crm/../admin?x=1', 400);
    expect(level).toBe('info');
    expect(fields.url).toBe('/proxy/*');
  });

  it.each([
    ['/connect/3q2-7wL0k9mZ8V1bX4yR6tN5cJ2hG0fD8sA7eP1uQ3w', '/connect/[Redacted]'],
    ['/oauth/reconnect/3q2-7wL0k9mZ8V1bX4yR6tN5cJ2hG0fD8sA7eP1uQ3w', '/oauth/reconnect/[Redacted]'],
    ['/CONNECT/3q2-7wL0k9mZ8V1bX4yR6tN5cJ2hG0fD8sA7eP1uQ3w?x=1', '/CONNECT/[Redacted]?x=1'],
    [
      '//oauth//reconnect/3q2-7wL0k9mZ8V1bX4yR6tN5cJ2hG0fD8sA7eP1uQ3w/more',
      '//oauth//reconnect/[Redacted]',
    ],
  ])('masks the token of a link path %s', (url, logged) => {
    const { fields } = logLine(url, 200);
    expect(fields.url).toBe(logged);
    expect(JSON.stringify(fields)).not.toContain('3q2-7wL0k9mZ8V1bX4yR6tN5cJ2hG0fD8sA7eP1uQ3w');
  });

  it('leaves POST /connect-links as it is', () => {
    expect(logLine('/connect-links', 201).fields.url).toBe('/connect-links');
  });

  // Issue 22 (8): unmatched URLs logged their query string as sent (customer data).
  it.each([
    ['/proxy?email=ana@example.com', '/proxy/*?[Redacted]'],
    ['/PROXY/platform/contacts/email:ana@example.com?q=ana@example.com', '/PROXY/*?[Redacted]'],
    ['/Proxy/platform/contacts/email:ana@example.com', '/Proxy/*'],
    ['/nowhere?email=ana@example.com&page=2', '/nowhere?[Redacted]'],
  ])('masks the query of an unmatched route: %s', (url, logged) => {
    const { fields } = logLine(url, 404, { route: null });
    expect(fields.url).toBe(logged);
    expect(JSON.stringify(fields)).not.toContain('ana@example.com');
  });

  it('logs a streamed answer that was cut as cut, at error, not as a plain 200', () => {
    const { level, fields } = logLine('/proxy/crm/v2/contacts', 200, { answerCut: 'timeout' });
    expect(level).toBe('error');
    expect(fields).toMatchObject({ status: 200, cut: 'timeout' });
  });

  it('builds no line the logger would drop, and writes a line only once per request', () => {
    const written: string[] = [];
    const enabled = new Set(['info', 'error']);
    const routeOptions = jest.fn(() => ({ url: '/tokens/:account' }));
    const log = {
      isLevelEnabled: (level: string) => enabled.has(level),
      debug: () => written.push('debug'),
      info: () => written.push('info'),
      error: () => written.push('error'),
      child() {
        return this;
      },
    };
    const request = (url: string) =>
      Object.defineProperty(
        { id: 'r', method: 'GET', ip: '::1', raw: { url }, log },
        'routeOptions',
        {
          get: routeOptions,
        },
      ) as unknown as FastifyRequest;
    const reply = (statusCode: number) =>
      ({ statusCode, elapsedTime: 1 }) as unknown as FastifyReply;
    const logger = new RequestLog(ROUTES);
    // A successful read is a debug line: at info nothing is built (routeOptions is not even read).
    logger.requestCompleted(null, request('/tokens/acme?product=crm'), reply(200));
    expect(written).toEqual([]);
    expect(routeOptions).not.toHaveBeenCalled();
    // A refused read is an info line, written once however often fastify reports it.
    const refused = request('/tokens/acme?product=crm');
    logger.requestCompleted(null, refused, reply(404));
    logger.requestCompleted(null, refused, reply(404));
    expect(written).toEqual(['info']);
  });
});
