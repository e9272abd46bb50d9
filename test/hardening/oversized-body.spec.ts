/**
 * Oversized and pre-authentication bodies. The broker answers an oversized body (413) or a
 * /proxy call without a valid key (401) before reading it, then reads and discards a bounded
 * amount (a lingering close, as nginx does) before closing: a client still sending sees the
 * answer instead of EPIPE/ECONNRESET, and no body is buffered.
 */
import { ADMIN_KEY, startBroker, type TestBroker } from '../support/broker';
import { createTestDatabase, type TestDatabase } from '../support/database';

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

describe('oversized bodies', () => {
  let db: TestDatabase;
  let broker: TestBroker;

  beforeAll(async () => {
    db = await createTestDatabase();
    broker = await startBroker(db.url);
  });
  afterAll(async () => {
    await broker?.close();
    await db?.drop();
  });

  it("5 × 3 MiB JSON to an admin route with Node's fetch: 5 × 413", async () => {
    const body = JSON.stringify({ product: 'crm', refreshToken: 'x'.repeat(3 * 1024 * 1024) });
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
});
