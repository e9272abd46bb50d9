import { Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ConnectionKey } from '../../src/common/connection-key';
import { NotConnectedError } from '../../src/common/errors';
import type { Product } from '../../src/config/config';
import {
  ConnectionLifecycle,
  type Grant,
  type Revocation,
} from '../../src/connections/connection-lifecycle';
import type { Connection, ConnectionStatus } from '../../src/database/connection.entity';
import type { ConnectionsRepository } from '../../src/connections/connections.repository';
import type { EventsOutbox } from '../../src/events/events.outbox';
import type { ReconnectLinks } from '../../src/links/reconnect-links';
import type { TokenSet } from '../../src/rdstation/rdstation.client';
import { RdStationError, type RdStationErrorKind } from '../../src/rdstation/rdstation.errors';
import type { CondemnGuard, GuardDecision } from '../../src/refresh/condemn-guard';
import { LeaseLostError, type ConnectionLock, type Lease } from '../../src/refresh/connection-lock';

/**
 * ConnectionLifecycle against in-memory stand-ins for its stores (no PostgreSQL): what each
 * operation writes, which event it records and what becomes of the connection's reconnect link.
 * The SQL of each write is covered by the integration and e2e tests (connections, oauth,
 * reconnect-link, never-lose); here the rules the owner applies around it.
 */

const id = ({ account, product }: ConnectionKey) => `${product}/${account}`;
const TX = {} as EntityManager;

class FakeConnections {
  readonly rows = new Map<string, Connection>();

  row(key: ConnectionKey): Connection | undefined {
    return this.rows.get(id(key));
  }
  async findOne(key: ConnectionKey) {
    return this.rows.get(id(key)) ? { ...this.rows.get(id(key))! } : null;
  }
  findOneLocked(key: ConnectionKey) {
    return this.findOne(key);
  }
  transaction<T>(fn: (tx: EntityManager) => Promise<T>) {
    return fn(TX);
  }
  private set(key: ConnectionKey, change: Partial<Connection>) {
    const row = this.rows.get(id(key));
    if (row) Object.assign(row, change);
  }
  async saveConnected(_tx: EntityManager, key: ConnectionKey, grant: Grant, label: string | null) {
    const isNew = !this.rows.has(id(key));
    this.rows.set(id(key), {
      ...key,
      status: 'active',
      accessTokenCiphertext: `enc:${grant.accessToken}`,
      refreshTokenCiphertext: `enc:${grant.refreshToken}`,
      expiresAt: grant.expiresAt,
      label: label ?? this.rows.get(id(key))?.label ?? null,
      consecutiveFailures: 0,
      lastError: null,
      rejectedAt: null,
      heldAt: null,
      refreshStartedAt: null,
    } as Connection);
    return isNew;
  }
  async markRefreshStarted(_tx: EntityManager, key: ConnectionKey) {
    this.set(key, { refreshStartedAt: new Date() });
  }
  /** What the last saveRefreshed was told about a report of a refused token. */
  byReport: boolean | undefined;
  async saveRefreshed(
    _tx: EntityManager,
    connection: Connection,
    tokens: TokenSet,
    byReport = false,
  ) {
    this.byReport = byReport;
    this.set(connection, {
      status: 'active',
      accessTokenCiphertext: `enc:${tokens.accessToken}`,
      consecutiveFailures: 0,
      lastError: null,
      heldAt: null,
      rejectedAt: null,
      refreshStartedAt: null,
    });
  }
  async saveTransientFailure(_tx: EntityManager, key: ConnectionKey, f: { error: string }) {
    const row = this.row(key)!;
    this.set(key, {
      status: 'refresh_failing',
      lastError: f.error,
      consecutiveFailures: row.consecutiveFailures + 1,
    });
  }
  async saveReauthorizationRequired(_tx: EntityManager, key: ConnectionKey, reason: string) {
    this.set(key, { status: 'reauthorization_required', lastError: reason, heldAt: null });
  }
  async saveHeld(_tx: EntityManager, key: ConnectionKey, held: { error: string }) {
    this.set(key, { status: 'refresh_failing', lastError: held.error, heldAt: new Date() });
  }
  async saveRetryFailed(_tx: EntityManager, key: ConnectionKey, error: string | null) {
    if (error !== null) this.set(key, { lastError: error });
  }
  async findHeld(product: Product) {
    return [...this.rows.values()]
      .filter((r) => r.product === product && r.heldAt && r.status === 'refresh_failing')
      .map(({ account }) => ({ account, product }));
  }
  async confirmHeld(_tx: EntityManager, key: ConnectionKey) {
    const row = this.row(key);
    if (!row?.heldAt || row.status !== 'refresh_failing') return null;
    this.set(key, {
      status: 'reauthorization_required',
      lastError: `rejection confirmed by an admin: ${row.lastError}`,
      heldAt: null,
    });
    return this.row(key)!.lastError;
  }
  async delete(_tx: EntityManager, key: ConnectionKey) {
    return this.rows.delete(id(key));
  }
}

