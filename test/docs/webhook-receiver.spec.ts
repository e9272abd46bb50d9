import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventsDispatcher } from '../../src/events/events.dispatcher';
import { connect, createHarness, type Harness } from '../support/harness';
import { startTinyServer, type TinyServer } from '../support/tiny-server';

const NEW_SECRET = 'new-webhook-secret-0123456789';
const OLD_SECRET = 'old-webhook-secret-0123456789';

type Verify = (rawBody: string, header: string, secret: string, now?: number) => { id: string };

/** The receiver code block of the README, exactly as a reader would copy it, as a fresh module. */
function readmeReceiver(): Verify {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
  const region =
    /<!-- webhook-receiver:start -->\s*```js\n([\s\S]*?)```\s*<!-- webhook-receiver:end -->/.exec(
      readme,
    );
  if (!region) throw new Error('README has no webhook-receiver code block');
  const module = { exports: {} as { verifyBrokerEvent?: Verify } };
  new Function('require', 'module', 'exports', region[1])(require, module, module.exports);
  return module.exports.verifyBrokerEvent!;
}

interface Delivery {
  body: string;
  signature: string;
}

describe("the README's webhook receiver against real deliveries", () => {
  let h: Harness;
  let hook: TinyServer;
  const received: Delivery[] = [];

  beforeAll(async () => {
    hook = await startTinyServer((request, res) => {
      received.push({
        body: request.body,
        signature: String(request.headers['x-broker-signature']),
      });
      res.statusCode = 204;
      res.end();
    });
    h = await createHarness({
      env: {
        EVENTS_WEBHOOK_URL: `${hook.url}/hook`,
        // Mid-rotation: deliveries carry a signature for each.
        EVENTS_WEBHOOK_SECRET: `${NEW_SECRET},${OLD_SECRET}`,
      },
    });
    expect((await connect(h, 'hooked-1', 'crm')).status).toBe(200);
    expect((await connect(h, 'hooked-2', 'crm')).status).toBe(200);
    await h.broker.app.get(EventsDispatcher).deliverPending();
    expect(received).toHaveLength(2);
  });
  afterAll(async () => {
    await h.close();
    await hook.close();
  });

  it('accepts a delivery with either secret of a rotation, and each event once', () => {
    const [first, second] = received;
    expect(first.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    const event = readmeReceiver()(first.body, first.signature, NEW_SECRET);
    expect(event).toMatchObject({
      id: expect.any(String),
      type: 'connection.created',
      account: 'hooked-1',
      product: 'crm',
      detail: { via: 'consent' },
    });
    expect(readmeReceiver()(first.body, first.signature, OLD_SECRET).id).toBe(event.id);

    const verify = readmeReceiver();
    verify(first.body, first.signature, NEW_SECRET);
    expect(verify(second.body, second.signature, NEW_SECRET).id).not.toBe(event.id);
  });

  it('rejects a replayed delivery (same id, within the tolerance)', () => {
    const verify = readmeReceiver();
    const [first] = received;
    verify(first.body, first.signature, NEW_SECRET);
    expect(() => verify(first.body, first.signature, NEW_SECRET)).toThrow('replayed delivery');
  });

  it('rejects a tampered body, a tampered timestamp, a wrong secret and a missing signature', () => {
    const verify = readmeReceiver();
    const [first] = received;
    const body = first.body.replace('"hooked-1"', '"hooked-9"');
    expect(body).not.toBe(first.body);
    expect(() => verify(body, first.signature, NEW_SECRET)).toThrow('bad signature');
    const t = Number(/^t=(\d+)/.exec(first.signature)![1]);
    const retimed = first.signature.replace(`t=${t}`, `t=${t + 1}`);
    expect(() => verify(first.body, retimed, NEW_SECRET)).toThrow('bad signature');
    expect(() => verify(first.body, first.signature, 'some-other-secret-012345')).toThrow(
      'bad signature',
    );
    expect(() => verify(first.body, '', NEW_SECRET)).toThrow('malformed');
    expect(() => verify(first.body, `t=${t}`, NEW_SECRET)).toThrow('malformed');
  });

  it('rejects a stale delivery (more than 5 minutes old), however genuine', () => {
    const [first] = received;
    const t = Number(/^t=(\d+)/.exec(first.signature)![1]);
    expect(() =>
      readmeReceiver()(first.body, first.signature, NEW_SECRET, (t + 301) * 1000),
    ).toThrow('stale delivery');
    expect(() =>
      readmeReceiver()(first.body, first.signature, NEW_SECRET, (t - 301) * 1000),
    ).toThrow('stale delivery');
    expect(readmeReceiver()(first.body, first.signature, NEW_SECRET, (t + 299) * 1000).id).toEqual(
      expect.any(String),
    );
  });
});
