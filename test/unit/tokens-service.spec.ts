import type { ConnectionKey } from '../../src/common/connection-key';
import {
  NotConnectedError,
  ProviderUnavailableError,
  ReauthorizationRequiredError,
  RefreshTooSoonError,
} from '../../src/common/errors';
import { accessTokenHash } from '../../src/connections/access-token-hash';
import type { ConnectionsRepository } from '../../src/connections/connections.repository';
import type { RefreshResult, TokenRefresher } from '../../src/connections/token-refresher';
import type { Connection } from '../../src/database/connection.entity';
import type { ReadCounter } from '../../src/history/read-counter';
import type { RefreshOutcome, RefreshTrigger } from '../../src/refresh/refresh-policy';
import type { CachedToken, TokenCache } from '../../src/tokens/token-cache';
import { TokensService } from '../../src/tokens/tokens.service';

/**
 * TokensService against in-memory stand-ins (no PostgreSQL): which path a read takes (memory,
 * the row, a refresh), what it counts, and what it refuses. The SQL and the cross-replica lock
 * are covered by the e2e and integration tests (tokens, rejected-token, token-cache).
 */

const KEY: ConnectionKey = { account: 'acme', product: 'crm' };
const HOUR = 3_600_000;
const REPORT_INTERVAL_SECONDS = 30;

function connection(change: Partial<Connection> = {}): Connection {
  return {
    ...KEY,
    status: 'active',
    accessTokenCiphertext: 'enc:token-1',
    refreshTokenCiphertext: 'enc:refresh-1',
    expiresAt: new Date(Date.now() + HOUR),
    lastRefreshedAt: new Date(Date.now() - HOUR),
    reportRefreshedAt: null,
    nextRefreshAt: null,
    lastError: null,
    lastErrorAt: null,
    ...change,
  } as Connection;
}

/** The row store: `enc:<token>` stands for a ciphertext, accessTokenOf "decrypts" it. */
class FakeConnections {
  row: Connection | null = connection();
  reads = 0;

  async findOne(): Promise<Connection | null> {
    this.reads++;
    return this.row ? { ...this.row } : null;
  }
  accessTokenOf(row: Connection): string {
    return row.accessTokenCiphertext.replace(/^enc:/, '');
  }
}

/** The refresher: what it was asked, and a new token (or `answer`'s outcome) each time. */
class FakeRefresher {
  calls: RefreshTrigger[] = [];
  answer: RefreshOutcome = 'refreshed';
  private issued = 1;

  constructor(private readonly connections: FakeConnections) {}

  async refresh(_key: ConnectionKey, trigger: RefreshTrigger): Promise<RefreshResult> {
    this.calls.push(trigger);
    const row = this.connections.row as Connection;
    if (this.answer === 'refreshed') {
      Object.assign(row, {
        accessTokenCiphertext: `enc:token-${++this.issued}`,
        expiresAt: new Date(Date.now() + HOUR),
        lastRefreshedAt: new Date(),
        reportRefreshedAt: trigger.kind === 'rejected' ? new Date() : row.reportRefreshedAt,
      });
    }
    return { outcome: this.answer, connection: { ...row } };
  }
}

class FakeCache {
  entries = new Map<string, CachedToken>();
  get(key: ConnectionKey) {
    return this.entries.get(`${key.product}/${key.account}`);
  }
  ticket() {
    return 0;
  }
  set(key: ConnectionKey, token: CachedToken) {
    this.entries.set(`${key.product}/${key.account}`, token);
  }
}

function setUp() {
  const connections = new FakeConnections();
  const refresher = new FakeRefresher(connections);
  const cache = new FakeCache();
  const outcomes: string[] = [];
  const counted: string[] = [];
  const service = new TokensService(
    { reportRefreshIntervalSeconds: REPORT_INTERVAL_SECONDS } as never,
    connections as unknown as ConnectionsRepository,
    refresher as unknown as TokenRefresher,
    cache as unknown as TokenCache,
    { countTokenRead: (_product: string, outcome: string) => outcomes.push(outcome) } as never,
    { count: (caller: string) => counted.push(caller) } as unknown as ReadCounter,
  );
  return { service, connections, refresher, cache, outcomes, counted };
}

