/**
 * The access log of a broker process: a callback whose parameter names are percent-encoded
 * (`?%73tate=…&%63ode=…`, which the query parser decodes and the callback accepts) has its values
 * masked like plain ones, and `remoteAddress` is the address the broker decided on: the socket's
 * peer unless that peer is a TRUSTED_PROXIES entry, never a header a client made up.
 */
import { randomBytes } from 'node:crypto';
import { SERVICE_KEY } from '../support/broker';
import { startBrokerProcess } from '../support/broker-process';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { waitFor, type BrokerProcess } from '../support/process';

jest.setTimeout(90_000);

const secret = (label: string) => `${label}-${randomBytes(18).toString('base64url')}`;

interface LogLine {
  msg?: string;
  url?: string;
  remoteAddress?: string;
  requestId?: string;
}

function requestLines(broker: BrokerProcess): LogLine[] {
  return broker
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)
    .filter((line) => line.msg === 'request completed');
}

/** The access-log line of the request sent with this X-Request-Id, once it is written. */
function lineOf(broker: BrokerProcess, requestId: string): Promise<LogLine> {
  return waitFor(async () => requestLines(broker).find((line) => line.requestId === requestId), {
    timeoutMs: 10_000,
    what: `the log line of ${requestId}`,
  });
}

describe('access log (broker process)', () => {
  const brokers: BrokerProcess[] = [];
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const broker of brokers) {
      broker.child.kill('SIGTERM');
      await broker.exited;
    }
    await db.drop();
  });

  async function start(env: Record<string, string> = {}): Promise<BrokerProcess> {
    const broker = await startBrokerProcess({
      DATABASE_URL: db.url,
      LOG_LEVEL: 'info',
      ...env,
    });
    brokers.push(broker);
    return broker;
  }

  it('masks state and code whose names are percent-encoded, and logs the connecting address', async () => {
    const broker = await start();
    const state = secret('state');
    const code = secret('code');
    const token = secret('token');
    const cases: Array<[string, string]> = [
      ['encoded-names', `/oauth/callback?%73tate=${state}&%63ode=${code}`],
      ['upper-case-escapes', `/oauth/callback?%53TATE=${state}&C%6fDE=${code}`],
      ['plus-and-brackets', `/oauth/callback?state%5B%5D=${state}&refresh%5Ftoken=${token}`],
    ];
    for (const [id, path] of cases) {
      const res = await fetch(`${broker.url}${path}`, {
        headers: { 'x-request-id': id, 'x-forwarded-for': '198.51.100.99' },
        redirect: 'manual',
      });
      expect(res.status).toBe(400);
      const line = await lineOf(broker, id);
      expect(line.url).toMatch(/^\/oauth\/callback\?/);
      expect(line.url).toContain('=[Redacted]');
      expect(line.remoteAddress).toBe('127.0.0.1');
    }
    const output = broker.output();
    for (const value of [state, code, token]) expect(output).not.toContain(value);
    expect(output).not.toContain('198.51.100.99');
  });

  it('logs the forwarded client address when the peer is a trusted proxy', async () => {
    const broker = await start({ TRUSTED_PROXIES: '127.0.0.1' });
    await fetch(`${broker.url}/tokens/acme?product=crm`, {
      headers: { 'x-request-id': 'via-proxy', 'x-forwarded-for': '10.9.9.9, 198.51.100.7' },
    });
    expect((await lineOf(broker, 'via-proxy')).remoteAddress).toBe('198.51.100.7');
  });

  it('masks the token of connect and reconnect links in every line, whatever the method', async () => {
    const broker = await start({ LOG_LEVEL: 'debug' });
    const made = await fetch(`${broker.url}/connect-links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ account: 'acme', product: 'crm' }),
    });
    expect(made.status).toBe(201);
    const { url } = (await made.json()) as { url: string };
    const token = url.split('/').pop()!;
    const reconnectToken = randomBytes(32).toString('base64url');
    const visits: Array<[string, string, string, number]> = [
      ['link-head', 'HEAD', url, 200],
      ['link-get', 'GET', url, 200],
      ['link-post', 'POST', url, 303],
      ['link-again', 'GET', `${url}?utm=mail`, 400],
      ['reconnect', 'POST', `${broker.url}/oauth/reconnect/${reconnectToken}`, 400],
    ];
    for (const [id, method, target, status] of visits) {
      const res = await fetch(target, {
        method,
        headers: { 'x-request-id': id },
        redirect: 'manual',
      });
      expect(res.status).toBe(status);
      const line = await lineOf(broker, id);
      expect(line.url).toMatch(/^\/(connect|oauth\/reconnect)\/\[Redacted\]/);
    }
    const output = broker.output();
    expect(output).not.toContain(token);
    expect(output).not.toContain(reconnectToken);
  });
});
