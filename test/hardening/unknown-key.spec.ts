/**
 * TOKEN_ENCRYPTION_KEY changed over existing data, the old key not kept in
 * TOKEN_ENCRYPTION_PREVIOUS_KEYS: the broker used to start without a word and then answer every
 * read 500 ("encrypted under unknown key"). It now refuses to start, in one line naming the
 * variable and the key id the rows carry, and starts once the old key is given back.
 */
import { randomBytes } from 'node:crypto';
import { keyId } from '../../src/config/config';
import { testEnv } from '../support/broker';
import { startBrokerProcess } from '../support/broker-process';
import { createHarness, type Harness } from '../support/harness';
import { spawnBroker } from '../support/process';
import { seedConnections } from '../support/seed';

jest.setTimeout(90_000);

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');
const ID_A = keyId(Buffer.from(KEY_A, 'base64'));

describe('start-up with tokens under an unknown key', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ env: { TOKEN_ENCRYPTION_KEY: KEY_A } });
    await seedConnections(h, 3, 'crm');
  });
  afterAll(() => h.close());

  it('refuses to start (exit 1, one line naming the variable and the key id)', async () => {
    const broker = spawnBroker(testEnv({ DATABASE_URL: h.db.url, TOKEN_ENCRYPTION_KEY: KEY_B }));
    expect(await broker.exited).toBe(1);
    const lines = broker
      .output()
      .trim()
      .split('\n')
      .filter((line) => line.includes('TOKEN_ENCRYPTION_KEY'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^configuration error: TOKEN_ENCRYPTION_KEY: /);
    expect(lines[0]).toContain(`${ID_A} (3 connections)`);
    expect(lines[0]).toContain('TOKEN_ENCRYPTION_PREVIOUS_KEYS');
    expect(broker.output()).not.toContain('listening');
    expect(broker.output()).not.toContain(KEY_A);
  });

  it('starts once the old key is a previous key', async () => {
    const broker = await startBrokerProcess({
      DATABASE_URL: h.db.url,
      TOKEN_ENCRYPTION_KEY: KEY_B,
      TOKEN_ENCRYPTION_PREVIOUS_KEYS: KEY_A,
    });
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
  });
});