describe('TokensService (in-memory stores)', () => {
  it('reads the row once, then answers from memory without touching the store', async () => {
    const { service, connections, refresher, outcomes, counted } = setUp();
    const first = await service.getToken(KEY, 60, 'billing');
    const second = await service.getToken(KEY, 60, 'billing');
    expect(first.accessToken).toBe('token-1');
    expect(second).toEqual(first);
    expect(connections.reads).toBe(1);
    expect(refresher.calls).toEqual([]);
    expect(outcomes).toEqual(['db', 'cache_hit']);
    expect(counted).toEqual(['billing', 'billing']);
  });

  it('counts no caller for a null one (the proxy retrying a call it already counted)', async () => {
    const { service, counted } = setUp();
    await service.getToken(KEY, 60, null);
    expect(counted).toEqual([]);
  });

  it('refreshes first when the stored token has less validity left than asked', async () => {
    const { service, connections, refresher, outcomes } = setUp();
    connections.row = connection({ expiresAt: new Date(Date.now() + 30_000) });
    const answer = await service.getToken(KEY, 600, 'billing');
    expect(refresher.calls).toEqual([{ kind: 'read', minValiditySeconds: 600 }]);
    expect(answer.accessToken).toBe('token-2');
    expect(outcomes).toEqual(['refreshed']);
  });

  it('goes past a cached token that has too little validity left for this read', async () => {
    const { service, cache, connections } = setUp();
    cache.set(KEY, {
      accessToken: 'old',
      expiresAt: new Date(Date.now() + 10_000),
      expiresAtIso: '',
    });
    const answer = await service.getToken(KEY, 60, 'billing');
    expect(answer.accessToken).toBe('token-1');
    expect(connections.reads).toBe(1);
  });

  it('replaces a reported token through the refresher, once, and serves the new one', async () => {
    const { service, refresher } = setUp();
    await service.getToken(KEY, 60, 'billing'); // cached
    const answer = await service.getToken(KEY, 60, 'billing', accessTokenHash('token-1'));
    expect(answer.accessToken).toBe('token-2');
    expect(refresher.calls).toEqual([
      {
        kind: 'rejected',
        tokenHash: accessTokenHash('token-1'),
        minIntervalSeconds: REPORT_INTERVAL_SECONDS,
      },
    ]);
  });

  it('serves a report of a token already replaced without a refresh', async () => {
    const { service, refresher } = setUp();
    const answer = await service.getToken(KEY, 60, 'billing', accessTokenHash('long-gone'));
    expect(answer.accessToken).toBe('token-1');
    expect(refresher.calls).toEqual([]);
  });

  it('checks a report against the stored row, not against a memory another replica made stale', async () => {
    const { service, connections, refresher, outcomes } = setUp();
    await service.getToken(KEY, 60, 'billing'); // token-1 in this replica's memory
    // Another replica replaced it after RD refused token-1, seconds ago; its change notice has
    // not reached this replica yet. The caller, handed token-2 there, reports token-2 here.
    connections.row = connection({
      accessTokenCiphertext: 'enc:token-2',
      reportRefreshedAt: new Date(Date.now() - 1_000),
    });
    const report = service.getToken(KEY, 60, 'billing', accessTokenHash('token-2'));
    await expect(report).rejects.toBeInstanceOf(RefreshTooSoonError);
    expect(refresher.calls).toEqual([]);
    expect(outcomes).toEqual(['db', 'rate_limited']);
  });

  it('answers 429 with Retry-After to a report within REFRESH_MIN_INTERVAL_SECONDS of the last', async () => {
    const { service, connections, refresher, outcomes } = setUp();
    connections.row = connection({ reportRefreshedAt: new Date(Date.now() - 10_000) });
    const refused = service.getToken(KEY, 60, 'billing', accessTokenHash('token-1'));
    await expect(refused).rejects.toBeInstanceOf(RefreshTooSoonError);
    await expect(refused).rejects.toMatchObject({ retryAfter: 20 });
    expect(refresher.calls).toEqual([]);
    expect(outcomes).toEqual(['rate_limited']);
  });

  it('404s a connection that does not exist, counted by its error code', async () => {
    const { service, connections, outcomes, counted } = setUp();
    connections.row = null;
    await expect(service.getToken(KEY, 60, 'billing')).rejects.toBeInstanceOf(NotConnectedError);
    expect(outcomes).toEqual(['not_connected']);
    expect(counted).toEqual([]);
  });

  it('refuses a condemned connection without calling RD', async () => {
    const { service, connections, refresher } = setUp();
    connections.row = connection({
      status: 'reauthorization_required',
      lastError: 'invalid_grant',
    });
    await expect(service.getToken(KEY, 60, 'billing')).rejects.toBeInstanceOf(
      ReauthorizationRequiredError,
    );
    expect(refresher.calls).toEqual([]);
  });

  it('503s when RD could not refresh and the stored token cannot serve the read', async () => {
    const { service, connections, refresher, cache } = setUp();
    connections.row = connection({
      expiresAt: new Date(Date.now() + 30_000),
      nextRefreshAt: new Date(Date.now() + 42_000),
      lastError: 'RD Station answered 503',
    });
    refresher.answer = 'backing_off';
    const refused = service.getToken(KEY, 600, 'billing');
    await expect(refused).rejects.toBeInstanceOf(ProviderUnavailableError);
    await expect(refused).rejects.toMatchObject({ retryAfter: 42 });
    expect(cache.entries.size).toBe(0);
  });

  it('gives the proxy a cached token as a string, and nothing when it is too short-lived', async () => {
    const { service, outcomes } = setUp();
    expect(service.cachedAccessToken(KEY, 60)).toBeUndefined();
    await service.getToken(KEY, 60, 'billing');
    expect(service.cachedAccessToken(KEY, 60)).toBe('token-1');
    expect(service.cachedAccessToken(KEY, 2 * 3600)).toBeUndefined();
    expect(outcomes).toEqual(['db', 'cache_hit']);
  });

  it('answers GET /tokens from memory without a promise, as getToken would, or leaves it to getToken', async () => {
    const { service, outcomes, counted } = setUp();
    expect(service.cachedToken(KEY, 60, 'billing')).toBeUndefined();
    const read = await service.getToken(KEY, 60, 'billing');
    const cached = service.cachedToken(KEY, 60, 'billing');
    expect(cached).not.toBeInstanceOf(Promise);
    expect(cached).toEqual({ ...read, expiresIn: cached!.expiresIn });
    expect(Math.abs(cached!.expiresIn - read.expiresIn)).toBeLessThanOrEqual(1);
    // Too short-lived, or a report of any token (checked against the row): getToken's business.
    expect(service.cachedToken(KEY, 2 * 3600, 'billing')).toBeUndefined();
    expect(service.cachedToken(KEY, 60, 'billing', accessTokenHash('token-1'))).toBeUndefined();
    expect(service.cachedToken(KEY, 60, 'billing', accessTokenHash('another'))).toBeUndefined();
    expect(outcomes).toEqual(['db', 'cache_hit']);
    expect(counted).toEqual(['billing', 'billing']);
  });
});
