/**
 * A database the broker cannot use at start: the built process says once, in one line, which
 * host, port, database and user it tried and why (connection refused, role or database missing),
 * never the password, and exits 1 at once: no framework retries, no stack trace.
 */
import { randomBytes } from 'node:crypto';
import { testEnv } from '../support/broker';
import { freePort, spawnBroker } from '../support/process';

jest.setTimeout(60_000);

const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;

/** The test server (a local one or the embedded one), with its own credentials. */
function testServer() {
  const url = new URL(process.env.TEST_SERVER_URL!);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

interface Target {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

describe('start-up on a database it cannot use (process)', () => {
  it.each<[string, () => Promise<Target>, RegExp]>([
    [
      'nothing listening',
      async () => ({
        host: '127.0.0.1',
        port: await freePort(),
        user: 'postgres',
        password: PASSWORD,
        database: 'postgres',
      }),
      /^connection refused: nothing listens there \(ECONNREFUSED\)$/,
    ],
    [
      'a missing database',
      async () => ({ ...testServer(), database: 'no_such_database' }),
      /^the database does not exist \(3D000\)$/,
    ],
    [
      // Under trust auth the server says the role is missing; under password auth it answers as
      // for a wrong password, so as not to tell which roles exist.
      'a missing role',
      async () => ({
        ...testServer(),
        user: 'no_such_role',
        password: PASSWORD,
        database: 'postgres',
      }),
      /^(authentication refused: role "no_such_role" does not exist \(28000\)|password authentication failed \(28P01\))$/,
    ],
  ])('%s: one line naming where and why, exit 1', async (_name, target, why) => {
    const { host, port, user, password, database } = await target();
    const credentials = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    const broker = spawnBroker(
      testEnv({
        DATABASE_URL: `postgres://${credentials}@${host}:${port}/${database}`,
        LOG_LEVEL: 'info',
      }),
    );
    expect(await broker.exited).toBe(1);
    const output = broker.output();
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    const prefix = `database error: cannot use PostgreSQL at ${host}:${port}, database "${database}", user "${user}": `;
    expect(lines[0].startsWith(prefix)).toBe(true);
    expect(lines[0].slice(prefix.length)).toMatch(why);
    expect(output).not.toContain(PASSWORD);
    if (password) expect(output).not.toContain(password);
  });
});
