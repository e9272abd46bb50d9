/**
 * Oversized and pre-authentication bodies (issue 22, findings 2 and 9). The broker answers an
 * oversized body (413) or a /proxy call without a valid key (401) before reading the body, then
 * reads and discards a bounded amount (a lingering close, as nginx does) before closing: a
 * client still sending sees the answer instead of EPIPE/ECONNRESET, and no body is buffered.
 */
import { connect as connectSocket } from 'node:net';
import { ADMIN_KEY, startBroker, type TestBroker } from '../support/broker';
import { createTestDatabase, type TestDatabase } from '../support/database';

const MiB = 1024 * 1024;

/** fetch's outcome: the status, or the network error code it failed with. */
async function outcome(url: string, init: RequestInit): Promise<number | string> {
  try {
    const res = await fetch(url, init);
    await res.arrayBuffer();
    return res.status;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code ?? (error as Error).message;
  }
}

interface Exchange {
  /** The status line's code, read before a single body byte was sent. */
  status: number;
  /** Body bytes the broker accepted after answering. */
  written: number;
  /** The error writing them met (EPIPE, ECONNRESET), if any. */
  writeError: string | null;
}

/**
 * Sends a request's head announcing `bodyBytes`, waits for the broker's answer without sending
 * any body, then sends the body as a slow client would (a socket that stays half-open, as
 * HTTP clients do while they upload).
 */
function headThenBody(url: string, head: string, bodyBytes: number): Promise<Exchange> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectSocket({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    let written = 0;
    let writeError: string | null = null;
    let answered: ((status: number) => void) | null = null;
    const status = new Promise<number>((done) => (answered = done));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3}) /.exec(received);
      if (match && answered) {
        answered(Number(match[1]));
        answered = null;
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => (writeError ??= error.code ?? 'error'));
    socket.on('close', () => answered?.(0));
    socket.write(head);
    void (async () => {
      const code = await status;
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      while (written < bodyBytes && !socket.destroyed && writeError === null) {
        await new Promise<void>((done) =>
          socket.write(chunk, (error) => {
            if (!error) written += chunk.length;
            done();
          }),
        );
      }
      socket.end();
      socket.once('close', () => resolve({ status: code, written, writeError }));
      if (socket.destroyed) resolve({ status: code, written, writeError });
    })().catch(reject);
  });
}

describe('oversized and pre-authentication bodies', () => {
  let db: TestDatabase;
  let broker: TestBroker;

  beforeAll(async () => {
    db = await createTestDatabase();
    // A long request timeout: a broker that waited for the body would not answer 408 early.
    broker = await startBroker(db.url, { HTTP_REQUEST_TIMEOUT_MS: '120000' });
  });
  afterAll(async () => {
    await broker?.close();
    await db?.drop();
  });

  it("5 × 3 MiB JSON to an admin route with Node's fetch: 5 × 413", async () => {
    const body = JSON.stringify({ product: 'crm', refreshToken: 'x'.repeat(3 * MiB) });
    const seen: Array<number | string> = [];
    for (let i = 0; i < 5; i++) {
      seen.push(
        await outcome(`${broker.url}/connections/acme`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body,
        }),
      );
    }
    expect(seen).toEqual([413, 413, 413, 413, 413]);
  });

  it('answers 413 before the body and keeps reading it, so the client can send it all', async () => {
    const exchange = await headThenBody(
      broker.url,
      `PUT /connections/acme HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${3 * MiB}\r\n\r\n`,
      3 * MiB,
    );
    // Before: the socket was destroyed right after the 413, and the upload met EPIPE.
    expect(exchange).toEqual({ status: 413, written: 3 * MiB, writeError: null });
  });

  it('answers /proxy without a key 401 before any body byte is sent', async () => {
    const exchange = await headThenBody(
      broker.url,
      `POST /proxy/crm/v2/contacts HTTP/1.1\r\nHost: x\r\nX-Account: acme\r\nX-Product: crm\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${MiB}\r\n\r\n`,
      MiB,
    );
    // Before: the route buffered the whole body first, and the key was checked after it.
    expect(exchange.status).toBe(401);
    expect(exchange.written).toBe(MiB);
  });

  it('250 connections announcing 1 MiB with no key: every one refused before its body', async () => {
    const before = process.memoryUsage().rss;
    const exchanges = await Promise.all(
      Array.from({ length: 250 }, () =>
        headThenBody(
          broker.url,
          `POST /proxy/crm/v2/contacts HTTP/1.1\r\nHost: x\r\nX-Account: acme\r\n` +
            `Content-Type: application/octet-stream\r\nContent-Length: ${MiB}\r\n\r\n`,
          MiB,
        ),
      ),
    );
    const grownMiB = (process.memoryUsage().rss - before) / MiB;
    // The figure for the record (issue 22 reported +500 MiB for this before the fix).
    process.stdout.write(`250 pre-auth connections × 1 MiB: RSS grew ${grownMiB.toFixed(1)} MiB\n`);
    // 401, and 429 once the failed-key limiter blocks the address: both before the body.
    const statuses = exchanges.map((e) => e.status);
    expect(statuses.filter((status) => status !== 401 && status !== 429)).toEqual([]);
    expect(statuses.filter((status) => status === 401).length).toBeGreaterThanOrEqual(20);
  });
});
