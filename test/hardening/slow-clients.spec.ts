/**
 * Stalled and hoarding clients. A request whose headers or body never finish arriving is answered
 * 408 and its socket closed once HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS pass (short
 * here), instead of holding a file descriptor forever; one address cannot hold more than
 * HTTP_MAX_CONNECTIONS_PER_ADDRESS connections, while other addresses are still served.
 */
import { connect as connectSocket, type Socket } from 'node:net';
import { startBroker, type TestBroker } from '../support/broker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { waitFor } from '../support/process';

/** Longer than any timeout configured here: a socket still open then was never going to close. */
const GIVE_UP_MS = 15_000;

interface Outcome {
  /** What the server sent before the socket ended ('' for nothing). */
  received: string;
  closedByServer: boolean;
}

/** Opens a socket from `localAddress`, writes `data`, and waits for the server to close it. */
function stall(url: string, data: string, localAddress = '127.0.0.1'): Promise<Outcome> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connectSocket({ port: Number(port), host: '127.0.0.1', localAddress }, () =>
      socket.write(data),
    );
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ received, closedByServer: false });
    }, GIVE_UP_MS);
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ received, closedByServer: true });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') reject(error);
    });
  });
}

function expect408(outcome: Outcome) {
  expect(outcome.closedByServer).toBe(true);
  expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
  const body = JSON.parse(outcome.received.slice(outcome.received.indexOf('\r\n\r\n') + 4));
  expect(body).toEqual({ statusCode: 408, error: 'request_timeout', message: expect.any(String) });
}

/** A kept-alive connection that has completed one request (so the server has surely counted it). */
async function openKeptAlive(url: string, localAddress = '127.0.0.1'): Promise<Socket> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectSocket({ port: Number(port), host: '127.0.0.1', localAddress }, () =>
      socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    socket.once('data', (chunk) =>
      chunk.toString().startsWith('HTTP/1.1 200')
        ? resolve(socket)
        : reject(new Error(chunk.toString())),
    );
    socket.once('close', () => reject(new Error('closed before answering')));
    socket.on('error', reject);
  });
}

/** Whether a fresh connection from `localAddress` is served; one that the server drops is not. */
async function served(url: string, localAddress = '127.0.0.1'): Promise<boolean> {
  try {
    const socket = await openKeptAlive(url, localAddress);
    socket.destroy();
    return true;
  } catch {
    return false;
  }
}

describe('slow and hoarding clients', () => {
  let db: TestDatabase;
  let broker: TestBroker;

  beforeAll(async () => {
    db = await createTestDatabase();
    broker = await startBroker(db.url, {
      HTTP_HEADERS_TIMEOUT_MS: '500',
      HTTP_REQUEST_TIMEOUT_MS: '1000',
      HTTP_MAX_CONNECTIONS_PER_ADDRESS: '4',
    });
  });
  afterAll(async () => {
    await broker.close();
    await db.drop();
  });

  it('answers 408 and closes a request whose body stops arriving', async () => {
    const outcome = await stall(
      broker.url,
      'POST /oauth/authorize-url HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100\r\n\r\n{"account":"ac',
    );
    expect408(outcome);
  });

  it('answers 408 and closes a request whose headers never end', async () => {
    expect408(await stall(broker.url, 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n'));
  });

  it('closes a connection that never sends a byte', async () => {
    const outcome = await stall(broker.url, '');
    expect(outcome.closedByServer).toBe(true);
  });

  it('caps the connections one address holds, and serves other addresses meanwhile', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => openKeptAlive(broker.url)));
    try {
      // The fifth from the same address is closed before it is read…
      const fifth = await stall(broker.url, 'GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(fifth).toEqual({ received: '', closedByServer: true });
      // …while another address reads as usual (Linux routes all of 127.0.0.0/8 to loopback).
      expect(await served(broker.url, '127.0.0.2')).toBe(true);
    } finally {
      held.pop()!.destroy();
    }
    // One connection freed: the address is served again (once the server has seen the close).
    expect(
      await waitFor(async () => ((await served(broker.url)) ? true : undefined), {
        timeoutMs: 5_000,
        what: 'a connection from 127.0.0.1 to be served again',
      }),
    ).toBe(true);
    for (const socket of held) socket.destroy();
  });
});