/** The reconnect_links table: one row per connection (its key), `serial` tells links apart. */
class FakeLinks {
  readonly live = new Map<string, number>();
  minted = 0;
  async mint(_tx: EntityManager, key: ConnectionKey) {
    this.live.set(id(key), ++this.minted);
  }
  async revoke(_tx: EntityManager, key: ConnectionKey) {
    this.live.delete(id(key));
  }
  of(key: ConnectionKey) {
    return this.live.get(id(key));
  }
}

interface Recorded {
  type: string;
  key: ConnectionKey;
  detail: Record<string, unknown>;
  notify: boolean;
}

class FakeEvents {
  readonly recorded: Recorded[] = [];
  async record(
    _tx: EntityManager,
    type: string,
    { account, product }: ConnectionKey,
    detail: Record<string, unknown> = {},
    { notify = true }: { notify?: boolean } = {},
  ) {
    this.recorded.push({ type, key: { account, product }, detail, notify });
  }
  types() {
    return this.recorded.map((e) => e.type);
  }
}

class FakeGuard {
  readonly windowSeconds = 600;
  verdict: GuardDecision = { verdict: 'condemn' };
  released: Product[] = [];
  async decide() {
    return this.verdict;
  }
  async release(_tx: EntityManager, product: Product) {
    this.released.push(product);
  }
}

/** Runs the work at once under a lease whose transactions run in place; `busy` refuses it. */
class FakeLock {
  busy = false;
  held: string[] = [];
  lost = false;
  async withLock<T>(
    key: ConnectionKey,
    work: (lease: Lease) => Promise<T>,
    onBusy: () => Promise<T>,
  ): Promise<T> {
    if (this.busy) return onBusy();
    this.held.push(id(key));
    const lease: Lease = {
      transaction: async (fn) => {
        if (this.lost) throw new LeaseLostError(id(key));
        return fn(TX);
      },
    };
    return work(lease);
  }
}

function setup() {
  const connections = new FakeConnections();
  const links = new FakeLinks();
  const events = new FakeEvents();
  const guard = new FakeGuard();
  const lock = new FakeLock();
  const lifecycle = new ConnectionLifecycle(
    connections as unknown as ConnectionsRepository,
    lock as unknown as ConnectionLock,
    events as unknown as EventsOutbox,
    guard as unknown as CondemnGuard,
    links as unknown as ReconnectLinks,
  );
  // The lease a refresher holds across its call to RD.
  const underLease = <T>(key: ConnectionKey, fn: (lease: Lease) => Promise<T>) =>
    lifecycle.underLock(key, fn, () => Promise.reject(new Error('busy')));
  return { connections, links, events, guard, lock, lifecycle, underLease };
}

const KEY: ConnectionKey = { account: 'acme', product: 'crm' };
const grant = (n = 1): Grant => ({
  accessToken: `at-${n}`,
  refreshToken: `rt-${n}`,
  expiresAt: new Date(Date.now() + 3600_000),
});
const tokens = (n = 2): TokenSet => ({
  accessToken: `at-${n}`,
  refreshToken: `rt-${n}`,
  expiresIn: 3600,
});
const rdError = (kind: RdStationErrorKind) =>
  new RdStationError({
    kind,
    status: kind === 'transient' ? 503 : 400,
    code: kind === 'grant_rejected' ? 'invalid_grant' : 'http_503',
    message: 'RD said no',
  });
const busy = (): never => {
  throw new Error('busy');
};

async function connected(s: ReturnType<typeof setup>, status: ConnectionStatus = 'active') {
  await s.lifecycle.connect(KEY, grant(), { label: null, requestedBy: 'key' });
  s.connections.row(KEY)!.status = status;
  s.events.recorded.length = 0;
  return (await s.connections.findOne(KEY))!;
}

/** Condemns the connection the way a refresh does: RD rejects the grant, the guard allows. */
async function condemned(s: ReturnType<typeof setup>) {
  const connection = await connected(s);
  await s.underLease(KEY, (lease) =>
    s.lifecycle.recordFailure(lease, connection, rdError('grant_rejected'), false),
  );
  return (await s.connections.findOne(KEY))!;
}

