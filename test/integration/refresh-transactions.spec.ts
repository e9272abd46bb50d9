import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource, QueryRunner } from 'typeorm';
import { ConnectionsRepository } from '../../src/connections/connections.repository';
import { TokenRefresher } from '../../src/connections/token-refresher';
import { connect, createHarness, type Harness } from '../support/harness';

/**
 * Counts the database transactions one refresh commits, the way PostgreSQL counts them: a
 * statement outside BEGIN…COMMIT is a transaction of its own, a BEGIN…COMMIT block is one. Only
 * the transactions that touch the connection's lease (take, prove or end it) are counted, so the
 * scheduler, the outbox and the cache, running meanwhile, are left out.
 */
function countTransactions(dataSource: DataSource) {
  const sessions: Array<{ statements: string[] }> = [];
  const create = dataSource.createQueryRunner.bind(dataSource);
  const spy = jest.spyOn(dataSource, 'createQueryRunner').mockImplementation((mode) => {
    const runner: QueryRunner = create(mode);
    const session = { statements: [] as string[] };
    sessions.push(session);
    const query = runner.query.bind(runner);
    runner.query = ((sql: string, ...rest: unknown[]) => {
      session.statements.push(sql);
      return (query as (...args: unknown[]) => unknown)(sql, ...rest);
    }) as QueryRunner['query'];
    return runner;
  });
  return {
    spy,
    transactions(): number {
      let count = 0;
      const leased = (statements: string[]) =>
        statements.some((sql) => sql.includes('connection_leases'));
      for (const { statements } of sessions) {
        let block: string[] | null = null;
        for (const sql of statements) {
          if (sql === 'START TRANSACTION') block = [];
          else if (sql === 'COMMIT' || sql === 'ROLLBACK') {
            if (block && leased(block)) count += 1;
            block = null;
          } else if (block) block.push(sql);
          else if (leased([sql])) count += 1;
        }
      }
      return count;
    },
  };
}

describe('database transactions per refresh', () => {
  let h: Harness;
  let counter: ReturnType<typeof countTransactions>;

  beforeEach(async () => {
    h = await createHarness();
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
    h.rd.reset();
    counter = countTransactions(h.broker.app.get<DataSource>(getDataSourceToken()));
  });

  afterEach(async () => {
    counter.spy.mockRestore();
    await h.close();
  });

  const refresh = () =>
    h.broker.app
      .get(TokenRefresher)
      .refresh({ account: 'acme', product: 'crm' }, { kind: 'forced', requestedAt: new Date() });

  it('commits a refresh in four: lease, read, mark, outcome (which ends the lease)', async () => {
    const result = await refresh();
    expect(result.outcome).toBe('refreshed');
    const accessToken = h.broker.app.get(ConnectionsRepository).accessTokenOf(result.connection);
    expect(h.rd.isLiveAccessToken(accessToken)).toBe(true);
    expect(counter.transactions()).toBe(4);
  });

  it('commits a failed refresh in four too, and the returned row carries the failure', async () => {
    h.rd.failNext(1, { kind: 'status', status: 503 });
    const result = await refresh();
    expect(result.outcome).toBe('transient_failure');
    expect(result.connection.status).toBe('refresh_failing');
    expect(result.connection.consecutiveFailures).toBe(1);
    expect(counter.transactions()).toBe(4);
  });
});
