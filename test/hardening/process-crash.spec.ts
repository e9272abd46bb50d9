/**
 * A broker process is killed with SIGKILL while its refresh call to RD is in flight; another
 * replica then serves the connection. Two cases, told apart by what RD did with the call:
 *  (a) RD never processed it (the fake hangs before touching the grant): the old refresh token
 *      is still live, so the other replica refreshes and serves;
 *  (b) RD processed it and rotated the refresh token, and the answer never reached the broker
 *      (a proxy swallows it) before the process died: the rotated token exists only at RD. This
 *      is the one unavoidable window; the broker must say so and stop calling RD.
 */
import { RefreshScheduler } from '../../src/scheduler/refresh-scheduler';
import { startBrokerProcess } from '../support/broker-process';
import { auth, connectionRow, createHarness, type Harness } from '../support/harness';
import { startHoldingProxy, type HoldingProxy } from '../support/holding-proxy';
import { waitFor, type BrokerProcess } from '../support/process';
import { seedConnections, storedRefreshToken } from '../support/seed';

const CRM_TOKEN_PATH = '/oauth2/token';

jest.setTimeout(120_000);

describe('a broker process killed mid-refresh (kill -9)', () => {
  let h: Harness;
  let proxy: HoldingProxy;
  let doomed: BrokerProcess[] = [];

  beforeAll(async () => {
    h = await createHarness(); // its broker is the surviving replica, talking to RD directly
    proxy = await startHoldingProxy(h.rd.url);
    // Two replicas that will be killed, one per case, started together to save a cold start.
    doomed = await Promise.all([startDoomedBroker(proxy.url), startDoomedBroker(proxy.url)]);
  });
  afterAll(async () => {
    for (const broker of doomed) broker.child.kill('SIGKILL');
    await proxy.close();
    await h.close();
  });

  /** Another replica as a separate process, on the same database, reaching RD at `rdUrl`. */
  function startDoomedBroker(rdUrl: string): Promise<BrokerProcess> {
    return startBrokerProcess({
      DATABASE_URL: h.db.url,
      RD_API_URL: rdUrl,
      RD_ACCOUNTS_URL: rdUrl,
      RD_TIMEOUT_MS: '30000',
      LOG_LEVEL: 'warn',
    });
  }

  function readToken(url: string, account: string) {
    return fetch(`${url}/tokens/${account}?product=crm`, {
      headers: { authorization: auth.service },
    });
  }

  function refreshCalls(refreshToken?: string) {
    return h.rd
      .tokenCalls({ grantType: 'refresh_token' })
      .filter((call) => refreshToken === undefined || call.refreshToken === refreshToken);
  }

  /** Fires a read that needs a refresh at the doomed process, waits for `arrived`, then kills it. */
  async function crashDuringRefresh(
    broker: BrokerProcess,
    account: string,
    arrived: () => boolean,
  ): Promise<void> {
    const inFlight = readToken(broker.url, account).then(
      (res) => `answered ${res.status}`,
      (error: unknown) => `failed: ${(error as Error).message}`,
    );
    await waitFor(async () => (arrived() ? true : undefined), {
      timeoutMs: 15_000,
      what: 'the refresh to reach RD',
    });
    broker.child.kill('SIGKILL');
    expect(await broker.exited).toBeNull(); // killed by the signal, no exit code
    // The caller's connection was cut: it got no answer at all, in particular no token.
    expect(await inFlight).toBe('failed: fetch failed');
  }

  it('(a) RD had not processed the call: the other replica refreshes and serves, the stored refresh token is live', async () => {
    const [account] = await seedConnections(h, 1, 'crm', {
      prefix: 'unprocessed',
      expiresInSeconds: 30,
    });
    const oldRefresh = await storedRefreshToken(h, account);
    h.rd.reset();
    h.rd.failNext(1, { kind: 'hang' }, { grantType: 'refresh_token' });
    const broker = doomed[0]; // the proxy passes everything through here

    await crashDuringRefresh(broker, account, () => refreshCalls(oldRefresh).length === 1);

    // The crash left the mark of a refresh that never ended, and the old token in the row.
    const row = await connectionRow(h.db, account, 'crm');
    expect(row!.refresh_started_at).not.toBeNull();
    expect(await storedRefreshToken(h, account)).toBe(oldRefresh);
    expect(h.rd.isLiveRefreshToken(oldRefresh)).toBe(true);

    const res = await readToken(h.broker.url, account);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accessToken: string; expiresIn: number };
    expect(h.rd.isLiveAccessToken(body.accessToken)).toBe(true);
    expect(body.expiresIn).toBeGreaterThan(7000);

    const stored = await storedRefreshToken(h, account);
    expect(stored).not.toBe(oldRefresh);
    expect(h.rd.isLiveRefreshToken(stored)).toBe(true);
    expect(h.rd.isLiveRefreshToken(oldRefresh)).toBe(false);
    expect(refreshCalls()).toHaveLength(2); // the hung one and the survivor's
    expect(await connectionRow(h.db, account, 'crm')).toMatchObject({
      status: 'active',
      refresh_started_at: null,
      last_error: null,
    });
  });

  it('(b) RD rotated the token and the process died before storing it: reauthorization_required, said why, and RD is not called again', async () => {
    const [account] = await seedConnections(h, 1, 'crm', {
      prefix: 'processed',
      expiresInSeconds: 30,
    });
    const oldRefresh = await storedRefreshToken(h, account);
    h.rd.reset();
    proxy.held.length = 0;
    proxy.holdWhen = (path) => path === CRM_TOKEN_PATH;
    const broker = doomed[1];

    // RD answered (200, new tokens) but the answer sits in the proxy when the process dies.
    await crashDuringRefresh(broker, account, () => proxy.held.length === 1);
    proxy.holdWhen = () => false;
    expect(proxy.held[0].status).toBe(200);
    const rotated = (JSON.parse(proxy.held[0].body) as { refresh_token: string }).refresh_token;
    expect(h.rd.isLiveRefreshToken(rotated)).toBe(true);
    expect(h.rd.isLiveRefreshToken(oldRefresh)).toBe(false);
    // The window: RD holds the only live refresh token; the database still has the dead one.
    expect(await storedRefreshToken(h, account)).toBe(oldRefresh);
    expect((await connectionRow(h.db, account, 'crm'))!.refresh_started_at).not.toBeNull();

    const res = await readToken(h.broker.url, account);
    expect(res.status).toBe(409);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      statusCode: 409,
      error: 'reauthorization_required',
      since: expect.any(String),
    });
    expect(body.reason).toMatch(/an earlier refresh ended without an answer/);
    expect(refreshCalls()).toHaveLength(2); // the processed one and the one RD rejected

    // RD is not called again: not by reads, not by a forced refresh, not by the scheduler.
    for (let i = 0; i < 20; i++) expect((await readToken(h.broker.url, account)).status).toBe(409);
    const forced = await fetch(`${h.broker.url}/connections/${account}/refresh?product=crm`, {
      method: 'POST',
      headers: { authorization: auth.admin },
    });
    expect(forced.status).toBe(409);
    await h.db.dataSource.query(
      `UPDATE connections SET next_refresh_at = now() - interval '1 second' WHERE account = $1`,
      [account],
    );
    await h.broker.app.get(RefreshScheduler).tick();
    expect(refreshCalls()).toHaveLength(2);

    const status = await fetch(`${h.broker.url}/connections/${account}`, {
      headers: { authorization: auth.admin },
    });
    const view = (await status.json()) as { connections: Array<Record<string, unknown>> };
    expect(view.connections[0]).toMatchObject({
      status: 'reauthorization_required',
      lastError: expect.stringMatching(/an earlier refresh ended without an answer/),
    });
  });

  it('a lost answer without a crash ends the same way, after the backoff, with one more call', async () => {
    const [account] = await seedConnections(h, 1, 'crm', { prefix: 'lost', expiresInSeconds: 30 });
    h.rd.reset();
    h.rd.failNext(1, { kind: 'lost_response' }, { grantType: 'refresh_token' });

    const first = await readToken(h.broker.url, account);
    expect(first.status).toBe(503); // RD's 502: transient, and 30 s left is under minValidity
    expect(first.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await connectionRow(h.db, account, 'crm'))!.refresh_started_at).not.toBeNull();

    await h.db.dataSource.query(
      `UPDATE connections SET next_refresh_at = now() - interval '1 second' WHERE account = $1`,
      [account],
    );
    const second = await readToken(h.broker.url, account);
    expect(second.status).toBe(409);
    expect(((await second.json()) as { reason: string }).reason).toMatch(
      /an earlier refresh ended without an answer/,
    );
    expect(refreshCalls()).toHaveLength(2);
  });
});
