import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequestLog } from '../../src/logging/logger';

/** The one request line of RequestLog, for a request to `url` answered with `status`. */
function logLine(
  url: string,
  status: number,
  options: { route?: string | null; answerCut?: 'timeout' | 'broken' } = {},
) {
  const lines: Array<{ level: string; fields: Record<string, unknown> }> = [];
  const log = Object.fromEntries(
    ['debug', 'info', 'error'].map((level) => [
      level,
      (fields: Record<string, unknown>) => lines.push({ level, fields }),
    ]),
  );
  const request = {
    id: 'req-1',
    method: 'POST',
    ip: '127.0.0.1',
    raw: { url, answerCut: options.answerCut },
    routeOptions: {
      url:
        options.route === null
          ? undefined
          : (options.route ?? (url.startsWith('/proxy/') ? '/proxy/*' : '/tokens/:account')),
    },
    log,
  } as unknown as FastifyRequest;
  const reply = { statusCode: status, elapsedTime: 1.5 } as unknown as FastifyReply;
  new RequestLog().requestCompleted(null, request, reply);
  expect(lines).toHaveLength(1);
  return lines[0];
}

describe('RequestLog', () => {
  it("shows a proxied call's route, never RD's path or query", () => {
    const { level, fields } = logLine(
      '/proxy/platform/contacts/email:ana@example.com?q=secret',
      200,
    );
    expect(level).toBe('debug');
    expect(fields).toMatchObject({ url: '/proxy/*', route: '/proxy/*', status: 200 });
    expect(JSON.stringify(fields)).not.toMatch(/ana@example|secret|platform/);
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
});
