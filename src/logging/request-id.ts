import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The request id: a caller's (or a proxy's) well-formed X-Request-Id, else a fresh UUID. Given to
 * fastify, so the access log line, error logs and the "quote request id" of a 500 all agree.
 */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:-]{1,64}$/.test(given) ? given : randomUUID();
}
