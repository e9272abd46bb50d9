import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyHttpOptions, FastifyInstance } from 'fastify';
import type { HttpLimits } from '../config/config';
import { clientAddressResolver, normaliseAddress } from './client-address';
import { bodyPending } from './lingering-close';

/**
 * How long a client may take and whom the broker believes, as fastify server options. Fastify
 * leaves `requestTimeout` at 0 (a request whose body never arrives holds its socket forever);
 * here every request must arrive whole within HTTP_REQUEST_TIMEOUT_MS and its headers within
 * HTTP_HEADERS_TIMEOUT_MS, or Node answers 408 (answerClientError) and closes the socket. A
 * connection that sends nothing at all is closed by the headers timeout too.
 */
export function serverOptions(limits: HttpLimits): FastifyHttpOptions<Server> {
  return {
    trustProxy: limits.trustedProxies.length > 0 ? limits.trustedProxies : false,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks both timeouts on this interval (default 30 s, which would stretch a short
      // timeout); a quarter of the shorter one keeps the overshoot small at a negligible cost.
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(30_000, Math.floor(limits.headersTimeoutMs / 4)),
      ),
    },
  };
}

/**
 * Caps the connections open at once from one peer address: a host that opens hundreds of idle or
 * stalled sockets would otherwise use up the replica's file descriptors, and with them the token
 * reads and the readiness probe of everyone else. Connections beyond the cap are closed at once,
 * before any byte is read. A trusted proxy (TRUSTED_PROXIES) carries many clients and is not capped
 * here: its clients are, by `useClientAddress`.
 */
export function capConnectionsPerAddress(server: Server, limits: HttpLimits): void {
  const max = limits.maxConnectionsPerAddress;
  if (max === 0) return;
  const isTrustedProxy = trustTest(limits.trustedProxies);
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = normaliseAddress(socket.remoteAddress ?? '') ?? socket.remoteAddress;
    if (address === undefined || isTrustedProxy(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

function trustTest(trusted: string[]): (address: string) => boolean {
  if (trusted.length === 0) return () => false;
  const trust = proxyAddr.compile(trusted);
  return (address) => trust(address, 0);
}

/**
 * Every request's `ip` is its client's address, normalised (client-address.ts), for every limit
 * and log line that reads it (the failed-key limiter, the callback throttle, the access log).
 * Behind a trusted proxy each request in flight holds one of the proxy's connections for its
 * client, so the per-address cap applies to the forwarded client address there: past
 * HTTP_MAX_CONNECTIONS_PER_ADDRESS requests in flight, 429 before any body byte is read, and
 * a connection with a body on its way closes (lingering-close.ts) rather than read it.
 */
export function useClientAddress(fastify: FastifyInstance, limits: HttpLimits): void {
  const resolve = clientAddressResolver(limits.trustedProxies);
  const isTrustedProxy = trustTest(limits.trustedProxies);
  const max = limits.maxConnectionsPerAddress;
  const behindProxies = limits.trustedProxies.length > 0;
  const inFlight = new Map<string, number>();
  // Callback style: no promise per request on the hot path.
  fastify.addHook('onRequest', (request, reply, done) => {
    const address = resolve(request.raw);
    // fastify's own `ip` takes X-Forwarded-For entries as written: this one shadows it.
    Object.defineProperty(request, 'ip', { value: address, enumerable: true });
    // Without a trusted proxy in TRUSTED_PROXIES, capConnectionsPerAddress has capped the sockets.
    if (max === 0 || !behindProxies) return done();
    const peer = request.raw.socket.remoteAddress;
    if (peer === undefined || !isTrustedProxy(normaliseAddress(peer) ?? peer)) return done();
    const count = inFlight.get(address) ?? 0;
    if (count >= max) {
      if (bodyPending(request.raw)) reply.header('Connection', 'close');
      // Answered here: `done` is not called, so nothing else runs for this request.
      void reply.code(429).header('Retry-After', '1').send({
        statusCode: 429,
        error: 'rate_limited',
        message: 'too many requests in flight from this address (HTTP_MAX_CONNECTIONS_PER_ADDRESS)',
      });
      return;
    }
    inFlight.set(address, count + 1);
    reply.raw.once('close', () => {
      const left = (inFlight.get(address) ?? 1) - 1;
      if (left > 0) inFlight.set(address, left);
      else inFlight.delete(address);
    });
    done();
  });
}
