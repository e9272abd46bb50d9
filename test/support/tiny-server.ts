import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  /** The request target as sent: path and query. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body as received (a binary body, e.g. OTLP protobuf, is not text). */
  bytes: Buffer;
}

export type Handler = (
  request: SeenRequest,
  response: ServerResponse,
  raw: IncomingMessage,
) => void | Promise<void>;

export interface TinyServer {
  url: string;
  /** Every request received, in order. */
  requests: SeenRequest[];
  /** Answers the next requests; change it between steps of a test. */
  handle: Handler;
  close(): Promise<void>;
}

/**
 * A node:http server whose answers a test writes by hand, recording every request: the stand-in
 * for the broker in the client's unit tests, for RD in the RD client's, the webhook receiver that
 * captures event deliveries, the calling app a browser returns to. Callers talk to it over real
 * sockets; `close()` also ends connections still open (hung answers included).
 */
export async function startTinyServer(handle: Handler = notFound): Promise<TinyServer> {
  const sockets = new Set<Socket>();
  const server = createServer((raw, response) => {
    const chunks: Buffer[] = [];
    raw.on('data', (chunk: Buffer) => chunks.push(chunk));
    raw.on('end', () => {
      const url = new URL(raw.url ?? '/', 'http://tiny');
      const seen: SeenRequest = {
        method: raw.method ?? '',
        url: raw.url ?? '/',
        path: url.pathname,
        query: url.searchParams,
        headers: raw.headers,
        body: '',
        bytes: Buffer.concat(chunks),
      };
      seen.body = seen.bytes.toString();
      tiny.requests.push(seen);
      Promise.resolve(tiny.handle(seen, response, raw)).catch(() => response.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const tiny: TinyServer = {
    url: `http://127.0.0.1:${port}`,
    requests: [],
    handle,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return tiny;
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

function notFound(_request: SeenRequest, response: ServerResponse): void {
  sendJson(response, 404, { statusCode: 404, error: 'not_found', message: 'no handler' });
}