describe('ConnectionLifecycle', () => {
  // The owner's operator log lines are covered by the e2e tests; here they are noise.
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));

  describe('connect', () => {
    it('stores the grant under the lock and records connection.created with who asked', async () => {
      const s = setup();
      expect(await s.lifecycle.connect(KEY, grant(), { label: 'Acme', requestedBy: 'ops' })).toBe(
        true,
      );
      expect(s.lock.held).toEqual(['crm/acme']);
      expect(s.connections.row(KEY)?.status).toBe('active');
      expect(s.events.recorded).toEqual([
        {
          type: 'connection.created',
          key: KEY,
          detail: { via: 'consent', replaced: false, requestedBy: 'ops', rdAccount: 'Acme' },
          notify: true,
        },
      ]);
    });

    it('on a replacement names the previous status and both RD accounts', async () => {
      const s = setup();
      await s.lifecycle.connect(KEY, grant(1), { label: 'Old', requestedBy: 'ops' });
      s.connections.row(KEY)!.status = 'reauthorization_required';
      await s.lifecycle.connect(KEY, grant(2), { label: 'New', requestedBy: 'link' });
      expect(s.events.recorded[1].detail).toEqual({
        via: 'consent',
        replaced: true,
        requestedBy: 'link',
        previousStatus: 'reauthorization_required',
        previousRdAccount: 'Old',
        rdAccount: 'New',
      });
    });

    it('answers false and stores nothing when the connection stays locked', async () => {
      const s = setup();
      s.lock.busy = true;
      expect(await s.lifecycle.connect(KEY, grant(), { label: null, requestedBy: 'k' })).toBe(
        false,
      );
      expect(s.connections.rows.size).toBe(0);
      expect(s.events.recorded).toEqual([]);
    });

    it('kills the reconnect link of a condemned connection it replaces', async () => {
      const s = setup();
      await condemned(s);
      expect(s.links.of(KEY)).toBeDefined();
      await s.lifecycle.connect(KEY, grant(3), { label: null, requestedBy: 'link' });
      expect(s.links.of(KEY)).toBeUndefined();
    });
  });

  describe('import', () => {
    it('obtains the grant under the lock, stores it and records connection.created via import', async () => {
      const s = setup();
      const obtained: string[] = [];
      const { created, grant: stored } = await s.lifecycle.import(
        KEY,
        async () => {
          obtained.push(...s.lock.held);
          return { ...grant(7), proven: true };
        },
        busy,
      );
      expect(obtained).toEqual(['crm/acme']);
      expect(created).toBe(true);
      expect(stored.proven).toBe(true);
      expect(s.connections.row(KEY)?.accessTokenCiphertext).toBe('enc:at-7');
      expect(s.events.recorded).toEqual([
        {
          type: 'connection.created',
          key: KEY,
          detail: { via: 'import', replaced: false },
          notify: true,
        },
      ]);
    });

    it('kills the reconnect link of the connection it replaces', async () => {
      const s = setup();
      await condemned(s);
      const { created } = await s.lifecycle.import(KEY, async () => grant(8), busy);
      expect(created).toBe(false);
      expect(s.events.recorded.at(-1)?.detail).toEqual({ via: 'import', replaced: true });
      expect(s.links.of(KEY)).toBeUndefined();
    });

    it('stores nothing when obtaining the grant fails', async () => {
      const s = setup();
      await expect(
        s.lifecycle.import(KEY, () => Promise.reject(new Error('RD refused')), busy),
      ).rejects.toThrow('RD refused');
      expect(s.connections.rows.size).toBe(0);
      expect(s.events.recorded).toEqual([]);
    });
  });

  describe('delete', () => {
    it('revokes under the lock, deletes, kills the link and records what became of the grant', async () => {
      const s = setup();
      await condemned(s);
      s.events.recorded.length = 0;
      const revocation: Revocation = await s.lifecycle.delete(
        KEY,
        async (connection) => {
          expect(connection.status).toBe('reauthorization_required');
          return { revocation: 'failed', revokeError: 'RD down' };
        },
        busy,
      );
      expect(revocation).toBe('failed');
      expect(s.connections.rows.size).toBe(0);
      expect(s.links.of(KEY)).toBeUndefined();
      expect(s.events.recorded).toEqual([
        {
          type: 'connection.deleted',
          key: KEY,
          detail: { revokedAtRd: false, revocation: 'failed', revokeError: 'RD down' },
          notify: true,
        },
      ]);
    });

    it('is a 404 for a connection that does not exist, recording nothing', async () => {
      const s = setup();
      await expect(
        s.lifecycle.delete(KEY, async () => ({ revocation: 'unsupported' }), busy),
      ).rejects.toBeInstanceOf(NotConnectedError);
      expect(s.events.recorded).toEqual([]);
    });
  });

  describe('a refresh', () => {
    it('records the refresh, ends the product hold, and nothing more for an active connection', async () => {
      const s = setup();
      const connection = await connected(s);
      const after = await s.underLease(KEY, async (lease) => {
        await s.lifecycle.markRefreshStarted(lease, KEY);
        expect(s.connections.row(KEY)?.refreshStartedAt).not.toBeNull();
        return s.lifecycle.recordRefresh(lease, connection, tokens(), {
          trigger: 'scheduled',
          byReport: false,
        });
      });
      expect(after.accessTokenCiphertext).toBe('enc:at-2');
      expect(s.guard.released).toEqual(['crm']);
      expect(s.events.types()).toEqual(['connection.refreshed']);
      expect(s.events.recorded[0].detail).toEqual({ trigger: 'scheduled' });
    });

    it('recovers a condemned connection: connection.recovered, and its reconnect link dies', async () => {
      const s = setup();
      const connection = await condemned(s);
      expect(s.links.of(KEY)).toBeDefined();
      s.events.recorded.length = 0;
      await s.underLease(KEY, (lease) =>
        s.lifecycle.recordRefresh(lease, connection, tokens(), {
          trigger: 'forced',
          byReport: false,
        }),
      );
      expect(s.events.types()).toEqual(['connection.refreshed', 'connection.recovered']);
      expect(s.events.recorded[1].detail).toEqual({
        failuresBefore: 0,
        from: 'reauthorization_required',
      });
      expect(s.links.of(KEY)).toBeUndefined();
    });

    it('tells the store when the refresh was asked for by a report of a refused token', async () => {
      const s = setup();
      const connection = await connected(s);
      await s.underLease(KEY, (lease) =>
        s.lifecycle.recordRefresh(lease, connection, tokens(), {
          trigger: 'rejected_by_rd',
          byReport: true,
        }),
      );
      expect(s.connections.byReport).toBe(true);
      expect(s.events.recorded[0].detail).toEqual({ trigger: 'rejected_by_rd' });
    });

    it('recovers a failing connection: connection.recovered', async () => {
      const s = setup();
      const connection = await connected(s, 'refresh_failing');
      await s.underLease(KEY, (lease) =>
        s.lifecycle.recordRefresh(lease, connection, tokens(), {
          trigger: 'on_read',
          byReport: false,
        }),
      );
      expect(s.events.types()).toEqual(['connection.refreshed', 'connection.recovered']);
    });

    it('after a lost lease stores the rotated tokens only if the grant is unchanged', async () => {
      const s = setup();
      const connection = await connected(s);
      s.lock.lost = true;
      await s.underLease(KEY, (lease) =>
        s.lifecycle.recordRefresh(lease, connection, tokens(2), {
          trigger: 'scheduled',
          byReport: false,
        }),
      );
      expect(s.connections.row(KEY)?.accessTokenCiphertext).toBe('enc:at-2');
      expect(s.events.types()).toEqual(['connection.refreshed']);

      // Someone reconnected meanwhile: their grant stays, nothing is recorded.
      s.connections.row(KEY)!.refreshTokenCiphertext = 'enc:someone-else';
      s.events.recorded.length = 0;
      await s.underLease(KEY, (lease) =>
        s.lifecycle.recordRefresh(lease, connection, tokens(3), {
          trigger: 'scheduled',
          byReport: false,
        }),
      );
      expect(s.connections.row(KEY)?.accessTokenCiphertext).toBe('enc:at-2');
      expect(s.events.recorded).toEqual([]);
    });
  });

  describe('a failed refresh', () => {
    it('condemns a rejected grant the guard allows: reauthorization_required, its event and a link', async () => {
      const s = setup();
      const connection = await connected(s);
      const failed = await s.underLease(KEY, (lease) =>
        s.lifecycle.recordFailure(lease, connection, rdError('grant_rejected'), true),
      );
      expect(failed.outcome).toBe('permanent_failure');
      expect(failed.connection.status).toBe('reauthorization_required');
      expect(s.events.types()).toEqual(['connection.reauthorization_required']);
      expect(s.events.recorded[0].detail.reason).toMatch(/invalid_grant.*most likely rotated/);
      expect(s.links.of(KEY)).toBeDefined();
    });

    it('holds a rejection the guard holds: grant kept, no link, product.refresh_held when it starts', async () => {
      const s = setup();
      const connection = await connected(s);
      s.guard.verdict = {
        verdict: 'hold',
        message: 'held',
        retryAt: new Date(Date.now() + 60_000),
        started: true,
        rejectedInWindow: 4,
      };
      const failed = await s.underLease(KEY, (lease) =>
        s.lifecycle.recordFailure(lease, connection, rdError('grant_rejected'), false),
      );
      expect(failed.outcome).toBe('held');
      expect(failed.connection.status).toBe('refresh_failing');
      expect(s.events.types()).toEqual(['connection.refresh_failed', 'product.refresh_held']);
      expect(s.events.recorded[0].detail.held).toBe(true);
      expect(s.links.of(KEY)).toBeUndefined();
    });

    it('backs off on an outage: refresh_failing, the webhook told of the first failure only', async () => {
      const s = setup();
      const first = await connected(s);
      await s.underLease(KEY, (lease) =>
        s.lifecycle.recordFailure(lease, first, rdError('transient'), false),
      );
      const second = (await s.connections.findOne(KEY))!;
      const failed = await s.underLease(KEY, (lease) =>
        s.lifecycle.recordFailure(lease, second, rdError('transient'), false),
      );
      expect(failed.outcome).toBe('transient_failure');
      expect(s.events.types()).toEqual(['connection.refresh_failed', 'connection.refresh_failed']);
      expect(s.events.recorded.map((e) => e.notify)).toEqual([true, false]);
      expect(s.events.recorded[1].detail.failures).toBe(2);
      expect(s.links.of(KEY)).toBeUndefined();
    });

    it('keeps a condemned grant condemned on a failed admin retry, its link as it was', async () => {
      const s = setup();
      const connection = await condemned(s);
      const link = s.links.of(KEY);
      s.events.recorded.length = 0;
      const failed = await s.underLease(KEY, (lease) =>
        s.lifecycle.recordFailure(lease, connection, rdError('grant_rejected'), false),
      );
      expect(failed.outcome).toBe('permanent_failure');
      expect(failed.connection.lastError).toMatch(/again on an admin retry/);
      expect(s.events.recorded).toEqual([]);
      expect(s.links.of(KEY)).toBe(link);
    });
  });

  describe('confirmHeld', () => {
    it('condemns each held connection with its event and a link, and ends the hold', async () => {
      const s = setup();
      const connection = await connected(s);
      s.guard.verdict = {
        verdict: 'hold',
        message: 'held',
        retryAt: new Date(),
        started: false,
        rejectedInWindow: 9,
      };
      await s.underLease(KEY, (lease) =>
        s.lifecycle.recordFailure(lease, connection, rdError('grant_rejected'), false),
      );
      s.events.recorded.length = 0;
      expect(await s.lifecycle.confirmHeld('crm')).toEqual(['acme']);
      expect(s.connections.row(KEY)?.status).toBe('reauthorization_required');
      expect(s.events.recorded).toEqual([
        expect.objectContaining({
          type: 'connection.reauthorization_required',
          detail: expect.objectContaining({ confirmedHold: true }),
        }),
      ]);
      expect(s.links.of(KEY)).toBeDefined();
      expect(s.guard.released).toEqual(['crm']);
    });

    it('leaves a connection being refreshed right now alone', async () => {
      const s = setup();
      await connected(s, 'refresh_failing');
      s.connections.row(KEY)!.heldAt = new Date();
      s.lock.busy = true;
      expect(await s.lifecycle.confirmHeld('crm')).toEqual([]);
      expect(s.connections.row(KEY)?.status).toBe('refresh_failing');
      expect(s.links.of(KEY)).toBeUndefined();
    });
  });

  describe('the reconnect link', () => {
    it('is minted anew on every condemnation: a link from before a delete never comes back', async () => {
      const s = setup();
      await condemned(s);
      const before = s.links.of(KEY);
      await s.lifecycle.delete(KEY, async () => ({ revocation: 'unsupported' }), busy);
      await s.lifecycle.import(KEY, async () => grant(4), busy);
      const connection = (await s.connections.findOne(KEY))!;
      s.guard.verdict = {
        verdict: 'hold',
        message: 'held',
        retryAt: new Date(),
        started: false,
        rejectedInWindow: 9,
      };
      await s.underLease(KEY, (lease) =>
        s.lifecycle.recordFailure(lease, connection, rdError('grant_rejected'), false),
      );
      await s.lifecycle.confirmHeld('crm');
      const after = s.links.of(KEY);
      expect(after).toBeDefined();
      expect(after).not.toBe(before);
      // At most one live link per connection, whatever happened to it.
      expect([...s.links.live.keys()]).toEqual(['crm/acme']);
    });
  });
});
