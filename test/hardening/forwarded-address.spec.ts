/**
 * Forwarded-address trust. By default no proxy is trusted: every limit counts the connecting
 * address, so a client cannot pick the address its failures are charged to (locking a service
 * out by naming that service's address) nor escape a limit by rotating X-Forwarded-For. A valid
 * key is served whatever failures its address collected, and the limiter's memory is bounded
 * whatever the header carried. (With TRUSTED_PROXIES set, see api-keys.spec.ts.)
 */
import { connect as connectSocket } from 'node:net';
import { FailedAuthLimiter } from '../../src/auth/failed-auth.limiter';
import { ConfigError, loadConfig } from '../../src/config/config';
import { testEnv } from '../support/broker';
import { auth, connect, createHarness, type Harness } from '../support/harness';

const VICTIM = '10.20.30.40';

describe('X-Forwarded-For with no TRUSTED_PROXIES (the default)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
  });
  afterAll(() => h.close());

  const read = (authorization: string, forwardedFor?: string) =>
    fetch(`${h.broker.url}/tokens/acme?product=crm`, {
      headers: {
        authorization,
        ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
      },
    });

  it('charges failures to the connecting address, so neither a forged nor a rotated header helps', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      // Every guess claims another address, the victim's among them.
      const claimed = i % 2 === 0 ? VICTIM : `198.51.100.${i}`;
      statuses.push((await read(`Bearer guess-${i}-${'g'.repeat(40)}`, claimed)).status);
    }
    // All 25 come from 127.0.0.1: more than 20 failures in a minute block it.
    expect(statuses).toEqual([...Array(21).fill(401), ...Array(4).fill(429)]);

    // The service named in the forged header is not locked out…
    expect((await read(auth.service, VICTIM)).status).toBe(200);
    // …and neither is a valid key from the blocked address itself.
    expect((await read(auth.service)).status).toBe(200);
    expect((await read(`Bearer ${'g'.repeat(44)}`)).status).toBe(429);
  });

  it('throttles the callback per connecting address, whatever X-Forwarded-For says', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 61; i++) {
      const res = await fetch(`${h.broker.url}/oauth/callback?state=${'s'.repeat(43)}&code=c`, {
        headers: { 'x-forwarded-for': `203.0.113.${i + 1}` },
        redirect: 'manual',
      });
      statuses.push(res.status);
    }
    // 60 a minute from 127.0.0.1, where the connect of beforeAll already used one.
    expect(statuses).toEqual([...Array(59).fill(400), 429, 429]);
  });
});

describe('TRUSTED_PROXIES', () => {
  it('takes addresses and CIDR ranges, IPv4 and IPv6', () => {
    const config = loadConfig(
      testEnv({ TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.10,::1,fd00::/8' }),
    );
    expect(config.http.trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.10', '::1', 'fd00::/8']);
    expect(loadConfig(testEnv()).http.trustedProxies).toEqual([]);
  });

  it.each([['proxy.internal'], ['10.0.0.0/33'], ['10.0.0.1, *'], ['2']])(
    'refuses %j with a message naming the variable',
    (value) => {
      expect(() => loadConfig(testEnv({ TRUSTED_PROXIES: value }))).toThrow(ConfigError);
      expect(() => loadConfig(testEnv({ TRUSTED_PROXIES: value }))).toThrow(/^TRUSTED_PROXIES: /);
    },
  );
});

describe('failed-auth limiter memory (unit)', () => {
  it('keys a huge forwarded value by a short digest, and still blocks it', () => {
    const limiter = new FailedAuthLimiter();
    const pad = 'x'.repeat(15 * 1024);
    for (let i = 0; i < 2_000; i++) limiter.recordFailure(`${i}-${pad}`);
    const keys = limiter.trackedKeys();
    expect(keys).toHaveLength(2_000);
    expect(Math.max(...keys.map((key) => key.length))).toBeLessThanOrEqual(45);

    const attacker = `attacker-${pad}`;
    for (let i = 0; i < 21; i++) limiter.recordFailure(attacker);
    expect(() => limiter.assertNotBlocked(attacker)).toThrow(/too many failed/);
    expect(() => limiter.assertNotBlocked(`other-${pad}`)).not.toThrow();
  });

  it('holds at most MAX_TRACKED_ADDRESSES addresses', () => {
    const limiter = new FailedAuthLimiter();
    const max = FailedAuthLimiter.MAX_TRACKED_ADDRESSES;
    for (let i = 0; i < max + 10_000; i++) {
      limiter.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    }
    expect(limiter.trackedKeys()).toHaveLength(max);
  });
});

describe('forwarded addresses behind TRUSTED_PROXIES, normalised (issue 22, finding 4)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({
      env: { TRUSTED_PROXIES: '127.0.0.1', HTTP_MAX_CONNECTIONS_PER_ADDRESS: '3' },
    });
    expect((await connect(h, 'acme', 'crm')).status).toBe(200);
  });
  afterAll(() => h.close());

  const guess = (forwardedFor: string, i: number) =>
    fetch(`${h.broker.url}/tokens/acme?product=crm`, {
      headers: {
        authorization: `Bearer guess-${i}-${'g'.repeat(40)}`,
        'x-forwarded-for': forwardedFor,
      },
    });

  it.each([
    ['ip:port', (i: number) => `198.51.100.20:${1000 + i}`],
    ['[ip]', (i: number) => (i % 2 ? '[198.51.100.21]' : '198.51.100.21')],
    ['[ip]:port', (i: number) => `[198.51.100.22]:${2000 + i}`],
    ['::ffff:ip', (i: number) => (i % 2 ? '::ffff:198.51.100.23' : '198.51.100.23')],
    ['[::ffff:ip]:port', (i: number) => `[::ffff:198.51.100.24]:${3000 + i}`],
  ])(
    'counts every %s spelling of one client as one address: the limiter fires',
    async (_what, spelling) => {
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++)
        statuses.push((await guess(`${spelling(i)}, 127.0.0.1`, i)).status);
      expect(statuses).toEqual([...Array(21).fill(401), ...Array(4).fill(429)]);
    },
  );

  it('takes a forwarded entry that is no address (09.9.9.9) as the proxy itself, not a new client', async () => {
    for (let i = 0; i < 21; i++) expect((await guess('09.9.9.9', i)).status).toBe(401);
    // Charged to 127.0.0.1 (the socket's peer), whatever the header says next.
    expect((await guess('009.9.9.9', 21)).status).toBe(429);
    expect((await guess('0x09.9.9.9', 22)).status).toBe(429);
  });

  it('caps the requests in flight per forwarded client address (HTTP_MAX_CONNECTIONS_PER_ADDRESS)', async () => {
    const { port } = new URL(h.broker.url);
    // Three uploads of one forwarded client whose bodies never arrive: three of the proxy's
    // connections held for that client.
    const held = Array.from({ length: 3 }, () => {
      const socket = connectSocket({ port: Number(port), host: '127.0.0.1' });
      socket.on('error', () => undefined);
      socket.write(
        `PUT /connections/acme HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth.admin}\r\n` +
          `X-Forwarded-For: 203.0.113.77\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
      );
      return socket;
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const refused = await fetch(`${h.broker.url}/tokens/acme?product=crm`, {
        headers: { authorization: auth.service, 'x-forwarded-for': '[::ffff:203.0.113.77]:9' },
      });
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { error: string }).error).toBe('rate_limited');
      // Another client behind the same proxy is served.
      const other = await fetch(`${h.broker.url}/tokens/acme?product=crm`, {
        headers: { authorization: auth.service, 'x-forwarded-for': '203.0.113.78' },
      });
      expect(other.status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });
});
