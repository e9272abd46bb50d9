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

describe('start-up on a database it cannot use (process)', () => {
  it.each([
    [
      'nothing listening',
      async () => ({ port: await freePort(), user: 'postgres', database: 'postgres' }),
      'connection refused: nothing listens there (ECONNREFUSED)',
    ],
    [
      'a missing database',
      async () => ({ port: 5432, user: 'postgres', database: 'no_such_database' }),
      'the database does not exist (3D000)',
    ],
    [
      'a missing role',
      async () => ({ port: 5432, user: 'no_such_role', database: 'postgres' }),
      'authentication refused: role "no_such_role" does not exist (28000)',
    ],
  ])('%s: one line naming where and why, exit 1', async (_name, target, why) => {
    const { port, user, database } = await target();
    const broker = spawnBroker(
      testEnv({
        DATABASE_URL: `postgres://${user}:${PASSWORD}@127.0.0.1:${port}/${database}`,
        LOG_LEVEL: 'info',
      }),
    );
    expect(await broker.exited).toBe(1);
    const output = broker.output();
    expect(output.trim().split('\n')).toEqual([
      `database error: cannot use PostgreSQL at 127.0.0.1:${port}, database "${database}", user "${user}": ${why}`,
    ]);
    expect(output).not.toContain(PASSWORD);
  });
});
