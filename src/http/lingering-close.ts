import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** At most this much of an unwanted body is read and discarded before the socket closes. */
export const LINGER_MAX_BYTES = 8 * 1024 * 1024;
/** …and for at most this long (nginx's lingering_time is 30 s, its lingering_timeout 5 s). */
export const LINGER_MAX_MS = 5_000;
const CHECK_EVERY_MS = 50;

/**
 * A lingering close, as nginx does it. When the broker answers before reading a request's body
 * (413 on a body over the limit, 401 on /proxy without a valid key) it closes the connection
 * (`Connection: close`): the body is unwanted and must not be buffered. Node then destroys the
 * socket as soon as the answer is written, while the client is still sending; the unread bytes
 * make the kernel reset the connection, and a client that has not read the answer yet (Node's
 * fetch, often) sees EPIPE or ECONNRESET instead of the 413. Here such a socket only half-closes
 * (FIN after the answer), keeps reading and discarding what the client sends, and is destroyed
 * when the client is done, or after LINGER_MAX_BYTES or LINGER_MAX_MS, whichever comes first.
 */
export function lingerOnEarlyClose(fastify: FastifyInstance): void {
  fastify.addHook('onSend', (request, reply, payload, done) => {
    // The body first: almost every answer has none pending, and that costs no header lookup.
    if (
      bodyPending(request.raw) &&
      String(reply.getHeader('connection') ?? '').toLowerCase() === 'close'
    )
      lingerBeforeDestroy(request.raw.socket);
    done(null, payload);
  });
}

/** Whether the request announced a body that has not been read (yet). */
export function bodyPending(request: IncomingMessage): boolean {
  if (request.complete) return false;
  const length = Number(request.headers['content-length']);
  return length > 0 || request.headers['transfer-encoding'] !== undefined;
}

/** Replaces Node's `destroySoon` (called once the closing answer is written) by a lingering one. */
export function lingerBeforeDestroy(socket: Socket): void {
  const lingering = socket as Socket & { destroySoon?: () => void };
  if (socket.destroyed || typeof lingering.destroySoon !== 'function') return;
  lingering.destroySoon = () => {
    if (socket.destroyed) return;
    socket.end();
    const start = socket.bytesRead;
    const close = () => {
      clearInterval(check);
      clearTimeout(deadline);
      socket.destroy();
    };
    // Node's HTTP parser reads the socket itself (no 'data' events): count what it read.
    const check = setInterval(() => {
      if (socket.bytesRead - start > LINGER_MAX_BYTES) close();
    }, CHECK_EVERY_MS);
    const deadline = setTimeout(close, LINGER_MAX_MS);
    check.unref();
    deadline.unref();
    socket.once('end', close);
    socket.once('close', close);
  };
}
