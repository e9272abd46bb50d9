import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';

export interface HeldExchange {
  method: string;
  path: string;
  /** What the upstream answered; the client never receives it. */
  status: number;
  body: string;
}

export interface HoldingProxy {
  url: string;
  /** Requests whose path this matches are forwarded, answered upstream, and the answer is kept. */
  holdWhen: (path: string) => boolean;
  /** Answers the upstream produced but the client never got. */
  held: HeldExchange[];
  close(): Promise<void>;
}

/**
 * A reverse proxy in front of the fake RD Station that can swallow answers: the request reaches
 * RD and is fully processed there, but the answer never reaches the caller. It models "RD did
 * the work; the caller never heard back" (a crash or a cut connection between the two).
 */
export async function startHoldingProxy(upstream: string): Promise<HoldingProxy> {
  const sockets = new Set<Socket>();
  const proxy: HoldingProxy = {
    url: '',
    holdWhen: () => false,
    held: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };

  const forward = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (['host', 'connection', 'content-length', 'keep-alive'].includes(name)) continue;
      if (typeof value === 'string') headers.set(name, value);
    }
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    const answer = await fetch(new URL(request.url ?? '/', upstream), {
      method: request.method,
      headers,
      body: hasBody ? Buffer.concat(chunks) : undefined,
      redirect: 'manual',
    });
    const body = await answer.text();
    const path = (request.url ?? '/').split('?')[0];
    if (proxy.holdWhen(path)) {
      proxy.held.push({ method: request.method ?? '', path, status: answer.status, body });
      return; // never answered: the caller waits until it gives up or dies
    }
    const out: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(name))
        out[name] = value;
    });
    response.writeHead(answer.status, out).end(body);
  };

  const server = createServer((request, response) => {
    forward(request, response).catch(() => response.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  proxy.url = `http://127.0.0.1:${port}`;
  return proxy;
}

export interface TcpHoldingProxy {
  /** host:port to connect to instead of the upstream. */
  host: string;
  port: number;
  /**
   * From now on, connections whose first bytes (a PostgreSQL startup packet carries the
   * application_name in clear) match are silently held: nothing more is forwarded either way,
   * and neither side is closed. Applies to open connections and to new ones until `release`.
   */
  hold(match: (firstBytes: string) => boolean): void;
  /** New connections are forwarded again; the ones already held stay silent. */
  release(): void;
  /**
   * The local ports of the proxy's own connections to the upstream whose first bytes match:
   * what PostgreSQL names them by (`pg_stat_activity.client_port`).
   */
  upstreamPorts(match: (firstBytes: string) => boolean): number[];
  close(): Promise<void>;
}

/**
 * A TCP proxy that can stop forwarding without closing anything: the silent connection loss of
 * a NAT or firewall drop, where neither end sees an error or an end.
 */
export async function startTcpHoldingProxy(
  upstreamHost: string,
  upstreamPort: number,
): Promise<TcpHoldingProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; first: string; held: boolean }>();
  let rule: ((firstBytes: string) => boolean) | null = null;
  const server = createNetServer((client) => {
    const upstream = connect(upstreamPort, upstreamHost);
    const pair = { client, upstream, first: '', held: false };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (pair.first === '') {
        pair.first = chunk.toString('latin1');
        if (rule?.(pair.first)) pair.held = true;
      }
      if (!pair.held) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!pair.held) client.write(chunk);
    });
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    host: '127.0.0.1',
    port,
    hold: (match) => {
      rule = match;
      for (const pair of pairs) if (match(pair.first)) pair.held = true;
    },
    release: () => {
      rule = null;
    },
    upstreamPorts: (match) =>
      [...pairs]
        .filter((pair) => match(pair.first) && pair.upstream.localPort !== undefined)
        .map((pair) => pair.upstream.localPort!),
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
